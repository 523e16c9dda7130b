//! Logging: tracing to stderr as `distrffmpeg: …` lines, at the level that the config's
//! `loglevel` and ffmpeg's own `-v`/`-loglevel` agree on (the quieter one wins).

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Whether ffmpeg accepts this `-loglevel` value (else it refuses the command line itself).
pub fn valid_ffmpeg_level(v: &str) -> bool {
    const NAMES: &[&str] = &[
        "quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace",
        "repeat", "level",
    ];
    let last = v.rsplit('+').next().unwrap_or(v).trim_start_matches('-');
    NAMES.contains(&last) || last.parse::<i32>().is_ok()
}

/// ffmpeg's `-loglevel` value (name or number, optional `flags+` prefixes) as a tracing level;
/// None for quiet/panic (nothing at all).
pub fn ffmpeg_level(v: &str) -> Option<Level> {
    let v = v
        .rsplit('+')
        .next()
        .unwrap_or(v)
        .trim_start_matches(['+', '-']);
    let n: i32 = match v {
        "quiet" => -8,
        "panic" => 0,
        "fatal" => 8,
        "error" => 16,
        "warning" => 24,
        "info" => 32,
        "verbose" => 40,
        "debug" => 48,
        "trace" => 56,
        other => other.parse().unwrap_or(32),
    };
    match n {
        i32::MIN..=0 => None,
        1..=16 => Some(Level::ERROR),
        17..=24 => Some(Level::WARN),
        25..=32 => Some(Level::INFO),
        33..=48 => Some(Level::DEBUG),
        _ => Some(Level::TRACE),
    }
}

struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        ev: &Event<'_>,
    ) -> fmt::Result {
        let lvl = *ev.metadata().level();
        let tag = match lvl {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::DEBUG | Level::TRACE => "debug: ",
            Level::INFO => "",
        };
        write!(w, "distrffmpeg: {tag}")?;
        ctx.field_format().format_fields(w.by_ref(), ev)?;
        writeln!(w)
    }
}

/// Where log lines go: straight to stderr, or through the progress display while it is shown
/// (so lines never tear the bars). The reporter installs its display here.
#[derive(Clone, Default)]
pub struct Sink(Arc<Mutex<Option<indicatif::MultiProgress>>>);

impl Sink {
    pub fn attach(&self, mp: indicatif::MultiProgress) {
        *self.0.lock().unwrap() = Some(mp);
    }

    pub fn detach(&self) {
        *self.0.lock().unwrap() = None;
    }
}

/// One log line, written when the formatter is done with it.
pub struct SinkWriter {
    buf: Vec<u8>,
    sink: Sink,
}

impl std::io::Write for SinkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SinkWriter {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.buf);
        let out = || {
            let _ = std::io::stderr().write_all(&line);
        };
        match self.sink.0.lock().unwrap().as_ref() {
            Some(mp) => mp.suspend(out),
            None => out(),
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter;
    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter {
            buf: Vec::new(),
            sink: self.clone(),
        }
    }
}

/// Installs the subscriber; `level` None silences everything. Returns the sink the progress
/// display attaches to.
pub fn init(level: Option<Level>) -> Sink {
    let sink = Sink::default();
    if let Some(level) = level {
        // Other crates' logs (russh's protocol chatter) only at TRACE.
        let others = if level >= Level::TRACE {
            level
        } else {
            Level::ERROR
        };
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(others)
            .with_target("distrffmpeg", level);
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(sink.clone())
            .event_format(Plain)
            .finish()
            .with(filter)
            .try_init();
    }
    sink
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_levels_map() {
        assert_eq!(ffmpeg_level("error"), Some(Level::ERROR));
        assert_eq!(ffmpeg_level("quiet"), None);
        assert_eq!(ffmpeg_level("repeat+level+warning"), Some(Level::WARN));
        assert_eq!(ffmpeg_level("40"), Some(Level::DEBUG));
        assert_eq!(ffmpeg_level("info"), Some(Level::INFO));
        assert!(valid_ffmpeg_level("repeat+level+warning") && valid_ffmpeg_level("-8"));
        assert!(valid_ffmpeg_level("+repeat") && !valid_ffmpeg_level("bogus"));
    }
}
