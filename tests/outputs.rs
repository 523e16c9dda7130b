//! Several output files in one command (an ABR ladder, a master plus a preview), proven
//! against plain ffmpeg with the same argv: each chunk is uploaded once and encoded for every
//! output by one worker ffmpeg, and every output equals plain ffmpeg's — decoded frames
//! (framemd5 of the lossless ones), every ffprobe field and every packet's timestamps. What
//! several outputs cannot share passes through.

mod common;
use common::sshd::{wrapped, Cluster};
use common::*;

/// The outputs of `ladder`, each with its own options: lossless video with the audio copied,
/// a scaled and mirrored lossless copy at half the frame rate with the audio encoded, and a
/// lossy x264 rendition without audio. `dir` prefixes their names.
fn ladder(dir: &str) -> Vec<String> {
    let words = "-map 0 -c:v ffv1 -c:a copy {d}a.mkv \
                 -vf scale=160:120,hflip -r 15 -c:v ffv1 -c:a aac -b:a 64k {d}b.mov \
                 -c:v libx264 -preset ultrafast -crf 30 -an -movflags +faststart {d}c.mp4";
    words
        .replace("{d}", dir)
        .split(' ')
        .map(String::from)
        .collect()
}

#[test]
fn several_outputs_share_each_chunk_and_equal_plain_ffmpeg() {
    let e = Env::new();
    // 6 s at 30 fps with a keyframe every 24 frames and B-frames: several chunks
    e.av_clip("src.mp4", 6.0, 24, 2);
    let c = Cluster::start(&e, 2);
    let ff = [wrapped(&e, "ff0.sh", "true"), wrapped(&e, "ff1.sh", "true")];
    c.write_config(&e, "", &[&ff[0], &ff[1]]);
    std::fs::create_dir_all(e.path("plain")).unwrap();
    let mut plain = vec!["-i".to_string(), "src.mp4".into()];
    plain.extend(ladder("plain/"));
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    e.ffmpeg(&plain);
    let mut ours = vec!["-y".to_string(), "-i".into(), "src.mp4".into()];
    ours.extend(ladder(""));
    let o = e.distr_ok(&ours);
    let log = stderr(&o);
    let chunks = chunks_on(&log).expect("the plan line");
    assert!(chunks >= 3, "{log}");
    // ffmpeg's banner: every output file's mapping and block
    for line in [
        "Stream #0:0 -> #1:0",
        "Output #1, mov, to 'b.mov'",
        "Output #2, mp4",
    ] {
        assert!(log.contains(line), "no {line:?} in:\n{log}");
    }
    for (name, lossless) in [("a.mkv", true), ("b.mov", true), ("c.mp4", false)] {
        let (p, q) = (e.path(&format!("plain/{name}")), e.path(name));
        assert_same(&p, &q);
        if lossless {
            assert_eq!(framemd5(&p), framemd5(&q), "{name}: decoded frames differ");
        }
    }
    // one encode per chunk (a straggler raced on the other worker near the end encodes its
    // chunk again), each writing all three outputs from the one upload
    let encodes = std::fs::read_to_string(e.path("encodes.log")).unwrap();
    let lines: Vec<&str> = encodes.lines().collect();
    let mut sources: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.contains("/src-")))
        .map(|w| &w[w.rfind("/src-").unwrap()..])
        .collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), chunks, "{encodes}");
    assert!(lines.len() <= chunks + 2, "{encodes}");
    for l in &lines {
        assert_eq!(l.matches(" -i ").count(), 1, "{l}");
        for ext in [".mov ", "-o1.mov ", "-o2.mp4"] {
            assert!(l.contains(ext), "{ext} not written by {l}");
        }
    }
    c.assert_clean();
}

