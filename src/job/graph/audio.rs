//! A `-filter_complex`'s audio chains that no video chain feeds or reads (ffmpeg-python's
//! `[0:a]aecho=…[s0];[0:v]hflip[s1]`, `[0:v]setpts=0.5*PTS[v];[0:a]atempo=2.0[a]`): split
//! off from the video part, they run in the final mux as the user wrote them, over the whole
//! audio of the same inputs, as plain ffmpeg runs them. A chain counts as audio only when
//! every filter in it is a known audio-to-audio filter and every stream it reads is an audio
//! stream; anything else stays with the video part (and passes through unless it is one chain).

use super::{chains, Chain, NotOneChain};
use crate::cli::mapping;
use crate::cli::spec::Spec;
use crate::probe::{MediaInfo, MediaKind};

/// The graph's audio chains: their text as one graph, and each output label with the input
/// stream behind it (the first one its chains read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioChains {
    pub text: String,
    pub outputs: Vec<Output>,
}

/// An output label of the audio chains, with the (input, stream) its chains read first.
pub type Output = (String, usize, usize);

/// Filters that take audio and give audio (one or more pads), common in real command lines.
const AUDIO_FILTERS: &[&str] = &[
    "acompressor",
    "acopy",
    "acrossfade",
    "adeclick",
    "adeclip",
    "adelay",
    "aecho",
    "aemphasis",
    "aeval",
    "afade",
    "afftdn",
    "afir",
    "aformat",
    "agate",
    "aiir",
    "alimiter",
    "allpass",
    "aloop",
    "amerge",
    "amix",
    "anequalizer",
    "anlmdn",
    "anull",
    "apad",
    "aphaser",
    "apulsator",
    "aresample",
    "areverse",
    "arnndn",
    "asetnsamples",
    "asetpts",
    "asetrate",
    "asettb",
    "asplit",
    "astats",
    "atempo",
    "atrim",
    "bandpass",
    "bandreject",
    "bass",
    "biquad",
    "channelmap",
    "channelsplit",
    "chorus",
    "compand",
    "crystalizer",
    "dcshift",
    "deesser",
    "dynaudnorm",
    "earwax",
    "equalizer",
    "extrastereo",
    "firequalizer",
    "flanger",
    "haas",
    "highpass",
    "highshelf",
    "join",
    "loudnorm",
    "lowpass",
    "lowshelf",
    "pan",
    "rubberband",
    "silenceremove",
    "sofalizer",
    "speechnorm",
    "stereotools",
    "stereowiden",
    "superequalizer",
    "surround",
    "treble",
    "tremolo",
    "vibrato",
    "volume",
];

/// The graph text split into the video part (None when every chain is audio) and the audio
/// chains (None when there are none).
pub fn split(
    g: &str,
    infos: &[MediaInfo],
) -> Result<(Option<String>, Option<AudioChains>), NotOneChain> {
    let all = chains(g)?;
    // chains linked by a label are one part of the graph
    let mut part: Vec<usize> = (0..all.len()).collect();
    fn root(part: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while part[r] != r {
            r = part[r];
        }
        part[i] = r;
        r
    }
    for (j, c) in all.iter().enumerate() {
        for (i, p) in all.iter().enumerate() {
            if i != j && c.inputs.iter().any(|l| p.outputs.contains(l)) {
                let (a, b) = (root(&mut part, i), root(&mut part, j));
                part[a] = b;
            }
        }
    }
    let produced = |l: &String| all.iter().any(|c| c.outputs.contains(l));
    let roots: Vec<usize> = (0..all.len()).map(|i| root(&mut part, i)).collect();
    let mut video: Vec<&Chain> = Vec::new();
    let (mut audio, mut outputs): (Vec<&Chain>, Vec<Output>) = (vec![], vec![]);
    let mut parts: Vec<usize> = roots.clone();
    parts.sort_unstable();
    parts.dedup();
    for r in parts {
        let members: Vec<&Chain> = (0..all.len())
            .filter(|&i| roots[i] == r)
            .map(|i| &all[i])
            .collect();
        match audio_part(&members, &produced, infos)? {
            Some(outs) => {
                audio.extend(&members);
                outputs.extend(outs);
            }
            None => video.extend(&members),
        }
    }
    let text = |cs: &[&Chain]| {
        cs.iter()
            .map(|c| chain_text(c))
            .collect::<Vec<_>>()
            .join(";")
    };
    let video = (!video.is_empty()).then(|| text(&video));
    let audio = (!audio.is_empty()).then(|| AudioChains {
        text: text(&audio),
        outputs,
    });
    Ok((video, audio))
}

