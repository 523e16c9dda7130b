//! Workers: the places where chunk encodes run. One trait, implemented by a local worker
//! (subprocess ffmpeg in the local work dir) and by the SSH worker; the scheduler only talks to
//! the trait.

pub mod fonts;
pub mod local;
pub mod pool;
pub mod ssh;

use crate::progress::EncodeProgress;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a worker operation failed, which decides what the scheduler does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// Connection or transfer trouble: retry the chunk elsewhere and count it against the worker.
    #[error("{0}")]
    Transport(String),
    /// ffmpeg failed. `fatal` when the error would repeat on every worker (bad option, unknown
    /// encoder): the job stops with ffmpeg's message.
    #[error("ffmpeg failed: {tail}")]
    Ffmpeg { tail: String, fatal: bool },
    #[error("cancelled")]
    Cancelled,
    /// Every slot of the worker is leased by other jobs: try later or elsewhere (no failure).
    #[error("{0}")]
    Busy(String),
    /// A file of this machine could not be read or written: no worker can help, the job
    /// stops with this message (never reported as ffmpeg's).
    #[error("{0}")]
    Local(String),
}

/// Called with each progress snapshot of a running encode.
pub type ProgressFn<'a> = &'a (dyn Fn(EncodeProgress) + Send + Sync);

/// The most one `Worker::fetch_ahead` call copies: an encode that ends waits for at most
/// this much of a transfer before its slot is free.
pub const FETCH_AHEAD_PIECE: u64 = 4 << 20;

pub trait Worker: Send + Sync {
    /// A short name for messages ("local", "enc@10.0.0.5").
    fn label(&self) -> &str;
    /// How this worker's ffmpeg refers to a file of the job's directory.
    fn path(&self, name: &str) -> String;
    /// Creates the job's directory on the worker.
    fn prepare(&self) -> BoxFut<'_, Result<(), WorkerError>>;
    /// Makes the local file available to the worker's ffmpeg under `name`.
    fn upload<'a>(&'a self, local: &'a Path, name: &'a str) -> BoxFut<'a, Result<(), WorkerError>>;
    /// Runs ffmpeg with `args` (paths from `path`), reporting progress, until done or cancelled.
    /// Returns the start of ffmpeg's stderr (`STDERR_HEAD` bytes: the stream descriptions).
    fn encode<'a>(
        &'a self,
        args: &'a [String],
        progress: ProgressFn<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFut<'a, Result<String, WorkerError>>;
    /// Brings the worker's file `name` to `local`.
    fn download<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
    ) -> BoxFut<'a, Result<(), WorkerError>>;
    /// While the worker's file `name` is still being written: copies its bytes from offset
    /// `from` to its current end, at most `FETCH_AHEAD_PIECE` of them, into `part` (at the
    /// same offsets) and returns the new end. Workers whose files need no copying return
    /// `from`.
    fn fetch_ahead<'a>(
        &'a self,
        _name: &'a str,
        _part: &'a Path,
        from: u64,
    ) -> BoxFut<'a, Result<u64, WorkerError>> {
        Box::pin(async move { Ok(from) })
    }
    /// `download`, when `fetch_ahead` already copied the first `have` bytes into `local`'s
    /// `.part` file while the file was being written (0: none).
    fn download_rest<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
        have: u64,
    ) -> BoxFut<'a, Result<(), WorkerError>> {
        let _ = have;
        self.download(name, local)
    }
    /// The file names in the job's directory.
    fn list(&self) -> BoxFut<'_, Result<Vec<String>, WorkerError>>;
    /// Deletes files of the job's directory that are no longer needed.
    fn remove<'a>(&'a self, names: &'a [String]) -> BoxFut<'a, Result<(), WorkerError>>;
    /// Removes the job's directory.
    fn cleanup(&self) -> BoxFut<'_, Result<(), WorkerError>>;
}

/// How much of an encode's stderr `Worker::encode` returns.
pub const STDERR_HEAD: usize = 16 * 1024;

