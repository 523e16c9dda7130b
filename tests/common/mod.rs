//! Shared helpers for integration tests: media generated with lavfi, running distrffmpeg and
//! plain ffmpeg side by side, and comparing what they wrote.
#![allow(dead_code)]

pub mod args;
pub mod media;
pub mod run;
pub mod sshd;

// Each test binary uses a part of the helpers: the re-exports too.
#[allow(unused_imports)]
pub use args::*;
#[allow(unused_imports)]
pub use run::*;

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Fails loudly when a required tool is missing, instead of skipping.
pub fn require(tool: &str, package: &str) {
    let ok = std::process::Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{tool} is required for this test: install {package} (e.g. apt-get install -y {package}); .ci/run does this");
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        require("ffmpeg", "ffmpeg");
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn p(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// Runs plain ffmpeg; panics with its stderr on failure.
    pub fn ffmpeg(&self, args: &[&str]) {
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run ffmpeg");
        assert!(
            out.status.success(),
            "ffmpeg {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A distrffmpeg command isolated from the user's config and cache.
    pub fn distr(&self) -> Command {
        let mut c = Command::cargo_bin("distrffmpeg").expect("binary");
        c.current_dir(self.dir.path())
            .env("DISTRFFMPEG_CONFIG", self.path("no-config.json"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("HOME", self.dir.path())
            .env_remove("DISTRFFMPEG_TRACE")
            .env_remove("SSH_AUTH_SOCK");
        c
    }

    /// `distr` as a std command, for runs a test spawns, signals or reads while they run;
    /// stdin is /dev/null and stderr piped.
    pub fn distr_process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("distrffmpeg"));
        c.current_dir(self.dir.path())
            .env("DISTRFFMPEG_CONFIG", self.path("no-config.json"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("HOME", self.dir.path())
            .env_remove("DISTRFFMPEG_TRACE")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    }

    /// Runs distrffmpeg with small chunks so that even short test media is split.
    pub fn run_distr(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "-df_segment_frames=24",
            "-df_keyint_min=12",
            "-df_keyint_max=48",
        ];
        all.extend_from_slice(args);
        self.distr().args(&all).output().expect("run distrffmpeg")
    }

    /// Writes `out_plain` with ffmpeg and `out_ours` with distrffmpeg from the same argv
    /// (the output name last), asserting distrffmpeg succeeded and really split the work.
    pub fn both(&self, args: &[&str], ext: &str) -> (PathBuf, PathBuf) {
        let (p, o, _) = self.both_log(args, ext);
        (p, o)
    }

    /// `both`, also returning distrffmpeg's stderr.
    pub fn both_log(&self, args: &[&str], ext: &str) -> (PathBuf, PathBuf, String) {
        let plain = self.p(&format!("plain.{ext}"));
        let ours = self.p(&format!("ours.{ext}"));
        let mut a: Vec<&str> = args.to_vec();
        a.push(&plain);
        self.ffmpeg(&a);
        let mut b: Vec<&str> = vec!["-y"];
        b.extend_from_slice(args);
        b.push(&ours);
        let out = self.run_distr(&b);
        assert!(
            out.status.success(),
            "distrffmpeg {b:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            PathBuf::from(plain),
            PathBuf::from(ours),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// lavfi test video (+ optional sine audio) encoded with x264 into `name`.
    pub fn make(&self, name: &str, secs: f32, video: &str, extra: &[&str]) -> String {
        let mut a: Vec<String> = vec!["-f".into(), "lavfi".into(), "-i".into(), video.into()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["-t".into(), secs.to_string(), self.p(name)]);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        self.ffmpeg(&refs);
        self.p(name)
    }

    /// 320x240 30 fps with 48 kHz stereo audio, GOP `gop` with `bf` B-frames.
    pub fn av_clip(&self, name: &str, secs: f32, gop: u32, bf: u32) -> String {
        let g = gop.to_string();
        let b = bf.to_string();
        self.make(
            name,
            secs,
            "testsrc2=size=320x240:rate=30",
            &with(&[
                &lavfi("sine=frequency=440:sample_rate=48000"),
                &["-ac", "2"],
                &X264,
                &["-g", &g, "-bf", &b, "-pix_fmt", "yuv420p", "-c:a", "aac"],
            ]),
        )
    }

    /// Video only: lavfi's `video` in a quick x264 encode with a keyframe every `gop` frames.
    pub fn x264_clip(&self, name: &str, secs: f32, video: &str, gop: u32) -> String {
        let g = gop.to_string();
        self.make(name, secs, video, &with(&[&X264, &["-g", &g]]))
    }
}

/// Asserts that a run exited with `code` and said `needle` on stderr.
pub fn assert_fails_with(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// A finished command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// ffprobe JSON for a file.
pub fn probe(path: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {path:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Every ffprobe stream field (side data and dispositions included), the format and the
/// chapters: what must match exactly. Left out: the bitrates (the encoders' own measure of
/// what they wrote) and the format's file size and name.
pub fn layout(path: &Path) -> Value {
    let mut v = probe(
        path,
        &[
            "-show_streams",
            "-show_format",
            "-show_chapters",
            "-show_programs",
        ],
    );
    if let Some(streams) = v["streams"].as_array_mut() {
        for s in streams.iter_mut().filter_map(Value::as_object_mut) {
            for k in ["bit_rate", "max_bit_rate"] {
                s.remove(k);
            }
        }
    }
    if let Some(f) = v["format"].as_object_mut() {
        for k in ["bit_rate", "size", "filename", "probe_score"] {
            f.remove(k);
        }
    }
    v
}

/// Every packet's (pts, duration) of the streams matching `select`, sorted by pts.
pub fn packets(path: &Path, select: &str) -> Vec<(i64, i64)> {
    let v = probe(
        path,
        &[
            "-select_streams",
            select,
            "-show_entries",
            "packet=pts,duration",
        ],
    );
    let mut p: Vec<(i64, i64)> = v["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["pts"].as_i64().unwrap_or(i64::MIN),
                        x["duration"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    p.sort();
    p
}

/// Decoded-frame hashes of the first video stream (bit-exact comparison of lossless encodes).
pub fn framemd5(path: &Path) -> Vec<String> {
    framemd5_of(path, "0:v:0")
}

/// Decoded-frame hashes of the streams `-map` selects (`0`: every stream).
pub fn framemd5_of(path: &Path, map: &str) -> Vec<String> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", map, "-f", "framemd5", "-"])
        .output()
        .expect("framemd5");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Asserts that two files have the same layout and the same timestamps on every stream.
pub fn assert_same(plain: &Path, ours: &Path) {
    assert_same_except(plain, ours, &[]);
}

/// Like `assert_same`, ignoring the named per-stream fields of the layout (documented
/// deviations only).
pub fn assert_same_except(plain: &Path, ours: &Path, ignore: &[&str]) {
    let strip = |mut v: Value| {
        if let Some(streams) = v["streams"].as_array_mut() {
            for s in streams {
                for k in ignore {
                    s.as_object_mut().map(|o| o.remove(*k));
                }
            }
        }
        v
    };
    let (a, b) = (strip(layout(plain)), strip(layout(ours)));
    assert_eq!(
        serde_json::to_string_pretty(&a).unwrap(),
        serde_json::to_string_pretty(&b).unwrap(),
        "stream layout differs"
    );
    let n = a["streams"].as_array().map_or(0, Vec::len);
    assert!(n > 0, "no streams");
    for i in 0..n {
        let sel = i.to_string();
        let (pa, pb) = (packets(plain, &sel), packets(ours, &sel));
        assert_eq!(pa.len(), pb.len(), "stream {i}: packet count differs");
        assert!(
            pa == pb,
            "stream {i}: timestamps differ (first difference at {:?})",
            pa.iter().zip(&pb).position(|(x, y)| x != y)
        );
    }
}

/// The number of video frames in a file.
pub fn video_frames(path: &Path) -> usize {
    packets(path, "v:0").len()
}

/// Writes an executable script (mode 0755).
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A tmpfs mounted for a test (a small disk that fills up), unmounted when dropped.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(path: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this drill mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
