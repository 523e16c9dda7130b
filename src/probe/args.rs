//! The argv of every ffprobe run distrffmpeg starts (probing inputs, the packet index, checking
//! split and encoded chunks, the audio intermediate, the final output's packet count): one
//! builder, so that every run puts its options in the same order.

/// What an ffprobe run shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show<'a> {
    /// `-show_entries`: these sections and fields.
    Entries(&'a str),
    /// `-show_format -show_streams -show_chapters`.
    FormatStreamsChapters,
}

/// The argv of an ffprobe run: every ffprobe distrffmpeg starts is built here, with its options
/// in one order: `[-hide_banner] -v LEVEL [-select_streams S] [-read_intervals R]
/// [-count_packets] SHOW -of FORMAT`, then the input (`input`: demuxer options and `-i PATH`;
/// `file`: the path alone).
#[derive(Debug, Clone)]
pub struct FfprobeArgs<'a> {
    hide_banner: bool,
    level: &'a str,
    streams: Option<String>,
    intervals: Option<&'a str>,
    count_packets: bool,
    show: Show<'a>,
    format: &'a str,
    demux: &'a [String],
}

/// An ffprobe run at log level `level` showing `show` in output format `format` (`json`,
/// `csv=p=0`).
pub fn ffprobe_args<'a>(level: &'a str, show: Show<'a>, format: &'a str) -> FfprobeArgs<'a> {
    FfprobeArgs {
        hide_banner: false,
        level,
        streams: None,
        intervals: None,
        count_packets: false,
        show,
        format,
        demux: &[],
    }
}

impl<'a> FfprobeArgs<'a> {
    pub fn hide_banner(mut self) -> Self {
        self.hide_banner = true;
        self
    }

    /// `-select_streams`: an absolute index or a stream specifier (`v:0`).
    pub fn streams(mut self, spec: impl ToString) -> Self {
        self.streams = Some(spec.to_string());
        self
    }

    /// `-read_intervals` (`%+#1`: the first packet or frame).
    pub fn intervals(mut self, intervals: &'a str) -> Self {
        self.intervals = Some(intervals);
        self
    }

    /// `-count_packets`.
    pub fn count_packets(mut self) -> Self {
        self.count_packets = true;
        self
    }

    /// The user's demuxer options for the input (only with `input`).
    pub fn demux(mut self, opts: &'a [String]) -> Self {
        self.demux = opts;
        self
    }

    fn options(self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if self.hide_banner {
            v.push("-hide_banner".into());
        }
        v.extend(["-v".into(), self.level.into()]);
        if let Some(s) = self.streams {
            v.extend(["-select_streams".into(), s]);
        }
        if let Some(r) = self.intervals {
            v.extend(["-read_intervals".into(), r.into()]);
        }
        if self.count_packets {
            v.push("-count_packets".into());
        }
        match self.show {
            Show::Entries(e) => v.extend(["-show_entries".into(), e.into()]),
            Show::FormatStreamsChapters => {
                v.extend(["-show_format", "-show_streams", "-show_chapters"].map(String::from))
            }
        }
        v.extend(["-of".into(), self.format.into()]);
        v
    }

    /// The argv reading `path` through `-i`, after the demuxer options.
    pub fn input(self, path: &str) -> Vec<String> {
        let demux = self.demux;
        let mut v = self.options();
        v.extend(demux.iter().cloned());
        v.extend(["-i".into(), path.into()]);
        v
    }

    /// The argv reading a file of our own, `path` alone (no demuxer options).
    pub fn file(self, path: &str) -> Vec<String> {
        debug_assert!(self.demux.is_empty(), "demuxer options need -i");
        let mut v = self.options();
        v.push(path.into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ffprobe_argv_in_its_order() {
        let demux = ["-f".to_string(), "mov".to_string()];
        let show = |a: Vec<String>| a.join(" ");
        // probe_info
        assert_eq!(
            show(
                ffprobe_args("info", Show::FormatStreamsChapters, "json")
                    .hide_banner()
                    .demux(&demux)
                    .input("in.mp4")
            ),
            "-hide_banner -v info -show_format -show_streams -show_chapters -of json \
             -f mov -i in.mp4"
        );
        // first_frame_display_matrix
        assert_eq!(
            show(
                ffprobe_args(
                    "error",
                    Show::Entries("frame_side_data=side_data_type"),
                    "json"
                )
                .streams(3)
                .intervals("%+#1")
                .demux(&demux)
                .input("in.mp4")
            ),
            "-v error -select_streams 3 -read_intervals %+#1 \
             -show_entries frame_side_data=side_data_type -of json -f mov -i in.mp4"
        );
        // probe_packets, without demuxer options
        assert_eq!(
            show(
                ffprobe_args("error", Show::Entries("packet=pts"), "csv=p=0")
                    .streams(0)
                    .input("in.mp4")
            ),
            "-v error -select_streams 0 -show_entries packet=pts -of csv=p=0 -i in.mp4"
        );
        // assemble's packet count: -count_packets after the stream, before the entries
        assert_eq!(
            show(
                ffprobe_args("error", Show::Entries("stream=nb_read_packets"), "csv=p=0")
                    .count_packets()
                    .streams(1)
                    .file("out.mkv")
            ),
            "-v error -select_streams 1 -count_packets -show_entries stream=nb_read_packets \
             -of csv=p=0 out.mkv"
        );
        // a chunk's check (verify)
        assert_eq!(
            show(
                ffprobe_args("error", Show::Entries("packet=pts"), "json")
                    .streams("v:0")
                    .file("enc.mp4")
            ),
            "-v error -select_streams v:0 -show_entries packet=pts -of json enc.mp4"
        );
    }
}
