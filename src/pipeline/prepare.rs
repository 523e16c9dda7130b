//! The first stage: the input files exist, the inputs are probed, the job is decided (or the
//! command passes through), the output may be written, and the tools and the banner are ready.

use super::{Env, Halt, Prepared, Reason, Session};
use crate::cli::argv::CmdLine;
use crate::ffbin::Tools;
use crate::job::{self, Overwrite, Pre};
use crate::probe;
use crate::progress::Display;
use crate::talk;
use anyhow::{bail, Result};
use std::io::BufRead;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Decides what needs no probing, probes the inputs, decides, and checks the output.
pub async fn prepare(session: &Session) -> Result<Prepared, Halt> {
    let Session {
        started,
        cmd,
        config,
        dry_run,
        display,
        sink,
    } = session;
    let cmd = &*job::sequence_rate(cmd);
    let passthrough = |p: job::Passthrough| Halt::Passthrough(p.into());
    // several outputs: each one is decided as a command of its own; those that distribute
    // share the first one's chunks, the others run as plain ffmpeg beside them
    let cmds: Vec<CmdLine> = match cmd.outputs.len() {
        0 | 1 => vec![cmd.clone()],
        n => {
            job::outputs::several_refusal(cmd).map_err(passthrough)?;
            (0..n).map(|i| job::outputs::only_output(cmd, i)).collect()
        }
    };
    let several = |i: usize, p: job::Passthrough| match cmds.len() {
        1 => p,
        _ => job::Passthrough(format!("output #{i}: {}", p.0)),
    };
    let pres: Vec<Result<Pre, job::Passthrough>> = (cmds.iter().enumerate())
        .map(|(i, c)| job::precheck(c).map_err(|p| several(i, p)))
        .collect();
    if cmds.len() == 1 || pres.iter().all(Result::is_err) {
        if let Some(Err(p)) = pres.first() {
            return Err(passthrough(p.clone()));
        }
    }
    for inp in &cmd.inputs {
        let path = job::local_path(&inp.url).unwrap_or(&inp.url);
        if !job::is_image_sequence(path, inp) {
            check_input(&inp.url)?;
        }
        if inp.last("f").and_then(|f| f.arg.as_deref()) == Some("concat") {
            // (ffmpeg reports a list it cannot read)
            let list = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(why) = job::concat_list_refusal(&list) {
                return Err(passthrough(job::Passthrough(why)));
            }
        }
    }
    let static_workers = config.workers.len();
    let config = crate::inventory::with_inventory(config).await?;
    let tools = Tools::resolve(&config)?;
    let banner_wanted = matches!(display, Display::Ffmpeg(ff) if ff.banner);
    // the real ffmpeg's version block and codec table (the banner's names, the default
    // encoder), while the inputs are probed
    let codecs = {
        let ffmpeg = tools.ffmpeg.clone();
        tokio::spawn(async move { crate::banner::version_and_codecs(&ffmpeg).await })
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
        let (info, dump) = probe::probe_info(&tools.ffprobe, path, &demux).await?;
        infos.push(info);
        dumps.push(dump);
    }
    let (version, codecs) = codecs.await.map_err(anyhow::Error::from)??;
    let mut specs: Vec<job::JobSpec> = Vec::new();
    let mut plain: Vec<(usize, job::Passthrough)> = Vec::new();
    for (i, (c, pre)) in cmds.iter().zip(&pres).enumerate() {
        let pre = match pre {
            Ok(pre) => pre,
            Err(p) => {
                plain.push((i, p.clone()));
                continue;
            }
        };
        let spec = match decide(c, pre, &infos, &tools, &codecs).await {
            Err(Halt::Passthrough(Reason::Unsupported(why))) if cmds.len() > 1 => {
                plain.push((i, several(i, job::Passthrough(why))));
                continue;
            }
            r => r?,
        };
        match specs
            .first()
            .and_then(|lead| job::outputs::companion_refusal(lead, &spec, i))
        {
            Some(why) => plain.push((i, job::Passthrough(why))),
            None => specs.push(job::JobSpec {
                output_index: i,
                ..spec
            }),
        }
    }
    // an output that passes through on its own is written by plain ffmpeg beside the job,
    // when it is a file here
    let local = |i: usize| job::local_path(&cmds[i].outputs[0].url).is_some();
    if let Some((_, why)) = (plain.iter()).find(|(i, _)| specs.is_empty() || !local(*i)) {
        return Err(passthrough(why.clone()));
    }
    if let Some(why) = (plain.iter()).find_map(|(i, _)| job::outputs::plain_refusal(&cmds[*i], *i))
    {
        return Err(passthrough(job::Passthrough(why)));
    }
    if !dry_run {
        for (i, c) in cmds.iter().enumerate() {
            match &pres[i] {
                Ok(pre) if pre.discard_output => {}
                Ok(pre) => check_output(&pre.output, pre.overwrite, c)?,
                Err(_) => {
                    let url = &c.outputs[0].url;
                    let path = job::local_path(url).unwrap_or(url);
                    check_output(path, job::overwrite(c), c)?;
                }
            }
        }
    }
    let mut spec = specs.remove(0);
    spec.others = specs;
    spec.plain_outputs = (plain.iter())
        .map(|(i, _)| job::outputs::plain_argv(&cmds[*i]))
        .collect();
    let banner = banner_wanted.then(|| talk::banner(&spec, &infos, &dumps, &version, &codecs));
    let fonts = match spec.burn_in.is_empty() && spec.drawtext.is_empty() {
        true => None,
        false => Some(
            crate::worker::fonts::local(&tools.ffmpeg)
                .await
                .unwrap_or_default(),
        ),
    };
    let env = Env {
        tools,
        config,
        display: *display,
        progress_url: spec.cmd.global("progress").and_then(|o| o.arg.clone()),
        sink: sink.clone(),
        started: *started,
        banner,
        quit: CancellationToken::new(),
        static_workers,
        fonts,
    };
    Ok(Prepared { spec, env })
}

