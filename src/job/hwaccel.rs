//! Hardware decoding with a software encoder. Frames a hardware decoder downloads to system
//! memory equal the software decoder's, so when the encoder and every filter run on the CPU the
//! workers decode in software and get none of the hardware options (`-hwaccel`,
//! `-hwaccel_device`, `-init_hw_device`, `-vaapi_device`, `-qsv_device`, `-filter_hw_device`);
//! the final mux, which decodes no video, gets none either. Plain ffmpeg fails where the device
//! cannot be opened, so a one-frame local decode with the user's hardware options (`probe_args`)
//! must succeed first, else the command passes through and ffmpeg prints its own error. Frames
//! kept in GPU memory (`-hwaccel_output_format`, the `cuvid`/`qsv` defaults), hardware decoders,
//! GPU encoders and GPU filters pass through: no worker is known to have the device.

use super::Passthrough;
use crate::cli::argv::{CmdLine, FileArgs, Opt};

/// Global options that open hardware devices.
pub const HW_GLOBALS: &[&str] = &[
    "init_hw_device",
    "vaapi_device",
    "qsv_device",
    "filter_hw_device",
];

/// Input options that ask for hardware decoding.
pub const HW_INPUT: &[&str] = &["hwaccel", "hwaccel_device", "hwaccel_output_format"];

/// Whether an option is one of the hardware options above.
pub fn is_hw_option(o: &Opt) -> bool {
    HW_GLOBALS.contains(&o.name()) || HW_INPUT.contains(&o.name())
}

/// Encoder name suffixes of hardware encoders.
const GPU_ENCODERS: &[&str] = &[
    "_nvenc",
    "_qsv",
    "_vaapi",
    "_amf",
    "_videotoolbox",
    "_v4l2m2m",
    "_mf",
    "_omx",
    "_rkmpp",
    "_mediacodec",
    "_vulkan",
];

/// Decoder name suffixes of hardware decoders (`-c:v h264_cuvid` on the input).
const GPU_DECODERS: &[&str] = &[
    "_cuvid",
    "_qsv",
    "_v4l2m2m",
    "_mediacodec",
    "_rkmpp",
    "_mmal",
];

/// Filter name suffixes and names that run on a hardware device.
const GPU_FILTER_SUFFIXES: &[&str] = &[
    "_cuda",
    "_npp",
    "_vaapi",
    "_qsv",
    "_opencl",
    "_vulkan",
    "_videotoolbox",
];
const GPU_FILTERS: &[&str] = &["hwupload", "hwdownload", "hwmap", "hwupload_cuda"];

/// A hardware encoder's name, if `encoder` is one.
pub fn gpu_encoder(encoder: &str) -> Option<String> {
    let hw = GPU_ENCODERS.iter().any(|s| encoder.ends_with(s))
        || matches!(encoder, "nvenc" | "nvenc_h264" | "nvenc_hevc");
    hw.then(|| format!("GPU encoder {encoder}: no worker is known to have the device"))
}

/// The first filter of a `-vf` chain that runs on a hardware device.
pub fn gpu_filter(names: &[String]) -> Option<String> {
    let f = names.iter().find(|n| {
        GPU_FILTERS.contains(&n.as_str()) || GPU_FILTER_SUFFIXES.iter().any(|s| n.ends_with(s))
    })?;
    Some(format!(
        "GPU filter {f}: no worker is known to have the device"
    ))
}

/// Why the source input's hardware options cannot be dropped for software decoding, if so;
/// `decoder` is the input's `-c:v`, if any.
pub fn check_input(input: &FileArgs, decoder: Option<&str>) -> Result<(), Passthrough> {
    if let Some(d) = decoder.filter(|d| GPU_DECODERS.iter().any(|s| d.ends_with(s))) {
        return Err(Passthrough(format!(
            "hardware decoder {d}: no worker is known to have the device"
        )));
    }
    for o in &input.opts {
        let arg = o.arg.as_deref().unwrap_or("");
        if o.is("hwaccel_output_format") {
            return Err(Passthrough(format!(
                "-{} {arg}: the decoded frames' format (GPU memory or a download format) is not \
                 reproduced by software decoding",
                o.flag
            )));
        }
        if o.is("hwaccel") && matches!(arg, "cuvid" | "qsv") {
            // ffmpeg_opt.c: these default -hwaccel_output_format to cuda / qsv
            return Err(Passthrough(format!(
                "-{} {arg} keeps the decoded frames in GPU memory",
                o.flag
            )));
        }
    }
    Ok(())
}

