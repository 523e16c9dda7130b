//! ffmpeg 5.1's own progress text, byte for byte: the stats line (`print_report`: `frame=`,
//! `fps=`, `q=`, `size=`/`Lsize=`, `time=`, `bitrate=`, `speed=`) and the `-progress`
//! key=value block, from the job's figures. Pure formatting; the reporter decides when.

use std::fmt::Write;

/// The figures of one report, as ffmpeg's `print_report` has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Frames of the first video output stream.
    pub frame: i64,
    /// Seconds since the start (ffmpeg shows fps=0 in the first second).
    pub elapsed: f64,
    /// The video encoder's last quality (`-1.0` once it has flushed).
    pub q: f32,
    /// Bytes written, or unknown.
    pub size: Option<u64>,
    /// The output position in microseconds, or unknown.
    pub time_us: Option<i64>,
    /// The final report (`Lsize=`, `\n`, `progress=end`).
    pub last: bool,
}

impl Report {
    fn fps(&self) -> f64 {
        if self.elapsed > 1.0 {
            self.frame as f64 / self.elapsed
        } else {
            0.0
        }
    }

    /// kbit/s, or negative when unknown (as ffmpeg computes it).
    fn bitrate(&self) -> f64 {
        match (self.size, self.time_us) {
            (Some(s), Some(t)) if t > 0 => s as f64 * 8.0 / (t as f64 / 1e6) / 1000.0,
            _ => -1.0,
        }
    }

    fn speed(&self) -> Option<f64> {
        let t = self.time_us?;
        (self.elapsed > 0.0).then(|| t as f64 / 1e6 / self.elapsed)
    }

    fn bitrate_text(&self) -> String {
        let b = self.bitrate();
        if b < 0.0 {
            "bitrate=N/A".into()
        } else {
            format!("bitrate={b:6.1}kbits/s")
        }
    }

    fn speed_text(&self) -> String {
        match self.speed() {
            Some(s) => format!("speed={}x", fmt_g(s, 3, 4)),
            None => "speed=N/A".into(),
        }
    }

    /// The stats line with its terminator (`\r`, or `\n` for the last one).
    pub fn line(&self) -> String {
        let fps = self.fps();
        let prec = usize::from(fps < 9.95);
        let mut s = format!("frame={:5} fps={fps:3.prec$} q={:3.1} ", self.frame, self.q);
        if self.last {
            s.push('L');
        }
        match self.size {
            Some(b) => {
                let _ = write!(s, "size={:8.0}kB time=", b as f64 / 1024.0);
            }
            None => s.push_str("size=N/A time="),
        }
        match self.time_us {
            Some(t) => {
                let (sign, h, m, sec, us) = clock(t);
                let _ = write!(
                    s,
                    "{sign}{h:02}:{m:02}:{sec:02}.{:02} ",
                    100 * us / 1_000_000
                );
            }
            None => s.push_str("N/A "),
        }
        s.push_str(&self.bitrate_text());
        s.push(' ');
        s.push_str(&self.speed_text());
        s.push_str("    ");
        s.push(if self.last { '\n' } else { '\r' });
        s
    }

    /// The `-progress` block (`stream_0_N_q` names the video's output index).
    pub fn block(&self, video_out: usize) -> String {
        let mut s = format!(
            "frame={}\nfps={:.2}\nstream_0_{video_out}_q={:.1}\n{}\n",
            self.frame,
            self.fps(),
            self.q,
            self.bitrate_text()
        );
        match self.size {
            Some(b) => {
                let _ = writeln!(s, "total_size={b}");
            }
            None => s.push_str("total_size=N/A\n"),
        }
        match self.time_us {
            Some(t) => {
                let (sign, h, m, sec, us) = clock(t);
                let _ = write!(
                    s,
                    "out_time_us={t}\nout_time_ms={t}\nout_time={sign}{h:02}:{m:02}:{sec:02}.{us:06}\n"
                );
            }
            None => s.push_str("out_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\n"),
        }
        s.push_str("dup_frames=0\ndrop_frames=0\n");
        s.push_str(&self.speed_text());
        let _ = write!(
            s,
            "\nprogress={}\n",
            if self.last { "end" } else { "continue" }
        );
        s
    }
}

