//! A distributed run, top to bottom: `Session` → `prepare` (check the files, probe, decide)
//! → `Prepared` → `plan` (packet index, chunks; workers connect meanwhile) → `Planned` →
//! `execute` (split, schedule, assemble) → `Outcome::Done`. Any stage before `execute` may end
//! in `Outcome::Passthrough(Reason)`: the command then runs through the real ffmpeg.

mod crew;
mod execute;
pub mod plan;
mod prepare;
mod refresh;

use crate::cli::argv::CmdLine;
use crate::config::Config;
use crate::ffbin::Tools;
use crate::job;
use crate::logging::Sink;
use crate::progress::Display;
use crate::talk;
use anyhow::Result;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What `app` hands over: the command line and what it set up for it.
pub struct Session {
    pub started: Instant,
    pub cmd: CmdLine,
    pub config: Config,
    /// `-df_dry_run`: print the plan and the commands instead of running them.
    pub dry_run: bool,
    pub display: Display,
    pub sink: Sink,
}

/// What every stage after `prepare` needs besides the job.
pub struct Env {
    pub tools: Tools,
    pub config: Config,
    pub display: Display,
    /// The user's `-progress` target (any URL `progress::url` opens).
    pub progress_url: Option<String>,
    pub sink: Sink,
    /// When distrffmpeg started (for the timing lines at debug level).
    pub started: Instant,
    /// ffmpeg's banner, printed once the job is sure to distribute (stderr not a terminal).
    pub banner: Option<String>,
    /// Cancelled by `q` on stdin: finish the output with the chunks done so far.
    pub quit: CancellationToken,
    /// How many of `config.workers` are the config's own (the rest came from
    /// `workers_command`, which `refresh` reads again while the job runs).
    pub static_workers: usize,
    /// fontconfig's font listing here when the job burns subtitles in (`worker::fonts`; empty
    /// when it cannot be made): an SSH worker's must be the same.
    pub fonts: Option<String>,
}

/// A job ready to plan.
pub struct Prepared {
    pub spec: job::JobSpec,
    pub env: Env,
}

/// How a run ends when it does not fail.
#[derive(Debug)]
pub enum Outcome {
    /// The output is written (or, with `-df_dry_run`, the plan printed).
    Done,
    /// The command is left to the real ffmpeg.
    Passthrough(Reason),
}

/// Why a command runs through the real ffmpeg instead of distributing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its arguments are not all UTF-8.
    NotUtf8,
    /// Its argv does not parse the way ffmpeg's does (ffmpeg will say what is wrong).
    Argv(String),
    /// A `-loglevel` ffmpeg refuses with its own message.
    LogLevel(String),
    /// Something in the command or its inputs is outside what distributes exactly.
    Unsupported(String),
    /// `-pass 2` without distrffmpeg's pass-1 statistics: pass 1 ran through plain ffmpeg.
    NoPass1(String),
    /// The video cannot be cut into chunks.
    Plan(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NotUtf8 => f.write_str("arguments are not UTF-8"),
            Reason::Argv(e) | Reason::Unsupported(e) | Reason::Plan(e) => f.write_str(e),
            Reason::LogLevel(v) => write!(f, "-loglevel {v}"),
            Reason::NoPass1(store) => write!(
                f,
                "-pass 2 without distrffmpeg's pass-1 statistics ({store}): pass 1 ran through plain ffmpeg"
            ),
        }
    }
}

impl From<job::Passthrough> for Reason {
    fn from(p: job::Passthrough) -> Reason {
        Reason::Unsupported(p.0)
    }
}

/// Why a stage does not go on.
#[derive(Debug)]
pub enum Halt {
    Passthrough(Reason),
    /// The user interrupted (SIGINT/SIGTERM, or a second `q`).
    Interrupted,
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Halt {
    fn from(e: anyhow::Error) -> Halt {
        Halt::Error(e)
    }
}

/// The user interrupted the run: ffmpeg's exit code 255, and one line.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Runs a session to its end: the story of a distributed run.
pub async fn distribute(session: &Session) -> Result<Outcome> {
    // Signals are watched from the start: an interrupt while probing or planning (reading
    // the packet index of a long file takes seconds) exits like ffmpeg too.
    let cancel = CancellationToken::new();
    let interrupted = CancellationToken::new();
    let watch = crate::signals::watch(cancel.clone(), interrupted.clone());
    let result = stages(session, &cancel, &interrupted).await;
    watch.abort();
    if interrupted.is_cancelled() {
        return Err(Interrupted.into());
    }
    match result {
        Ok(()) => Ok(Outcome::Done),
        Err(Halt::Passthrough(r)) => Ok(Outcome::Passthrough(r)),
        Err(Halt::Interrupted) => Err(Interrupted.into()),
        Err(Halt::Error(e)) => Err(e),
    }
}

async fn stages(
    session: &Session,
    cancel: &CancellationToken,
    interrupted: &CancellationToken,
) -> Result<(), Halt> {
    let dry_run = session.dry_run;
    let prepared = until(prepare::prepare(session), interrupted).await?;
    // Workers are connected while the packet index is read and the job planned.
    let probing = (!dry_run).then(|| crew::start_probing(&prepared));
    let planned = match until(plan::plan(&prepared), interrupted).await {
        Ok(p) => p,
        Err(halt) => {
            if let Some(p) = probing {
                crew::abandon(p).await;
            }
            return Err(halt);
        }
    };
    let mut prepared = prepared;
    plan::demote(&mut prepared.spec, &planned.demoted);
    let Some(probing) = probing else {
        let ffmpeg = &prepared.env.tools.ffmpeg;
        talk::stdout(&crate::dryrun::render(&prepared.spec, &planned, ffmpeg));
        return Ok(());
    };
    let Prepared { spec, env } = prepared;
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
    // not raced against the interrupt: cancelled, it cleans up the workers and then returns
    execute::execute(spec, planned, &env, probing, cancel.clone())
        .await
        .map_err(Halt::Error)
}

/// Runs a stage until the user interrupts (dropping it kills its ffprobe: kill_on_drop).
async fn until<T>(
    stage: impl std::future::Future<Output = Result<T, Halt>>,
    interrupted: &CancellationToken,
) -> Result<T, Halt> {
    tokio::select! {
        r = stage => r,
        _ = interrupted.cancelled() => Err(Halt::Interrupted),
    }
}
