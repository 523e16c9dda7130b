//! Stream selection tests: default rules and -map forms.

use super::*;
use crate::testutil::{audio, info, stream as st, video};

fn sample() -> MediaInfo {
    let mut cover = video(5, 600, 600);
    cover.disposition.insert("attached_pic".into(), 1);
    info(vec![
        video(0, 1280, 720),
        audio(1, 2, "eng"),
        audio(2, 6, "fra"),
        st(3, MediaKind::Subtitle, "subrip"),
        st(4, MediaKind::Subtitle, "hdmv_pgs_subtitle"),
        cover,
    ])
}

fn pairs(argv: &[&str], infos: &[MediaInfo]) -> Result<Vec<(usize, usize)>, MapError> {
    let cmd = CmdLine::parse(argv).unwrap();
    let out = &cmd.outputs[0];
    let mux = formats::by_filename(&out.url).unwrap();
    resolve(&cmd, out, infos, mux).map(|v| v.iter().map(|o| (o.file, o.stream)).collect())
}

#[test]
fn default_picks_best_video_most_channels_and_a_text_subtitle() {
    let i = [sample()];
    assert_eq!(
        pairs(&["-i", "a", "o.mkv"], &i).unwrap(),
        [(0, 0), (0, 2), (0, 3)]
    );
    // mp4 has no default subtitle encoder in ffmpeg 5.1: no subtitle unless -c:s is given
    assert_eq!(pairs(&["-i", "a", "o.mp4"], &i).unwrap(), [(0, 0), (0, 2)]);
    assert_eq!(
        pairs(&["-i", "a", "-c:s", "mov_text", "o.mp4"], &i).unwrap(),
        [(0, 0), (0, 2), (0, 3)]
    );
    assert_eq!(
        pairs(&["-i", "a", "-an", "-sn", "o.mkv"], &i).unwrap(),
        [(0, 0)]
    );
}

#[test]
fn default_video_is_searched_across_inputs() {
    let small = info(vec![video(0, 320, 240)]);
    let big = info(vec![audio(0, 2, "eng"), video(1, 1920, 1080)]);
    let i = [small, big];
    assert_eq!(
        pairs(&["-i", "a", "-i", "b", "o.mkv"], &i).unwrap(),
        [(1, 1), (1, 0)]
    );
    // an input-side -vn removes a file's video from the selection
    assert_eq!(
        pairs(&["-i", "a", "-vn", "-i", "b", "o.mkv"], &i).unwrap(),
        [(0, 0), (1, 0)]
    );
}

