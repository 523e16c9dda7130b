//! Every filter that a `-vf` chain may distribute (`job::filters::FRAME_LOCAL`), proven against
//! plain ffmpeg: the same argv into lossless ffv1 in mkv, split into several chunks on two local
//! slots, must decode to the same frames (framemd5 of every frame) with the same stream layout.
//! Filters and option forms that are not frame-local (temporal windows, recursive state, frame
//! numbers) must pass through to plain ffmpeg. Distributing with a difference is a bug; a pass
//! through trivially matches, so every case also checks which of the two happened.

mod common;
#[path = "filters/compare.rs"]
mod compare;
use common::*;
use compare::*;
use distrffmpeg::job::filters::{filter_names, FRAME_LOCAL};
use std::process::Command;

/// The `-vf` a listed filter is tested with when its defaults need an argument or do nothing;
/// every other listed filter is tested by its name alone (default options).
const OPTIONS: &[(&str, &str)] = &[
    ("scale", "scale=96:72:flags=bicubic"),
    ("crop", "crop=100:80"),
    ("rotate", "rotate=a=0.2*t:c=black"),
    ("pad", "pad=200:140:20:10"),
    ("format", "format=yuv444p"),
    ("noformat", "noformat=yuv420p"),
    ("setsar", "setsar=4/3"),
    ("setdar", "setdar=16/9"),
    ("eq", "eq=contrast=1.4:brightness=0.05:saturation=1.5"),
    ("colorspace", "colorspace=all=bt709:iall=bt601-6-625"),
    ("zscale", "zscale=w=200:h=150"),
    ("lut", "lut=y=negval"),
    ("lutrgb", "lutrgb=r=negval:g=val/2"),
    ("lutyuv", "lutyuv=u=128:v=128"),
    ("curves", "curves=preset=vintage"),
    (
        "colorchannelmixer",
        "colorchannelmixer=.3:.4:.3:0:.3:.4:.3:0:.3:.4:.3",
    ),
    ("hue", "hue=h=60:s=1.5"),
    ("colorbalance", "colorbalance=rs=0.3:bh=-0.2"),
    ("colorlevels", "colorlevels=rimin=0.1:gimax=0.8"),
    ("drawbox", "drawbox=x=10:y=10:w=60:h=40:color=red@0.5"),
    ("drawgrid", "drawgrid=w=32:h=24:t=2:c=white@0.5"),
    ("removegrain", "removegrain=m0=4:m1=4:m2=4"),
    ("convolution", "convolution=0 -1 0 -1 5 -1 0 -1 0"),
    ("tonemap", "tonemap=hable"),
    ("chromashift", "chromashift=cbh=4:crv=-3"),
    ("vibrance", "vibrance=intensity=0.5"),
    ("exposure", "exposure=exposure=0.5"),
    ("setparams", "setparams=field_mode=tff"),
    ("setfield", "setfield=bff"),
    (
        "fillborders",
        "fillborders=left=8:right=8:top=4:bottom=4:mode=mirror",
    ),
    ("cas", "cas=strength=0.5"),
    // Smaller windows than the defaults (seconds of CPU per run at 160x120); still spatial.
    ("nlmeans", "nlmeans=s=3:p=3:r=5"),
    ("dctdnoiz", "dctdnoiz=sigma=4.5:n=3:overlap=3"),
    // Without a quantizer (x264 sources export no QP table) these three copy the frame.
    ("pp7", "pp7=qp=8"),
    // deblocking only: deringing (the default's dr) is not proven (see PASS_THROUGH)
    ("pp", "pp=hb|a/vb|a"),
    ("spp", "spp=qp=8"),
    ("fspp", "fspp=qp=8"),
    // by time (st, d): the timestamps say how far the fade is
    ("fade", "fade=t=in:st=0.5:d=1.5"),
];

