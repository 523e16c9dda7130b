//! `-df_batch`: a file of ffmpeg command lines runs as jobs through the same workers; each
//! output equals a standalone plain ffmpeg's, a failing job stops no other, one line per job.

mod common;
use common::sshd::Cluster;
use common::*;
use std::path::Path;

#[test]
fn a_batch_of_six_files_gives_the_outputs_of_six_standalone_runs() {
    let e = Env::new();
    let c = Cluster::configured(&e, 2);
    let mut lines = vec!["# six clips, then one that cannot run".to_string()];
    let mut jobs = Vec::new();
    for i in 0..6 {
        let src = e.av_clip(&format!("in {i}.mp4"), 2.0, 24, 0);
        let out = e.p(&format!("out {i}.mkv"));
        let argv: Vec<&str> = with(&[&x264(&src, &["-an"]), &[out.as_str()]]);
        lines.push(shell_words::join(&argv));
        lines.push(String::new());
        jobs.push((src, out));
    }
    lines.push(shell_words::join(x264(
        &e.p("missing.mp4"),
        &[&e.p("never.mkv")],
    )));
    let list = e.path("jobs.txt");
    std::fs::write(&list, lines.join("\n")).unwrap();
    let batch = format!("-df_batch={}", list.display());
    let o = e.run_distr(&[batch.as_str()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches(" done in ").count(), 6, "{err}");
    assert_eq!(err.matches(" failed (exit 1): ").count(), 1, "{err}");
    assert!(
        err.contains("missing.mp4: No such file or directory"),
        "{err}"
    );
    assert!(err.contains("[7/7 done]"), "{err}");
    for (i, (src, out)) in jobs.iter().enumerate() {
        let plain = e.p(&format!("plain {i}.mkv"));
        e.ffmpeg(&with(&[&x264(src, &["-an"]), &[plain.as_str()]]));
        assert_same(Path::new(&plain), Path::new(out));
    }
    assert!(!e.path("never.mkv").exists());
    c.assert_clean();
}

#[test]
fn a_batch_from_stdin_takes_the_batchs_overrides_and_refuses_other_outputs() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 24, 0);
    let out = e.p("out.mkv");
    let line = shell_words::join(with(&[&x264(&src, &["-an"]), &[out.as_str()]]));
    // the batch's override reaches the job: its ffmpeg logs each run
    let log = e.path("runs.log");
    let ffmpeg = e.path("ffmpeg-logged.sh");
    write_script(
        &ffmpeg,
        &format!(
            "#!/bin/sh\necho run >> '{}'\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    );
    let o = e
        .distr()
        .arg("-df_batch=-")
        .arg(format!("-df_ffmpeg_bin={}", ffmpeg.display()))
        .write_stdin(line)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("[1/1 done] line 1 done in"), "{err}");
    assert_eq!(video_frames(Path::new(&out)), 30);
    assert!(std::fs::read_to_string(&log).is_ok_and(|l| l.contains("run")));
    let o = e.run_distr(&["-df_batch=-", "-i", &src, &e.p("other.mkv")]);
    assert_fails_with(&o, 1, "-df_batch takes the command lines from its file");
}
