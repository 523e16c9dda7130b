//! The programs that drive ffmpeg, side by side with the real ffmpeg on the same argv:
//! ffmpeg's stderr (banner, stats lines, last report, summary) under each of `-hide_banner`,
//! `-nostats`, `-stats`, `-v`; `-progress` to unix and tcp sockets; `q` on stdin; a failing
//! encode's error lines. The real clients are in `python_clients.rs`.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::Stdio;

const CHUNKS: [&str; 3] = [
    "-df_segment_frames=24",
    "-df_keyint_min=12",
    "-df_keyint_max=48",
];

/// stderr's lines as a reader splitting at `\r` and `\n` sees them.
fn lines(err: &str) -> Vec<&str> {
    err.split(['\r', '\n']).filter(|l| !l.is_empty()).collect()
}

/// A stats line in print_report's layout: `frame=%5d fps=… q=… [L]size=…kB time=… bitrate=…
/// speed=…`.
fn is_stats(l: &str) -> bool {
    let fields = [" fps=", " q=", "size=", " time=", " bitrate=", " speed="];
    l.starts_with("frame=")
        && fields
            .iter()
            .scan(0, |at, f| {
                let found = l[*at..].find(f).map(|i| *at + i);
                *at = found.unwrap_or(l.len());
                Some(found.is_some())
            })
            .all(|x| x)
}

/// What a parser of ffmpeg's stderr finds, comparable between the two programs.
#[derive(Debug, PartialEq)]
struct Shape {
    version: bool,
    /// Every input block, exactly.
    inputs: String,
    mapping: String,
    press_q: bool,
    output: bool,
    /// Stats lines ended by `\r`.
    progress_lines: bool,
    last_report: bool,
    summary: bool,
}

fn shape(err: &str) -> Shape {
    let ls = lines(err);
    let block = |start: &str, stop: &[&str]| -> String {
        let Some(i) = ls.iter().position(|l| l.starts_with(start)) else {
            return String::new();
        };
        ls[i..]
            .iter()
            .take_while(|l| !stop.iter().any(|s| l.starts_with(s)))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    Shape {
        version: ls.iter().any(|l| l.starts_with("ffmpeg version ")),
        inputs: block("Input #0", &["Stream mapping:", "Output #0"]),
        mapping: block("Stream mapping:", &["Press [q]", "Output #0", "["]),
        press_q: ls.contains(&"Press [q] to stop, [?] for help"),
        output: ls
            .iter()
            .any(|l| l.starts_with("Output #0, matroska, to '")),
        progress_lines: err
            .split('\r')
            .rev()
            .skip(1)
            .any(|l| is_stats(l.rsplit('\n').next().unwrap_or(l))),
        last_report: ls.iter().any(|l| is_stats(l) && l.contains(" Lsize=")),
        summary: ls
            .iter()
            .any(|l| l.starts_with("video:") && l.contains("muxing overhead: ")),
    }
}

fn last_report(err: &str) -> String {
    let l = lines(err)
        .into_iter()
        .rfind(|l| l.contains(" Lsize="))
        .unwrap_or_default();
    // the figures of the written file (fps and speed are each run's own)
    l[l.find("Lsize=").unwrap_or(0)..l.find(" speed=").unwrap_or(l.len())].to_string()
}

fn summary(err: &str) -> Option<String> {
    lines(err)
        .into_iter()
        .find(|l| l.starts_with("video:"))
        .map(String::from)
}

/// Runs plain ffmpeg (with `plain_pre` first) and distrffmpeg (with `ours_pre`, in chunks) on
/// `args` and an output of each, stdin closed; both must succeed. Returns their outputs.
fn run_both(
    e: &Env,
    plain_pre: &[&str],
    ours_pre: &[&str],
    args: &[&str],
    ext: &str,
) -> [std::process::Output; 2] {
    let plain = e.p(&format!("plain.{ext}"));
    let ours = e.p(&format!("ours.{ext}"));
    let p = std::process::Command::new("ffmpeg")
        .current_dir(e.dir.path())
        .arg("-y")
        .args(plain_pre)
        .args(args)
        .arg(&plain)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&p);
    let o = e
        .distr()
        .args(CHUNKS)
        .arg("-y")
        .args(ours_pre)
        .args(args)
        .arg(&ours)
        .output()
        .unwrap();
    assert_ok(&o);
    [p, o]
}

