//! Display-matrix rotation. With autorotate (ffmpeg's default) plain ffmpeg 5.1 puts transpose,
//! hflip or vflip before the user's filters (`configure_input_video_filter`) and the encoded
//! stream's matrix becomes the identity; the NUT chunk files lose the matrix, so the workers get
//! those filters explicitly (and `-autorotate 0`). With autorotate off the encoded stream keeps
//! the source's matrix, which the final mux's stream copy sets again through
//! `-metadata:s:N rotate=R` when that yields exactly the same matrix.

use super::Passthrough;
use crate::cli::argv::FileArgs;
use crate::cli::mapping;
use crate::cli::spec::{Spec, StreamView};

/// What the job does with the source's display matrix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rotation {
    /// The filters plain ffmpeg inserts, in order, as `-vf` entries (`transpose=clock`).
    pub filters: Vec<&'static str>,
    /// Autorotate off and a matrix to keep: the final mux's `rotate=` value.
    pub keep: Option<i64>,
    /// The workers' decoder must not rotate (`-autorotate 0`): autorotate is off, or the
    /// filters above stand for it.
    pub worker_off: bool,
    /// The filters stand for autorotate: the first frame must carry no display matrix of its
    /// own (a display orientation SEI), which plain ffmpeg's autorotate would prefer.
    pub check_frames: bool,
}

/// Whether autorotate is on for input stream `stream`: the last `-autorotate` /
/// `-noautorotate` whose specifier matches it (fftools' MATCH_PER_STREAM_OPT), on by default.
pub fn autorotate(
    input: &FileArgs,
    views: &[StreamView],
    stream: usize,
) -> Result<bool, Passthrough> {
    let mut on = true;
    for o in input.opts.iter().filter(|o| o.is("autorotate")) {
        let (_, spec) = mapping::alias(o);
        let spec = Spec::parse(&spec).map_err(|e| Passthrough(e.to_string()))?;
        if !spec.matches(views, stream) {
            continue;
        }
        on = if o.negated {
            false
        } else {
            // parse_number_or_die(…, OPT_INT64, …): a whole number
            let arg = o.arg.as_deref().unwrap_or("");
            let v: i64 = arg
                .trim()
                .parse()
                .map_err(|_| Passthrough(format!("-{} {arg}", o.flag)))?;
            v != 0
        };
    }
    Ok(on)
}

/// libavutil's av_display_rotation_get.
fn rotation_get(m: &[i32; 9]) -> f64 {
    let fp = |x: i32| f64::from(x) / 65536.0;
    let scale0 = fp(m[0]).hypot(fp(m[3]));
    let scale1 = fp(m[1]).hypot(fp(m[4]));
    if scale0 == 0.0 || scale1 == 0.0 {
        return f64::NAN;
    }
    -((fp(m[1]) / scale1).atan2(fp(m[0]) / scale0) * 180.0 / std::f64::consts::PI)
}

/// fftools' get_rotation: the clockwise angle in [0, 360) (a NaN stays NaN).
fn get_rotation(m: &[i32; 9]) -> f64 {
    let mut theta = -rotation_get(m).round();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    theta
}

/// The matrix `-metadata:s:N rotate=r` gives a stream copy (av_display_rotation_set(-r)), for
/// the angles where it is exact integers.
fn rotate_matrix(r: i64) -> [i32; 9] {
    let (c, s) = match r {
        90 => (0, 1),
        -90 => (0, -1),
        180 => (-1, 0),
        _ => (1, 0),
    };
    let u = 65536;
    [c * u, -s * u, 0, s * u, c * u, 0, 0, 0, 1 << 30]
}

const IDENTITY: [i32; 9] = [65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30];

