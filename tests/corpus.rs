//! A corpus of real ffmpeg command lines, collected from public tools (Tdarr and Unmanic
//! plugins, Jellyfin's transcoder, ffmpeg-python, ab-av1, FileFlows), the FFmpeg wiki, Q&A sites,
//! blog tutorials and scripts (`tests/corpus/lines.txt`, each line with its source). Only file
//! paths are changed, to media this test generates.
//!
//! `decisions` dry-runs every line and snapshots what distrffmpeg decides for it: distribute
//! (with the chunk count) or pass through to plain ffmpeg (with the reason), or an error. The
//! snapshot is the record of decisions and changes whenever the tool learns something; the test
//! also prints a coverage table per category to stderr.
//!
//! `end_to_end` runs the lines marked `e2e` (a representative third of the distributed ones)
//! through distrffmpeg with small chunks and through plain ffmpeg, and asserts the outputs are
//! the same (`common::assert_same`); with `CORPUS_E2E_ALL=1` it runs every line that
//! distributes (from the `CORPUS_E2E_FROM`th line on, if set).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

const LINES: &str = include_str!("corpus/lines.txt");

/// One command line of the corpus.
#[derive(Clone, Debug)]
struct Entry {
    category: String,
    source: String,
    e2e: bool,
    /// ffmpeg's argv without the program name; the output path is the last word.
    args: Vec<String>,
}

const CATEGORIES: &[&str] = &[
    "tdarr",
    "unmanic",
    "jellyfin",
    "ffmpeg-python",
    "ab-av1",
    "fileflows",
    "wiki",
    "qa",
    "blog",
    "script",
];

/// Parses `lines.txt`: a `# category | source | note[ | e2e]` line, then the command on the
/// next line (`ffmpeg …` in shell-words syntax). Lines starting with `##` are free comments.
fn corpus() -> Vec<Entry> {
    let mut out = Vec::new();
    let mut header: Option<(String, String, bool)> = None;
    for (n, line) in LINES.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with("##") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(header.is_none(), "lines.txt:{n}: two headers in a row");
            let parts: Vec<&str> = rest.split(" | ").map(str::trim).collect();
            assert!(
                parts.len() == 3 || (parts.len() == 4 && parts[3] == "e2e"),
                "lines.txt:{n}: expected `# category | source | note[ | e2e]`"
            );
            assert!(
                CATEGORIES.contains(&parts[0]),
                "lines.txt:{n}: unknown category {:?}",
                parts[0]
            );
            header = Some((parts[0].into(), parts[1].into(), parts.len() == 4));
            continue;
        }
        let (category, source, e2e) = header
            .take()
            .unwrap_or_else(|| panic!("lines.txt:{n}: a command without its header"));
        let words = shell_words::split(line)
            .unwrap_or_else(|e| panic!("lines.txt:{n}: not shell words: {e}"));
        assert_eq!(
            words.first().map(String::as_str),
            Some("ffmpeg"),
            "lines.txt:{n}: commands start with ffmpeg"
        );
        out.push(Entry {
            category,
            source,
            e2e,
            args: words[1..].to_vec(),
        });
    }
    assert!(header.is_none(), "lines.txt: a header without its command");
    out
}

/// The generated media, shared by the tests of one run while any of them holds it (the
/// directory goes away with the last holder).
fn media() -> Arc<Env> {
    static SHARED: Mutex<Weak<Env>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = slot.upgrade() {
        return env;
    }
    let env = Arc::new(Env::new());
    make_media(&env);
    *slot = Arc::downgrade(&env);
    env
}