/// Option forms and chains of listed filters that must distribute and match as well: time-based
/// expressions and timeline `enable` (chunks keep the source timestamps), libpostproc's spatial
/// default, a mixed chain.
const EXTRA: &[&str] = &[
    "crop=100:80:x='30+20*sin(t)':y=10",
    "unsharp=enable='lt(t\\,1.3)'",
    "eq=brightness='0.1*sin(t)':eval=frame",
    "pp=h1|a/v1|a",
    "pp=ha/va",
    "pp=h1/v1",
    "scale=200:150,unsharp,format=yuv444p",
    "fade=t=out:st=2.2:d=1.2:color=white",
    "fade=in:st=0:d=3,fade=out:st=3:d=1",
];

/// Filters and option forms that must pass through: they differed from plain ffmpeg when
/// distributed (counts from this test's clip, 96 frames in 4 chunks).
const PASS_THROUGH: &[&str] = &[
    "yadif=1:-1:1",                      // per field, only the frames flagged interlaced
    "bwdif=deint=interlaced",            // the same
    "hqdn3d",                            // recursive: 84 of 96 differed
    "scale=200:150,hqdn3d",              // in a chain too
    "cropdetect",                        // its result is the log: 0 of 94 crop= lines
    "pp=de/tn",                          // tmpnoise is temporal: 84 of 96 differed
    "pp=hb/vb/dr/al",                    // autolevels keeps a histogram: 84 of 96
    "pp",                                // the default deringing (dr): 6 of 96 on this machine
    "pp=fa",                             // h1,v1,dr: the same
    "pp=dr",                             // the same
    "colormatrix=bt601:bt709",           // frames matched; the color_space tag it sets was lost
    "crop=100:80:x='mod(n*2\\,60)'",     // frame numbers restart per chunk: 84 of 96
    "eq=brightness='0.01*n':eval=frame", // 84 of 96
    "hue=h=n*5",                         // 60 of 96
    "unsharp=enable='lt(n\\,30)'",       // 60 of 96
    "crop=100:80:x='20*random(0)':y=10", // random state restarts per chunk: 76 of 96
    "fade=in:0:30",                      // frame counts restart per chunk
    "fade=t=out:st=2",                   // no duration: it fades over 25 frames from st
    "fps=30:start_time=0.5",             // a grid from a given time: not modelled
    "fps=source_fps*2",                  // an expression
    "fps=30,tmix=frames=3",              // fps with a filter that reads other frames
];

/// Temporal filters (`job::filters::window`): each chunk decodes the frames its window reads
/// on either side and drops their outputs after the chain. Without that context 3 to 6 of 96
/// frames differed (yadif, kerndeint).
const TEMPORAL: &[&str] = &[
    "yadif",
    "yadif=0:-1:1",
    "yadif=mode=send_frame_nospatial",
    "bwdif=mode=send_frame",
    "w3fdif=complex:frame",
    "kerndeint",
    "tmix",
    "tmix=frames=5:weights='1 2 3 2 1'",
    "atadenoise",
    "atadenoise=s=5",
    "deflicker",
    "deflicker=mode=pm:size=10",
    "scale=120:90,tmix=frames=4,yadif",
    // one frame per field (twice the frames, half the time base)
    "yadif=1",
    "yadif=mode=send_field_nospatial",
    "bwdif",
    "bwdif=1:-1:0",
    "w3fdif",
    "yadif=1,tmix=frames=3,scale=120:90",
];

/// The progressive source: testsrc2 (motion and detail), 4 s at 24 fps, x264 GOP of 12.
fn progressive(e: &Env) -> String {
    e.x264_clip("prog.mkv", 4.0, "testsrc2=size=160x120:rate=24", 12)
}

/// An interlaced-coded source (top field first) for deinterlacers and field flags.
fn interlaced(e: &Env) -> String {
    e.make(
        "inter.mkv",
        4.0,
        "testsrc2=size=160x120:rate=48,tinterlace=interleave_top,setfield=tff",
        &with(&[
            &X264,
            &["-g", "12", "-flags", "+ildct+ilme", "-pix_fmt", "yuv420p"],
        ]),
    )
}

fn vf_for(name: &str) -> String {
    OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name.to_string(), |(_, vf)| vf.to_string())
}