/// Keeps the start of a stream of stderr bytes and a bounded tail.
#[derive(Default)]
pub struct StderrLog {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

impl StderrLog {
    pub fn push(&mut self, data: &[u8]) {
        let room = STDERR_HEAD.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        self.tail.extend_from_slice(data);
        if self.tail.len() > 64 * 1024 {
            self.tail.drain(..self.tail.len() - 16 * 1024);
        }
    }

    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

/// The color range ffmpeg's encoder was opened with, from the output stream description it
/// logs at info level (`Stream #0:0: Video: h264 …, yuv420p(tv, progressive), …`): `tv`,
/// `pc`, or None when unspecified. mp4 chunks cannot always carry it, so the final mux sets it.
pub fn encoder_color_range(stderr: &str) -> Option<&'static str> {
    encoder_color(stderr)
        .into_iter()
        .find(|(o, _)| o == "color_range")
        .and_then(|(_, v)| match v.as_str() {
            "tv" => Some("tv"),
            "pc" => Some("pc"),
            _ => None,
        })
}

/// Every color property the encoder was opened with, as codec options and their values, from
/// its output stream description at verbose level (`yuv420p(tv, bt709/bt470bg/smpte170m,
/// progressive, left)`; one name when matrix, primaries and transfer agree): range, matrix,
/// primaries, transfer, chroma location. Chunk containers drop some of them; the final mux
/// sets them all again.
pub fn encoder_color(stderr: &str) -> Vec<(String, String)> {
    output_encoder_color(stderr, 0)
}

/// `encoder_color` of each output of an encode that writes several (`Output #0`, `#1`, …).
pub fn encoder_colors(stderr: &str) -> Vec<Vec<(String, String)>> {
    (0..)
        .take_while(|i| stderr.contains(&format!("Output #{i}")))
        .map(|i| output_encoder_color(stderr, i))
        .collect()
}

fn output_encoder_color(stderr: &str, i: usize) -> Vec<(String, String)> {
    let Some(out) = stderr.split(&format!("Output #{i},")).nth(1) else {
        return Vec::new();
    };
    let stream = format!("Stream #{i}:0");
    let Some(line) = out
        .lines()
        .find(|l| l.contains(&stream) && l.contains("Video:"))
    else {
        return Vec::new();
    };
    // the pixel format's parenthesis: the first one whose items all name a color property or
    // the field order (codec tags like `(avc1 / 0x…)` come earlier; the field order may hold a
    // parenthesis of its own: `top coded first (swapped)`)
    let fields = parentheses(line).into_iter().find_map(|inner| {
        let items: Vec<&str> = top_level_items(inner);
        let known = |i: &&str| {
            matches!(
                *i,
                "tv" | "pc" | "progressive" | "top first" | "bottom first"
            ) || i.contains("coded first")
                || is_color_triple(i)
                || is_color_name(i)
        };
        items.iter().all(known).then_some(items)
    });
    let mut v = Vec::new();
    for item in fields.unwrap_or_default() {
        let opt = |o: &str, val: &str| (o.to_string(), val.to_string());
        match item {
            "tv" | "pc" => v.push(opt("color_range", item)),
            "progressive" | "top first" | "bottom first" => {}
            _ if item.contains("coded first") => {}
            _ if is_color_triple(item) => {
                let mut it = item.split('/');
                let (col, pri, trc) = (it.next(), it.next(), it.next());
                for (o, val) in [
                    ("colorspace", col),
                    ("color_primaries", pri),
                    ("color_trc", trc),
                ] {
                    if let Some(val) = val.filter(|x| *x != "unknown") {
                        v.push(opt(o, if val == "gbr" { "rgb" } else { val }));
                    }
                }
            }
            _ if CHROMA_LOCATIONS.contains(&item) => v.push(opt("chroma_sample_location", item)),
            _ if item != "unknown" => {
                // one name: matrix, primaries and transfer are all this
                let col = if item == "gbr" { "rgb" } else { item };
                v.push(opt("colorspace", col));
                v.push(opt("color_primaries", item));
                v.push(opt("color_trc", item));
            }
            _ => {}
        }
    }
    v
}

/// `matrix/primaries/transfer` as a stream description writes them (`bt709/bt709/unknown`),
/// unlike a codec tag (`avc1 / 0x31637661`).
fn is_color_triple(w: &str) -> bool {
    w.split('/').count() == 3 && !w.contains(' ')
}

/// The contents of every outermost parenthesis of a line.
fn parentheses(line: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in line.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(&line[start..i]);
                }
            }
            _ => {}
        }
    }
    out
}

