//! Running `-vf` cases through plain ffmpeg and distrffmpeg side by side (lossless ffv1,
//! several chunks on two local slots) and comparing what they wrote: frames (framemd5),
//! stream layout, chunk counts.

use super::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// What one `-vf` did: how distrffmpeg ran it and how its output compares with plain ffmpeg's.
pub struct Outcome {
    pub chunks: usize,
    pub passed_through: bool,
    pub frames: usize,
    pub differing: usize,
    /// Fields of the stream layout that differ from plain ffmpeg's (see `layout_diff`).
    pub layout: Vec<String>,
    pub log: String,
}

/// Runs `-i src -vf <case> -c:v ffv1` into mkv with plain ffmpeg and with distrffmpeg, for each
/// case. Plain ffmpeg writes all cases in one run (one output per case, each with its own
/// `-vf`, the same encoder and muxer as a run of its own); a failing case is run alone to name
/// it. The framemd5 listings are made in one run too: the test's cost is distrffmpeg's.
pub fn run_all(e: &Env, src: &str, cases: &[String], tag: &str) -> Vec<Result<Outcome, String>> {
    run_all_with(e, src, cases, tag, &[], &[])
}

/// `run_all` with options before the input (`inp`) and on the output (`out`).
pub fn run_all_with(
    e: &Env,
    src: &str,
    cases: &[String],
    tag: &str,
    inp: &[&str],
    outp: &[&str],
) -> Vec<Result<Outcome, String>> {
    let name = |i: usize, who: &str| e.p(&format!("{tag}{i}-{who}.mkv"));
    let plain_args = |i: usize| -> Vec<String> {
        let vf = cases[i].clone();
        let mut a: Vec<String> = ["-map", "0:v:0", "-vf", &vf, "-c:v", "ffv1"]
            .map(String::from)
            .to_vec();
        a.extend(outp.iter().map(|s| s.to_string()));
        a.push(name(i, "plain"));
        a
    };
    let all: Vec<String> = (0..cases.len()).flat_map(plain_args).collect();
    let plain_failed: Vec<Option<String>> = match plain(inp, src, &all) {
        Ok(()) => vec![None; cases.len()],
        Err(_) => (0..cases.len())
            .map(|i| plain(inp, src, &plain_args(i)).err())
            .collect(),
    };
    let mut out: Vec<Option<Result<Outcome, String>>> = cases.iter().map(|_| None).collect();
    let mut logs = Vec::new();
    for (i, vf) in cases.iter().enumerate() {
        if let Some(err) = &plain_failed[i] {
            out[i] = Some(Err(format!("plain ffmpeg failed: {err}")));
            continue;
        }
        let ours = name(i, "ours");
        let mut args = vec!["-df_local_slots=2", "-y"];
        args.extend_from_slice(inp);
        args.extend(["-i", src, "-vf", vf, "-c:v", "ffv1"]);
        args.extend_from_slice(outp);
        args.push(&ours);
        let o = e.run_distr(&args);
        let log = stderr(&o);
        if o.status.success() {
            logs.push((i, log));
        } else {
            out[i] = Some(Err(format!("distrffmpeg failed: {}", tail(&log))));
        }
    }
    let files: Vec<String> = logs
        .iter()
        .flat_map(|(i, _)| [name(*i, "plain"), name(*i, "ours")])
        .collect();
    let md5 = framemd5_all(&files);
    for (k, (i, log)) in logs.into_iter().enumerate() {
        let (a, b) = (&md5[2 * k], &md5[2 * k + 1]);
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
        let (p, o) = (name(i, "plain"), name(i, "ours"));
        out[i] = Some(Ok(Outcome {
            chunks: chunks(&log),
            passed_through: log.contains("passing the command to ffmpeg unchanged"),
            frames: a.len(),
            differing,
            layout: layout_diff(p.as_ref(), o.as_ref()),
            log,
        }));
    }
    out.into_iter()
        .map(|o| o.expect("every case ran"))
        .collect()
}

/// Plain ffmpeg on `src` with the given output options; its stderr's end on failure.
pub fn plain(inp: &[&str], src: &str, outputs: &[String]) -> Result<(), String> {
    let p = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(inp)
        .args(["-i", src])
        .args(outputs)
        .output()
        .expect("run ffmpeg");
    p.status
        .success()
        .then_some(())
        .ok_or_else(|| tail(&stderr(&p)))
}