/// The listed filters with index ≡ `part` (mod 3): three test functions run side by side.
fn listed(part: usize) -> Vec<String> {
    FRAME_LOCAL
        .iter()
        .skip(part)
        .step_by(3)
        .map(|n| vf_for(n))
        .collect()
}

#[test]
fn listed_filters_match_plain_ffmpeg_part_1() {
    let e = Env::new();
    assert_distributed_and_exact(&e, &progressive(&e), &listed(0), &[]);
}

#[test]
fn listed_filters_match_plain_ffmpeg_part_2() {
    let e = Env::new();
    assert_distributed_and_exact(&e, &progressive(&e), &listed(1), &[]);
}

#[test]
fn listed_filters_match_plain_ffmpeg_part_3() {
    let e = Env::new();
    assert_distributed_and_exact(&e, &progressive(&e), &listed(2), &[]);
}

#[test]
fn time_based_options_and_chains_match_plain_ffmpeg() {
    let e = Env::new();
    let cases: Vec<String> = EXTRA.iter().map(|s| s.to_string()).collect();
    assert_distributed_and_exact(&e, &progressive(&e), &cases, &[]);
}

#[test]
fn field_flags_on_an_interlaced_source_match_plain_ffmpeg() {
    let e = Env::new();
    let cases: Vec<String> = ["null", "setfield", "setparams"]
        .iter()
        .filter(|n| FRAME_LOCAL.contains(n))
        .map(|n| vf_for(n))
        .collect();
    assert_eq!(cases.len(), 3, "null, setfield and setparams are listed");
    // Interlaced-coded video (x264 or mpeg2 field pictures, in mkv or nut) gets a stream
    // DURATION tag and format duration of 4.000 s where plain ffmpeg writes 3.979 s even with
    // `-vf null` (same frames, same packet timestamps): a difference of the pipeline, not of a
    // filter (reported with this audit).
    assert_distributed_and_exact(
        &e,
        &interlaced(&e),
        &cases,
        &["stream 0 tag DURATION", "format duration"],
    );
}

/// Temporal filters distribute and match plain ffmpeg frame for frame, on a progressive and on
/// an interlaced source.
#[test]
fn temporal_filters_match_plain_ffmpeg() {
    let e = Env::new();
    let cases: Vec<String> = TEMPORAL.iter().map(|s| s.to_string()).collect();
    assert_distributed_and_exact(&e, &progressive(&e), &cases, &[]);
    assert_distributed_and_exact(
        &e,
        &interlaced(&e),
        &cases,
        &["stream 0 tag DURATION", "format duration"],
    );
}

