//! Unit tests of `job::graph`.
use super::*;

fn lin(g: &str) -> Result<(Option<String>, String, String), NotOneChain> {
    linear(g).map(|l| (l.input, l.chain, l.output.unwrap_or_default()))
}

#[test]
fn ffmpeg_python_chains_are_linear() {
    assert_eq!(
        lin("[0]scale=320:-2[s0]").unwrap(),
        (Some("0".into()), "scale=320:-2".into(), "s0".into())
    );
    assert_eq!(
        lin("[0:v]crop=100:80:10:10[s0];[s0]hflip[s1]").unwrap(),
        (
            Some("0:v".into()),
            "crop=100:80:10:10,hflip".into(),
            "s1".into()
        )
    );
    assert_eq!(
        lin(" [0:v:0] scale=w='min(320\\,iw)':h=-2 , hflip [out] ").unwrap(),
        (
            Some("0:v:0".into()),
            "scale=w='min(320\\,iw)':h=-2 ,hflip ".into(),
            "out".into()
        )
    );
    assert_eq!(
        lin("scale=160:120[o]").unwrap(),
        (None, "scale=160:120".into(), "o".into())
    );
    // quotes and escapes hide , ; [ from the graph parser
    assert_eq!(
        lin("[0]drawbox=c='red;[x]',crop=1:1\\;[o]").unwrap().1,
        "drawbox=c='red;[x]',crop=1:1\\;"
    );
}

#[test]
fn each_filter_is_checked_as_libavfilter_splits_them() {
    // inside quotes a backslash is literal: `'a\'` closes, hqdn3d is a second filter
    let l = linear("[0]null@'a\\',hqdn3d[o]").unwrap();
    assert_eq!(l.filters, ["null@'a\\'", "hqdn3d"]);
    // and so does the -vf check
    assert!(super::super::filters::check_chain("null@'a\\',hqdn3d").is_err());
}

#[test]
fn a_still_image_laid_over_the_chain() {
    let sh = shape(
        "[1]format=bgra,colorchannelmixer=aa=0.5[i];[0]scale=240:-2[m];[m][i]overlay=5:5,hflip[o]",
    )
    .unwrap();
    assert_eq!(sh.input.as_deref(), Some("0"));
    assert_eq!(sh.pre, ["scale=240:-2"]);
    assert_eq!(sh.post, ["hflip"]);
    assert_eq!(sh.output.as_deref(), Some("o"));
    let side = sh.side.unwrap();
    assert_eq!(side.overlay, "overlay=5:5");
    assert_eq!(side.input.as_deref(), Some("1"));
    assert_eq!(side.filters, ["format=bgra", "colorchannelmixer=aa=0.5"]);
    // the side's source is bound first: it comes first in the graph
    assert_eq!(
        sh.open,
        [(true, Some("1".into())), (false, Some("0".into()))]
    );
    // no labels at all: both pads open, the main first; the output unlabelled
    let sh = shape("overlay=10:main_h-overlay_h-10").unwrap();
    assert_eq!(sh.open, [(false, None), (true, None)]);
    assert_eq!((sh.output, sh.pre.len(), sh.post.len()), (None, 0, 0));
    // a named instance is still the overlay
    assert!(shape("[0][1]overlay@wm=5:5[o]").unwrap().side.is_some());
    // an overlay inside a chain: its second pad is open
    let sh = shape("[0:v]scale=160:-2,overlay[o]").unwrap();
    assert_eq!(sh.open, [(false, Some("0:v".into())), (true, None)]);
    for g in [
        "[0][1]overlay[a];[a][2]overlay[o]",
        "[0]split[a][b];[a][b]overlay[o]",
        "[1]hflip[i];[0][i]overlay[o];[1]vflip[x]",
        "[0][1][2]overlay[o]",
        "[0][1]overlay[o][p]",
    ] {
        assert!(shape(g).is_err(), "{g}");
    }
}

#[test]
fn everything_else_is_not() {
    for g in [
        "[0]split[a][b];[a]hflip[c];[b][c]hstack[o]",
        "[0][1]overlay[o]",
        "[0:v]scale=320:-2[v];[0:a]volume=2[a]",
        "[0]scale=320:-2[a];hflip[o]",
        "[0]scale=320:-2[a];[b]hflip[o]",
        "[0]scale[a],hflip[o]",
        "[0]scale,[x]hflip[o]",
        "sws_flags=bicubic;[0]scale=320:-2[o]",
        "[0]scale=320:-2[o];",
        "[0]scale=320:-2[a];[a]hflip[a]",
        "[0]scale=320:-2[0]",
        "[in put]scale[o]",
    ] {
        assert!(linear(g).is_err(), "{g}");
    }
}
