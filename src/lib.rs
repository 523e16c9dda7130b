//! distrffmpeg: a drop-in `ffmpeg` that encodes the video in chunks on many machines.
//! See ARCHITECTURE.md for the map of modules and the data flow.

pub mod cli;
pub mod commands;
pub mod config;
pub mod formats;
pub mod job;
pub mod plan;
pub mod probe;
pub mod process;
pub mod rational;
#[cfg(test)]
mod testutil;
