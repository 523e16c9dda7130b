//! Which `-vf` chains can run on chunks: a simple chain of filters that map each frame to one
//! frame at the same timestamp (scale, crop, pad, format, denoisers, …). Filters that change
//! frame count or timing, read extra files, or number frames make the job pass through.

/// Filters that keep every frame and its timestamp and need no local files.
pub const FRAME_LOCAL: &[&str] = &[
    "null",
    "scale",
    "crop",
    "pad",
    "format",
    "setsar",
    "setdar",
    "hqdn3d",
    "unsharp",
    "transpose",
    "hflip",
    "vflip",
    "eq",
    "colorspace",
    "zscale",
    "lut",
    "lutrgb",
    "lutyuv",
    "curves",
    "gblur",
    "boxblur",
    "deband",
    "colorchannelmixer",
    "hue",
    "colorbalance",
    "colorlevels",
    "colormatrix",
    "drawbox",
    "drawgrid",
    "nlmeans",
    "removegrain",
    "smartblur",
    "convolution",
    "edgedetect",
    "negate",
    "deblock",
    "cropdetect",
    "tonemap",
    "chromashift",
    "vibrance",
    "exposure",
    "monochrome",
    "noformat",
    "yadif",
    "setparams",
    "setfield",
    "fillborders",
    "histeq",
    "cas",
    "bilateral",
    "median",
    "dctdnoiz",
    "owdenoise",
    "pp7",
    "spp",
    "uspp",
    "fspp",
    "pp",
    "gradfun",
    "kerndeint",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("-vf uses '{0}', which changes timing or frame count or reads local files")]
    NotFrameLocal(String),
    #[error("-vf is not a simple filter chain")]
    NotAChain,
}

/// Splits a filter chain at top-level commas, honouring quotes and backslash escapes, and
/// returns each filter's name. Labels and `;` (several chains) are not simple chains.
pub fn filter_names(chain: &str) -> Result<Vec<String>, FilterError> {
    let mut names = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in chain.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                cur.push(c);
            }
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => names.push(std::mem::take(&mut cur)),
            ';' | '[' if !quoted => return Err(FilterError::NotAChain),
            _ => cur.push(c),
        }
    }
    names.push(cur);
    Ok(names
        .into_iter()
        .map(|f| {
            let f = f.trim();
            let end = f.find(['=', '@']).unwrap_or(f.len());
            f[..end].trim().to_string()
        })
        .collect())
}

/// Checks that every filter of the chain is frame-local.
pub fn check_chain(chain: &str) -> Result<(), FilterError> {
    for full in chain_filters(chain)? {
        let name = full.0;
        if !FRAME_LOCAL.contains(&name.as_str()) {
            return Err(FilterError::NotFrameLocal(name));
        }
        if name == "yadif" && !yadif_keeps_frames(&full.1) {
            return Err(FilterError::NotFrameLocal("yadif (field rate)".into()));
        }
    }
    Ok(())
}

fn chain_filters(chain: &str) -> Result<Vec<(String, String)>, FilterError> {
    let names = filter_names(chain)?;
    // Re-split to keep the arguments next to each name (same splitting rules).
    let mut args = Vec::new();
    let mut rest = chain;
    for n in &names {
        let start = rest.find(n.as_str()).unwrap_or(0);
        let after = &rest[start + n.len()..];
        let end = top_level_comma(after).unwrap_or(after.len());
        args.push(after[..end].trim_start_matches(['=', '@']).to_string());
        rest = &after[end.min(after.len())..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(names.into_iter().zip(args).collect())
}

fn top_level_comma(s: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '\'' => quoted = !quoted,
            ',' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// yadif keeps the frame rate in its default mode 0 (send_frame) and mode 2.
fn yadif_keeps_frames(args: &str) -> bool {
    let mode = args
        .split(':')
        .next()
        .map(|m| m.trim_start_matches("mode=").trim())
        .unwrap_or("");
    matches!(mode, "" | "0" | "2" | "send_frame" | "send_frame_nospatial")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(check_chain("scale=640:-2,crop=600:300,pad=640:320,hqdn3d,unsharp").is_ok());
        for bad in [
            "fps=24",
            "select='eq(n,1)'",
            "setpts=2*PTS",
            "minterpolate",
            "trim=0:1",
            "subtitles=a.srt",
            "drawtext=text=x",
        ] {
            assert!(check_chain(bad).is_err(), "{bad}");
        }
        assert!(check_chain("yadif").is_ok());
        assert!(check_chain("yadif=1").is_err());
        assert!(check_chain("yadif=mode=send_field").is_err());
    }
}