/// The comma-separated items of a parenthesis' contents, commas inside nested ones kept.
fn top_level_items(inner: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim());
    out
}

/// libavutil's chroma location names (`av_chroma_location_name`).
const CHROMA_LOCATIONS: &[&str] = &["left", "center", "topleft", "top", "bottomleft", "bottom"];

/// Whether a word of a stream description is a chroma location or a color name that stands
/// alone (matrix, primaries and transfer equal), e.g. `bt709`, `smpte170m`, `bt2020nc`.
fn is_color_name(w: &str) -> bool {
    CHROMA_LOCATIONS.contains(&w)
        || matches!(
            w,
            "bt709" | "smpte170m" | "smpte240m" | "bt470bg" | "fcc" | "gbr" | "ycgco" | "unknown"
        )
}

/// What the operating system says (strerror) when a worker's disk, file system or device is
/// at fault: conditions of that machine, not of the user's options.
const IO_ERRORS: &[&str] = &[
    "No space left on device",
    "Disk quota exceeded",
    "Input/output error",
    "Read-only file system",
    "File too large",
    "Stale file handle",
    "Too many open files",
    "Cannot allocate memory",
    "Out of memory",
    "Permission denied",
    "Device or resource busy",
    "No such device",
    "Broken pipe",
    "Connection reset by peer",
    "Connection timed out",
    "Resource temporarily unavailable",
    "Transport endpoint is not connected",
    "Structure needs cleaning",
];

/// Whether ffmpeg's stderr names an I/O error of the machine it ran on (full disk, EIO,
/// quota, read-only file system, …).
pub fn is_io_error(stderr: &str) -> bool {
    IO_ERRORS.iter().any(|m| stderr.contains(m))
}

/// What ffmpeg itself would have shown of a failed encode: the lines it logged at error level
/// or worse (the workers log with `-v level+verbose`, so each line carries its level), the
/// other lines of the contexts that failed (`[libx264 @ …] Possible profiles: …`), what a
/// library wrote to stderr by itself (`x264 [error]: …`) and `Conversion failed!`, the level
/// tags removed: never the chunk's banner, its file names or the verbose chatter. The last
/// line stands in when nothing else is left.
pub fn ffmpeg_errors(stderr: &str) -> String {
    const LEVELS: [&str; 8] = [
        "[panic] ",
        "[fatal] ",
        "[error] ",
        "[warning] ",
        "[info] ",
        "[verbose] ",
        "[debug] ",
        "[trace] ",
    ];
    // (context prefix, level index, text) of each line, the level tag where fftools puts it
    // (after the `[name @ 0x…] ` contexts); untagged lines have no level
    let split = |l: &'_ str| -> (usize, Option<usize>) {
        let (mut at, mut rest) = (0, l);
        while rest.starts_with('[') {
            let Some(end) = rest.find("] ") else { break };
            if let Some(n) = LEVELS.iter().position(|t| *t == &rest[..end + 2]) {
                return (at, Some(n));
            }
            at += end + 2;
            rest = &rest[end + 2..];
        }
        (0, None)
    };
    let parsed: Vec<(&str, Option<usize>, &str)> = stderr
        .lines()
        .map(|l| match split(l) {
            (at, Some(n)) => (&l[..at], Some(n), &l[at + LEVELS[n].len()..]),
            _ => ("", None, l),
        })
        .collect();
    let failed: Vec<&str> = parsed
        .iter()
        .filter(|(ctx, lv, _)| lv.is_some_and(|n| n <= 2) && !ctx.is_empty())
        .map(|(ctx, _, _)| *ctx)
        .collect();
    let kept: Vec<String> = parsed
        .iter()
        .filter(|(ctx, lv, text)| match lv {
            None => !text.trim().is_empty(),
            Some(n) => {
                *n <= 2
                    || *n <= 4 && !ctx.is_empty() && failed.contains(ctx)
                    || *text == "Conversion failed!"
            }
        })
        .map(|(ctx, _, text)| format!("{ctx}{text}"))
        .collect();
    if kept.is_empty() || kept.iter().all(|l| l == "Conversion failed!") {
        let last = parsed.iter().rev().find(|(_, _, t)| !t.trim().is_empty());
        return last.map(|(c, _, t)| format!("{c}{t}")).unwrap_or_default();
    }
    kept.join("\n")
}

