//! Text drawn by `drawtext`, proven against plain ffmpeg: the same argv into lossless ffv1,
//! split into several chunks, must decode to the same frames (framemd5) — text by time
//! (`%{pts}`, `t` in the position), by frame number (`%{n}`, `n` in expressions, from a
//! `start_number`), a font file and a text file sent to SSH workers, fontconfig's default
//! font, inside a graph. What is not the frame's own (the wall clock, metadata, a timecode,
//! random numbers) passes through.

mod common;
use common::sshd::Cluster;
use common::*;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// 5 s of testsrc2 at 24 fps, x264 with a keyframe every 12 frames: 120 frames.
fn media(e: &Env) {
    assert!(
        std::path::Path::new(FONT).exists(),
        "{FONT} is required: install fonts-dejavu-core (.ci/run does this)"
    );
    e.x264_clip("in.mkv", 5.0, "testsrc2=size=320x240:rate=24", 12);
    std::fs::write(e.path("text.txt"), "Frame %{n}\nat %{pts}").unwrap();
}

/// `-vf CHAIN` into ffv1, or a graph (`[0:v]CHAIN[v]`) mapped by its label.
fn lossless(vf: &str, out: &str) -> Vec<String> {
    let filter = match vf.starts_with('[') {
        true => ["-filter_complex", vf, "-map", "[v]"],
        false => ["-map", "0:v", "-vf", vf],
    };
    let mut v: Vec<String> = ["-i", "in.mkv"].map(String::from).to_vec();
    v.extend(filter.map(String::from));
    v.extend(["-c:v", "ffv1", out].map(String::from));
    v
}

