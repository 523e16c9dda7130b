//! Time bases and timestamp arithmetic with libavutil's exact rounding (`av_rescale_q`,
//! `av_log2`, `av_parse_time`), so that planned timestamps equal the ones ffmpeg computes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rational number such as a time base (`1/15360`) or a frame rate (`30000/1001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rational {
    pub num: i64,
    pub den: i64,
}

/// AV_TIME_BASE_Q: microseconds.
pub const MICROS: Rational = Rational {
    num: 1,
    den: 1_000_000,
};

impl Rational {
    pub const fn new(num: i64, den: i64) -> Rational {
        Rational { num, den }
    }

    /// Parses `a/b`, `a:b` or a plain integer, as ffprobe prints them.
    pub fn parse(s: &str) -> Option<Rational> {
        let s = s.trim();
        let (a, b) = s
            .split_once('/')
            .or_else(|| s.split_once(':'))
            .unwrap_or((s, "1"));
        Some(Rational::new(
            a.trim().parse().ok()?,
            b.trim().parse().ok()?,
        ))
    }

    pub fn is_valid(&self) -> bool {
        self.num > 0 && self.den > 0
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn inv(self) -> Rational {
        Rational::new(self.den, self.num)
    }

    /// The reduced form (av_reduce without a limit).
    pub fn reduced(self) -> Rational {
        let g = gcd(self.num.unsigned_abs(), self.den.unsigned_abs()).max(1) as i64;
        let (n, d) = (self.num / g, self.den / g);
        if d < 0 {
            Rational::new(-n, -d)
        } else {
            Rational::new(n, d)
        }
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// av_rescale_rnd(a, b, c, AV_ROUND_NEAR_INF): a*b/c rounded to nearest, halves away from zero.
pub fn rescale(a: i64, b: i64, c: i64) -> i64 {
    if c == 0 {
        return i64::MIN;
    }
    let (a, b, c) = (a as i128, b as i128, c as i128);
    let (b, c) = if c < 0 { (-b, -c) } else { (b, c) };
    let p = a * b;
    let r = if p >= 0 {
        (p + c / 2) / c
    } else {
        -((-p + c / 2) / c)
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// av_rescale_q(a, from, to).
pub fn rescale_q(a: i64, from: Rational, to: Rational) -> i64 {
    rescale(a, from.num * to.den, to.num * from.den)
}

/// libavutil's rounding modes (`AVRounding`), for `rescale_q_rnd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Round {
    /// Towards zero.
    Zero,
    /// Away from zero.
    Inf,
    /// Towards minus infinity.
    Down,
    /// Towards plus infinity.
    Up,
    /// To the nearest, halves away from zero.
    #[default]
    Near,
}

/// av_rescale_q_rnd(a, from, to, rnd) (exact, in 128 bits).
pub fn rescale_q_rnd(a: i64, from: Rational, to: Rational, rnd: Round) -> i64 {
    let mut b = (from.num * to.den) as i128;
    let mut c = (to.num * from.den) as i128;
    if c < 0 {
        (b, c) = (-b, -c);
    }
    let p = a as i128 * b;
    let (q, r) = (p.div_euclid(c), p.rem_euclid(c));
    let r = match rnd {
        _ if r == 0 => q,
        Round::Down => q,
        Round::Up => q + 1,
        Round::Zero if p < 0 => q + 1,
        Round::Zero => q,
        Round::Inf if p < 0 => q,
        Round::Inf => q + 1,
        Round::Near => return rescale_q(a, from, to),
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// av_rescale_q_rnd(a, from, to, AV_ROUND_DOWN) for non-negative and negative a (floor).
pub fn rescale_q_floor(a: i64, from: Rational, to: Rational) -> i64 {
    let p = a as i128 * (from.num * to.den) as i128;
    let c = (to.num * from.den) as i128;
    p.div_euclid(c) as i64
}

/// av_log2: floor(log2(v)) for v > 0, 0 for 0.
pub fn av_log2(v: u64) -> u32 {
    if v == 0 {
        0
    } else {
        63 - v.leading_zeros()
    }
}

/// av_compare_ts: -1, 0 or 1 as a*tb_a is less than, equal to or greater than b*tb_b.
pub fn compare_ts(a: i64, tb_a: Rational, b: i64, tb_b: Rational) -> i32 {
    let l = a as i128 * (tb_a.num * tb_b.den) as i128;
    let r = b as i128 * (tb_b.num * tb_a.den) as i128;
    (l.cmp(&r)) as i32
}

/// Parses a duration the way ffmpeg's `av_parse_time(..., 1)` does and returns microseconds:
/// `[-][HH:]MM:SS[.m…]`, `[-]S+[.m…]` with an optional `s`, `ms` or `us` suffix.
/// Digits beyond microseconds are truncated, as in libavutil.
pub fn parse_duration_us(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (body, scale) = if let Some(b) = body.strip_suffix("ms") {
        (b, 1000)
    } else if let Some(b) = body.strip_suffix("us") {
        (b, 1)
    } else if let Some(b) = body.strip_suffix('s') {
        (b, 1_000_000)
    } else {
        (body, 1_000_000)
    };
    let (int_part, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut secs: i64 = 0;
    let parts: Vec<&str> = int_part.split(':').collect();
    if parts.len() > 3 || (parts.len() > 1 && scale != 1_000_000) {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: i64 = p.parse().ok()?;
        if i > 0 && v > 59 {
            return None;
        }
        secs = secs
            .checked_mul(if i == 0 { 1 } else { 60 })?
            .checked_add(v)?;
    }
    let mut frac_us = 0i64;
    if let Some(f) = frac {
        if !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut n = 100_000;
        for c in f.bytes().take(6) {
            frac_us += n * i64::from(c - b'0');
            n /= 10;
        }
    }
    let us = secs
        .checked_mul(scale)?
        .checked_add(frac_us * scale / 1_000_000)?;
    Some(if neg { -us } else { us })
}

/// Formats microseconds as seconds with six decimals (`-1.500000`), exact for any value.
pub fn format_us(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let a = us.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

/// Parses ffprobe's "%f"-style seconds ("12.345678") back into exact microseconds.
pub fn parse_seconds_us(s: &str) -> Option<i64> {
    parse_duration_us(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rounding_mode_rounds_as_libavutil() {
        let (from, to) = (Rational::new(1, 24), Rational::new(1, 10));
        // 5/24 s = 2.083 tenths; -5/24 s = -2.083
        let modes = [Round::Zero, Round::Inf, Round::Down, Round::Up, Round::Near];
        let pos: Vec<i64> = modes
            .iter()
            .map(|&m| rescale_q_rnd(5, from, to, m))
            .collect();
        let neg: Vec<i64> = modes
            .iter()
            .map(|&m| rescale_q_rnd(-5, from, to, m))
            .collect();
        assert_eq!(pos, [2, 3, 2, 3, 2]);
        assert_eq!(neg, [-2, -3, -3, -2, -2]);
        // exact values are not rounded
        assert_eq!(rescale_q_rnd(12, from, to, Round::Up), 5);
    }

    #[test]
    fn rescale_rounds_half_away_from_zero() {
        assert_eq!(rescale(3, 1, 2), 2);
        assert_eq!(rescale(-3, 1, 2), -2);
        assert_eq!(rescale(1, 1, 3), 0);
        assert_eq!(rescale_q(512, Rational::new(1, 15360), MICROS), 33333);
        assert_eq!(rescale_q(33333, MICROS, Rational::new(1, 15360)), 512);
        assert_eq!(
            rescale_q(1001, Rational::new(1, 30000), Rational::new(1, 1000)),
            33
        );
    }

    #[test]
    fn floor_rescale() {
        assert_eq!(rescale_q_floor(-1, Rational::new(1, 3), MICROS), -333334);
        assert_eq!(rescale_q_floor(1, Rational::new(1, 3), MICROS), 333333);
    }

    #[test]
    fn log2_matches_libavutil() {
        assert_eq!(av_log2(1), 0);
        assert_eq!(av_log2(30), 4);
        assert_eq!(av_log2(30000), 14);
        assert_eq!(av_log2(0), 0);
    }

    #[test]
    fn durations_parse_like_av_parse_time() {
        assert_eq!(parse_duration_us("1.5"), Some(1_500_000));
        assert_eq!(parse_duration_us("-2"), Some(-2_000_000));
        assert_eq!(parse_duration_us("00:01:02.25"), Some(62_250_000));
        assert_eq!(parse_duration_us("1:02"), Some(62_000_000));
        assert_eq!(parse_duration_us("0.1234567"), Some(123_456));
        assert_eq!(parse_duration_us("500ms"), Some(500_000));
        assert_eq!(parse_duration_us("250us"), Some(250));
        assert_eq!(parse_duration_us("3s"), Some(3_000_000));
        assert_eq!(parse_duration_us("abc"), None);
        assert_eq!(parse_duration_us("1:75"), None);
    }

    #[test]
    fn format_is_exact() {
        assert_eq!(format_us(-1_500_000), "-1.500000");
        assert_eq!(format_us(42), "0.000042");
        assert_eq!(parse_seconds_us(&format_us(123_456_789)), Some(123_456_789));
    }

    #[test]
    fn rational_parsing() {
        assert_eq!(
            Rational::parse("30000/1001"),
            Some(Rational::new(30000, 1001))
        );
        assert_eq!(Rational::parse("25"), Some(Rational::new(25, 1)));
        assert_eq!(Rational::new(60, 2).reduced(), Rational::new(30, 1));
        assert_eq!(compare_ts(1, Rational::new(1, 30), 33334, MICROS), -1);
    }
}