#[test]
fn what_several_outputs_cannot_share_passes_through() {
    let e = Env::new();
    e.av_clip("src.mp4", 3.0, 24, 0);
    e.x264_clip("other.mp4", 3.0, "testsrc=size=160x120:rate=30", 24);
    let first = |args: &[&str]| {
        let mut a = vec!["-y", "-i", "src.mp4"];
        a.extend_from_slice(args);
        dry_stdout(&e, &a).lines().next().unwrap_or("").to_string()
    };
    for (args, why) in [
        (
            &[
                "-filter_complex",
                "[0:v]split[x][y]",
                "-map",
                "[x]",
                "a.mp4",
                "-map",
                "[y]",
                "b.mp4",
            ][..],
            "several output files with a -filter_complex",
        ),
        (
            &["-pass", "1", "a.mp4", "b.mp4"],
            "two-pass encoding in output #0",
        ),
        (&["a.mp4", "a.mp4"], "named twice"),
        // where a frame count closes the other streams depends on the other outputs
        (
            &["a.mp4", "-frames:v", "10", "b.mp4"],
            "output #1 stops its video on a frame count",
        ),
        (
            &["a.mp4", "-c:v", "copy", "-frames:v", "10", "b.mkv"],
            "output #1 stops on a frame count",
        ),
        (
            &["a.mp4", "-vn", "-shortest", "b.m4a"],
            "output #1 stops on a frame count, the shortest",
        ),
        // plain ffmpeg would have to write an output that is not a file here
        (
            &["a.mp4", "-vn", "-f", "wav", "pipe:1"],
            "output #1: output is a pipe or URL",
        ),
        (
            &["-vn", "a.m4a", "-vn", "b.m4a"],
            "output #0: no video stream is encoded",
        ),
    ] {
        let line = first(args);
        assert!(
            line.starts_with("passthrough: ") && line.contains(why),
            "{args:?}: {line}"
        );
    }
    // what passes through on its own, or cannot share the chunks, plain ffmpeg writes beside
    // the job
    let mut a = vec!["-y", "-i", "src.mp4", "-i", "other.mp4", "a.mp4"];
    a.extend([
        "-map",
        "1:v",
        "b.mp4",
        "-vn",
        "c.m4a",
        "-an",
        "-frames:v",
        "10",
        "d.mp4",
    ]);
    let out = dry_stdout(&e, &a);
    let plain: Vec<&str> = out.lines().filter(|l| l.starts_with("PLAIN")).collect();
    // (d.mp4 stops after 10 frames: it cannot be cut where the others are)
    assert!(out.starts_with("plan: ") && plain.len() == 3, "{out}");
    assert!(plain[2].ends_with("-an -frames:v 10 d.mp4"), "{out}");
    assert!(
        plain[0].ends_with("-map 1:v b.mp4") && plain[1].ends_with("-vn c.m4a"),
        "{out}"
    );
    // a plain ladder distributes, and its dry run shows one REMOTE per chunk for both
    let out = dry_stdout(
        &e,
        &["-y", "-i", "src.mp4", "a.mp4", "-s", "160x120", "b.mkv"],
    );
    assert!(out.starts_with("plan: "), "{out}");
    let remote: Vec<&str> = out.lines().filter(|l| l.contains("REMOTE")).collect();
    assert!(
        remote.len() >= 2 && remote.iter().all(|l| l.contains("-o1.mp4")),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FINAL")).count(),
        2,
        "{out}"
    );
}

/// The job's resume manifest, once one exists, and how many chunks it records as done (each
/// with every output's file).
fn done_chunks(e: &Env) -> Option<(usize, usize)> {
    let jobs = e.path("cache/distrffmpeg/jobs");
    let path = std::fs::read_dir(jobs)
        .ok()?
        .filter_map(|d| d.ok())
        .map(|d| d.path().join("manifest.json"))
        .find(|p| p.exists())?;
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let done: Vec<&serde_json::Value> = (v["chunks"].as_array()?.iter())
        .filter(|c| !c.is_null())
        .collect();
    let others = done
        .iter()
        .map(|c| c["others"].as_array().map_or(0, Vec::len));
    Some((done.len(), others.min().unwrap_or(0)))
}