/// `run_both` without extra options; both stderrs, each output named `OUT`.
fn side_by_side(e: &Env, args: &[&str], ext: &str) -> (String, String) {
    let [p, o] = run_both(e, &[], &[], args, ext);
    let name = |s: String, who: &str| s.replace(&e.p(&format!("{who}.{ext}")), "OUT");
    (name(stderr(&p), "plain"), name(stderr(&o), "ours"))
}

#[test]
fn stderr_has_ffmpegs_banner_stats_and_summary() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 4.0, 30, 0);
    // ffv1 with one frame per GOP and an audio copy: every packet is the same in both files
    let job = ["-i", &src, "-c:v", "ffv1", "-g", "1", "-c:a", "copy"];
    let variants: [&[&str]; 6] = [
        &[],
        &["-hide_banner"],
        &["-nostats"],
        &["-v", "warning"],
        &["-v", "warning", "-stats"],
        &["-nostdin", "-stats_period", "0.05"],
    ];
    for flags in variants {
        let args = with(&[flags, &job]);
        let (plain, ours) = side_by_side(&e, &args, "mkv");
        let (ps, os) = (shape(&plain), shape(&ours));
        assert_eq!(
            os, ps,
            "{flags:?}\n--- ffmpeg:\n{plain}\n--- distrffmpeg:\n{ours}"
        );
        if !flags.contains(&"-v") {
            assert!(
                ours.contains(" chunks on "),
                "{flags:?}: it was distributed: {ours}"
            );
        }
        if ps.last_report {
            assert_eq!(last_report(&ours), last_report(&plain), "{flags:?}");
        }
        assert_eq!(summary(&ours), summary(&plain), "{flags:?}");
    }
    // a linear graph with another encoded stream: fftools numbers the graphs
    let graph = [
        "-i",
        &src,
        "-filter_complex",
        "[0]scale=160:-2[s0]",
        "-map",
        "[s0]",
        "-map",
        "0:a",
        "-c:v",
        "ffv1",
        "-g",
        "1",
        "-c:a",
        "flac",
    ];
    let (plain, ours) = side_by_side(&e, &graph, "mkv");
    assert_eq!(shape(&ours), shape(&plain), "\n{plain}\n---\n{ours}");
    assert!(shape(&ours)
        .mapping
        .contains("scale:default (graph 0) -> Stream #0:0 (ffv1)"));
    // the banner parts a client reads
    let (_, ours) = side_by_side(&e, &job, "mkv");
    let s = shape(&ours);
    assert!(s.inputs.contains("  Duration: 00:00:04.0"), "{}", s.inputs);
    assert_eq!(
        s.mapping,
        "Stream mapping:\n  Stream #0:0 -> #0:0 (h264 (native) -> ffv1 (native))\n  Stream #0:1 -> #0:1 (copy)\n"
    );
    // no chunk file is ever named, and the position is the media's, never the wall clock
    assert!(!ours.contains(".nut'") && !ours.contains("src-0"), "{ours}");
    let times: Vec<&str> = lines(&ours)
        .into_iter()
        .filter(|l| is_stats(l))
        .map(|l| &l[l.find(" time=").unwrap() + 6..][..11])
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(*times.last().unwrap() >= "00:00:04.00", "{times:?}");
}

