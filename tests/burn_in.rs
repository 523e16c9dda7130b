//! Subtitles burned in (`-vf subtitles=…`, `ass=…`), proven against plain ffmpeg: the same
//! argv into lossless ffv1, split into several chunks, must decode to the same frames
//! (framemd5) — subtitle files shipped as they are, subtitle streams copied out of a matroska
//! file (the input itself, as Jellyfin and Tdarr burn in), styles forced, events that overlap
//! (libass places them by what was on screen before), and SSH workers, one of which lists other
//! fonts and is left out. What cannot be proven passes through.

mod common;
use common::sshd::Cluster;
use common::*;
use std::process::Command;

/// SubRip cues: one alone across a chunk boundary, then two that overlap (libass stacks the
/// later one above the earlier one and keeps it there), non-ASCII text and markup.
const CUES: &str = "1\n00:00:00,500 --> 00:00:01,900\nFirst line, alone\nacross a boundary\n\n\
2\n00:00:01,950 --> 00:00:03,300\n<i>Second</i> cue, ünïcödé\n\n\
3\n00:00:03,000 --> 00:00:05,500\nOverlapping third cue\n";

/// ASS with two styles and layers, a pile of overlapping events, a fade, a move and karaoke.
const RICH: &str = "[Script Info]\nScriptType: v4.00+\nPlayResX: 320\nPlayResY: 240\n\n\
[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, \
Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
Style: Default,DejaVu Sans,20,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1\n\
Style: Top,DejaVu Serif,16,&H0000FFFF,&H000000FF,&H00000000,&H80000000,1,0,0,0,100,100,0,0,1,1,0,8,10,10,10,1\n\n\
[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n\
Dialogue: 0,0:00:00.30,0:00:01.70,Default,,0,0,0,,Alone, crossing a boundary\n\
Dialogue: 0,0:00:02.00,0:00:03.60,Default,,0,0,0,,First of a pile\n\
Dialogue: 0,0:00:02.50,0:00:04.20,Default,,0,0,0,,Second, placed above\n\
Dialogue: 0,0:00:03.00,0:00:04.80,Default,,0,0,0,,Third, above both\n\
Dialogue: 1,0:00:00.00,0:00:01.20,Top,,0,0,0,,{\\fad(300,300)}Fading sign\n\
Dialogue: 0,0:00:04.90,0:00:06.00,Default,,0,0,0,,{\\move(20,200,300,40)}Moving line\n\
Dialogue: 0,0:00:05.00,0:00:06.00,Top,,0,0,0,,{\\k20}Ka{\\k30}ra{\\k40}o{\\k50}ke\n";

/// The media: `in.mkv` (6 s of testsrc2 at 24 fps, x264 with a keyframe every 12 frames,
/// stereo aac, the cues as SubRip and the rich script as ASS), `single.mkv` (the video with the
/// cues only) and the two subtitle files.
fn media(e: &Env) {
    std::fs::write(e.path("cues.srt"), CUES).unwrap();
    std::fs::write(e.path("rich.ass"), RICH).unwrap();
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=24"),
        &lavfi("sine=frequency=440:sample_rate=48000"),
        &["-i", "cues.srt", "-i", "rich.ass", "-t", "6"],
        &["-map", "0", "-map", "1", "-map", "2", "-map", "3"],
        &X264,
        &["-g", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"],
        &["-c:s:0", "srt", "-c:s:1", "ass", "in.mkv"],
    ]));
    e.ffmpeg(&[
        "-i",
        "in.mkv",
        "-map",
        "0:v",
        "-map",
        "0:s:0",
        "-c",
        "copy",
        "single.mkv",
    ]);
}

/// A file whose events ffmpeg's demuxer and the filter read differently: an ASS script whose
/// `Format:` puts the layer after the times (libass follows it, the demuxer does not).
fn odd_media(e: &Env) {
    let script = RICH.replace(
        "Format: Layer, Start, End, Style,",
        "Format: Start, End, Layer, Style,",
    );
    let script = script.replace(
        "Dialogue: 0,0:00:02.00,0:00:03.60,",
        "Dialogue: 0:00:02.00,0:00:03.60,0,",
    );
    std::fs::write(e.path("reordered.ass"), script).unwrap();
}

/// `-vf CHAIN` into ffv1, or a graph (`[0:v]CHAIN[v]`) mapped by its label.
fn lossless(vf: &str, out: &str) -> Vec<String> {
    let filter = match vf.starts_with('[') {
        true => ["-filter_complex", vf, "-map", "[v]"],
        false => ["-map", "0:v", "-vf", vf],
    };
    let mut v: Vec<String> = filter.map(String::from).to_vec();
    v.extend(["-c:v", "ffv1", out].map(String::from));
    v
}

