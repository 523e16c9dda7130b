//! The command line: ffmpeg's argv modelled losslessly, and distrffmpeg's own `-df_` options.

pub mod argv;
pub mod mapping;
pub mod options;
pub mod spec;
