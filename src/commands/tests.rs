//! Snapshots of the generated command lines.

use super::*;
use crate::cli::argv::CmdLine;
use crate::job::{analyze, precheck};
use crate::plan::{plan, PlanInput, Sizing};
use crate::probe::MediaInfo;
use crate::testutil::{audio, info, video};

fn job(argv: &[&str], infos: &[MediaInfo]) -> JobSpec {
    let cmd = CmdLine::parse(argv).unwrap();
    let pre = precheck(&cmd).unwrap();
    analyze(&cmd, &pre, infos).unwrap()
}

fn packets(n: i64) -> Vec<Packet> {
    (0..n)
        .map(|i| Packet {
            pts: i * 512,
            dts: Some(i * 512),
            duration: 512,
            key: i % 30 == 0,
            discard: false,
            size: 0,
        })
        .collect()
}

#[test]
fn split_encode_and_final_commands() {
    let infos = vec![info(vec![video(0, 1280, 720), audio(1, 2, "eng")])];
    let j = job(
        &[
            "-y",
            "-ss",
            "0.5",
            "-i",
            "in put.mp4",
            "-map",
            "0",
            "-c:v",
            "libx264",
            "-crf",
            "20",
            "-vf",
            "scale=640:-2",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "out.mp4",
        ],
        &infos,
    );
    let pk = packets(120);
    let tb = Rational::new(1, 15360);
    let p = plan(&PlanInput {
        packets: &pk,
        stream_tb: tb,
        trims: j.trims,
        sync: j.sync,
        sizing: Sizing {
            target: 30,
            min: 30,
            max: 60,
            slots: 0,
        },
        base_cost: 0,
        cuts: None,
        window: j.window,
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    })
    .unwrap();
    let shift = Shift::new(tb, j.trims.ts_offset_us);
    assert_eq!(
        rescale_q(shift.split_us, MICROS, tb),
        shift.offset_ticks + shift.bias_ticks
    );
    let c0 = &p.chunks[0];
    let split0 = split(&j, "in put.mp4", (c0, &pk), &shift, tb, "c0.nut", true);
    let first_src = c0.first_pts - shift.offset_ticks;
    let pre = pre_roll(c0, &pk, first_src).expect("chunk 0 starts after -ss, mid-GOP");
    let x = start_trim_us(pre, first_src, shift.offset_ticks, tb, 0);
    let files = |input, output| EncodeFiles {
        input,
        output,
        passlog: None,
        image: None,
        aux: &[],
    };
    let enc0 = encode(&j, c0, &shift, Some(x), files("c0.nut", "e0.mp4"));
    let enc1 = encode(&j, &p.chunks[1], &shift, None, files("c1.nut", "e1.mp4"));
    let fin = final_mux(
        &j,
        &FinalParts {
            list: "list.ffconcat",
            itsoffset_us: 0,
            chunk_tags: &Default::default(),
            color: &[("color_range".into(), "tv".into())],
            audio: None,
        },
        ".out.tmp",
    );
    let show = |v: &[String]| crate::process::display_cmd("ffmpeg", v);
    insta::assert_snapshot!(format!(
        "SPLIT {}\nENCODE0 {}\nENCODE1 {}\nFINAL {}",
        show(&split0),
        show(&enc0),
        show(&enc1),
        show(&fin)
    ));
}

#[test]
fn trim_point_lies_between_the_frames() {
    let tb = Rational::new(1, 30);
    // prev frame 0, first frame 1 (1/30 s): threshold just after 1/60 s
    assert_eq!(start_trim_us(0, 1, 0, tb, 0), 16_667 + 1 - 1);
    assert_eq!(start_trim_us(-1, 0, 0, tb, 0), -16_667 + 1);
    assert!(rescale_q(start_trim_us(-1, 0, 0, tb, 0), MICROS, tb) == 0);
}

#[test]
fn us_for_ticks_round_trips() {
    for den in [1000, 15360, 90000, 30, 24000] {
        let tb = Rational::new(1, den);
        for t in [-7, 0, 1, 12345, 987_654_321] {
            assert_eq!(rescale_q(us_for_ticks(t, tb), MICROS, tb), t, "{den} {t}");
        }
    }
}

#[test]
fn concat_list_has_exact_durations() {
    let l = concat_list(
        None,
        &[
            ("a.mkv".into(), 0, false),
            ("b'c.mkv".into(), 2_000_000, false),
            ("d.mkv".into(), 4_033_367, true),
        ],
    );
    assert_eq!(
        l,
        "ffconcat version 1.0\nfile 'a.mkv'\nduration 2.000000\nfile 'b'\\''c.mkv'\nduration 2.033367\nfile 'd.mkv'\ninpoint 4.033367\n"
    );
}

#[test]
fn only_append_only_chunk_outputs_are_copied_while_written() {
    let plain: Vec<String> = ["-c:v", "libx264", "-f", "mp4", "out.mp4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(followable("mp4", &plain));
    assert!(followable("mov", &plain));
    assert!(followable("mpegts", &plain));
    // matroska rewrites cluster sizes as it goes; null writes nothing
    assert!(!followable("matroska", &plain));
    assert!(!followable("null", &plain));
    // faststart and fragments rewrite or move what was written
    for extra in [["-movflags", "+faststart"], ["-moov_size", "4096"]] {
        let mut args = plain.clone();
        args.splice(0..0, extra.iter().map(|s| s.to_string()));
        assert!(!followable("mp4", &args), "{args:?}");
    }
}
