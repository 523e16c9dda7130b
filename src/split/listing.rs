//! What a split lists of itself on stdout (framecrc): the time base and pts of its
//! first packet, which is the NUT file's first packet (tests/split_listing.rs), so that the
//! split's check needs no ffprobe.

use crate::rational::Rational;

/// The split's first packet as its framecrc listing gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The listing's time base (`#tb 0: N/D`).
    pub tb: Rational,
    /// The first packet's pts (`0, dts, pts, duration, size, crc`), None when it has none.
    pub pts: Option<i64>,
}

impl Listed {
    /// Reads framecrc's output; None without a stream's time base.
    pub fn parse(text: &str) -> Option<Listed> {
        let header = |key: &str| text.lines().find_map(|l| l.strip_prefix(key));
        let tb = Rational::parse(header("#tb 0: ")?.trim())?;
        let pts = (text.lines().find(|l| !l.starts_with('#')))
            .and_then(|l| l.split(',').nth(2))
            .and_then(|pts| pts.trim().parse::<i64>().ok());
        Some(Listed { tb, pts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_framecrc_listing() {
        let text = "#extradata 0:       46, 0x33fa0f96\n#software: Lavf59.27.100\n#tb 0: 1/15360\n\
                    #media_type 0: video\n#codec_id 0: h264\n#dimensions 0: 1280x720\n#sar 0: 1/1\n\
                    0, 1536153600, 1536154624,      512,   606725, 0x1f5e836e\n";
        let l = Listed::parse(text).unwrap();
        assert_eq!((l.tb, l.pts), (Rational::new(1, 15360), Some(1536154624)));
        assert_eq!(Listed::parse("0, 1, 2, 3, 4, 0x5\n"), None, "no time base");
        let empty = Listed::parse("#tb 0: 1/25\n#codec_id 0: h264\n").unwrap();
        assert_eq!(empty.pts, None);
    }
}
