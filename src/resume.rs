//! Resume: the work dir's `manifest.json` records every verified finished chunk, written
//! atomically after each one. A rerun of the same command (same argv, same input size and
//! mtime, hence the same work dir) with the same plan and the same input content (its packet
//! index, a sample of its bytes) reuses them; anything else starts fresh.

use crate::assemble::verify::{self, EncodedChunk};
use crate::hash::Fnv;
use crate::job::burnin::Carry;
use crate::job::JobSpec;
use crate::plan::Plan;
use crate::probe::Packet;
use crate::workdir::WorkDir;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const FILE: &str = "manifest.json";
const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// What the chunks were made for: the plan and the workers' encode options.
    pub fingerprint: String,
    pub chunks: Vec<Option<EncodedChunk>>,
}

/// How many pieces of the input `input_fingerprint` reads, and how long each is.
const SAMPLES: u64 = 16;
const SAMPLE_LEN: usize = 64 * 1024;

/// A cheap fingerprint of the input's content: the video packet index (read for the plan
/// anyway: every packet's pts, size and key flag), `SAMPLES` pieces of the file's bytes spread
/// over its length, its size, and this tool's version. Another file of the same size and
/// mtime (`cp -p`, `rsync -t`, `touch -r`) gets another fingerprint.
pub fn input_fingerprint(packets: &[Packet], input: &Path) -> String {
    let mut h = Fnv::default();
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    for p in packets {
        h.write(&p.pts.to_le_bytes());
        h.write(&p.size.to_le_bytes());
        h.write(&[u8::from(p.key)]);
    }
    if let Ok(mut f) = std::fs::File::open(input) {
        let len = f.metadata().map_or(0, |m| m.len());
        h.write(&len.to_le_bytes());
        let mut buf = vec![0u8; SAMPLE_LEN];
        for i in 0..SAMPLES {
            let at = len.saturating_sub(SAMPLE_LEN as u64) * i / (SAMPLES - 1);
            let n = f
                .seek(SeekFrom::Start(at))
                .and_then(|_| f.read(&mut buf))
                .unwrap_or(0);
            h.write(&buf[..n]);
        }
    }
    h.hex()
}

/// A fingerprint of everything that decides a chunk's content: the input's
/// (`input_fingerprint`), the plan and the workers' options.
pub fn fingerprint(plan: &Plan, job: &JobSpec, input: &str) -> String {
    let mut h = Fnv::default();
    h.write(input.as_bytes());
    for c in &plan.chunks {
        let first = c.out_pts.first().copied().unwrap_or(0);
        let last = c.out_pts.last().copied().unwrap_or(0);
        let line = format!(
            "{} {} {} {} {} {} {} {:?} {} {:?}",
            c.start,
            c.end,
            c.first_packet,
            c.last_packet,
            c.out_count(),
            first,
            last,
            c.worker_mode,
            c.preroll,
            c.context.input_end
        );
        h.write(line.as_bytes());
    }
    for o in job.encode_opts.iter().chain(&job.decode_opts) {
        h.write(o.tokens().join("\u{1}").as_bytes());
    }
    h.write(job.filter.as_deref().unwrap_or("").as_bytes());
    h.write(job.encoder.as_deref().unwrap_or("").as_bytes());
    if let Some(ov) = &job.overlay {
        // the graph around the still image, and the image itself
        for part in [&ov.pre, &ov.side, &ov.post] {
            h.write(part.join("\u{1}").as_bytes());
        }
        h.write(ov.filter.as_bytes());
        h.write(&std::fs::read(&ov.path).unwrap_or_default());
    }
    for b in &job.burn_in {
        // the subtitles burned in: a shipped file whole, a media file's sampled bytes
        let content = match b.carry {
            Carry::Ship => std::fs::read(&b.file).unwrap_or_default(),
            Carry::Extract => input_fingerprint(&[], Path::new(&b.file)).into_bytes(),
        };
        h.write(&content);
    }
    for (_, file, _) in job.drawtext.iter().flat_map(|d| &d.files) {
        // drawtext's font and text files
        h.write(&std::fs::read(file).unwrap_or_default());
    }
    h.write(job.chunk_format().0.as_bytes());
    h.hex()
}

