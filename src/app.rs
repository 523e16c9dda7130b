//! The top-level flow: argv → config → decision → passthrough (exec the real ffmpeg) or a
//! distributed run; errors become one `distrffmpeg: …` line and ffmpeg's exit codes.

use crate::cli::argv::{CmdLine, DfOpt};
use crate::config::{self, Config};
use crate::ffbin;
use crate::job::{self, Overwrite, Passthrough, Pre};
use crate::logging;
use crate::logging::Sink;
use crate::probe;
use crate::progress::Display;
use crate::run::{self, RunEnv};
use crate::talk;
use anyhow::{anyhow, bail, Result};
use clap::Parser;
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// distrffmpeg's own commands, given as `-df_name[=value]`.
#[derive(Parser, Debug, Default)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct DfFlags {
    #[arg(long = "help")]
    help: bool,
    #[arg(long = "version")]
    version: bool,
    #[arg(long = "dry_run")]
    dry_run: bool,
    #[arg(long = "check", num_args = 0..=1, default_missing_value = "table", value_parser = ["table", "json"])]
    check: Option<String>,
    #[arg(long = "transfer_test")]
    transfer_test: Option<PathBuf>,
}

const OWN: &[&str] = &["help", "version", "dry_run", "check", "transfer_test"];

/// Exit code ffmpeg uses after SIGINT/SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 255;

/// A config override: key and optional value.
type Override<'a> = (&'a str, Option<&'a str>);

fn split_df(df: &[DfOpt]) -> Result<(DfFlags, Vec<Override<'_>>)> {
    let mut own = Vec::new();
    let mut overrides = Vec::new();
    for d in df {
        if OWN.contains(&d.key.as_str()) {
            own.push(match &d.value {
                Some(v) => format!("--{}={v}", d.key),
                None => format!("--{}", d.key),
            });
        } else {
            overrides.push((d.key.as_str(), d.value.as_deref()));
        }
    }
    let flags = DfFlags::try_parse_from(&own).map_err(|e| {
        let first = e
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .replace("--", "-df_");
        anyhow!("{}", first.trim_start_matches("error: "))
    })?;
    Ok((flags, overrides))
}

pub fn help_text() -> &'static str {
    include_str!("help.txt")
}

