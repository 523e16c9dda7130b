//! The two-pass encode a job names (`-pass 1|2`, or libx265's own `pass=`): which pass and
//! where its per-chunk statistics are kept (the store's effects are `twopass`'s).

/// Which pass of a `-pass 1|2` encode and where its statistics live (the store's effects are
/// `twopass`'s: the job only names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoPass {
    pub pass: u8,
    pub store: std::path::PathBuf,
    /// Through libx265's own `pass=`/`stats=` (`-x265-params`) rather than `-pass`.
    pub x265: bool,
}

impl TwoPass {
    /// The store for `-passlogfile PREFIX` (default `ffmpeg2pass`), or for x265's `stats`
    /// file, relative to the cwd.
    pub fn new(pass: u8, passlogfile: Option<&str>) -> TwoPass {
        let prefix = passlogfile.unwrap_or("ffmpeg2pass");
        TwoPass {
            pass,
            store: std::path::PathBuf::from(format!("{prefix}-distrffmpeg")),
            x265: false,
        }
    }
}