/// Listens on a unix socket and a tcp port; each returns what one connection sent.
fn listeners(
    e: &Env,
) -> (
    String,
    std::thread::JoinHandle<String>,
    String,
    std::thread::JoinHandle<String>,
) {
    let sock = e.path("progress.sock");
    let _ = std::fs::remove_file(&sock);
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let read = |mut s: Box<dyn Read + Send>| {
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let u = std::thread::spawn(move || read(Box::new(unix.accept().unwrap().0)));
    let t = std::thread::spawn(move || read(Box::new(tcp.accept().unwrap().0)));
    (
        format!("unix://{}", sock.display()),
        u,
        format!("tcp://127.0.0.1:{port}"),
        t,
    )
}

fn blocks(text: &str) -> Vec<Vec<(&str, &str)>> {
    text.split_inclusive("progress=continue\n")
        .flat_map(|b| b.split_inclusive("progress=end\n"))
        .map(|b| b.lines().filter_map(|l| l.split_once('=')).collect())
        .collect()
}

#[test]
fn progress_goes_to_unix_and_tcp_sockets_like_ffmpegs() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 3.0, 30, 0);
    let job = ["-i", &src, "-c:v", "ffv1", "-g", "1", "-c:a", "copy"];
    // the real ffmpeg to the unix socket, distrffmpeg to tcp, then the other way round
    for swap in [false, true] {
        let (unix, u, tcp, t) = listeners(&e);
        let (to_plain, to_ours) = if swap { (&tcp, &unix) } else { (&unix, &tcp) };
        run_both(
            &e,
            &["-progress", to_plain],
            &["-progress", to_ours],
            &job,
            "mkv",
        );
        let ours = e.p("ours.mkv");
        let (ut, tt) = (u.join().unwrap(), t.join().unwrap());
        let (pt, ot) = if swap { (tt, ut) } else { (ut, tt) };
        let (pb, ob) = (blocks(&pt), blocks(&ot));
        fn keys<'a>(b: &[(&'a str, &str)]) -> Vec<&'a str> {
            b.iter().map(|kv| kv.0).collect()
        }
        assert_eq!(keys(ob.last().unwrap()), keys(pb.last().unwrap()), "{ot}");
        assert!(ob.iter().all(|b| keys(b) == keys(&ob[0])), "{ot}");
        let get =
            |b: &Vec<(&str, &str)>, k: &str| b.iter().find(|kv| kv.0 == k).unwrap().1.to_string();
        let (pl, ol) = (pb.last().unwrap(), ob.last().unwrap());
        for k in [
            "frame",
            "total_size",
            "out_time_us",
            "out_time",
            "bitrate",
            "progress",
        ] {
            assert_eq!(get(ol, k), get(pl, k), "{k}: {ot}");
        }
        let size = std::fs::metadata(&ours).unwrap().len();
        assert_eq!(get(ol, "total_size"), size.to_string());
    }
}

#[test]
fn an_unknown_progress_protocol_runs_through_ffmpeg() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let o = e
        .distr()
        .args(["-y", "-progress", "http://127.0.0.1:1/p", "-i", &src])
        .args(["-c:v", "ffv1", "out.mkv"])
        .output()
        .unwrap();
    // ffmpeg itself fails to connect, with its own message and exit code
    assert!(
        stderr(&o).contains("passing the command to ffmpeg unchanged"),
        "{}",
        stderr(&o)
    );
    assert!(!o.status.success());
}

/// ffv1's decoded frames of `path`, the first `n`.
fn first_frames(path: &std::path::Path, n: usize) -> Vec<String> {
    framemd5(path).into_iter().take(n).collect()
}