/// Entry point used by main: returns the process exit code.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let started = std::time::Instant::now();
    if std::env::var_os(ffbin::INNER_ENV).is_some() {
        eprintln!("distrffmpeg: {}", ffbin::loop_error());
        return ExitCode::from(1);
    }
    let Some(strs) = args
        .iter()
        .map(|a| a.to_str().map(String::from))
        .collect::<Option<Vec<_>>>()
    else {
        // without a model of the argv, a `-df_` token is taken for ours wherever it stands
        let args: Vec<OsString> = args
            .iter()
            .filter(|a| !a.to_string_lossy().starts_with("-df_"))
            .cloned()
            .collect();
        return passthrough_raw("ffmpeg", &args, "arguments are not UTF-8");
    };
    let cmd = match CmdLine::parse(&strs) {
        Ok(c) => c,
        Err(e) => {
            let args: Vec<OsString> = CmdLine::without_df_lenient(&strs)
                .into_iter()
                .map(OsString::from)
                .collect();
            return passthrough_raw("ffmpeg", &args, &e.to_string());
        }
    };
    let setup = (|| -> Result<(Config, DfFlags)> {
        let (flags, overrides) = split_df(&cmd.df)?;
        let path = config::default_path();
        let mut config = Config::load(path.as_deref())?;
        config.apply_overrides(overrides)?;
        Ok((config, flags))
    })();
    let (config, flags) = match setup {
        Ok(x) => x,
        Err(e) => {
            eprintln!("distrffmpeg: {e:#}");
            return ExitCode::from(1);
        }
    };
    let ff_level_arg = cmd
        .global("loglevel")
        .or_else(|| cmd.global("v"))
        .and_then(|o| o.arg.as_deref());
    if let Some(v) = ff_level_arg.filter(|v| !logging::valid_ffmpeg_level(v)) {
        // ffmpeg refuses it with its own message
        return passthrough(&config, &cmd, &format!("-loglevel {v}"), flags.dry_run);
    }
    let ff_level = ff_level_arg.map(logging::ffmpeg_level);
    let level = match ff_level {
        Some(None) => None,
        Some(Some(l)) => Some(l.min(config.level().unwrap_or(l))),
        None => config.level(),
    };
    let sink = logging::init(level);
    // -v quiet/panic: like ffmpeg, not even the final error line
    let quiet = level.is_none();
    let fail = |e: anyhow::Error| {
        if !quiet {
            eprintln!("distrffmpeg: {e:#}");
        }
        ExitCode::from(1)
    };
    if flags.help {
        talk::stdout(help_text());
        return ExitCode::SUCCESS;
    }
    if flags.version {
        return version(&config);
    }
    if let Some(file) = &flags.transfer_test {
        let Ok(rt) = tokio::runtime::Runtime::new() else {
            return ExitCode::from(1);
        };
        return match rt.block_on(crate::check::transfer_test(&config, file)) {
            Ok(lines) => {
                talk::stdout(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
                ExitCode::from(u8::from(lines.iter().any(|l| l.starts_with("error"))))
            }
            Err(e) => {
                eprintln!("distrffmpeg: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(format) = &flags.check {
        return run_check(&config, &cmd, format == "json");
    }
    let pre = match job::precheck(&cmd) {
        Ok(p) => p,
        Err(Passthrough(why)) => return passthrough(&config, &cmd, &why, flags.dry_run),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow!("cannot start the runtime: {e}")),
    };
    let display = talk::display(&cmd, level, ff_level);
    let session = Session {
        started,
        progress_url: cmd.global("progress").and_then(|o| o.arg.clone()),
        cmd,
        pre,
        config,
        flags,
        display,
        sink,
    };
    match rt.block_on(distribute(session)) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// `-df_version`: distrffmpeg's own version and the real ffmpeg it runs (`-version` is
/// ffmpeg's, passed through).
fn version(config: &Config) -> ExitCode {
    let ffmpeg = ffbin::resolve(&config.ffmpeg_bin)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("{e:#}"));
    talk::stdout(&format!(
        "distrffmpeg {} (distributed encoding over SSH; real ffmpeg: {ffmpeg})\n",
        env!("CARGO_PKG_VERSION")
    ));
    ExitCode::SUCCESS
}

/// The video encoder a command line names (for `-df_check`), if any.
fn requested_encoder(cmd: &CmdLine) -> Option<String> {
    cmd.outputs
        .iter()
        .flat_map(|o| o.opts.iter())
        .chain(cmd.trailing.iter())
        .filter(|o| o.is("vcodec") || (o.is("c") || o.is("codec")) && o.spec() == Some("v"))
        .filter_map(|o| o.arg.clone())
        .next_back()
}

/// `-df_check[=json]`: exit 0 when at least one slot is usable.
fn run_check(config: &Config, cmd: &CmdLine, json: bool) -> ExitCode {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return ExitCode::from(1);
    };
    let ffmpeg = ffbin::resolve(&config.ffmpeg_bin).map_err(|e| format!("{e:#}"));
    let encoder = requested_encoder(cmd);
    let rows = rt.block_on(crate::check::rows(
        config,
        ffmpeg.as_deref().map_err(Clone::clone),
        encoder.as_deref(),
    ));
    if json {
        talk::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ));
    } else {
        talk::stdout(&crate::check::table(&rows));
    }
    if rows.iter().any(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn ffmpeg_path(config: &Config) -> Result<PathBuf> {
    ffbin::resolve(&config.ffmpeg_bin)
}

/// Runs the command through the real ffmpeg, or with `-df_dry_run` only says so.
fn passthrough(config: &Config, cmd: &CmdLine, why: &str, dry_run: bool) -> ExitCode {
    let argv = cmd.to_ffmpeg_argv();
    if dry_run {
        let ffmpeg = ffbin::resolve(&config.ffmpeg_bin)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| config.ffmpeg_bin.clone());
        talk::stdout(&format!(
            "passthrough: {why}\nFFMPEG {}\n",
            crate::process::display_cmd(&ffmpeg, &argv)
        ));
        return ExitCode::SUCCESS;
    }
    let args: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
    if cmd.exit_option().is_some() {
        // ffmpeg prints nothing on stderr for these (`-version | head -1` scripts)
        tracing::debug!("passing the command to ffmpeg unchanged: {why}");
        return exec_ffmpeg(&config.ffmpeg_bin, &args);
    }
    passthrough_raw(&config.ffmpeg_bin, &args, why)
}

/// Replaces this process with the real ffmpeg (Unix) or runs it and returns its exit code.
/// `args` are ffmpeg's, without our `-df_` tokens (a value that starts with `-df_` is kept).
fn passthrough_raw(ffmpeg_bin: &str, args: &[OsString], why: &str) -> ExitCode {
    tracing::info!("passing the command to ffmpeg unchanged: {why}");
    exec_ffmpeg(ffmpeg_bin, args)
}

