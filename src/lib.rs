//! distrffmpeg: a drop-in `ffmpeg` that encodes the video in chunks on many machines.
//! See ARCHITECTURE.md for the map of modules and the data flow.

pub mod app;
pub mod assemble;
pub mod banner;
pub mod batch;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dryrun;
pub mod ffbin;
pub mod formats;
pub mod hash;
pub mod inventory;
pub mod job;
pub mod local_checks;
pub mod logging;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod process;
pub mod progress;
pub mod rational;
pub mod resume;
pub mod schedule;
pub mod signals;
pub mod speeds;
pub mod split;
pub mod talk;
#[cfg(test)]
mod testutil;
pub mod twopass;
pub mod workdir;
pub mod worker;