/// Temporal filters with trims: an input `-ss` (no context before the first frame, as in plain
/// ffmpeg), an input `-t` that ends the chain where later frames still decode, an output `-ss`
/// and `-t` (plain ffmpeg's chain sees frames before and after the
/// written ones, so the first and last chunks decode them as context).
#[test]
fn temporal_filters_with_trims_match_plain_ffmpeg() {
    let e = Env::new();
    let src = progressive(&e);
    let cases: Vec<String> = [
        "yadif",
        "tmix=frames=4",
        "atadenoise=s=7",
        "deflicker=mode=gm:size=10",
        "yadif=1",
        "bwdif",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (inp, out) in [
        (&["-ss", "0.55"][..], &[][..]),
        // an input -t that ends the chain inside a GOP: the last chunk decodes frames after
        // plain ffmpeg's chain ends, which a filter reading ahead must not see
        (&["-t", "3.1"], &[]),
        (&[], &["-ss", "0.3", "-t", "3.2"][..]),
        (&["-ss", "0.2", "-t", "3.5"], &["-t", "3.1"]),
    ] {
        assert_distributed_and_exact_with(&e, &src, &cases, &[], inp, out);
    }
}

/// The `fps` filter: its grid is cut so that each chunk starts at a frame's first grid point,
/// sees the next frame past its last one, and the last chunk's frame is repeated up to plain
/// ffmpeg's end. Up- and down-conversion, every rounding, named and decimal rates, the end
/// passed through, in a chain, and with trims on either side.
#[test]
fn fps_filter_matches_plain_ffmpeg() {
    let e = Env::new();
    let src = progressive(&e);
    let cases: Vec<String> = [
        "fps=30",
        "fps=25",
        "fps=18",
        "fps=30:round=up",
        "fps=fps=20:round=down",
        "fps=60:round=inf",
        "fps=27:round=zero",
        "fps=ntsc",
        "fps=29.97:eof_action=pass",
        "scale=120:90,fps=30000/1001,hflip",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_distributed_and_exact(&e, &src, &cases, &[]);
    let trimmed: Vec<String> = ["fps=30", "fps=25", "fps=30:round=up", "fps=60:round=inf"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (inp, out) in [
        (&["-ss", "0.55"][..], &[][..]),
        (&[], &["-ss", "0.3", "-t", "3.2"][..]),
    ] {
        assert_distributed_and_exact_with(&e, &src, &trimmed, &[], inp, out);
    }
}

/// `setpts` scaling the timestamps (speeding a video up, as tutorials do): each frame at its
/// new pts, the output rate's drops reproduced per chunk; alone, in a chain, and with an
/// input `-ss`.
#[test]
fn setpts_scaling_matches_plain_ffmpeg() {
    let e = Env::new();
    let src = progressive(&e);
    let cases: Vec<String> = [
        "setpts=0.5*PTS",
        "setpts=PTS/1.5",
        "scale=120:90,setpts=0.8*PTS,hflip",
        "setpts='PTS*0.75'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_distributed_and_exact_with(&e, &src, &cases, &[], &[], &["-r", "48"]);
    assert_distributed_and_exact_with(&e, &src, &cases[..2], &[], &["-ss", "0.55"], &["-r", "60"]);
}

/// Temporal, recursive and frame-counting forms pass through, on a progressive and on an
/// interlaced source, and so write exactly what plain ffmpeg writes.
#[test]
fn temporal_and_counting_filters_pass_through() {
    let e = Env::new();
    let srcs = [("prog", progressive(&e)), ("inter", interlaced(&e))];
    let mut bad = Vec::new();
    for (s, src) in &srcs {
        let cases: Vec<String> = PASS_THROUGH
            .iter()
            .filter(|vf| {
                *s == "prog"
                    || ["yadif", "bwdif", "w3fdif"]
                        .iter()
                        .any(|d| vf.starts_with(d))
            })
            .map(|vf| vf.to_string())
            .collect();
        for (vf, outcome) in cases.iter().zip(run_all(&e, src, &cases, s)) {
            match outcome {
                Err(err) => bad.push(format!("{vf} ({s}): {err}")),
                Ok(o) if !o.passed_through || o.chunks > 0 => bad.push(format!(
                    "{vf} ({s}): distributed over {} chunks ({} of {} frames differ from plain \
                     ffmpeg), must pass through",
                    o.chunks, o.differing, o.frames
                )),
                Ok(o) if o.differing > 0 || !o.layout.is_empty() => {
                    bad.push(format!("{vf} ({s}): passed through but differs"))
                }
                Ok(o) if vf.starts_with("cropdetect") && !o.log.contains(" crop=") => {
                    bad.push(format!("{vf} ({s}): cropdetect's log is missing"))
                }
                Ok(_) => {}
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

/// Every listed filter exists in this ffmpeg (a filter that cannot be run here cannot be
/// proven), and the option table names only listed filters.
#[test]
fn every_listed_filter_is_built_here_and_options_are_current() {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-filters"])
        .output()
        .expect("ffmpeg -filters");
    let text = String::from_utf8_lossy(&out.stdout);
    let built: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let missing: Vec<&&str> = FRAME_LOCAL.iter().filter(|n| !built.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "listed but not in this ffmpeg: {missing:?}"
    );
    for (name, vf) in OPTIONS {
        assert!(FRAME_LOCAL.contains(name), "options for unlisted {name}");
        assert_eq!(filter_names(vf).unwrap(), [*name], "{vf}");
    }
}