impl Manifest {
    pub fn new(fingerprint: String, chunks: usize) -> Manifest {
        Manifest {
            version: VERSION,
            fingerprint,
            chunks: vec![None; chunks],
        }
    }

    /// Writes the manifest to a temporary file and renames it into place.
    pub fn save(&self, wd: &WorkDir) -> std::io::Result<()> {
        let tmp = wd.file(&format!("{FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, wd.file(FILE))
    }

    pub fn load(wd: &WorkDir) -> Option<Manifest> {
        let text = std::fs::read_to_string(wd.file(FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The finished chunks a rerun may reuse: the manifest must match the plan, and each chunk
/// file must still be there and pass the frame check again.
pub async fn reusable(
    wd: &WorkDir,
    (plan, others): (&Plan, &[std::sync::Arc<Plan>]),
    job: &JobSpec,
    ffprobe: &str,
    input: &str,
) -> Manifest {
    let mut fp = fingerprint(plan, job, input);
    for (other, plan) in job.others.iter().zip(others) {
        // the command's other outputs, encoded from the same chunks
        fp.push_str(&fingerprint(plan, other, input));
    }
    let mut fresh = Manifest::new(fp.clone(), plan.chunks.len());
    let Some(old) = Manifest::load(wd) else {
        return fresh;
    };
    if old.version != VERSION || old.fingerprint != fp || old.chunks.len() != plan.chunks.len() {
        tracing::info!("the previous run's chunks do not match this plan; starting fresh");
        return fresh;
    }
    let mut kept = 0;
    for (k, done) in old.chunks.into_iter().enumerate() {
        let Some(done) = done else { continue };
        let outputs =
            std::iter::once((job, plan)).chain(job.others.iter().zip(others.iter().map(|p| &**p)));
        let files = std::iter::once(&done).chain(&done.others);
        if done.others.len() != job.others.len() {
            continue;
        }
        let mut again = Vec::new();
        for ((job, plan), was) in outputs.zip(files) {
            let file = Path::new(&was.file);
            let checked = match file.exists() {
                true => verify::verify(ffprobe, file, &plan.chunks[k], job.sync.enc_tb).await,
                false => continue,
            };
            if let Ok(mut v) = checked {
                // what the worker's log said of its encoder
                v.color = was.color.clone();
                again.push(v);
            }
        }
        if again.len() == 1 + job.others.len() {
            let mut v = again.remove(0);
            v.others = again;
            fresh.chunks[k] = Some(v);
            kept += 1;
        }
    }
    if kept > 0 {
        tracing::info!(
            "resuming: {kept} of {} chunks are already encoded",
            plan.chunks.len()
        );
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let t = tempfile::tempdir().unwrap();
        let wd = WorkDir::open(t.path(), "00000000000000aa").unwrap();
        let mut m = Manifest::new("fp".into(), 2);
        m.chunks[1] = Some(EncodedChunk {
            index: 1,
            file: "x".into(),
            start_us: 5,
            frames: 3,
            size: 9,
            tb: crate::rational::Rational::new(1, 1000),
            tags: Default::default(),
            color: Vec::new(),
            others: Vec::new(),
        });
        m.save(&wd).unwrap();
        assert_eq!(Manifest::load(&wd), Some(m));
        assert!(!wd.file("manifest.json.tmp").exists());
    }

    #[test]
    fn another_file_of_the_same_size_has_another_fingerprint() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let mut bytes = vec![7u8; 3 << 20];
        std::fs::write(&a, &bytes).unwrap();
        bytes[2 << 20] = 8;
        std::fs::write(&b, &bytes).unwrap();
        let packets = vec![Packet {
            pts: 0,
            dts: Some(0),
            duration: 1,
            key: true,
            discard: false,
            size: 10,
        }];
        let fa = input_fingerprint(&packets, &a);
        assert_eq!(fa, input_fingerprint(&packets, &a));
        assert_ne!(
            fa,
            input_fingerprint(&packets, &b),
            "a sampled byte differs"
        );
        let mut other = packets.clone();
        other[0].size = 11;
        assert_ne!(fa, input_fingerprint(&other, &a), "a packet differs");
    }
}