/// A position in microseconds as fftools splits it: sign, hours, minutes, seconds, micros.
fn clock(t: i64) -> (&'static str, i64, i64, i64, i64) {
    let (secs, us) = (t.abs() / 1_000_000, t.abs() % 1_000_000);
    let sign = if t < 0 { "-" } else { "" };
    (sign, secs / 3600, secs / 60 % 60, secs % 60, us)
}

/// C's `%W.Pg`: P significant digits, trailing zeros dropped, exponent form outside
/// [1e-4, 1e P), right-aligned in W characters.
pub fn fmt_g(x: f64, prec: usize, width: usize) -> String {
    let p = prec.max(1);
    let text = if x == 0.0 {
        "0".to_string()
    } else if !x.is_finite() {
        if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_string()
    } else {
        // the exponent after rounding to P significant digits
        let e = format!("{:.*e}", p - 1, x);
        let (mant, exp) = e.split_once('e').expect("exponent form");
        let exp: i32 = exp.parse().expect("exponent");
        if exp < -4 || exp >= p as i32 {
            let mant = trim_zeros(mant);
            format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        } else {
            let decimals = (p as i32 - 1 - exp).max(0) as usize;
            trim_zeros(&format!("{x:.decimals$}")).to_string()
        }
    };
    format!("{text:>width$}")
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formats_like_c() {
        // printf("%4.3g") in C
        for (x, want) in [
            (24.5, "24.5"),
            (13.0, "  13"),
            (17.53, "17.5"),
            (8.59, "8.59"),
            (1.0, "   1"),
            (0.5, " 0.5"),
            (123.4, " 123"),
            (1234.0, "1.23e+03"),
            (0.00012345, "0.000123"),
            (0.0, "   0"),
            (99.96, " 100"),
        ] {
            assert_eq!(fmt_g(x, 3, 4), want, "{x}");
        }
    }

    #[test]
    fn lines_match_ffmpeg() {
        // lines printed by ffmpeg 5.1 for the figures given
        let r = Report {
            frame: 1,
            elapsed: 0.003,
            q: 0.0,
            size: Some(984),
            time_us: Some(74_000),
            last: false,
        };
        assert!(r.line().starts_with(
            "frame=    1 fps=0.0 q=0.0 size=       1kB time=00:00:00.07 bitrate= 106.4kbits/s speed="
        ), "{}", r.line());
        assert!(r.line().ends_with("x    \r"));
        let r = Report {
            frame: 200,
            elapsed: 8.014 / 17.5,
            q: -1.0,
            size: Some(220_853),
            time_us: Some(8_014_000),
            last: true,
        };
        assert_eq!(
            r.line(),
            "frame=  200 fps=0.0 q=-1.0 Lsize=     216kB time=00:00:08.01 bitrate= 220.5kbits/s speed=17.5x    \n"
        );
        assert_eq!(
            r.block(0),
            "frame=200\nfps=0.00\nstream_0_0_q=-1.0\nbitrate= 220.5kbits/s\ntotal_size=220853\n\
             out_time_us=8014000\nout_time_ms=8014000\nout_time=00:00:08.014000\ndup_frames=0\n\
             drop_frames=0\nspeed=17.5x\nprogress=end\n"
        );
        let r = Report {
            frame: 150,
            elapsed: 10.0,
            q: 28.0,
            size: None,
            time_us: None,
            last: false,
        };
        assert_eq!(
            r.line(),
            "frame=  150 fps= 15 q=28.0 size=N/A time=N/A bitrate=N/A speed=N/A    \r"
        );
    }
}
