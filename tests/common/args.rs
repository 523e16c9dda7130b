//! Argument lists the tests share: lavfi inputs, the quick encoder settings most drills use,
//! and joining lists.
#![allow(dead_code)]

/// A quick x264 encode of the video.
pub const X264: [&str; 4] = ["-c:v", "libx264", "-preset", "ultrafast"];

/// A quick lossless x264 encode of the video (its decoded frames compare bit for bit).
pub const LOSSLESS_X264: [&str; 6] = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"];

/// A quick VP9 encode of the video.
pub const VP9_REALTIME: [&str; 6] = [
    "-c:v",
    "libvpx-vp9",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
];

/// `graph` (a lavfi source such as `testsrc2=size=320x240:rate=30`) as an input.
pub fn lavfi(graph: &str) -> [&str; 4] {
    ["-f", "lavfi", "-i", graph]
}

/// `-i src`, a quick x264 encode of the video, then `rest`.
pub fn x264<'a>(src: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    with(&[&["-i", src], &X264, rest])
}

/// The argv most drills run: a quick x264 encode of `src` into `out`, overwriting it.
pub fn quick_x264<'a>(src: &'a str, out: &'a str) -> [&'a str; 8] {
    [
        "-y",
        "-i",
        src,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        out,
    ]
}

/// A quick x264 encode of `src` into `out` that keeps the audio as it is, overwriting `out`.
pub fn x264_copy<'a>(src: &'a str, out: &'a str) -> [&'a str; 10] {
    let [y, i, src, cv, x264, p, fast, _] = quick_x264(src, out);
    [y, i, src, cv, x264, p, fast, "-c:a", "copy", out]
}

/// The argument lists joined.
pub fn with<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}