/// A part's outputs (label, the stream it reads) when it is audio: known audio filters only,
/// every chain reading labels (no unlabelled pad, which fftools would bind by its own rules),
/// the streams it reads audio streams, its outputs labelled.
fn audio_part(
    members: &[&Chain],
    produced: &dyn Fn(&String) -> bool,
    infos: &[MediaInfo],
) -> Result<Option<Vec<Output>>, NotOneChain> {
    let names: Vec<String> = (members.iter())
        .flat_map(|c| &c.filters)
        .map(|f| super::super::filters::filter_names(f).map_err(|e| NotOneChain(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    if !names.iter().all(|n| AUDIO_FILTERS.contains(&n.as_str())) {
        return Ok(None);
    }
    if members.iter().any(|c| c.inputs.is_empty()) {
        return Err("an audio chain with an unlabelled input".into());
    }
    let mut first = None;
    for l in members
        .iter()
        .flat_map(|c| &c.inputs)
        .filter(|l| !produced(l))
    {
        let at = audio_source(l, infos)?;
        first.get_or_insert(at);
    }
    let (file, stream) = first.ok_or("an audio chain that reads no stream")?;
    let consumed = |l: &String| members.iter().any(|c| c.inputs.contains(l));
    let mut outs = Vec::new();
    for c in members {
        if c.outputs.is_empty() {
            return Err("an audio chain with an unlabelled output".into());
        }
        for l in c.outputs.iter().filter(|l| !consumed(l)) {
            outs.push((l.clone(), file, stream));
        }
    }
    Ok(Some(outs))
}

/// The audio stream `[N:spec]` reads (fftools' `init_input_filter` for an audio pad: the first
/// audio stream of input N matching `spec`).
fn audio_source(label: &str, infos: &[MediaInfo]) -> Result<(usize, usize), NotOneChain> {
    let (file, spec) = label.split_once(':').unwrap_or((label, ""));
    let bad = || {
        NotOneChain(format!(
            "graph input [{label}] is not an audio stream of an input"
        ))
    };
    let file: usize = file.parse().map_err(|_| bad())?;
    let info = infos.get(file).ok_or_else(bad)?;
    let spec = Spec::parse(spec).map_err(|e| NotOneChain(e.to_string()))?;
    let views: Vec<_> = info.streams.iter().map(mapping::view).collect();
    (0..views.len())
        .find(|&i| info.streams[i].kind == MediaKind::Audio && spec.matches(&views, i))
        .map(|i| (file, i))
        .ok_or_else(bad)
}

/// A chain's text as the graph parser reads it: `[in]…f1,f2…[out]…`.
fn chain_text(c: &Chain) -> String {
    let labels = |ls: &[String]| ls.iter().map(|l| format!("[{l}]")).collect::<String>();
    format!(
        "{}{}{}",
        labels(&c.inputs),
        c.filters.join(","),
        labels(&c.outputs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{audio, info, video};

    fn media() -> Vec<MediaInfo> {
        vec![info(vec![video(0, 320, 240), audio(1, 2, "eng")])]
    }

    #[test]
    fn independent_audio_chains_are_split_off() {
        let (v, a) = split("[0:a]aecho=0.8:0.9:1000:0.3[s0];[0:v]hflip[s1]", &media()).unwrap();
        assert_eq!(v.as_deref(), Some("[0:v]hflip[s1]"));
        let a = a.unwrap();
        assert_eq!(a.text, "[0:a]aecho=0.8:0.9:1000:0.3[s0]");
        assert_eq!(a.outputs, [("s0".to_string(), 0, 1)]);
        let (v, a) = split("[0:v]setpts=0.5*PTS[v];[0:a]atempo=2.0[a]", &media()).unwrap();
        assert_eq!(
            (v.as_deref(), a.unwrap().text),
            (Some("[0:v]setpts=0.5*PTS[v]"), "[0:a]atempo=2.0[a]".into())
        );
        // audio only, linked chains, several outputs
        let (v, a) = split("[0:1]volume=2[x];[x]asplit[a1][a2]", &media()).unwrap();
        assert_eq!(v, None);
        assert_eq!(a.unwrap().outputs.len(), 2);
        // a video filter reading audio is not audio: it stays with the video part
        let (v, a) = split("[0:a]showwaves=s=320x240[v]", &media()).unwrap();
        assert_eq!(
            (v.as_deref(), a),
            (Some("[0:a]showwaves=s=320x240[v]"), None)
        );
    }

    #[test]
    fn audio_chains_fftools_would_bind_or_map_itself_are_refused() {
        assert!(split("volume=2[a];[0:v]hflip[v]", &media()).is_err());
        assert!(split("[0:a]volume=2;[0:v]hflip[v]", &media()).is_err());
        assert!(split("[0:v]volume=2[a]", &media()).is_err());
        assert!(split("[1:a]volume=2[a]", &media()).is_err());
    }
}