/// The framemd5 lines (without comments) of each file's first video stream, in one ffmpeg run.
pub fn framemd5_all(files: &[String]) -> Vec<Vec<String>> {
    if files.is_empty() {
        return Vec::new();
    }
    let mut c = Command::new("ffmpeg");
    c.args(["-nostdin", "-v", "error", "-y"]);
    for f in files {
        c.args(["-i", f]);
    }
    for (i, f) in files.iter().enumerate() {
        c.args([
            "-map",
            &format!("{i}:v:0"),
            "-f",
            "framemd5",
            &format!("{f}.md5"),
        ]);
    }
    let o = c.output().expect("framemd5");
    assert!(o.status.success(), "framemd5: {}", stderr(&o));
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(format!("{f}.md5"))
                .expect("framemd5 listing")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The fields of `tests/common`'s stream layout that differ (`stream 0 field_order`,
/// `stream 0 tag DURATION`, `format duration`, …).
pub fn layout_diff(plain: &Path, ours: &Path) -> Vec<String> {
    let (a, b) = (layout(plain), layout(ours));
    let mut diff = Vec::new();
    let mut cmp = |what: String, x: &Value, y: &Value| {
        let keys: BTreeSet<&String> = [x, y]
            .iter()
            .filter_map(|v| v.as_object())
            .flat_map(|o| o.keys())
            .collect();
        for k in keys {
            let (u, v) = (&x[k.as_str()], &y[k.as_str()]);
            if u != v {
                diff.push(format!("{what}{k}"));
            }
        }
    };
    let none = Vec::new();
    let (sa, sb) = (
        a["streams"].as_array().unwrap_or(&none),
        b["streams"].as_array().unwrap_or(&none),
    );
    for (i, (x, y)) in sa.iter().zip(sb).enumerate() {
        cmp(format!("stream {i} "), x, y);
        cmp(format!("stream {i} tag "), &x["tags"], &y["tags"]);
    }
    cmp("format ".into(), &a["format"], &b["format"]);
    cmp(
        "format tag ".into(),
        &a["format"]["tags"],
        &b["format"]["tags"],
    );
    if sa.len() != sb.len() {
        diff.push("stream count".into());
    }
    diff.retain(|d| !d.ends_with(" tags") && !d.ends_with("filename"));
    diff
}

pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

/// N of distrffmpeg's `N frames in N chunks on N slot(s)` line; 0 when there is none.
pub fn chunks(log: &str) -> usize {
    chunks_on(log).unwrap_or(0)
}

/// Runs each `-vf` and asserts that it distributed over several chunks and matched plain
/// ffmpeg frame for frame and field for field (but the layout fields in `allowed`); reports
/// every failing case at once.
pub fn assert_distributed_and_exact(e: &Env, src: &str, cases: &[String], allowed: &[&str]) {
    assert_distributed_and_exact_with(e, src, cases, allowed, &[], &[]);
}

/// `assert_distributed_and_exact` with options before the input and on the output.
pub fn assert_distributed_and_exact_with(
    e: &Env,
    src: &str,
    cases: &[String],
    allowed: &[&str],
    inp: &[&str],
    out: &[&str],
) {
    let mut bad = Vec::new();
    for (vf, outcome) in cases.iter().zip(run_all_with(e, src, cases, "d", inp, out)) {
        match outcome {
            Err(err) => bad.push(format!("{vf}: {err}")),
            Ok(o) if o.chunks < 3 || o.passed_through => bad.push(format!(
                "{vf}: not distributed over several chunks (chunks={}): {}",
                o.chunks,
                tail(&o.log)
            )),
            Ok(o) => {
                let layout: Vec<&String> = o
                    .layout
                    .iter()
                    .filter(|f| !allowed.contains(&f.as_str()))
                    .collect();
                if o.differing > 0 || o.frames < 60 || !layout.is_empty() {
                    bad.push(format!(
                        "{vf} {inp:?} {out:?}: distributed over {} chunks, {} of {} frames \
                         differ from plain ffmpeg, differing layout fields {layout:?}",
                        o.chunks, o.differing, o.frames
                    ));
                } else {
                    eprintln!(
                        "{vf} {inp:?} {out:?}: {} chunks, {} frames equal",
                        o.chunks, o.frames
                    );
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} case(s) failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
