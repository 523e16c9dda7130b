//! A worker's own I/O trouble (a disk that fills while ffmpeg writes the chunk's header) is
//! retried elsewhere; only errors of the user's options stop the job. Real sshd workers, a
//! real full tmpfs, plain ffmpeg as the oracle.

mod common;
use common::sshd::{ffmpeg_bin, wrapper, Cluster};
use common::*;

#[test]
fn a_disk_that_fills_while_the_header_is_written_is_retried_elsewhere() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // Worker 0's work path is an 8 MiB disk: the chunk uploads fit, and then, just before its
    // encode, the rest of the disk is taken, so the real ffmpeg fails with "Could not write
    // header … No space left on device".
    let disk = Tmpfs::mount(c.servers[0].work.clone(), "8m");
    let fill = format!("cat /dev/zero > '{}/filler' 2>/dev/null", disk.0.display());
    let full = wrapper(&e, "fills.sh", &fill);
    c.write_config(&e, "", &[&ffmpeg_bin(&full)]);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    let (p, o, log) = e.both_log(&x264(&src, &["-an"]), "mkv");
    assert_same(&p, &o);
    let port = format!(":{}", c.servers[0].port);
    assert!(
        log.lines()
            .any(|l| l.contains("failed on") && l.contains(&port) && l.contains("retrying")),
        "nothing was retried after worker 0 failed:\n{log}"
    );
    assert!(
        log.contains("Could not write header") && log.contains("No space left on device"),
        "the full disk at the header was not what failed:\n{log}"
    );
    assert!(
        disk.0.join("filler").exists(),
        "the disk was filled during the run"
    );
}