/// `-init_hw_device list` prints the device types and exits.
pub fn prints_information(cmd: &CmdLine) -> bool {
    cmd.globals
        .iter()
        .any(|g| g.is("init_hw_device") && g.arg.as_deref() == Some("list"))
}

/// The local check that plain ffmpeg could open the user's devices and set up hardware
/// decoding of the source video (None: nothing can fail, no option or only `-hwaccel
/// none/auto`, which fall back to software): ffmpeg's arguments for a one-frame decode.
pub fn probe_args(cmd: &CmdLine, src_file: usize, src_stream: usize) -> Option<Vec<String>> {
    let input = &cmd.inputs[src_file];
    let globals: Vec<&Opt> = cmd.globals.iter().filter(|g| is_hw_option(g)).collect();
    let generic = input
        .opts
        .iter()
        .any(|o| o.is("hwaccel") && !matches!(o.arg.as_deref(), Some("none" | "auto")));
    if globals.is_empty() && !generic {
        return None;
    }
    let mut v: Vec<String> = ["-nostdin", "-hide_banner", "-v", "error"]
        .map(String::from)
        .to_vec();
    for g in globals {
        v.extend(g.tokens());
    }
    for o in &input.opts {
        if !matches!(o.name(), "ss" | "t" | "to" | "itsoffset" | "autorotate") {
            v.extend(o.tokens());
        }
    }
    v.extend(["-i".into(), input.url.clone(), "-map".into()]);
    v.push(format!("0:{src_stream}"));
    v.extend(["-frames:v", "1", "-f", "null", "-"].map(String::from));
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str]) -> CmdLine {
        CmdLine::parse(argv).unwrap()
    }

    #[test]
    fn gpu_encoders_filters_and_decoders_are_named() {
        for e in [
            "h264_nvenc",
            "hevc_nvenc",
            "h264_qsv",
            "hevc_vaapi",
            "h264_amf",
            "nvenc",
        ] {
            assert!(
                gpu_encoder(e).unwrap().contains("no worker is known"),
                "{e}"
            );
        }
        for e in ["h264_videotoolbox", "h264_v4l2m2m", "av1_qsv"] {
            assert!(gpu_encoder(e).is_some(), "{e}");
        }
        for e in [
            "libx264",
            "libx265",
            "libsvtav1",
            "ffv1",
            "libvpx-vp9",
            "libaom-av1",
        ] {
            assert_eq!(gpu_encoder(e), None, "{e}");
        }
        let names = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for f in [
            "scale_cuda",
            "scale_npp",
            "scale_vaapi",
            "vpp_qsv",
            "hwupload",
            "hwdownload",
        ] {
            assert!(gpu_filter(&names(&["format", f])).is_some(), "{f}");
        }
        for f in ["tonemap_opencl", "overlay_vulkan", "hwmap", "yadif_cuda"] {
            assert!(gpu_filter(&names(&[f])).is_some(), "{f}");
        }
        assert_eq!(gpu_filter(&names(&["scale", "format", "transpose"])), None);
        let c = cmd(&["-c:v", "h264_cuvid", "-i", "in.mp4", "o.mkv"]);
        assert!(check_input(&c.inputs[0], Some("h264_cuvid")).is_err());
        assert!(check_input(&c.inputs[0], Some("h264")).is_ok());
    }

    #[test]
    fn frames_kept_in_gpu_memory_pass_through() {
        let reason = |argv: &[&str]| check_input(&cmd(argv).inputs[0], None);
        // Tdarr, Jellyfin: the frames stay on the device
        let tdarr = [
            "-hwaccel",
            "cuda",
            "-hwaccel_output_format",
            "cuda",
            "-i",
            "i",
            "o.mkv",
        ];
        assert!(reason(&tdarr)
            .unwrap_err()
            .0
            .contains("-hwaccel_output_format cuda"));
        let nv12 = [
            "-hwaccel",
            "vaapi",
            "-hwaccel_output_format",
            "nv12",
            "-i",
            "i",
            "o.mkv",
        ];
        assert!(reason(&nv12).is_err());
        assert!(reason(&["-hwaccel", "cuvid", "-i", "i", "o.mkv"]).is_err());
        assert!(reason(&["-hwaccel", "qsv", "-i", "i", "o.mkv"]).is_err());
        for ok in ["auto", "none", "cuda", "vaapi", "nvdec", "vdpau", "vulkan"] {
            assert_eq!(
                reason(&["-hwaccel", ok, "-i", "i", "o.mkv"]),
                Ok(()),
                "{ok}"
            );
        }
        assert_eq!(
            reason(&["-hwaccel_device", "0", "-i", "i", "o.mkv"]),
            Ok(())
        );
    }

    #[test]
    fn the_local_check_decodes_one_frame_with_the_users_devices() {
        assert_eq!(
            probe_args(&cmd(&["-hwaccel", "auto", "-i", "i.mp4", "o.mkv"]), 0, 0),
            None
        );
        assert_eq!(
            probe_args(&cmd(&["-hwaccel", "none", "-i", "i.mp4", "o.mkv"]), 0, 0),
            None
        );
        assert_eq!(probe_args(&cmd(&["-i", "i.mp4", "o.mkv"]), 0, 0), None);
        let jellyfin = cmd(&[
            "-init_hw_device",
            "vaapi=va:/dev/dri/renderD128",
            "-hwaccel",
            "vaapi",
            "-ss",
            "5",
            "-i",
            "i.mp4",
            "-c:v",
            "libx264",
            "o.mkv",
        ]);
        let args = probe_args(&jellyfin, 0, 0).unwrap().join(" ");
        assert_eq!(
            args,
            "-nostdin -hide_banner -v error -init_hw_device vaapi=va:/dev/dri/renderD128 \
             -hwaccel vaapi -i i.mp4 -map 0:0 -frames:v 1 -f null -"
        );
        let dev = cmd(&[
            "-vaapi_device",
            "/dev/dri/renderD128",
            "-i",
            "i.mp4",
            "o.mkv",
        ]);
        assert!(probe_args(&dev, 0, 0)
            .unwrap()
            .contains(&"-vaapi_device".to_string()));
        let list = cmd(&["-init_hw_device", "list"]);
        assert!(prints_information(&list));
    }

    fn job(argv: &[&str]) -> Result<crate::job::JobSpec, Passthrough> {
        use crate::testutil::{audio, info, video};
        let c = cmd(argv);
        let pre = crate::job::precheck(&c)?;
        let infos = [info(vec![video(0, 1280, 720), audio(1, 2, "eng")])];
        crate::job::analyze(&c, &pre, &infos)
    }

    #[test]
    fn jobs_drop_the_options_for_the_workers_and_keep_the_check() {
        let argv = [
            "-init_hw_device",
            "cuda=gpu:0",
            "-hwaccel",
            "cuda",
            "-hwaccel_device",
            "gpu",
            "-threads",
            "4",
            "-i",
            "in.mp4",
            "-c:v",
            "libx265",
            "o.mkv",
        ];
        let j = job(&argv).unwrap();
        let dec: Vec<String> = j.decode_opts.iter().flat_map(|o| o.tokens()).collect();
        assert_eq!(dec, ["-threads", "4"]);
        assert!(j.hw_check.unwrap().contains(&"cuda=gpu:0".to_string()));
        let j = job(&["-hwaccel", "auto", "-i", "in.mp4", "o.mp4"]).unwrap();
        assert!(j.decode_opts.is_empty() && j.hw_check.is_none());
        let gpu = job(&[
            "-hwaccel",
            "cuda",
            "-i",
            "in.mp4",
            "-c:v",
            "h264_nvenc",
            "o.mp4",
        ]);
        assert!(gpu.unwrap_err().0.contains("GPU encoder h264_nvenc"));
        let filt = job(&["-i", "in.mp4", "-vf", "scale_npp=640:-2", "o.mp4"]);
        assert!(filt.unwrap_err().0.contains("GPU filter scale_npp"));
        let list = job(&["-init_hw_device", "list", "-i", "in.mp4", "o.mp4"]);
        assert!(list.unwrap_err().0.contains("prints information"));
    }
}