fn exec_ffmpeg(ffmpeg_bin: &str, args: &[OsString]) -> ExitCode {
    let ffmpeg = match ffbin::resolve(ffmpeg_bin) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("distrffmpeg: {e:#}");
            return ExitCode::from(1);
        }
    };
    let mut c = std::process::Command::new(&ffmpeg);
    c.args(args).env(ffbin::INNER_ENV, "1");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = c.exec();
        eprintln!("distrffmpeg: cannot run {}: {err}", ffmpeg.display());
        ExitCode::from(1)
    }
    #[cfg(not(unix))]
    match c.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("distrffmpeg: cannot run {}: {e}", ffmpeg.display());
            ExitCode::from(1)
        }
    }
}

/// Checks an input file the way ffmpeg would report it.
fn check_input(url: &str) -> Result<()> {
    let path = job::local_path(url).unwrap_or(url);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => bail!("{url}: Is a directory"),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{url}: No such file or directory")
        }
        Err(e) => bail!("{url}: {e}"),
    }
}

/// ffmpeg's rules for an existing output without -y, and for an output that is an input.
fn check_output(pre: &Pre, cmd: &CmdLine) -> Result<()> {
    if cmd.has_global("y") && cmd.has_global("n") {
        bail!("Error, both -y and -n supplied. Exiting.");
    }
    let out = Path::new(&pre.output);
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    for (i, inp) in cmd.inputs.iter().enumerate() {
        let path = Path::new(job::local_path(&inp.url).unwrap_or(&inp.url));
        if inp.url == pre.output || (out.exists() && canon(out) == canon(path)) {
            bail!(
                "Output {} same as Input #{i} - exiting (ffmpeg cannot edit existing files in-place)",
                pre.output
            );
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("{}: No such file or directory", pre.output);
        }
    }
    if !out.exists() {
        return Ok(());
    }
    if out.is_dir() {
        bail!("{}: Is a directory", pre.output);
    }
    match pre.overwrite {
        Overwrite::Yes => Ok(()),
        Overwrite::No => bail!("File '{}' already exists. Exiting.", pre.output),
        Overwrite::Ask if cmd.global("stdin").is_some_and(|o| !o.bool_value()) => {
            bail!("File '{}' already exists. Exiting.", pre.output)
        }
        Overwrite::Ask => {
            eprint!("File '{}' already exists. Overwrite? [y/N] ", pre.output);
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            if line.trim_start().starts_with(['y', 'Y']) {
                Ok(())
            } else {
                bail!("Not overwriting - exiting")
            }
        }
    }
}

/// Everything a distributed run starts from.
struct Session {
    started: std::time::Instant,
    cmd: CmdLine,
    pre: Pre,
    config: Config,
    flags: DfFlags,
    display: Display,
    progress_url: Option<String>,
    sink: Sink,
}

/// What preparing produced: a job ready to plan, or an exit code already decided.
enum Prepared {
    Run(Box<(job::JobSpec, RunEnv)>),
    Done(ExitCode),
}

