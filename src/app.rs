//! The entry point: argv, config, distrffmpeg's own `-df_` commands, the one runtime, and the
//! one place errors become ffmpeg's exit codes; a command line either passes through (exec the
//! real ffmpeg) or goes to `pipeline`.

use crate::cli::argv::{CmdLine, DfOpt};
use crate::config::{self, Config};
use crate::ffbin;
use crate::logging;
use crate::pipeline::{self, Interrupted, Outcome, Reason, Session};
use crate::talk;
use anyhow::{anyhow, Context, Result};
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

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
    #[arg(long = "batch")]
    batch: Option<PathBuf>,
}

const OWN: &[&str] = &[
    "help",
    "version",
    "dry_run",
    "check",
    "transfer_test",
    "batch",
];

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
        return exit_code(&anyhow!(ffbin::loop_error()), false);
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
        return passthrough_raw("ffmpeg", &args, &Reason::NotUtf8);
    };
    let cmd = match CmdLine::parse(&strs) {
        Ok(c) => c,
        Err(e) => {
            let args: Vec<OsString> = CmdLine::without_df_lenient(&strs)
                .into_iter()
                .map(OsString::from)
                .collect();
            return passthrough_raw("ffmpeg", &args, &Reason::Argv(e.to_string()));
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
        Err(e) => return exit_code(&e, false),
    };
    let ff_level_arg = cmd
        .global("loglevel")
        .or_else(|| cmd.global("v"))
        .and_then(|o| o.arg.as_deref());
    if let Some(v) = ff_level_arg.filter(|v| !logging::valid_ffmpeg_level(v)) {
        // ffmpeg refuses it with its own message
        let why = Reason::LogLevel(v.to_string());
        return passthrough(&config, &cmd, &why, flags.dry_run);
    }
    let ff_level = ff_level_arg.map(logging::ffmpeg_level);
    let level = match ff_level {
        Some(None) => None,
        Some(Some(l)) => Some(l.min(config.level().unwrap_or(l))),
        None => config.level(),
    };
    let session = Session {
        started,
        display: talk::display(&cmd, level, ff_level),
        sink: logging::init(level),
        dry_run: flags.dry_run,
        cmd,
        config,
    };
    match run(session, &flags) {
        Ok(code) => code,
        // -v quiet/panic: like ffmpeg, not even the final error line
        Err(e) => exit_code(&e, level.is_none()),
    }
}

/// The one place an error becomes ffmpeg's exit code and its one line on stderr.
fn exit_code(e: &anyhow::Error, quiet: bool) -> ExitCode {
    if e.is::<Interrupted>() {
        eprintln!("distrffmpeg: interrupted");
        return ExitCode::from(crate::signals::EXIT_INTERRUPTED);
    }
    if !quiet {
        eprintln!("distrffmpeg: {e:#}");
    }
    ExitCode::from(1)
}

/// distrffmpeg's own commands, or the command line: passed through or distributed.
fn run(session: Session, flags: &DfFlags) -> Result<ExitCode> {
    let (config, cmd) = (&session.config, &session.cmd);
    if flags.help {
        talk::stdout(help_text());
        return Ok(ExitCode::SUCCESS);
    }
    if flags.version {
        return Ok(version(config));
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    if let Some(file) = &flags.batch {
        if !cmd.inputs.is_empty() || !cmd.outputs.is_empty() {
            anyhow::bail!(
                "-df_batch takes the command lines from its file: give no other input or output"
            );
        }
        // the batch's config overrides apply to each job
        let overrides: Vec<String> = cmd
            .df
            .iter()
            .filter(|d| !OWN.contains(&d.key.as_str()))
            .map(|d| match &d.value {
                Some(v) => format!("-df_{}={v}", d.key),
                None => format!("-df_{}", d.key),
            })
            .collect();
        return rt.block_on(crate::batch::run(file, &overrides, config));
    }
    if let Some(file) = &flags.transfer_test {
        let lines = rt.block_on(crate::check::transfer_test(config, file))?;
        talk::stdout(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        let failed = lines.iter().any(|l| l.starts_with("error"));
        return Ok(ExitCode::from(u8::from(failed)));
    }
    if let Some(format) = &flags.check {
        return Ok(rt.block_on(run_check(config, cmd, format == "json")));
    }
    match rt.block_on(pipeline::distribute(&session))? {
        Outcome::Done => Ok(ExitCode::SUCCESS),
        Outcome::Passthrough(why) => Ok(passthrough(config, cmd, &why, session.dry_run)),
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
async fn run_check(config: &Config, cmd: &CmdLine, json: bool) -> ExitCode {
    let ffmpeg = ffbin::resolve(&config.ffmpeg_bin).map_err(|e| format!("{e:#}"));
    let encoder = requested_encoder(cmd);
    let rows = crate::check::rows(
        config,
        ffmpeg.as_deref().map_err(Clone::clone),
        encoder.as_deref(),
    )
    .await;
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

/// Runs the command through the real ffmpeg, or with `-df_dry_run` only says so.
fn passthrough(config: &Config, cmd: &CmdLine, why: &Reason, dry_run: bool) -> ExitCode {
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
fn passthrough_raw(ffmpeg_bin: &str, args: &[OsString], why: &Reason) -> ExitCode {
    tracing::info!("passing the command to ffmpeg unchanged: {why}");
    exec_ffmpeg(ffmpeg_bin, args)
}

fn exec_ffmpeg(ffmpeg_bin: &str, args: &[OsString]) -> ExitCode {
    match exec(ffmpeg_bin, args) {
        Ok(code) => code,
        Err(e) => exit_code(&e, false),
    }
}

/// Execs the real ffmpeg; returns only when that failed (or, off Unix, with its exit code).
fn exec(ffmpeg_bin: &str, args: &[OsString]) -> Result<ExitCode> {
    let ffmpeg = ffbin::resolve(ffmpeg_bin)?;
    let mut c = std::process::Command::new(&ffmpeg);
    c.args(args).env(ffbin::INNER_ENV, "1");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = c.exec();
        Err(anyhow!("cannot run {}: {err}", ffmpeg.display()))
    }
    #[cfg(not(unix))]
    {
        let s = c
            .status()
            .with_context(|| format!("cannot run {}", ffmpeg.display()))?;
        Ok(ExitCode::from(s.code().unwrap_or(1) as u8))
    }
}
