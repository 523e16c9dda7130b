//! Unit tests of `job::filters`.
use super::*;

#[test]
fn a_still_overlay_keeps_the_image_and_no_state() {
    assert!(check_still_overlay("overlay=10:main_h-overlay_h-10").is_ok());
    assert!(check_still_overlay("overlay=x=20*t:y=5:eof_action=repeat").is_ok());
    for bad in [
        "overlay=x='if(gt(t,1),x+1,0)'",
        "overlay=x='st(0,ld(0)+1)'",
        "overlay=eof_action=repeat:eof_action=pass",
        "overlay=0:0:endall",
        "overlay=shortest=1",
        "overlay=repeatlast=0",
    ] {
        assert!(check_still_overlay(bad).is_err(), "{bad}");
    }
    // the last value of an option counts, as libavfilter sets them in order
    assert_eq!(check_chain("deflicker=size=3:size=7").unwrap().after, 6);
}

#[test]
fn chains_split_like_libavfilter() {
    assert_eq!(
        filter_names("scale=w=1280:h=-2,format=yuv420p").unwrap(),
        ["scale", "format"]
    );
    assert_eq!(
        filter_names("eq=contrast=1.1, drawbox=t='a,b'").unwrap(),
        ["eq", "drawbox"]
    );
    assert_eq!(
        filter_names(r"scale=1280\,720,hqdn3d").unwrap(),
        ["scale", "hqdn3d"]
    );
    assert_eq!(filter_names("scale@s1=640:360").unwrap(), ["scale"]);
    assert!(filter_names("split[a][b];[a]null[c]").is_err());
}

#[test]
fn timing_filters_are_refused() {
    assert!(check_chain("scale=640:-2,crop=600:300,pad=640:320,nlmeans,unsharp").is_ok());
    for bad in [
        "fps=source_fps/2",
        "fps=24:start_time=1",
        "fps=30,yadif",
        "yadif,fps=30",
        "select='eq(n,1)'",
        "setpts=PTS-STARTPTS",
        "setpts=N/FRAME_RATE/TB",
        "setpts=2*PTS,yadif",
        "minterpolate",
        "trim=0:1",
        "uspp",
    ] {
        assert!(check_chain(bad).is_err(), "{bad}");
    }
    // subtitles drawn by time from a file workers get (`job::burnin` checks their options)
    assert!(check_chain("scale=640:-2,subtitles=a.srt,ass=b.ass").is_ok());
    // and text drawn by time and frame number (`job::drawtext` checks its options)
    assert!(check_chain("drawtext=text='%{n}':x=n").is_ok());
}

#[test]
fn temporal_filters_declare_their_window() {
    let w = |before, after| Window {
        before,
        after,
        fields: false,
        fps: None,
        setpts: None,
    };
    for (chain, want) in [
        ("scale=640:-2,unsharp", w(0, 0)),
        ("yadif", w(1, 1)),
        ("yadif=0", w(1, 1)),
        ("yadif=mode=send_frame_nospatial", w(1, 1)),
        ("yadif=2:1:1", w(1, 1)),
        ("yadif=parity=tff:mode=0", w(1, 1)),
        ("bwdif=mode=send_frame", w(1, 1)),
        ("bwdif=0", w(1, 1)),
        ("w3fdif=complex:frame", w(1, 1)),
        ("w3fdif=mode=0", w(1, 1)),
        ("kerndeint", w(1, 0)),
        ("tmix", w(2, 0)),
        ("tmix=frames=5", w(4, 0)),
        ("tmix=4:'1 2 3 4'", w(3, 0)),
        ("atadenoise", w(4, 4)),
        ("atadenoise=s=5", w(2, 2)),
        ("atadenoise=s=6", w(3, 3)),
        ("yadif,tmix,scale=320:-2", w(3, 1)),
    ] {
        assert_eq!(check_chain(chain), Ok(want), "{chain}");
    }
}