#[test]
fn explicit_maps_negative_and_optional() {
    let i = [sample()];
    assert_eq!(
        pairs(&["-i", "a", "-map", "0", "o.mkv"], &i).unwrap(),
        [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", "0", "-map", "-0:s", "o.mkv"], &i).unwrap(),
        [(0, 0), (0, 1), (0, 2), (0, 5)]
    );
    // no file index is input 0, as ffmpeg's strtol reads it (Tdarr writes `-map -:d?`)
    assert_eq!(
        pairs(&["-i", "a", "-map", "0", "-map", "-:s?", "o.mkv"], &i).unwrap(),
        [(0, 0), (0, 1), (0, 2), (0, 5)]
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", ":v", "o.mkv"], &i).unwrap(),
        pairs(&["-i", "a", "-map", "0:v", "o.mkv"], &i).unwrap()
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", "0:v:0", "-map", "0:a:1", "o.mkv"], &i).unwrap(),
        [(0, 0), (0, 2)]
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", "0:m:language:eng", "o.mkv"], &i).unwrap(),
        [(0, 1)]
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", "0:d?", "o.mkv"], &i).unwrap(),
        []
    );
    assert_eq!(
        pairs(&["-i", "a", "-map", "0:d", "o.mkv"], &i),
        Err(MapError::NoMatch("0:d".into()))
    );
    assert!(matches!(
        pairs(&["-i", "a", "-map", "[out]", "o.mkv"], &i),
        Err(MapError::Label(_))
    ));
    assert_eq!(
        pairs(&["-i", "a", "-map", "0", "-vn", "o.mkv"], &i)
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn a_graph_output_stands_where_it_is_mapped() {
    let i = [sample()];
    let run = |argv: &[&str]| {
        let cmd = CmdLine::parse(argv).unwrap();
        let out = &cmd.outputs[0];
        let mux = formats::by_filename(&out.url).unwrap();
        resolve_with_graph(&cmd, out, &i, mux, &[(Some("s0"), 0, 0, MediaKind::Video)])
    };
    let outs = run(&["-i", "a", "-map", "0:a:1", "-map", "[s0]", "-vn", "o.mkv"]).unwrap();
    let got: Vec<_> = outs.iter().map(|o| (o.stream, o.from_graph)).collect();
    assert_eq!(got, [(2, false), (0, true)], "-vn does not remove it");
    assert!(outs[1].disposition.is_empty(), "no source disposition");
    let outs = run(&["-i", "a", "-map", "[s0]", "-map", "-0:v", "o.mkv"]).unwrap();
    assert_eq!(outs.len(), 1, "negative maps leave it");
    assert_eq!(
        run(&["-i", "a", "-map", "0:a", "o.mkv"]),
        Err(MapError::Unmapped("s0".into()))
    );
    assert_eq!(
        run(&["-i", "a", "o.mkv"]),
        Err(MapError::Unmapped("s0".into()))
    );
    assert_eq!(
        run(&["-i", "a", "-map", "[s0]", "-map", "[s0]", "o.mkv"]),
        Err(MapError::MappedTwice("s0".into()))
    );
    assert!(matches!(
        run(&["-i", "a", "-map", "[s1]", "o.mkv"]),
        Err(MapError::Label(_))
    ));
}

#[test]
fn an_unlabelled_graph_output_comes_first_and_replaces_the_video() {
    let i = [sample()];
    let run = |argv: &[&str]| {
        let cmd = CmdLine::parse(argv).unwrap();
        let out = &cmd.outputs[0];
        let mux = formats::by_filename(&out.url).unwrap();
        let outs =
            resolve_with_graph(&cmd, out, &i, mux, &[(None, 0, 0, MediaKind::Video)]).unwrap();
        outs.iter()
            .map(|o| (o.stream, o.from_graph))
            .collect::<Vec<_>>()
    };
    let default = run(&["-i", "a", "o.mkv"]);
    assert_eq!(default[0], (0, true));
    assert!(default[1..]
        .iter()
        .all(|&(s, g)| !g && i[0].streams[s].kind != MediaKind::Video));
    assert_eq!(run(&["-i", "a", "-an", "-sn", "o.mkv"]), [(0, true)]);
    assert_eq!(
        run(&["-i", "a", "-map", "0:a:1", "o.mkv"]),
        [(0, true), (2, false)]
    );
}

#[test]
fn last_matching_option_wins_per_output_stream() {
    let cmd = CmdLine::parse(&[
        "-i", "a", "-c", "copy", "-c:v", "libx264", "-vcodec", "libx265", "-c:a:1", "aac", "o.mkv",
    ])
    .unwrap();
    let outs = out_views(&[
        OutStream {
            file: 0,
            stream: 0,
            kind: MediaKind::Video,
            attached_pic: false,
            disposition: vec![],
            time_base: crate::rational::Rational::new(1, 1000),
            sample_rate: 0,
            from_graph: false,
            label: None,
        },
        OutStream {
            file: 0,
            stream: 1,
            kind: MediaKind::Audio,
            attached_pic: false,
            disposition: vec![],
            time_base: crate::rational::Rational::new(1, 1000),
            sample_rate: 0,
            from_graph: false,
            label: None,
        },
        OutStream {
            file: 0,
            stream: 2,
            kind: MediaKind::Audio,
            attached_pic: false,
            disposition: vec![],
            time_base: crate::rational::Rational::new(1, 1000),
            sample_rate: 0,
            from_graph: false,
            label: None,
        },
    ]);
    let opts = &cmd.outputs[0].opts;
    let codec = |i| {
        last_matching(opts, &["codec"], &outs, i)
            .unwrap()
            .and_then(|o| o.arg.clone())
    };
    assert_eq!(codec(0).as_deref(), Some("libx265"));
    assert_eq!(codec(1).as_deref(), Some("copy"));
    assert_eq!(codec(2).as_deref(), Some("aac"));
}
