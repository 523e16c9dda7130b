//! Logging: tracing to stderr as `distrffmpeg: …` lines, at the level that the config's
//! `loglevel` and ffmpeg's own `-v`/`-loglevel` agree on (the quieter one wins).

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

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

/// Installs the subscriber; `level` None silences everything.
pub fn init(level: Option<Level>) {
    let Some(level) = level else { return };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .try_init();
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
    }
}
