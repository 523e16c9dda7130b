//! `-df_dry_run`: the plan and the commands a run would execute, printed instead of run.

use crate::commands::{self, Shift};
use crate::job::JobSpec;
use crate::plan::Planned;
use crate::process::display_cmd;
use crate::workdir::WorkDir;
use std::fmt::Write;

/// The plan and the commands of a planned job; `ffmpeg` is the local ffmpeg's path.
pub fn render(job: &JobSpec, planned: &Planned, ffmpeg: &str) -> String {
    let plan = &planned.plan;
    let tb = job.sync.in_tb;
    let shift = Shift::new(tb, job.trims.ts_offset_us);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan: {} input frames -> {} encoded frames in {} chunk(s), fps mode {:?}, encoder time base {}",
        plan.input_frames,
        plan.output_frames,
        plan.chunks.len(),
        job.sync.mode,
        job.sync.enc_tb
    );
    let total = plan.chunks.iter().map(|c| c.cost).sum::<u64>().max(1);
    let order = crate::schedule::dispatch_order(plan);
    for c in &plan.chunks {
        let src = WorkDir::source_name(c.index);
        let rank = order.iter().position(|&k| k == c.index).unwrap_or(0) + 1;
        let enc = WorkDir::encoded_name(c.index, 1, job.chunk_format().1);
        let _ = writeln!(
            s,
            "chunk {}: frames [{}, {}) -> {} encoded{}, packets {}..={}, {:.1} % of the work, dispatched {rank}.",
            c.index,
            c.start,
            c.end,
            c.out_count(),
            match c.preroll {
                0 => String::new(),
                n => format!(" after {n} pre-roll"),
            },
            c.first_packet,
            c.last_packet,
            100.0 * c.cost as f64 / total as f64,
        );
        let split = commands::split(
            job,
            job.source_path(),
            (c, &planned.packets[..]),
            &shift,
            tb,
            &src,
            true,
        );
        let _ = writeln!(s, "  PRE    {}", display_cmd(ffmpeg, &split));
        let trim = commands::chunk_trim(c, &planned.packets, &shift, tb, 0);
        let note = if trim.is_some() {
            " (-ss is relative to the split file's start time)"
        } else {
            ""
        };
        let aux: Vec<String> = job.aux_names().iter().map(|n| n.to_string()).collect();
        let files = commands::EncodeFiles {
            input: &src,
            output: &enc,
            passlog: Some("pass-NNNNN"),
            image: job.overlay.as_ref().map(|o| o.remote_name.as_str()),
            aux: &aux,
        };
        let mut encodes = vec![commands::encode(job, c, &shift, trim, files)];
        for (i, (other, plan)) in job.others.iter().zip(&planned.others).enumerate() {
            let c = &plan.chunks[c.index];
            let trim = commands::chunk_trim(c, &planned.packets, &shift, tb, 0);
            let enc = WorkDir::other_encoded_name(c.index, 1, i + 1, other.chunk_format().1);
            let files = commands::EncodeFiles {
                input: &src,
                output: &enc,
                passlog: None,
                image: None,
                aux: &[],
            };
            encodes.push(commands::encode(other, c, &shift, trim, files));
        }
        let enc_cmd = commands::shared_encode(&encodes).expect("the plan checked it");
        let _ = writeln!(s, "  REMOTE {}{note}", display_cmd("ffmpeg", &enc_cmd));
    }
    // The early audio's start, last packets and encoder tags are read after AUDIO runs; the
    // FINAL shown has placeholders for them.
    let early = commands::audio::early_audio(job).filter(|_| !job.discard_output);
    let done = early.as_ref().map(|ea| {
        let args = commands::audio::command(job, ea, "audio.mka", "audio.crc");
        let _ = writeln!(s, "AUDIO {}", display_cmd(ffmpeg, &args));
        commands::audio::placeholder(ea, "audio.mka")
    });
    let tags = Default::default();
    let parts = commands::FinalParts {
        list: "chunks.ffconcat",
        itsoffset_us: 0,
        chunk_tags: &tags,
        color: &[],
        audio: done.as_ref(),
    };
    let fin = commands::final_mux(job, &parts, &job.output);
    let _ = writeln!(s, "FINAL {}", display_cmd(ffmpeg, &fin));
    for other in &job.others {
        let parts = commands::FinalParts {
            audio: None,
            ..parts
        };
        let fin = commands::final_mux(other, &parts, &other.output);
        let _ = writeln!(s, "FINAL {}", display_cmd(ffmpeg, &fin));
    }
    for args in &job.plain_outputs {
        // an output that passes through on its own, written by plain ffmpeg beside the job
        let _ = writeln!(s, "PLAIN {}", display_cmd(ffmpeg, args));
    }
    s
}