/// Everything the lines read, made from lavfi with plain ffmpeg (a few seconds in all).
fn make_media(e: &Env) {
    require("ffprobe", "ffmpeg");
    let srt =
        "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:02,000 --> 00:00:02,800\nWorld\n";
    std::fs::write(e.path("subs.srt"), srt).unwrap();
    e.ffmpeg(&["-i", "subs.srt", "subs.ass"]);
    // h264 + aac stereo + an srt subtitle stream, 25 fps, 3 s.
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=25"),
        &lavfi("sine=frequency=440:sample_rate=48000"),
        &[
            "-i", "subs.srt", "-t", "3", "-map", "0:v", "-map", "1:a", "-map", "2:s",
        ],
        &X264,
        &[
            "-g",
            "25",
            "-bf",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-c:s",
            "srt",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:s:0",
            "language=eng",
            "in.mkv",
        ],
    ]));
    // h264 + aac, 30 fps, 3 s; and a second clip for the lines that join two inputs.
    for (name, src) in [
        ("in.mp4", "testsrc2=size=320x240:rate=30"),
        ("in2.mp4", "smptebars=size=320x240:rate=30"),
    ] {
        e.ffmpeg(&with(&[
            &lavfi(src),
            &lavfi("sine=frequency=660:sample_rate=44100"),
            &["-t", "3"],
            &X264,
            &[
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-ac",
                "2",
                "-movflags",
                "+faststart",
                name,
            ],
        ]));
    }
    // 10-bit HEVC with AC-3 5.1, 24 fps, 3 s.
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=24"),
        &lavfi("sine=frequency=330:sample_rate=48000"),
        &[
            "-t",
            "3",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "keyint=24:min-keyint=24:log-level=error",
            "-c:a",
            "ac3",
            "-ac",
            "6",
            "in_hevc.mkv",
        ],
    ]));
    // A phone recording: h264 with a 90° display matrix (5.1 turns the rotate tag into one).
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=30"),
        &lavfi("sine=sample_rate=48000"),
        &["-t", "3"],
        &X264,
        &["-pix_fmt", "yuv420p", "-c:a", "aac", "phone-norot.mp4"],
    ]));
    e.ffmpeg(&[
        "-i",
        "phone-norot.mp4",
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata:s:v",
        "rotate=90",
        "phone.mp4",
    ]);
    let side = probe(
        &e.path("phone.mp4"),
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream_side_data=side_data_type,rotation",
        ],
    );
    let sd = &side["streams"][0]["side_data_list"][0];
    assert_eq!(sd["side_data_type"], "Display Matrix", "phone.mp4: {side}");
    assert_eq!(sd["rotation"].as_i64().map(i64::abs), Some(90), "{side}");
    // Interlaced broadcast: MPEG-2 top field first with MP2 audio in MPEG-TS, 25 fps, 3 s.
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=720x576:rate=25"),
        &lavfi("sine=sample_rate=48000"),
        &[
            "-t",
            "3",
            "-vf",
            "setfield=tff",
            "-c:v",
            "mpeg2video",
            "-flags",
            "+ilme+ildct",
            "-top",
            "1",
            "-b:v",
            "4M",
            "-c:a",
            "mp2",
            "interlaced.ts",
        ],
    ]));
    let field = probe(
        &e.path("interlaced.ts"),
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=field_order",
        ],
    );
    assert_eq!(
        field["streams"][0]["field_order"], "tt",
        "interlaced.ts: {field}"
    );
    // An image sequence (2 s at 24 fps) and a still image for overlays.
    std::fs::create_dir_all(e.path("img")).unwrap();
    e.ffmpeg(&with(&[
        &lavfi("testsrc=size=320x240:rate=24"),
        &["-frames:v", "48", "img/%03d.png"],
    ]));
    std::fs::create_dir_all(e.path("seq")).unwrap();
    e.ffmpeg(&with(&[
        &lavfi("testsrc=size=320x240:rate=24"),
        &["-frames:v", "48", "-start_number", "100", "seq/%04d.png"],
    ]));
    e.ffmpeg(&with(&[
        &lavfi("color=c=red@0.6:size=64x48,format=rgba"),
        &["-frames:v", "1", "overlay.png"],
    ]));
    // Audio-only files: a wav, and aac in m4a for a line that muxes separate audio.
    for (name, codec) in [("in.wav", "pcm_s16le"), ("audio.m4a", "aac")] {
        e.ffmpeg(&with(&[
            &lavfi("sine=frequency=500:sample_rate=44100"),
            &["-t", "3", "-ac", "2", "-c:a", codec, name],
        ]));
    }
}

/// The dry run's options: one local slot and the chunk sizes `Env::run_distr` uses, so that the
/// chunk counts depend on the media only, not on this machine's cores.
const DRY_RUN: &[&str] = &[
    "-df_dry_run",
    "-df_local_slots=1",
    "-df_segment_frames=24",
    "-df_keyint_min=12",
    "-df_keyint_max=48",
];

/// What distrffmpeg decides for one line, as one stable string.
fn decision(env: &Env, args: &[String]) -> String {
    let out = env
        .distr()
        .args(DRY_RUN)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run distrffmpeg");
    let dir = env.dir.path().to_string_lossy().into_owned();
    let canon = std::fs::canonicalize(env.dir.path())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| dir.clone());
    let norm = |s: &str| s.replace(&canon, "$DIR").replace(&dir, "$DIR");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no stderr)");
        return format!("error: {}", norm(first));
    }
    if let Some(reason) = stdout.lines().find_map(|l| l.strip_prefix("passthrough: ")) {
        assert!(
            stdout.lines().any(|l| l.starts_with("FFMPEG ")),
            "a pass-through dry run shows the ffmpeg command: {stdout}"
        );
        return format!("passthrough: {}", norm(reason));
    }
    let chunks = stdout.lines().filter(|l| l.starts_with("chunk ")).count();
    assert!(chunks > 0, "neither a pass-through nor a plan: {stdout}");
    format!("distribute ({chunks} chunks)")
}