#[test]
fn an_interrupted_run_of_several_outputs_resumes_with_every_output() {
    let e = Env::new();
    let slow = common::sshd::wrapper(&e, "slow.sh", "sleep 1");
    let config = format!(
        r#"{{"ffmpeg_bin": "{}", "local_slots": 1, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48}}"#,
        slow.display()
    );
    std::fs::write(e.path("no-config.json"), config).unwrap();
    e.av_clip("src.mp4", 4.0, 24, 0);
    let outs = |d: &str| -> Vec<String> {
        let words = "-c:v ffv1 -c:a copy {d}a.mkv -s 160x120 -c:v ffv1 -an {d}b.mov";
        words
            .replace("{d}", d)
            .split(' ')
            .map(String::from)
            .collect()
    };
    let mut args = vec!["-y".to_string(), "-i".into(), "src.mp4".into()];
    args.extend(outs(""));
    let child = e.distr_process().args(&args).spawn().unwrap();
    wait_for("a finished chunk", 60, || {
        done_chunks(&e).is_some_and(|(n, _)| n >= 1)
    });
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(255));
    let (kept, others) = done_chunks(&e).expect("the manifest is kept");
    assert_eq!(others, 1, "each chunk done is done for both outputs");
    let o = e.distr_ok(&args);
    assert!(
        stderr(&o).contains(&format!("resuming: {kept} of")),
        "{}",
        stderr(&o)
    );
    std::fs::create_dir_all(e.path("plain")).unwrap();
    let mut plain = vec!["-i".to_string(), "src.mp4".into()];
    plain.extend(outs("plain/"));
    e.ffmpeg(&plain.iter().map(String::as_str).collect::<Vec<_>>());
    for name in ["a.mkv", "b.mov"] {
        let (p, q) = (e.path(&format!("plain/{name}")), e.path(name));
        assert_same(&p, &q);
        assert_eq!(framemd5(&p), framemd5(&q), "{name}: decoded frames differ");
    }
}

#[test]
fn outputs_that_pass_through_on_their_own_are_written_beside_the_job() {
    let e = Env::new();
    e.av_clip("src.mp4", 4.0, 24, 2);
    // the video distributes; the audio extract and the thumbnail are plain ffmpeg's
    let outs = |d: &str| -> Vec<String> {
        let words = "-c:v ffv1 -c:a copy {d}a.mkv -vn -c:a libmp3lame {d}a.mp3 \
                     -map 0:v -ss 1 -frames:v 1 {d}thumb.png";
        words
            .replace("{d}", d)
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    std::fs::create_dir_all(e.path("plain")).unwrap();
    let mut plain = vec!["-i".to_string(), "src.mp4".into()];
    plain.extend(outs("plain/"));
    e.ffmpeg(&plain.iter().map(String::as_str).collect::<Vec<_>>());
    let mut ours = vec!["-y".to_string(), "-i".into(), "src.mp4".into()];
    ours.extend(outs(""));
    let refs: Vec<&str> = ours.iter().map(String::as_str).collect();
    let o = e.run_distr(&refs);
    assert_ok(&o);
    assert!(
        chunks_on(&stderr(&o)).is_some_and(|n| n >= 2),
        "{}",
        stderr(&o)
    );
    let (p, q) = (e.path("plain/a.mkv"), e.path("a.mkv"));
    assert_same(&p, &q);
    assert_eq!(framemd5(&p), framemd5(&q));
    for name in ["a.mp3", "thumb.png"] {
        let (p, q) = (e.path(&format!("plain/{name}")), e.path(name));
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(q).unwrap(),
            "{name}"
        );
    }
    // an existing output that may not be overwritten stops everything before anything runs
    std::fs::remove_file(e.path("a.mkv")).unwrap();
    let o = e.run_distr(&refs[1..]);
    assert_fails_with(&o, 1, "File 'a.mp3' already exists");
    assert!(!e.path("a.mkv").exists());
}