#[test]
fn q_on_stdin_finishes_the_output_with_the_chunks_done() {
    let e = Env::new();
    // a dear first half (noise) and a cheap second half: chunk 0 goes out first
    let src = e.p("dear.mp4");
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=25:duration=3,noise=alls=60:allf=t"),
        &lavfi("color=c=gray:size=320x240:rate=25:duration=5"),
        &lavfi("sine=duration=8"),
        &[
            "-filter_complex",
            "[0][1]concat=n=2:v=1:a=0[v]",
            "-map",
            "[v]",
            "-map",
            "2:a",
        ],
        &X264,
        &["-g", "25", "-c:a", "aac", &src],
    ]));
    // lossless x264, slow enough to stop half-way
    let lossless = ["-c:v", "libx264", "-qp", "0", "-preset", "veryslow"];
    let job = with(&[
        &[
            "-df_local_slots=1",
            "-df_segment_frames=25",
            "-df_keyint_min=25",
            "-df_keyint_max=25",
            "-y",
            "-stats_period",
            "0.1",
            "-i",
            &src,
        ],
        &lossless,
        &["-c:a", "flac", "q.mkv"],
    ]);
    let mut child = e
        .distr_process()
        .args(&job)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    // q once the stats say two chunks' worth of frames are done or in flight
    loop {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "ended before q: {}", String::from_utf8_lossy(&text));
        text.extend_from_slice(&buf[..n]);
        let s = String::from_utf8_lossy(&text);
        let frames = lines(&s)
            .into_iter()
            .filter(|l| is_stats(l))
            .filter_map(|l| l[6..].split_whitespace().next()?.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        if frames >= 60 {
            break;
        }
    }
    stdin.write_all(b"q").unwrap();
    err.read_to_end(&mut text).unwrap();
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&text);
    assert_eq!(status.code(), Some(0), "{text}");
    let got = video_frames(&e.path("q.mkv"));
    assert!(
        (25..200).contains(&got) && got.is_multiple_of(25),
        "{got} frames: {text}"
    );
    assert!(
        text.contains(&format!("frame={got:5} ")) && text.contains(" Lsize="),
        "{text}"
    );
    // the frames written are plain ffmpeg's first ones, and the audio ends with them
    e.ffmpeg(&with(&[&["-i", &src], &lossless, &["-an", "plain.mkv"]]));
    assert_eq!(
        first_frames(&e.path("q.mkv"), got),
        first_frames(&e.path("plain.mkv"), got)
    );
    let dur = |sel: &str| -> f64 {
        let v = probe(
            &e.path("q.mkv"),
            &["-select_streams", sel, "-show_entries", "format=duration"],
        );
        v["format"]["duration"].as_str().unwrap().parse().unwrap()
    };
    assert!((dur("a") - got as f64 / 25.0).abs() < 0.15, "{}", dur("a"));
    // a second q aborts like Ctrl-C: exit 255, no output
    let mut child = e
        .distr_process()
        .args(job.iter().filter(|a| **a != "-y"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = std::fs::remove_file(e.path("q.mkv"));
    child.stdin.take().unwrap().write_all(b"qq").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(!e.path("q.mkv").exists());
}

#[test]
fn a_failing_encode_shows_ffmpegs_error_lines_not_the_chunks() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    // x264 refuses the profile for this pixel format when the encoder opens
    let args = [
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv444p",
    ];
    let plain = std::process::Command::new("ffmpeg")
        .current_dir(e.dir.path())
        .args(["-y"])
        .args(args)
        .arg("plain.mkv")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let ours = e
        .distr()
        .args(CHUNKS)
        .arg("-y")
        .args(args)
        .arg("ours.mkv")
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), plain.status.code());
    let err = stderr(&ours);
    // ffmpeg's error lines, without the addresses that differ from run to run
    let errors = |s: &str| -> Vec<String> {
        lines(s)
            .into_iter()
            .filter(|l| l.contains("Error") || l.contains("Possible profiles"))
            .map(|l| l.split_once("] ").map_or(l, |x| x.1).to_string())
            .collect()
    };
    for l in errors(&stderr(&plain)) {
        assert!(errors(&err).contains(&l), "{l:?} missing:\n{err}");
    }
    // nothing of the chunk: its banner, file names, time base or verbose chatter
    for bad in [
        ".nut",
        "src-0",
        "enc-0",
        "27:46",
        "[graph",
        "AVIOContext",
        "[verbose] ",
        "[info] ",
        "] [error] ",
    ] {
        assert!(!err.contains(bad), "{bad}:\n{err}");
    }
    assert!(
        err.contains("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '"),
        "{err}"
    );
    assert!(!e.path("ours.mkv").exists());
}