fn chunks(log: &str) -> usize {
    log.lines()
        .find_map(|l| l.split(" frames in ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn burned_in_subtitles_match_plain_ffmpeg() {
    let e = Env::new();
    media(&e);
    let unburned = e.p("unburned.mkv");
    e.ffmpeg(&["-i", "in.mkv", "-map", "0:v", "-c:v", "ffv1", &unburned]);
    let bare = framemd5(unburned.as_ref());
    let cases = [
        "subtitles=cues.srt",
        "ass=rich.ass",
        "subtitles=rich.ass:force_style='FontSize=28,PrimaryColour=&H0000FFFF,Outline=2'",
        // the input's own streams, copied out for the workers (Jellyfin's form, then si=1)
        "subtitles='in.mkv:si=0'",
        "subtitles=f=in.mkv:si=1",
        "subtitles=single.mkv",
        "scale=240:180,subtitles=cues.srt:original_size=320x240,hflip",
        // in a graph, as Unmanic and ffmpeg-python write it
        "[0:v]subtitles=in.mkv:si=1:charenc=UTF-8[v]",
    ];
    let mut failures = Vec::new();
    for (i, vf) in cases.iter().enumerate() {
        let (plain, ours) = (e.p(&format!("p{i}.mkv")), e.p(&format!("o{i}.mkv")));
        let mut args = vec!["-i".to_string(), "in.mkv".into()];
        args.extend(lossless(vf, &plain));
        e.ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut args = vec!["-df_local_slots=2", "-y", "-i", "in.mkv"];
        let out = lossless(vf, &ours);
        args.extend(out.iter().map(String::as_str));
        let o = e.run_distr(&args);
        let log = stderr(&o);
        assert!(o.status.success(), "{vf}: {log}");
        let n = chunks(&log);
        let (a, b) = (framemd5(plain.as_ref()), framemd5(ours.as_ref()));
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        // the test can fail: the subtitles change many frames of the unburned video
        let burned = a.iter().zip(&bare).filter(|(x, y)| x != y).count();
        if n < 3 || differing > 0 || a.len() != b.len() || a.len() != 144 || burned < 48 {
            failures.push(format!(
                "{vf}: {n} chunks, {differing} of {} frames differ ({} ours), {burned} burned",
                a.len(),
                b.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn burn_ins_that_are_not_proven_pass_through() {
    let e = Env::new();
    media(&e);
    odd_media(&e);
    let cases = [
        // two subtitle streams and no si: ffmpeg's pick depends on what it probed
        ("subtitles=in.mkv", true),
        ("subtitles=cues.srt:fontsdir=.", true),
        ("ass=in.mkv", false),
        ("subtitles=missing.srt", false),
        ("subtitles@one=cues.srt", true),
        ("ass=reordered.ass", true),
    ];
    for (i, (vf, plain_ok)) in cases.iter().enumerate() {
        let (plain, ours) = (e.p(&format!("p{i}.mkv")), e.p(&format!("o{i}.mkv")));
        let p = Command::new("ffmpeg")
            .current_dir(e.dir.path())
            .args(["-nostdin", "-v", "error", "-y", "-i", "in.mkv"])
            .args(lossless(vf, &plain))
            .output()
            .unwrap();
        assert_eq!(p.status.success(), *plain_ok, "{vf}: {}", stderr(&p));
        let mut args = vec![
            "-df_local_slots=2",
            "-df_loglevel=INFO",
            "-y",
            "-i",
            "in.mkv",
        ];
        let out = lossless(vf, &ours);
        args.extend(out.iter().map(String::as_str));
        let o = e.run_distr(&args);
        let log = stderr(&o);
        assert!(
            log.contains("passing the command to ffmpeg unchanged"),
            "{vf}: {log}"
        );
        assert_eq!(o.status.code(), p.status.code(), "{vf}: {log}");
        if *plain_ok {
            assert_eq!(framemd5(plain.as_ref()), framemd5(ours.as_ref()), "{vf}");
        }
    }
}

#[test]
fn ssh_workers_get_the_subtitles_and_must_list_the_same_fonts() {
    let e = Env::new();
    media(&e);
    let mut c = Cluster::start(&e, 2);
    // the second worker's fontconfig knows no font: libass there would draw no text
    let conf = e.path("no-fonts.conf");
    let cache = e.path("no-fonts-cache");
    std::fs::write(
        &conf,
        format!(
            "<?xml version=\"1.0\"?>\n<fontconfig><dir>{}</dir><cachedir>{}</cachedir></fontconfig>\n",
            e.path("no-fonts").display(),
            cache.display()
        ),
    )
    .unwrap();
    c.servers[1].restart_with(&format!("SetEnv FONTCONFIG_FILE={}\n", conf.display()));
    c.write_config(&e, "", &[]);
    let vf = "subtitles=in.mkv:si=1";
    let args = [
        "-i", "in.mkv", "-map", "0", "-vf", vf, "-c:v", "ffv1", "-c:a", "copy", "-c:s", "copy",
    ];
    let (plain, ours, log) = e.both_log(&args, "mkv");
    assert!(chunks(&log) >= 3, "{log}");
    assert!(
        log.contains("its fonts or text-rendering libraries differ from this machine's"),
        "the worker without fonts was not left out: {log}"
    );
    assert_same(&plain, &ours);
    assert_eq!(framemd5(&plain), framemd5(&ours));
    // where those fonts are missing, ffmpeg draws other frames: the check matters
    let without = e.p("without-fonts.mkv");
    let o = Command::new("ffmpeg")
        .current_dir(e.dir.path())
        .env("FONTCONFIG_FILE", &conf)
        .args(["-nostdin", "-v", "error", "-y", "-i", "in.mkv"])
        .args(lossless(vf, &without))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(framemd5(without.as_ref()), framemd5(&plain));
    c.assert_clean();
}