/// Runs each chain both ways (`extra`: distrffmpeg's own options) and returns what differs.
fn compare(e: &Env, cases: &[&str], extra: &[&str]) -> Vec<String> {
    let bare = e.p("bare.mkv");
    e.ffmpeg(&["-i", "in.mkv", "-c:v", "ffv1", &bare]);
    let bare = framemd5(bare.as_ref());
    let mut failures = Vec::new();
    for (i, vf) in cases.iter().enumerate() {
        let (plain, ours) = (e.p(&format!("p{i}.mkv")), e.p(&format!("o{i}.mkv")));
        let args = lossless(vf, &plain);
        e.ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.push("-y".into());
        args.extend(lossless(vf, &ours));
        let o = e.run_distr(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let log = stderr(&o);
        assert!(o.status.success(), "{vf}: {log}");
        let n = chunks_on(&log).unwrap_or(0);
        let (a, b) = (framemd5(plain.as_ref()), framemd5(ours.as_ref()));
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        // the test can fail: the text changes every frame of the plain video
        let drawn = a.iter().zip(&bare).filter(|(x, y)| x != y).count();
        if n < 3 || differing > 0 || a.len() != b.len() || a.len() != 120 || drawn < 120 {
            failures.push(format!(
                "{vf}: {n} chunks, {differing} of {} frames differ ({} ours), {drawn} drawn on",
                a.len(),
                b.len()
            ));
        }
    }
    failures
}

#[test]
fn drawn_text_matches_plain_ffmpeg_frame_for_frame() {
    let e = Env::new();
    media(&e);
    let by_time = format!(
        "drawtext=fontfile={FONT}:text='%{{pts\\:hms}} %{{pts}}':x=10+t*20:y=h-th-10:fontsize=20:fontcolor=white:box=1"
    );
    let by_number = format!(
        "drawtext=fontfile={FONT}:text='n=%{{n}} %{{e\\:n*2}} %{{frame_num}}':x='mod(n*3\\,w)':fontcolor=yellow"
    );
    let cases = [
        by_time.as_str(),
        by_number.as_str(),
        // fontconfig's default font, counting from a start number, after a scale
        "scale=240:180,drawtext=text='%{n} of the clip':start_number=7:y=10+n:fontsize=18",
        // a text file with expansions
        "drawtext=textfile=text.txt:fontcolor=white:fontsize=16:x=(w-tw)/2:y=(h-th)/2",
        // in a graph, as ffmpeg-python writes it
        "[0:v]hflip,drawtext=text='%{pts\\:hms}':fontsize=30[v]",
    ];
    let failures = compare(&e, &cases, &["-df_local_slots=2"]);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn font_and_text_files_reach_ssh_workers() {
    let e = Env::new();
    media(&e);
    // relative paths: a worker (whose commands run in another dir) reads only its copies
    std::fs::copy(FONT, e.path("font.ttf")).unwrap();
    let c = Cluster::configured(&e, 2);
    let vf = "drawtext=fontfile=font.ttf:textfile=text.txt:x='mod(n*5\\,w)':fontcolor=white,\
              drawtext=text='%{pts}':y=h-th";
    let failures = compare(&e, &[vf], &[]);
    assert!(failures.is_empty(), "{failures:#?}");
    c.assert_clean();
}

#[test]
fn text_that_is_not_the_frames_own_passes_through() {
    let e = Env::new();
    media(&e);
    std::fs::write(e.path("clock.txt"), "now %{localtime}").unwrap();
    for (vf, why) in [
        ("drawtext=text='%{localtime}'", "localtime"),
        ("drawtext=text='%{pts\\:localtime\\:0}'", "localtime"),
        ("drawtext=text='%{metadata\\:lavfi.x}'", "metadata"),
        ("drawtext=text=a:x='rand(0\\,9)'", "rand"),
        ("drawtext=timecode='00\\:00\\:00\\:00':rate=24", "timecode"),
        ("drawtext=textfile=text.txt:reload=1", "reload"),
        ("drawtext=textfile=clock.txt", "localtime"),
        ("drawtext=textfile=missing.txt", "missing.txt"),
        ("drawtext=text=a:enable='lt(n\\,9)'", "timeline"),
        ("yadif,drawtext=text='%{n}'", "counts frames"),
        ("fps=12,drawtext=text='%{n}'", "counts frames"),
    ] {
        let first = dry(
            &e,
            &lossless(vf, "o.mkv")[..6]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "o.mkv",
        );
        assert!(
            first.starts_with("passthrough:") && first.contains(why),
            "{vf}: {first}"
        );
    }
    // an output -ss trims after the chain: plain ffmpeg's count starts before it
    let first = dry(
        &e,
        &["-i", "in.mkv", "-ss", "1", "-vf", "drawtext=text=%{n}"],
        "o.mkv",
    );
    assert!(first.contains("counts frames"), "{first}");
    // by time alone, the same output -ss distributes
    let first = dry(
        &e,
        &["-i", "in.mkv", "-ss", "1", "-vf", "drawtext=text=%{pts}"],
        "o.mkv",
    );
    assert!(first.starts_with("plan: "), "{first}");
}

#[test]
fn frame_numbers_on_long_gops_take_no_pre_roll() {
    let e = Env::new();
    // one keyframe every 4 s: chunks start mid-GOP, where x264 would get a pre-roll of the
    // frames before; drawtext's count would start there
    e.x264_clip("long.mp4", 12.0, "testsrc2=size=320x240:rate=30", 120);
    let vf = "drawtext=text='n=%{n}':x=mod(n*3\\,w):fontsize=30";
    let args = |out: &str| -> Vec<String> {
        let a = [
            "-i", "long.mp4", "-vf", vf, "-c:v", "libx264", "-qp", "0", "-an", out,
        ];
        a.map(String::from).to_vec()
    };
    let sizes = [
        "-df_segment_frames=90",
        "-df_keyint_min=30",
        "-df_keyint_max=120",
    ];
    let mut dry: Vec<String> = sizes
        .iter()
        .chain(&["-df_dry_run", "-y"])
        .map(|s| s.to_string())
        .collect();
    dry.extend(args("o.mp4"));
    let plan = String::from_utf8_lossy(&e.distr_ok(&dry).stdout).into_owned();
    assert!(
        plan.contains("chunk 2:") && !plan.contains("pre-roll"),
        "{plan}"
    );
    e.ffmpeg(&args("p.mp4").iter().map(String::as_str).collect::<Vec<_>>());
    let mut ours: Vec<String> = sizes
        .iter()
        .chain(&["-df_local_slots=2", "-y"])
        .map(|s| s.to_string())
        .collect();
    ours.extend(args("o.mp4"));
    e.distr_ok(&ours);
    // x264 at -qp 0 is lossless: the decoded frames are the drawn ones
    assert_eq!(framemd5(&e.path("p.mp4")), framemd5(&e.path("o.mp4")));
}
