//! Several output files in one command: each output as a command of its own (the global
//! options, every input, that output and its options), and whether the outputs can share one
//! chunking: each chunk uploaded once and encoded for every output by one worker ffmpeg.
//!
//! fftools opens one encoder, one simple filter graph and one muxer per output stream, all fed
//! by the same decoded frames; nothing an output writes depends on another output. What the
//! outputs do share is ruled out: a `-filter_complex` (its outputs are spread over the files)
//! and two-pass logs (named by the stream's index among all outputs). An output that does not
//! distribute on its own, or cannot share the chunks, is written by plain ffmpeg running the
//! command of that output alone (`plain_argv`) beside the job.

use super::{pass, JobSpec, Passthrough};
use crate::cli::argv::{CmdLine, Item};

/// The command with only output `i`: the global options, every input with its options, and
/// output `i` with its options (`-df_` tokens dropped).
pub fn only_output(cmd: &CmdLine, i: usize) -> CmdLine {
    let mut argv: Vec<String> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut out = 0;
    for item in &cmd.items {
        match item {
            Item::Global(o) => argv.extend(o.tokens()),
            Item::FileOpt(o) => pending.extend(o.tokens()),
            Item::DashDash => pending.push("--".into()),
            Item::Input(u) => {
                argv.append(&mut pending);
                argv.extend(["-i".to_string(), u.clone()]);
            }
            Item::Output(u) => {
                if out == i {
                    argv.append(&mut pending);
                    argv.push(u.clone());
                }
                pending.clear();
                out += 1;
            }
            Item::Df(_) => {}
        }
    }
    CmdLine::parse(&argv).expect("a part of a parsed command line parses")
}

/// Plain ffmpeg's argv for an output that passes through on its own, run beside the job: the
/// command of that output alone (`only_output`), quiet and overwriting (ffmpeg's rules for
/// the output were applied before anything ran).
pub fn plain_argv(cmd: &CmdLine) -> Vec<String> {
    let mut v: Vec<String> = ["-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"]
        .map(String::from)
        .to_vec();
    v.extend(cmd.identity_argv());
    v
}

/// Why an output cannot be written by plain ffmpeg on its own, beside the others, if it
/// cannot: one that stops on a frame count (`-frames`), at the shortest stream or at a size
/// closes all its streams when that happens, and where the other streams then are depends on
/// how far the whole command has read — on the other outputs. A frame count on a picture file
/// or an output without audio and subtitles stops only its video.
pub fn plain_refusal(cmd: &CmdLine, i: usize) -> Option<String> {
    let out = cmd.outputs.first()?;
    let has = |n: &str| out.opts.iter().any(|o| o.is(n));
    let frames = ["frames", "vframes", "aframes", "dframes"]
        .iter()
        .any(|n| has(n));
    let ext = std::path::Path::new(&out.url)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let picture = ext.is_some_and(|e| super::precheck::IMAGE_EXTS.contains(&e.as_str()));
    let video_alone = picture || (has("an") && has("sn"));
    (has("shortest") || has("fs") || (frames && !video_alone)).then(|| {
        format!("output #{i} stops on a frame count, the shortest stream or a size, where its other streams are depends on the other outputs")
    })
}

/// What several outputs must not share, checked on the whole command.
pub fn several_refusal(cmd: &CmdLine) -> Result<(), Passthrough> {
    if let Some(g) = (cmd.globals.iter()).find(|g| {
        matches!(
            g.name(),
            "filter_complex" | "lavfi" | "filter_complex_script"
        )
    }) {
        return pass(format!("several output files with a -{}", g.name()));
    }
    for (i, out) in cmd.outputs.iter().enumerate() {
        let two_pass = out.opts.iter().any(|o| {
            o.is("pass")
                || o.is("passlogfile")
                || (o.is("x265-params") && o.arg.as_deref().is_some_and(|a| a.contains("pass")))
        });
        if two_pass {
            // fftools numbers the log files by the stream's index among all outputs
            return pass(format!("two-pass encoding in output #{i} of several"));
        }
        if cmd.outputs[..i].iter().any(|o| o.url == out.url) {
            return pass(format!("output {} is named twice", out.url));
        }
    }
    Ok(())
}

/// Why output `other` cannot share the chunks of the first output (`lead`), if it cannot:
/// the workers decode each chunk once for both, so both encode the same source video from
/// the same input options, and neither ships other files to the workers.
pub fn companion_refusal(lead: &JobSpec, other: &JobSpec, i: usize) -> Option<String> {
    let tokens = |j: &JobSpec| {
        let opts = j.demux_opts.iter().chain(&j.decode_opts);
        (
            opts.flat_map(|o| o.tokens()).collect::<Vec<_>>(),
            j.src_color.clone(),
        )
    };
    let why = if (other.src_file, other.src_stream) != (lead.src_file, lead.src_stream) {
        "encodes another video stream than output #0"
    } else if tokens(other) != tokens(lead) || other.trims.ts_offset_us != lead.trims.ts_offset_us {
        "reads the video with other options than output #0"
    } else if [lead, other].iter().any(|j| j.overlay.is_some()) {
        "lays an image over the video"
    } else if [lead, other]
        .iter()
        .any(|j| !j.burn_in.is_empty() || !j.drawtext.is_empty())
    {
        "burns subtitles or text in"
    } else if [lead, other].iter().any(|j| j.discard_output) {
        "is thrown away"
    } else {
        return None;
    };
    Some(format!("output #{i} of several {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &str) -> CmdLine {
        CmdLine::parse(&args.split_whitespace().collect::<Vec<_>>()).unwrap()
    }

    fn words(args: &str) -> Vec<String> {
        args.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn each_output_keeps_its_own_options_and_every_input() {
        let c = cmd("-y -ss 1 -i a.mkv -i b.wav -c:v libx264 -crf 20 o1.mp4 \
                     -nostats -s 640x360 -c:v libvpx-vp9 o2.webm -df_x=1");
        let one = only_output(&c, 0).to_ffmpeg_argv();
        let two = only_output(&c, 1).to_ffmpeg_argv();
        assert_eq!(
            one,
            words("-y -ss 1 -i a.mkv -i b.wav -c:v libx264 -crf 20 o1.mp4 -nostats")
        );
        assert_eq!(
            two,
            words("-y -ss 1 -i a.mkv -i b.wav -nostats -s 640x360 -c:v libvpx-vp9 o2.webm")
        );
        assert_eq!(only_output(&c, 1).outputs.len(), 1);
        let plain = plain_argv(&only_output(&c, 1));
        assert_eq!(
            plain[..6],
            words("-nostdin -hide_banner -nostats -v error -y")
        );
        assert_eq!(plain[6..9], words("-ss 1 -i"));
        assert!(!plain[6..].contains(&"-nostats".to_string()));
    }

    #[test]
    fn shared_graphs_two_pass_and_one_file_twice_are_refused() {
        let why = |a: &str| several_refusal(&cmd(a)).unwrap_err().0;
        let graph = "-i a -filter_complex [0]split[x][y] -map [x] o1.mp4 -map [y] o2.mp4";
        assert!(why(graph).contains("-filter_complex"));
        assert!(why("-i a -pass 1 o1.mp4 o2.mp4").contains("two-pass"));
        assert!(why("-i a o1.mp4 -x265-params pass=2 o2.mp4").contains("#1"));
        assert!(why("-i a o.mp4 o.mp4").contains("named twice"));
        assert!(several_refusal(&cmd("-i a o1.mp4 -s hd720 o2.mp4")).is_ok());
    }
}
