//! Test media with the features users' files have: several audio tracks with languages and
//! titles, subtitles, chapters, attachments, variable frame rate, open GOPs, 10-bit, odd sizes,
//! interlacing, start times other than 0. All generated with lavfi in a second or two.
#![allow(dead_code)]

use super::{lavfi, with, Env, X264};

/// `frames` PNG images of testsrc2 (160x120) as `img/001.png`, `img/002.png`, ….
pub fn png_sequence(e: &Env, frames: u32) {
    std::fs::create_dir(e.path("img")).unwrap();
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=160x120:rate=24"),
        &["-frames:v", &frames.to_string(), &e.p("img/%03d.png")],
    ]));
}

/// mkv: h264 320x240 25 fps (B-frames, GOP 25), eng stereo + fra 5.1 (default) with titles,
/// an srt subtitle as ass, global title/artist, two chapters, an attached font. 4 s.
pub fn rich_mkv(e: &Env) -> String {
    std::fs::write(
        e.path("subs.srt"),
        "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:02,000 --> 00:00:03,200\nWorld\n",
    )
    .unwrap();
    std::fs::write(
        e.path("meta.txt"),
        ";FFMETADATA1\ntitle=Test Movie\nartist=Someone\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=Intro\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=2000\nEND=4000\ntitle=Main\n",
    )
    .unwrap();
    std::fs::write(e.path("font.ttf"), "FONTDATA").unwrap();
    let out = e.p("rich.mkv");
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=25"),
        &lavfi("sine=frequency=300:sample_rate=48000"),
        &lavfi("sine=frequency=500:sample_rate=48000"),
        &[
            "-i",
            "subs.srt",
            "-i",
            "meta.txt",
            "-t",
            "4",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-map",
            "3:s",
            "-map_metadata",
            "4",
            "-map_chapters",
            "4",
        ],
        &X264,
        &[
            "-g",
            "25",
            "-bf",
            "2",
            "-c:a:0",
            "aac",
            "-ac:a:0",
            "2",
            "-c:a:1",
            "aac",
            "-ac:a:1",
            "6",
            "-c:s",
            "ass",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:0",
            "title=English",
            "-metadata:s:a:1",
            "language=fra",
            "-metadata:s:a:1",
            "title=Francais 5.1",
            "-metadata:s:s:0",
            "language=eng",
            "-metadata:s:v:0",
            "title=Main video",
            "-disposition:a:1",
            "default",
            "-attach",
            "font.ttf",
            "-metadata:s:t",
            "mimetype=application/x-truetype-font",
            &out,
        ],
    ]));
    out
}

/// mkv with variable frame rate: dropped frames and jittered timestamps. 5 s at ~30 fps.
pub fn vfr_mkv(e: &Env) -> String {
    vfr_clip(e, "vfr.mkv", 5.0, 40)
}

/// `vfr_mkv`'s frames (two in ten dropped, every seventh moved off the grid), `secs` long
/// with a keyframe every `gop` frames.
pub fn vfr_clip(e: &Env, name: &str, secs: f32, gop: u32) -> String {
    let g = gop.to_string();
    e.make(
        name,
        secs,
        "testsrc2=size=160x120:rate=30",
        &[
            "-vf",
            "select='not(between(mod(n\\,10)\\,3\\,4))',setpts='PTS+if(eq(mod(N\\,7)\\,0)\\,0.4/30/TB\\,0)'",
            "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-g", &g,
        ],
    )
}

/// 10-bit HEVC, open GOP with B-pyramid, odd size 854x482, 24 fps, with audio. 3 s.
pub fn hevc10_open_gop(e: &Env) -> String {
    e.make(
        "hevc10.mkv",
        3.0,
        "testsrc2=size=854x482:rate=24",
        &with(&[
            &lavfi("sine=sample_rate=44100"),
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p10le",
                "-x265-params",
                "keyint=24:min-keyint=24:open-gop=1:bframes=4:b-pyramid=1:log-level=error",
                "-c:a",
                "aac",
            ],
        ]),
    )
}

/// Interlaced h264 (top field first) in mkv. 3 s.
pub fn interlaced(e: &Env) -> String {
    e.make(
        "interlaced.mkv",
        3.0,
        "testsrc2=size=320x240:rate=25",
        &with(&[
            &["-vf", "setfield=tff"],
            &X264,
            &["-flags", "+ildct+ilme", "-top", "1", "-g", "25"],
        ]),
    )
}

/// An MPEG-TS file (timestamps start at 1.4 s) with audio. 4 s.
pub fn ts_source(e: &Env) -> String {
    e.make(
        "src.ts",
        4.0,
        "testsrc2=size=320x240:rate=30",
        &with(&[
            &lavfi("sine=sample_rate=48000"),
            &X264,
            &["-g", "30", "-bf", "2", "-c:a", "aac"],
        ]),
    )
}

/// mov with a timecode (tmcd data) track and audio, 25 fps GOP 25. 3 s.
pub fn timecode_mov(e: &Env) -> String {
    e.make(
        "tc.mov",
        3.0,
        "testsrc2=size=320x240:rate=25",
        &with(&[
            &lavfi("sine=sample_rate=48000"),
            &X264,
            &["-g", "25", "-c:a", "aac", "-timecode", "01:00:00:00"],
        ]),
    )
}