#[test]
fn recursive_per_field_and_logging_filters_are_refused() {
    for bad in [
        "yadif=1:-1:1",
        "yadif=mode=send_field:deint=interlaced",
        "bwdif=deint=1",
        "w3fdif=complex:field:-1:1",
        "yadif=1,bwdif",
        "yadif=4",
        "hqdn3d",
        "hqdn3d=4:3:6:4.5",
        "scale=640:-2,hqdn3d,unsharp",
        "cropdetect",
        "colormatrix=bt601:bt709",
        "tmix=frames=x",
        "atadenoise=s=500",
    ] {
        let e = check_chain(bad).unwrap_err();
        assert!(
            matches!(e, FilterError::Stateful(..) | FilterError::NotFrameLocal(_)),
            "{bad}: {e}"
        );
    }
    let e = check_chain("scale=640:-2,yadif=1:-1:1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("'yadif'") && e.contains("interlaced"), "{e}");
    assert!(check_chain("hqdn3d")
        .unwrap_err()
        .to_string()
        .contains("frame to frame"));
    // one frame per field
    for chain in ["yadif=1", "yadif=3:0", "bwdif", "bwdif=1:-1:0", "w3fdif"] {
        let w = check_chain(chain).unwrap();
        assert!(w.fields && w.before == 1 && w.after == 1, "{chain}: {w:?}");
    }
}

#[test]
fn frame_numbers_positions_and_random_state_are_refused() {
    for bad in [
        "crop=100:80:x='mod(n*2\\,60)'",
        "eq=brightness='0.01*n':eval=frame",
        "hue=h=n*5",
        "unsharp=enable='lt(n\\,30)'",
        "scale=w='iw+mod(n,2)*2':eval=frame",
        "crop=100:80:x='20*random(0)'",
        "crop=100:80:x=pos/1000",
        "crop=100:80:n",
        "hue=n*5",
        "eq=brightness=n/100:eval=frame",
        "fade=in:0:30",
        "fade=t=in:s=10:n=20",
        "fade=t=out:st=2",
        "fade=t=in:st=1:nb_frames=5:d=1",
        "fade=in:st=0:d=0",
    ] {
        let e = check_chain(bad).unwrap_err().to_string();
        assert!(e.contains("restarts in each chunk"), "{bad}: {e}");
    }
    for good in [
        "crop=100:80:x='30+20*sin(t)':y=10",
        "unsharp=enable='lt(t\\,1.3)'",
        "eq=brightness='0.1*sin(t)':eval=frame",
        "pad=iw+20:ih:10:0:color=green,format=nv12",
        "dctdnoiz=sigma=4.5:n=3:overlap=3",
        "dctdnoiz=n=3",
        "scale=1280:-2:flags=neighbor",
        "fade=t=in:st=0:d=1.5",
        "fade=out:st=4:d=1:color=white",
        "fade=type=out:start_time=2:duration=0.5",
    ] {
        assert!(check_chain(good).is_ok(), "{good}");
    }
}

#[test]
fn pp_distributes_only_with_spatial_subfilters() {
    for good in [
        "pp=hb|a/vb|a",
        "pp=h1/v1",
        "pp=subfilters='h1/v1'",
        "pp=ha/va",
    ] {
        assert!(check_chain(good).is_ok(), "{good}");
    }
    for bad in [
        "pp",
        "pp=de",
        "pp=fa",
        "pp=ac",
        "pp=hb|a/vb|a/dr|a",
        "pp=de/tn",
        "pp=tn|1|2|3",
        "pp=hb/vb/dr/al",
        "pp=de/-al",
        "pp=lb",
        "pp=tmpnoise",
    ] {
        let e = check_chain(bad).unwrap_err().to_string();
        assert!(e.contains("subfilter"), "{bad}: {e}");
    }
}

#[test]
fn fps_is_read_as_libavfilter_reads_it() {
    let fps = |chain: &str| check_chain(chain).unwrap().fps.unwrap();
    let f = fps("scale=320:-2,fps=30000/1001:round=up,hflip");
    assert_eq!(
        (f.rate, f.round, f.eof_up),
        (Rational::new(30000, 1001), Round::Up, false)
    );
    assert_eq!(fps("fps=ntsc_film").rate, Rational::new(24000, 1001));
    assert_eq!(fps("fps=29.97").rate, Rational::new(2997, 100));
    assert_eq!(
        fps("fps=fps=12.5:eof_action=pass").rate,
        Rational::new(25, 2)
    );
    assert!(fps("fps=12.5:eof_action=pass").eof_up);
    assert_eq!(fps("fps").rate, Rational::new(25, 1));
    assert_eq!(fps("fps=fps=24:round=down").round, Round::Down);
    let w = check_chain("fps=30").unwrap();
    assert_eq!((w.before, w.after, w.fields), (0, 1, false));
    assert!(check_chain("fps=30:round=odd").is_err());
}

#[test]
fn setpts_scaling_is_read_bit_exact() {
    let sp = |chain: &str| check_chain(chain).unwrap().setpts.unwrap();
    let half = sp("setpts=0.5*PTS");
    assert_eq!(
        (half.divide, f64::from_bits(half.factor_bits)),
        (false, 0.5)
    );
    assert_eq!(half.apply(41), 20);
    let quarter = sp("scale=2:2,setpts='PTS / 4',hflip");
    assert_eq!((quarter.divide, quarter.apply(83)), (true, 20));
    assert_eq!(sp("setpts=expr=PTS*2").apply(41), 82);
    assert!(check_chain("setpts=1e2*PTS").is_err());
    assert!(check_chain("setpts=-1*PTS").is_err());
    assert!(check_chain("setpts=0.5*PTS,fps=30").is_err());
}