/// The decision for a source matrix (`None`: the stream has none) and the autorotate setting;
/// `Err` gives the reason to pass through.
pub fn decide(matrix: Option<&[i32; 9]>, autorotate: bool) -> Result<Rotation, Passthrough> {
    let Some(m) = matrix else {
        return Ok(Rotation {
            worker_off: !autorotate,
            ..Rotation::default()
        });
    };
    if !autorotate {
        if *m == IDENTITY {
            return Ok(Rotation {
                worker_off: true,
                ..Rotation::default()
            });
        }
        let keep = [90, -90, 180]
            .into_iter()
            .find(|&r| rotate_matrix(r) == *m)
            .ok_or_else(|| {
                Passthrough(format!(
                    "the display matrix {m:?} kept by -noautorotate is not one a stream copy's \
                     rotate metadata reproduces"
                ))
            })?;
        return Ok(Rotation {
            keep: Some(keep),
            worker_off: true,
            ..Rotation::default()
        });
    }
    let theta = get_rotation(m);
    let near = |a: f64| (theta - a).abs() < 1.0;
    let filters = if near(90.0) {
        vec![if m[3] > 0 {
            "transpose=cclock_flip"
        } else {
            "transpose=clock"
        }]
    } else if near(180.0) {
        let mut f = Vec::new();
        if m[0] < 0 {
            f.push("hflip");
        }
        if m[4] < 0 {
            f.push("vflip");
        }
        f
    } else if near(270.0) {
        vec![if m[3] < 0 {
            "transpose=clock_flip"
        } else {
            "transpose=cclock"
        }]
    } else if theta.abs() > 1.0 || theta.is_nan() {
        return Err(Passthrough(format!(
            "the display matrix rotates by {theta}° (not a multiple of 90)"
        )));
    } else if theta.abs() < 1.0 && m[4] < 0 {
        vec!["vflip"]
    } else {
        vec![]
    };
    Ok(Rotation {
        filters,
        keep: None,
        worker_off: true,
        check_frames: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: i32 = 65536;
    const W: i32 = 1 << 30;

    fn filters(m: [i32; 9]) -> Vec<&'static str> {
        decide(Some(&m), true).unwrap().filters
    }

    #[test]
    fn autorotate_inserts_what_ffmpeg_inserts() {
        // -metadata:s:v rotate=90 / 180 / 270 on a stream copy (ffprobe: 90, -180, -90)
        assert_eq!(filters(rotate_matrix(90)), ["transpose=cclock"]);
        assert_eq!(filters(rotate_matrix(180)), ["hflip", "vflip"]);
        assert_eq!(filters(rotate_matrix(-90)), ["transpose=clock"]);
        // flips: mirrored horizontally, vertically, and transposes with a flip
        assert_eq!(filters([-U, 0, 0, 0, U, 0, 0, 0, W]), ["hflip"]);
        assert_eq!(filters([U, 0, 0, 0, -U, 0, 0, 0, W]), ["vflip"]);
        assert_eq!(
            filters([0, U, 0, U, 0, 0, 0, 0, W]),
            ["transpose=cclock_flip"]
        );
        assert_eq!(
            filters([0, -U, 0, -U, 0, 0, 0, 0, W]),
            ["transpose=clock_flip"]
        );
        // a phone's matrix with a translation rotates the same way
        assert_eq!(
            filters([0, U, 0, -U, 0, 0, 1080 * U, 0, W]),
            ["transpose=clock"]
        );
        assert!(filters(IDENTITY).is_empty());
        let r = decide(Some(&rotate_matrix(90)), true).unwrap();
        assert!(r.worker_off && r.check_frames && r.keep.is_none());
    }

    #[test]
    fn odd_angles_and_degenerate_matrices_pass_through() {
        // rotate=45: cos = sin = 46340/65536
        let m = [46340, -46340, 0, 46340, 46340, 0, 0, 0, W];
        assert!(decide(Some(&m), true).unwrap_err().0.contains("315°"));
        assert!(decide(Some(&[0; 9]), true).is_err());
    }

    #[test]
    fn without_autorotate_the_matrix_is_kept_when_rotate_reproduces_it() {
        let keep = |m: [i32; 9]| decide(Some(&m), false).map(|r| r.keep);
        assert_eq!(keep(rotate_matrix(90)), Ok(Some(90)));
        assert_eq!(keep(rotate_matrix(-90)), Ok(Some(-90)));
        assert_eq!(keep(rotate_matrix(180)), Ok(Some(180)));
        assert_eq!(keep(IDENTITY), Ok(None));
        assert!(keep([-U, 0, 0, 0, U, 0, 0, 0, W]).is_err(), "a flip");
        assert!(
            keep([0, U, 0, -U, 0, 0, 1080 * U, 0, W]).is_err(),
            "a translation"
        );
        assert!(
            !decide(Some(&rotate_matrix(90)), false)
                .unwrap()
                .check_frames
        );
        let none = decide(None, false).unwrap();
        assert!(none.worker_off && none.filters.is_empty() && !none.check_frames);
        assert!(!decide(None, true).unwrap().worker_off);
    }

    fn job(argv: &[&str], matrix: Option<[i32; 9]>) -> Result<crate::job::JobSpec, Passthrough> {
        use crate::testutil::{info, video};
        let cmd = crate::cli::argv::CmdLine::parse(argv).unwrap();
        let pre = crate::job::precheck(&cmd)?;
        let mut v = video(0, 320, 240);
        v.display_matrix = matrix;
        crate::job::analyze(&cmd, &pre, &[info(vec![v])])
    }

    fn decoder(j: &crate::job::JobSpec) -> Vec<String> {
        j.decode_opts.iter().flat_map(|o| o.tokens()).collect()
    }

    #[test]
    fn jobs_carry_the_filters_or_the_kept_matrix() {
        let j = job(&["-i", "r.mp4", "o.mp4"], Some(rotate_matrix(-90))).unwrap();
        assert_eq!(j.worker_filter(&[], 0).as_deref(), Some("transpose=clock"));
        assert_eq!(decoder(&j), ["-autorotate", "0"]);
        assert!(j.sync.duration_from_packets && j.sync.worker_vf);
        let j = job(
            &["-i", "r.mp4", "-vf", "scale=160:-2", "o.mkv"],
            Some(rotate_matrix(180)),
        );
        let j = j.unwrap();
        assert_eq!(
            j.worker_filter(&[], 0).as_deref(),
            Some("hflip,vflip,scale=160:-2")
        );
        assert!(
            !j.sync.worker_vf,
            "the user's -vf already rules out packet durations"
        );
        let j = job(
            &["-noautorotate", "-i", "r.mp4", "o.mp4"],
            Some(rotate_matrix(90)),
        )
        .unwrap();
        assert_eq!((j.worker_filter(&[], 0), j.rotation.keep), (None, Some(90)));
        assert_eq!(decoder(&j), ["-autorotate", "0"]);
        // a later, more specific option wins; a value that is not a number is ffmpeg's error
        let argv = [
            "-noautorotate",
            "-autorotate:v:0",
            "1",
            "-i",
            "r.mp4",
            "o.mp4",
        ];
        assert!(job(&argv, Some(rotate_matrix(90)))
            .unwrap()
            .rotation
            .keep
            .is_none());
        let argv = ["-autorotate", "yes", "-i", "r.mp4", "o.mp4"];
        assert!(job(&argv, Some(rotate_matrix(90))).is_err());
        let j = job(&["-i", "r.mp4", "o.mp4"], None).unwrap();
        assert!(decoder(&j).is_empty() && j.worker_filter(&[], 0).is_none());
    }
}