/// The decision for a command of one output, its inputs probed: its job, or why it passes
/// through.
async fn decide(
    cmd: &CmdLine,
    pre: &Pre,
    infos: &[probe::MediaInfo],
    tools: &Tools,
    codecs: &crate::banner::Codecs,
) -> Result<job::JobSpec, Halt> {
    let passthrough = |p: job::Passthrough| Halt::Passthrough(p.into());
    let spec = job::analyze(cmd, pre, infos).map_err(passthrough)?;
    let spec = burn_ins(spec, cmd, infos, &tools.ffprobe).await?;
    let codec = spec.muxer.default_video_with(|e| codecs.knows_encoder(e));
    let default = codecs.default_encoder(codec);
    let spec = spec.with_default_encoder(default).map_err(passthrough)?;
    if let Some(e) = crate::banner::unknown_local_encoder(&spec, codecs) {
        let why = format!("encoder {e} is not in this ffmpeg (it refuses the command itself)");
        return Err(passthrough(job::Passthrough(why)));
    }
    for (key, file, _) in spec.drawtext.iter().flat_map(|d| &d.files) {
        // ffmpeg reports a file it cannot read; a text file's text is expanded like `text`
        let why = match std::fs::read(file) {
            Err(e) => Some(format!("drawtext's {key} {file}: {e}")),
            Ok(t) if key == "textfile" => job::drawtext::text_refusal(&String::from_utf8_lossy(&t)),
            Ok(_) => None,
        };
        if let Some(why) = why {
            return Err(passthrough(job::Passthrough(why)));
        }
    }
    let ffmpeg = spec.hw_check.as_ref().map(|_| tools.ffmpeg.as_str());
    crate::local_checks::run(ffmpeg, &tools.ffprobe, spec, infos)
        .await?
        .map_err(passthrough)
}

/// Finds what each burn-in's subtitle file holds (an input's is probed already) and decides
/// how it reaches the workers; a file that is not there or not understood passes through
/// (ffmpeg reports it).
async fn burn_ins(
    mut spec: job::JobSpec,
    cmd: &CmdLine,
    infos: &[probe::MediaInfo],
    ffprobe: &str,
) -> Result<job::JobSpec, Halt> {
    let passthrough = |why: String| Halt::Passthrough(job::Passthrough(why).into());
    let canon = |p: &str| std::fs::canonicalize(p).ok();
    let mut events = Vec::new();
    for i in 0..spec.burn_in.len() {
        let (file, filter) = (spec.burn_in[i].file.clone(), spec.burn_in[i].filter.clone());
        let Some(path) = canon(&file).filter(|p| p.is_file()) else {
            return Err(passthrough(format!(
                "{filter} reads {file}, which is not a file here"
            )));
        };
        let input = (cmd.inputs.iter()).position(|inp| {
            canon(job::local_path(&inp.url).unwrap_or(&inp.url)).as_ref() == Some(&path)
        });
        let info = match input {
            Some(j) => infos[j].clone(),
            None => match probe::probe_info(ffprobe, &file, &[]).await {
                Ok((info, _)) => info,
                Err(e) => return Err(passthrough(format!("{filter} reads {file}: {e:#}"))),
            },
        };
        job::burnin::decide(&mut spec.burn_in[i], &info, i).map_err(passthrough)?;
        let stream = spec.burn_in[i].stream_index;
        let ev = match probe::subtitle_events(ffprobe, &file, stream).await {
            Ok(ev) => ev,
            Err(e) => return Err(passthrough(format!("{filter} reads {file}: {e:#}"))),
        };
        if ev.iter().any(|&(start, _)| start < 0) {
            // (a copy into matroska would shift them)
            return Err(passthrough(format!(
                "{file} has subtitle events before zero"
            )));
        }
        if filter == "ass" {
            let script = std::fs::read(&file).unwrap_or_default();
            let script = String::from_utf8_lossy(&script);
            if let Some(why) = job::burnin::ass_events_differ(&script, ev.len()) {
                return Err(passthrough(format!("ass reads {file}: {why}")));
            }
        }
        events.extend(ev);
    }
    spec.subtitle_busy_us = job::burnin::busy_spans(&events);
    Ok(spec)
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
fn check_output(output: &str, overwrite: Overwrite, cmd: &CmdLine) -> Result<()> {
    if cmd.has_global("y") && cmd.has_global("n") {
        bail!("Error, both -y and -n supplied. Exiting.");
    }
    let out = Path::new(output);
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    for (i, inp) in cmd.inputs.iter().enumerate() {
        let path = Path::new(job::local_path(&inp.url).unwrap_or(&inp.url));
        if inp.url == output || (out.exists() && canon(out) == canon(path)) {
            bail!(
                "Output {} same as Input #{i} - exiting (ffmpeg cannot edit existing files in-place)",
                output
            );
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("{}: No such file or directory", output);
        }
    }
    if !out.exists() {
        return Ok(());
    }
    if out.is_dir() {
        bail!("{}: Is a directory", output);
    }
    match overwrite {
        Overwrite::Yes => Ok(()),
        Overwrite::No => bail!("File '{}' already exists. Exiting.", output),
        Overwrite::Ask if cmd.global("stdin").is_some_and(|o| !o.bool_value()) => {
            bail!("File '{}' already exists. Exiting.", output)
        }
        Overwrite::Ask => {
            eprint!("File '{}' already exists. Overwrite? [y/N] ", output);
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