async fn distribute(session: Session) -> Result<ExitCode> {
    // Signals are watched from the start: an interrupt while probing or planning (reading
    // the packet index of a long file takes seconds) exits like ffmpeg too.
    let cancel = CancellationToken::new();
    let interrupted = CancellationToken::new();
    let watch = {
        let (cancel, interrupted) = (cancel.clone(), interrupted.clone());
        let mut signals = crate::signals::Interrupts::listen();
        tokio::spawn(async move {
            if signals.next().await {
                interrupted.cancel();
                cancel.cancel();
                // A second signal while cleaning up: leave at once, killing the local
                // ffmpeg processes first (exiting runs no destructor that would).
                if signals.next().await {
                    crate::process::kill_all();
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        })
    };
    let dry_run = session.flags.dry_run;
    let stop = |code| {
        eprintln!("distrffmpeg: interrupted");
        Ok(ExitCode::from(code))
    };
    // Dropping the preparation kills its ffprobe (kill_on_drop).
    let prepared = tokio::select! {
        p = prepare(session) => p?,
        _ = interrupted.cancelled() => return stop(EXIT_INTERRUPTED),
    };
    let (spec, env) = match prepared {
        Prepared::Done(code) => return Ok(code),
        Prepared::Run(b) => *b,
    };
    // Workers are connected while the packet index is read and the job planned.
    let probing = (!dry_run).then(|| run::start_probing(&spec, &env));
    let planned = tokio::select! {
        p = plan(&spec, &env) => p,
        _ = interrupted.cancelled() => Ok(Err(String::new())),
    };
    let planned = match planned {
        Ok(Ok(p)) => p,
        other => {
            if let Some(p) = probing {
                run::abandon(p).await;
            }
            if interrupted.is_cancelled() {
                return stop(EXIT_INTERRUPTED);
            }
            let why = other?.err().unwrap_or_default();
            return Ok(passthrough(&env.config, &spec.cmd, &why, dry_run));
        }
    };
    let Some(probing) = probing else {
        talk::stdout(&crate::dryrun::render(&spec, &planned, &env));
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(b) = &env.banner {
        // the job distributes: ffmpeg would have printed this before encoding
        eprint!("{b}");
    }
    let _keys = spec
        .cmd
        .global("stdin")
        .is_none_or(|o| o.bool_value())
        .then(|| {
            let info = matches!(env.display, Display::Ffmpeg(ff) if ff.banner);
            talk::watch_keys(info, env.quit.clone(), interrupted.clone(), cancel.clone())
        });
    let result = run::execute(spec, planned, &env, probing, cancel).await;
    watch.abort();
    if interrupted.is_cancelled() {
        return stop(EXIT_INTERRUPTED);
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// Reads the packet index and plans; a planning failure is a reason to pass through.
async fn plan(spec: &job::JobSpec, env: &RunEnv) -> Result<Result<run::Planned, String>> {
    let slots = run::configured_slots(&env.config);
    let cuts = match run::pass1_cuts(spec) {
        Err(e) if e.is::<run::NoPass1>() => return Ok(Err(e.to_string())),
        other => other?,
    };
    Ok(
        match run::plan_job(spec, env, slots, cuts.as_deref()).await {
            Ok(p) => {
                tracing::info!(
                    "{} frames in {} chunks on {} slot(s)",
                    p.plan.output_frames,
                    p.plan.chunks.len(),
                    slots
                );
                Ok(p)
            }
            Err(e) => Err(format!("{e:#}")),
        },
    )
}

/// Probes the inputs, decides, and checks the output.
async fn prepare(session: Session) -> Result<Prepared> {
    let Session {
        started,
        cmd,
        pre,
        config,
        flags,
        display,
        progress_url,
        sink,
    } = session;
    for inp in &cmd.inputs {
        let path = job::local_path(&inp.url).unwrap_or(&inp.url);
        if !job::is_image_sequence(path, inp) {
            check_input(&inp.url)?;
        }
    }
    let ffprobe = ffbin::resolve(&config.ffprobe_bin)?;
    let ffprobe_s = ffprobe.to_string_lossy().into_owned();
    let banner_wanted = matches!(display, Display::Ffmpeg(ff) if ff.banner);
    // the real ffmpeg's version block and codec names, while the inputs are probed
    let codecs = match banner_wanted {
        true => {
            let ffmpeg = ffmpeg_path(&config)?.to_string_lossy().into_owned();
            Some(tokio::spawn(async move {
                crate::banner::version_and_codecs(&ffmpeg).await
            }))
        }
        false => None,
    };
    let mut infos = Vec::new();
    let mut dumps = Vec::new();
    for inp in &cmd.inputs {
        let demux: Vec<String> = inp
            .opts
            .iter()
            .filter(|o| job::classify::input_role(o) == job::classify::InRole::Demux)
            .flat_map(|o| o.tokens())
            .collect();
        let path = job::local_path(&inp.url).unwrap_or(&inp.url);
        let (info, dump) = probe::probe_info(&ffprobe_s, path, &demux).await?;
        infos.push(info);
        dumps.push(dump);
    }
    let checked = match job::analyze(&cmd, &pre, &infos) {
        Ok(j) => {
            let ffmpeg = match j.hw_check {
                Some(_) => Some(ffmpeg_path(&config)?.to_string_lossy().into_owned()),
                None => None,
            };
            crate::local_checks::run(ffmpeg.as_deref(), &ffprobe_s, j, &infos).await?
        }
        Err(p) => Err(p),
    };
    let spec = match checked {
        Ok(j) => j,
        Err(Passthrough(why)) => {
            return Ok(Prepared::Done(passthrough(
                &config,
                &cmd,
                &why,
                flags.dry_run,
            )))
        }
    };
    if !flags.dry_run && !pre.discard_output {
        check_output(&pre, &cmd)?;
    }
    let banner = match codecs {
        Some(task) => {
            let (version, codecs) = task.await??;
            Some(talk::banner(&spec, &infos, &dumps, &version, &codecs))
        }
        None => None,
    };
    let env = RunEnv {
        ffmpeg: ffmpeg_path(&config)?,
        ffprobe,
        config,
        display,
        progress_url,
        sink,
        started,
        banner,
        quit: CancellationToken::new(),
    };
    Ok(Prepared::Run(Box::new((spec, env))))
}