/// Decides from ffmpeg's stderr whether a failure would repeat on any worker: the user's
/// options (unknown encoder, bad option value, invalid argument). A failure that names an
/// I/O error of the worker ("Could not write header …: No space left on device") is that
/// worker's and is retried elsewhere, whatever else the message says.
pub fn is_fatal_ffmpeg_error(stderr: &str) -> bool {
    if is_io_error(stderr) {
        return false;
    }
    const MARKERS: &[&str] = &[
        "Unknown encoder",
        "Unrecognized option",
        "Error setting option",
        "Error initializing output stream",
        "Error while opening encoder",
        "No such filter",
        "Invalid argument",
        "Option not found",
        "not found for",
        "Error parsing",
        "Unable to parse",
        "Invalid pixel format",
        "incorrect codec parameters",
        "Could not write header",
    ];
    MARKERS.iter().any(|m| stderr.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_range_comes_from_the_output_stream_line() {
        let log = "Input #0, nut, from 'c.nut':\n  Stream #0:0: Video: h264 (High), yuv420p(pc, progressive), 320x240\n\
            Output #0, mp4, to 'e.mp4':\n  Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p(tv, progressive), 160x120, q=2-31\n";
        assert_eq!(encoder_color_range(log), Some("tv"));
        let log = "Output #0, mp4, to 'e.mp4':\n  Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p(progressive), 160x120\n";
        assert_eq!(encoder_color_range(log), None);
        let log = "Output #0, mov, to 'e.mov':\n  Stream #0:0: Video: ffv1 (FFV1 / 0x31564646), yuv422p10le(pc, bt709, progressive), 64x64\n";
        assert_eq!(encoder_color_range(log), Some("pc"));
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            encoder_color(log),
            pairs(&[
                ("color_range", "pc"),
                ("colorspace", "bt709"),
                ("color_primaries", "bt709"),
                ("color_trc", "bt709")
            ])
        );
        let log = "Output #0, mov, to 'e.mov':\n  Stream #0:0: Video: ffv1, 1 reference frame, gbrp(gbr/unknown/unknown, progressive, topleft), 80x60 (0x0)\n";
        assert_eq!(
            encoder_color(log),
            pairs(&[("colorspace", "rgb"), ("chroma_sample_location", "topleft")])
        );
        let log = "Output #0, mp4, to 'e.mp4':\n  Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p(progressive, left), 160x120\n";
        assert_eq!(
            encoder_color(log),
            pairs(&[("chroma_sample_location", "left")])
        );
        let log = "Output #0, mov, to 'w.mov':\n  Stream #0:0: Video: ffv1, 1 reference frame, yuv420p(top coded first (swapped), left), 320x240 (0x0) [SAR 1:1 DAR 4:3]\n";
        assert_eq!(
            encoder_color(log),
            pairs(&[("chroma_sample_location", "left")])
        );
        // an encode of several outputs describes each one's stream under its own header
        let log = "[info] Output #0, mp4, to 'a.mp4':\n[info]   Stream #0:0: Video: h264, yuv420p(tv, progressive), 160x120\n\
            [info] Output #1, mov, to 'b.mov':\n[info]   Stream #1:0: Video: ffv1, yuv420p(pc, progressive, left), 80x60\n";
        assert_eq!(
            encoder_colors(log),
            [
                pairs(&[("color_range", "tv")]),
                pairs(&[("color_range", "pc"), ("chroma_sample_location", "left")])
            ]
        );
        let mut s = StderrLog::default();
        s.push(&vec![b'a'; STDERR_HEAD + 10]);
        assert_eq!(s.head.len(), STDERR_HEAD);
    }

    #[test]
    fn option_errors_are_fatal_crashes_are_not() {
        assert!(is_fatal_ffmpeg_error(
            "[libx264 @ 0x1] Error setting option foo to value bar."
        ));
        assert!(is_fatal_ffmpeg_error("Unknown encoder 'libx999'"));
        // only the error lines, as ffmpeg shows them, of a log with levels
        // (as ffmpeg 5.1 writes it with -v level+verbose)
        let log = "[info] Input #0, nut, from 'src-00001.nut':\n[info]   Duration: 27:46:59.97, start: 100008.03\n\
                   [warning] Please use -profile:a or -profile:v, -profile is ambiguous\n\
                   [graph 0 input from stream 0:0 @ 0x5] [verbose] w:320 h:240 pixfmt:yuv420p\n\
                   x264 [error]: baseline profile doesn't support 4:4:4\n\
                   [libx264 @ 0x55b2] [error] Error setting profile baseline.\n\
                   [libx264 @ 0x55b2] [info] Possible profiles: baseline main high\n\
                   [error] Error initializing output stream 0:0 -- Error while opening encoder\n\
                   [AVIOContext @ 0x5] [verbose] Statistics: 0 bytes written\n\
                   [info] Conversion failed!\n";
        assert_eq!(
            ffmpeg_errors(log),
            "x264 [error]: baseline profile doesn't support 4:4:4\n\
             [libx264 @ 0x55b2] Error setting profile baseline.\n\
             [libx264 @ 0x55b2] Possible profiles: baseline main high\n\
             Error initializing output stream 0:0 -- Error while opening encoder\n\
             Conversion failed!"
        );
        assert_eq!(ffmpeg_errors("[info] x\n[info] Killed\n"), "Killed");
        // a tag inside the text is not the line's level
        assert_eq!(
            ffmpeg_errors("[info] title: [error] x\n[error] real\n"),
            "real"
        );
        assert!(!is_fatal_ffmpeg_error("Segmentation fault"));
        assert!(!is_fatal_ffmpeg_error("c.nut: No such file or directory"));
    }

    #[test]
    fn io_errors_of_the_worker_are_not_fatal() {
        // ffmpeg 5.1's lines when the worker's disk fills while the mp4 header is written
        let full = "Could not write header for output file #0 (incorrect codec parameters ?): \
            No space left on device\nError initializing output stream 0:0 -- \nConversion failed!\n";
        assert!(!is_fatal_ffmpeg_error(full));
        for errno in [
            "Input/output error",
            "Disk quota exceeded",
            "Read-only file system",
        ] {
            let log = format!(
                "av_interleaved_write_frame(): {errno}\nError writing trailer of e.mp4: {errno}"
            );
            assert!(!is_fatal_ffmpeg_error(&log), "{log}");
            let log = format!(
                "Could not write header for output file #0 (incorrect codec parameters ?): {errno}"
            );
            assert!(!is_fatal_ffmpeg_error(&log), "{log}");
        }
        // the user's options still stop the job
        let bad = "Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument";
        assert!(is_fatal_ffmpeg_error(bad));
        assert!(is_fatal_ffmpeg_error(
            "[NULL @ 0x1] Unable to find a suitable output format for 'x'\nInvalid argument"
        ));
    }
}
