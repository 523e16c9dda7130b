//! `-force_key_frames`: which of plain ffmpeg's output frames its encoder is told to make
//! keyframes (fftools 5.1 `do_video_out`), so that each chunk's worker is told the same frames.

use crate::rational::Rational;
use serde::Serialize;

/// The forms of `-force_key_frames` that are reproduced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Keyframes {
    /// A list of times, as encoder pts, sorted: each forces the first frame at or after it
    /// (one entry per frame).
    Times(Vec<i64>),
    /// `expr:gte(t,START+n_forced*EVERY)`, `t` counted from the first frame.
    Every { start: f64, every: f64 },
}

/// The pts of the frames plain ffmpeg forces to keyframes, out of its output frames `pts`
/// (encoder time base `tb`, in order).
pub fn forced(k: &Keyframes, pts: &[i64], tb: Rational) -> Vec<i64> {
    let mut out = Vec::new();
    match k {
        Keyframes::Times(list) => {
            let mut next = list.iter().peekable();
            for &p in pts {
                if next.next_if(|&&t| p >= t).is_some() {
                    out.push(p);
                }
            }
        }
        Keyframes::Every { start, every } => {
            let Some(&first) = pts.first() else {
                return out;
            };
            // av_q2d and fftools' double arithmetic
            let q = tb.num as f64 / tb.den as f64;
            let mut n_forced = 0.0;
            for &p in pts {
                let t = (p - first) as f64 * q;
                if t >= start + n_forced * every {
                    out.push(p);
                    n_forced += 1.0;
                }
            }
        }
    }
    out
}

/// Parses the `expr:` forms fftools evaluates that this reproduces:
/// `gte(t,EVERY*n_forced)`, `gte(t,n_forced*EVERY)`, with an optional `START+` before.
pub fn parse_expr(e: &str) -> Option<Keyframes> {
    let e: String = e.chars().filter(|c| !c.is_whitespace()).collect();
    let arg = e.strip_prefix("gte(t,")?.strip_suffix(')')?;
    let (start, product) = match arg.split_once('+') {
        Some((s, p)) => (s.parse::<f64>().ok()?, p),
        None => (0.0, arg),
    };
    let (a, b) = product.split_once('*')?;
    let every = match (a, b) {
        ("n_forced", x) | (x, "n_forced") => x.parse::<f64>().ok()?,
        _ => return None,
    };
    (every > 0.0 && start.is_finite()).then_some(Keyframes::Every { start, every })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_force_the_first_frame_past_each_step() {
        let k = parse_expr("gte(t,0+n_forced*3)").unwrap();
        assert_eq!(
            k,
            Keyframes::Every {
                start: 0.0,
                every: 3.0
            }
        );
        assert_eq!(
            parse_expr("gte(t, n_forced * 2)"),
            parse_expr("gte(t,2*n_forced)")
        );
        assert!(parse_expr("gte(t,prev_forced_t+2)").is_none());
        assert!(parse_expr("eq(n,3)").is_none());
        // 25 fps, every 3 s from the first frame at pts 10
        let pts: Vec<i64> = (10..200).collect();
        let f = forced(&k, &pts, Rational::new(1, 25));
        assert_eq!(f, [10, 85, 160]);
    }

    #[test]
    fn each_listed_time_forces_one_frame() {
        let k = Keyframes::Times(vec![0, 30, 31, 100]);
        let pts: Vec<i64> = (0..80).map(|i| i * 2).collect();
        // 30 forces 30, 31 forces the next frame (32), 100 forces 100
        assert_eq!(forced(&k, &pts, Rational::new(1, 60)), [0, 30, 32, 100]);
    }
}