#[test]
fn decisions() {
    let entries = corpus();
    assert!(entries.len() >= 110, "{} lines", entries.len());
    let env = media();
    // Dry runs only probe; two at a time keep a shared 2-core machine responsive.
    let mut results = vec![String::new(); entries.len()];
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(e) = entries.get(i) else { break };
                let d = decision(&env, &e.args);
                done.lock().unwrap()[i] = d;
            });
        }
    });

    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut text = String::new();
    for (e, d) in entries.iter().zip(&results) {
        let c = per.entry(e.category.as_str()).or_default();
        c.0 += 1;
        if d.starts_with("distribute") {
            c.1 += 1;
        } else {
            *reasons.entry(d.as_str()).or_default() += 1;
        }
        text.push_str(&format!("{} | {} | {}\n", e.category, e.source, d));
    }
    let (lines, dist) = per.values().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
    eprintln!(
        "\ncorpus coverage\n{:<14} {:>5} {:>11} {:>6}",
        "category", "lines", "distributed", "%"
    );
    for (cat, (n, d)) in per.iter().chain([(&"total", &(lines, dist))]) {
        eprintln!(
            "{cat:<14} {n:>5} {d:>11} {:>5.0}%",
            100.0 * *d as f64 / *n as f64
        );
    }
    let mut ranked: Vec<_> = reasons.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    eprintln!("\nnot distributed, by reason");
    for (r, n) in &ranked {
        eprintln!("{n:>4}  {r}");
    }
    insta::assert_snapshot!("decisions", text);
}

#[test]
fn end_to_end() {
    // CORPUS_E2E_ALL=1: every line that distributes, not only the marked third
    let all = std::env::var_os("CORPUS_E2E_ALL").is_some();
    let entries: Vec<Entry> = corpus().into_iter().filter(|e| e.e2e || all).collect();
    assert!(!entries.is_empty(), "no line is marked e2e");
    let env = media();
    let mut failures = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("{} | {} | {}", e.category, e.source, e.args.join(" "));
        let d = decision(&env, &e.args);
        let no_file = Path::new(e.args.last().map_or("", String::as_str))
            .extension()
            .is_none();
        let from: usize = std::env::var("CORPUS_E2E_FROM").map_or(0, |v| v.parse().unwrap_or(0));
        if all && (!d.starts_with("distribute") || no_file || i < from) {
            continue;
        }
        eprintln!("e2e {i}: {what}");
        if !d.starts_with("distribute") {
            fail(
                &mut failures,
                format!("{what}\n  marked e2e but does not distribute: {d}"),
            );
            continue;
        }
        let (out, opts) = e.args.split_last().unwrap();
        let ext = Path::new(out)
            .extension()
            .and_then(|x| x.to_str())
            .unwrap_or_else(|| panic!("{what}: the output has no extension"));
        let plain = format!("e2e-{i}-plain.{ext}");
        let ours = format!("e2e-{i}-ours.{ext}");
        let mut a: Vec<&str> = opts.iter().map(String::as_str).collect();
        a.push(&plain);
        env.ffmpeg(&a);
        let mut b: Vec<&str> = vec!["-y"];
        b.extend(opts.iter().map(String::as_str));
        b.push(&ours);
        let run = env.run_distr(&b);
        if !run.status.success() {
            fail(
                &mut failures,
                format!("{what}\n  distrffmpeg failed:\n{}", stderr(&run)),
            );
            continue;
        }
        // assert_same panics with the first difference; every line is checked before failing.
        let (p, o) = (env.path(&plain), env.path(&ours));
        if let Err(err) = std::panic::catch_unwind(|| assert_same(&p, &o)) {
            let msg = err
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let first = msg.lines().next().unwrap_or("").to_string();
            let detail = first_difference(&p, &o);
            let why = format!("{what}\n  differs from plain ffmpeg: {first}\n  {detail}");
            fail(&mut failures, why);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} end-to-end lines are not exact:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

/// Records a failing line, and says so at once (a later panic would lose the list).
fn fail(failures: &mut Vec<String>, why: String) {
    eprintln!("FAILED: {why}");
    failures.push(why);
}

/// Where two outputs first differ, for the failure message: the first differing line of their
/// layouts, else the first differing packet of a stream.
fn first_difference(plain: &Path, ours: &Path) -> String {
    let pretty = |p: &Path| serde_json::to_string_pretty(&layout(p)).unwrap();
    let (a, b) = (pretty(plain), pretty(ours));
    if let Some((x, y)) = a.lines().zip(b.lines()).find(|(x, y)| x != y) {
        return format!("layout: plain {} / ours {}", x.trim(), y.trim());
    }
    let n = layout(plain)["streams"].as_array().map_or(0, Vec::len);
    for i in 0..n {
        let (pa, pb) = (
            packets(plain, &i.to_string()),
            packets(ours, &i.to_string()),
        );
        if let Some(k) = (0..pa.len().max(pb.len())).find(|&k| pa.get(k) != pb.get(k)) {
            return format!(
                "stream {i}, packet {k} (pts, duration): plain {:?} / ours {:?}",
                pa.get(k),
                pb.get(k)
            );
        }
    }
    "no difference found on a second look".into()
}
