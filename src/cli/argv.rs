//! A lossless model of ffmpeg's command line: the tokens split into global options, per-input
//! and per-output option groups exactly as fftools' `split_commandline` does, plus the
//! distrffmpeg-only `-df_key[=value]` tokens, which are taken out before anything reaches ffmpeg.

use super::options::{self, OptDef, ARG, BOOL, EXIT};
use serde::Serialize;

/// One option as typed: `flag` is the token without its leading dash (`c:v`, `nostats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opt {
    pub flag: String,
    pub arg: Option<String>,
    /// The table entry, or None for an AVOption routed to codec/format/sws/swr contexts.
    #[serde(skip)]
    pub def: Option<&'static OptDef>,
    /// `-noNAME` form of a boolean option.
    pub negated: bool,
}

impl Opt {
    /// The option name without stream specifier and without a `no` prefix of a negated bool.
    pub fn name(&self) -> &str {
        let base = self.flag.split(':').next().unwrap_or("");
        if self.negated {
            &base[2..]
        } else {
            base
        }
    }

    /// The stream specifier after the first `:`, if any (`v:0` for `-c:v:0`).
    pub fn spec(&self) -> Option<&str> {
        self.flag.split_once(':').map(|(_, s)| s)
    }

    /// True for an enabled boolean (`-an`), false for `-noan`.
    pub fn bool_value(&self) -> bool {
        !self.negated
    }

    pub fn is(&self, name: &str) -> bool {
        self.name() == name
    }

    /// The tokens this option occupies on a command line.
    pub fn tokens(&self) -> Vec<String> {
        let mut v = vec![format!("-{}", self.flag)];
        v.extend(self.arg.clone());
        v
    }

    /// Builds an option by name, looking it up in the table like the parser does.
    pub fn new(flag: &str, arg: Option<&str>) -> Opt {
        Opt {
            flag: flag.to_string(),
            arg: arg.map(str::to_string),
            def: options::find(flag),
            negated: false,
        }
    }
}

/// A `-df_key[=value]` token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DfOpt {
    pub key: String,
    pub value: Option<String>,
}

/// One element of the command line in its original order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Item {
    Global(Opt),
    /// An option that belongs to the next input or output file.
    FileOpt(Opt),
    Input(String),
    Output(String),
    /// A literal `--`: the next token is an output name even if it starts with `-`.
    DashDash,
    Df(DfOpt),
}

/// An input or output file with the options given before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileArgs {
    pub opts: Vec<Opt>,
    pub url: String,
}

impl FileArgs {
    /// The last value of an option (ffmpeg: last one wins), matching its name exactly (no spec).
    pub fn last(&self, name: &str) -> Option<&Opt> {
        self.opts
            .iter()
            .rev()
            .find(|o| o.is(name) && o.spec().is_none())
    }

    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|o| o.is(name))
    }
}

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CmdLine {
    pub items: Vec<Item>,
    pub globals: Vec<Opt>,
    pub inputs: Vec<FileArgs>,
    pub outputs: Vec<FileArgs>,
    /// Options after the last file: ffmpeg warns and ignores them.
    pub trailing: Vec<Opt>,
    pub df: Vec<DfOpt>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("missing argument for option '-{0}'")]
    MissingArg(String),
}

impl CmdLine {
    /// Splits ffmpeg's argv (without the program name) the way fftools does.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<CmdLine, ArgvError> {
        let toks: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut cl = CmdLine::default();
        let mut group: Vec<Opt> = Vec::new();
        let mut i = 0;
        let mut after_dashdash = false;
        while i < toks.len() {
            let tok = toks[i];
            i += 1;
            if tok == "--" {
                cl.items.push(Item::DashDash);
                after_dashdash = true;
                continue;
            }
            let literal = std::mem::take(&mut after_dashdash);
            if !tok.starts_with('-') || tok.len() == 1 || literal {
                cl.items.push(Item::Output(tok.to_string()));
                cl.outputs.push(FileArgs {
                    opts: std::mem::take(&mut group),
                    url: tok.to_string(),
                });
                continue;
            }
            let flag = &tok[1..];
            if let Some(kv) = flag.strip_prefix("df_") {
                let (key, value) = match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (kv.to_string(), None),
                };
                let d = DfOpt { key, value };
                cl.items.push(Item::Df(d.clone()));
                cl.df.push(d);
                continue;
            }
            if flag == "i" {
                let url = toks
                    .get(i)
                    .ok_or_else(|| ArgvError::MissingArg("i".into()))?;
                i += 1;
                cl.items.push(Item::Input(url.to_string()));
                cl.inputs.push(FileArgs {
                    opts: std::mem::take(&mut group),
                    url: url.to_string(),
                });
                continue;
            }
            let opt = if let Some(def) = options::find(flag) {
                let arg = if def.has(EXIT) {
                    let a = toks.get(i).map(|s| s.to_string());
                    i += usize::from(a.is_some());
                    a
                } else if def.has(ARG) {
                    let a = toks
                        .get(i)
                        .ok_or_else(|| ArgvError::MissingArg(flag.into()))?;
                    i += 1;
                    Some(a.to_string())
                } else {
                    None
                };
                Opt {
                    flag: flag.to_string(),
                    arg,
                    def: Some(def),
                    negated: false,
                }
            } else if let Some(def) = negated_bool(flag) {
                // ffmpeg tries the AVOption tables first; no AVOption starts with "no" + a bool name.
                Opt {
                    flag: flag.to_string(),
                    arg: None,
                    def: Some(def),
                    negated: true,
                }
            } else {
                let a = toks
                    .get(i)
                    .ok_or_else(|| ArgvError::MissingArg(flag.into()))?;
                i += 1;
                Opt {
                    flag: flag.to_string(),
                    arg: Some(a.to_string()),
                    def: None,
                    negated: false,
                }
            };
            if opt.def.is_some_and(|d| d.is_global()) {
                cl.items.push(Item::Global(opt.clone()));
                cl.globals.push(opt);
            } else {
                cl.items.push(Item::FileOpt(opt.clone()));
                group.push(opt);
            }
        }
        cl.trailing = group;
        Ok(cl)
    }

    /// `to_ffmpeg_argv` of an argv that does not parse (its last option lacks its argument,
    /// the only way parsing fails): everything before that option as parsed, then the option.
    pub fn without_df_lenient<S: AsRef<str>>(args: &[S]) -> Vec<String> {
        let mut n = args.len();
        while n > 0 {
            if let Ok(cl) = CmdLine::parse(&args[..n - 1]) {
                let mut v = cl.to_ffmpeg_argv();
                v.extend(args[n - 1..].iter().map(|a| a.as_ref().to_string()));
                return v;
            }
            n -= 1;
        }
        args.iter().map(|a| a.as_ref().to_string()).collect()
    }

    /// The argv as typed, minus the `-df_` tokens: what a passthrough hands to ffmpeg.
    pub fn to_ffmpeg_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        for item in &self.items {
            match item {
                Item::Global(o) | Item::FileOpt(o) => v.extend(o.tokens()),
                Item::Input(u) => {
                    v.push("-i".into());
                    v.push(u.clone());
                }
                Item::Output(u) => v.push(u.clone()),
                Item::DashDash => v.push("--".into()),
                Item::Df(_) => {}
            }
        }
        v
    }

    /// The argv without the global options that change only how ffmpeg talks to the user
    /// (`-y`, `-nostats`, `-v`, `-progress`, …): what identifies a job for resuming.
    pub fn identity_argv(&self) -> Vec<String> {
        let kept = CmdLine {
            items: self
                .items
                .iter()
                .filter(|i| !matches!(i, Item::Global(o) if super::options::TALKS_TO_USER.contains(&o.name())))
                .cloned()
                .collect(),
            ..CmdLine::default()
        };
        kept.to_ffmpeg_argv()
    }

    /// The last global option with this name (no stream specifier).
    pub fn global(&self, name: &str) -> Option<&Opt> {
        self.globals.iter().rev().find(|o| o.is(name))
    }

    pub fn has_global(&self, name: &str) -> bool {
        self.global(name).is_some_and(Opt::bool_value)
    }

    /// Any option that makes ffmpeg print something and exit (`-version`, `-h`, `-encoders`…).
    pub fn exit_option(&self) -> Option<&Opt> {
        self.globals
            .iter()
            .find(|o| o.def.is_some_and(|d| d.has(EXIT)))
    }
}

fn negated_bool(flag: &str) -> Option<&'static OptDef> {
    let rest = flag.strip_prefix("no")?;
    options::find(rest).filter(|d| d.has(BOOL))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> CmdLine {
        CmdLine::parse(s).unwrap()
    }

    #[test]
    fn groups_options_by_file() {
        let cl = p(&[
            "-y", "-ss", "3", "-i", "in.mp4", "-c:v", "libx264", "-crf", "23", "-c:a", "aac",
            "out.mkv",
        ]);
        assert_eq!(cl.globals.len(), 1);
        assert!(cl.has_global("y"));
        assert_eq!(cl.inputs.len(), 1);
        assert_eq!(cl.inputs[0].url, "in.mp4");
        assert_eq!(cl.inputs[0].opts[0].flag, "ss");
        assert_eq!(cl.outputs[0].url, "out.mkv");
        let flags: Vec<_> = cl.outputs[0].opts.iter().map(|o| o.flag.as_str()).collect();
        assert_eq!(flags, ["c:v", "crf", "c:a"]);
        assert!(cl.outputs[0].opts[1].def.is_none(), "crf is an AVOption");
        assert_eq!(cl.outputs[0].opts[0].spec(), Some("v"));
        assert_eq!(cl.outputs[0].opts[0].name(), "c");
    }

    #[test]
    fn values_starting_with_dash_are_values() {
        let cl = p(&[
            "-i",
            "-leading.mp4",
            "-metadata",
            "title=-x",
            "-itsoffset",
            "-1.5",
            "o.mkv",
        ]);
        assert_eq!(cl.inputs[0].url, "-leading.mp4");
        assert_eq!(cl.outputs[0].opts[0].arg.as_deref(), Some("title=-x"));
        assert_eq!(cl.outputs[0].opts[1].arg.as_deref(), Some("-1.5"));
    }

    #[test]
    fn dashdash_makes_next_token_an_output() {
        let cl = p(&["-i", "a.mp4", "--", "-out.mkv"]);
        assert_eq!(cl.outputs[0].url, "-out.mkv");
        assert_eq!(cl.to_ffmpeg_argv(), ["-i", "a.mp4", "--", "-out.mkv"]);
    }

    #[test]
    fn single_dash_is_stdout_output() {
        let cl = p(&["-i", "a.mp4", "-f", "matroska", "-"]);
        assert_eq!(cl.outputs[0].url, "-");
    }

    #[test]
    fn two_inputs_and_negated_bools() {
        let cl = p(&[
            "-nostdin",
            "-i",
            "a.mp4",
            "-i",
            "b.wav",
            "-nostats",
            "-noautorotate",
            "x",
            "o.mp4",
        ]);
        assert_eq!(cl.inputs.len(), 2);
        assert_eq!(cl.globals[0].name(), "stdin", "-nostdin negates -stdin");
        assert!(cl.globals[0].negated);
        let ns = cl.global("stats").unwrap();
        assert!(ns.negated && !ns.bool_value());
        // -noautorotate negates a bool and takes no argument, so "x" is an output file.
        assert_eq!(cl.outputs.len(), 2);
        assert_eq!(cl.outputs[0].opts[0].name(), "autorotate");
        assert!(cl.outputs[0].opts[0].negated);
    }

    #[test]
    fn a_value_that_starts_with_df_is_a_value() {
        let argv = [
            "-i",
            "-df_a.mp4",
            "-metadata",
            "-df_x",
            "-x264-params",
            "-df_y",
            "-df_dry_run",
            "o.mkv",
        ];
        let cl = p(&argv);
        assert_eq!(cl.inputs[0].url, "-df_a.mp4");
        assert_eq!(cl.df.len(), 1, "only -df_dry_run is ours");
        assert_eq!(cl.df[0].key, "dry_run");
        let mut kept: Vec<&str> = argv.to_vec();
        kept.retain(|a| *a != "-df_dry_run");
        assert_eq!(cl.to_ffmpeg_argv(), kept);
        // an argv whose last option lacks its argument is handed over the same way
        let argv = ["-df_slots=2", "-i", "-df_a.mp4", "-c:v"];
        assert!(CmdLine::parse(&argv).is_err());
        assert_eq!(
            CmdLine::without_df_lenient(&argv),
            ["-i", "-df_a.mp4", "-c:v"]
        );
    }

    #[test]
    fn df_tokens_are_removed_from_ffmpeg_argv() {
        let argv = [
            "-df_slots=2",
            "-i",
            "a.mp4",
            "-df_dry_run",
            "-c:v",
            "libx264",
            "o.mkv",
        ];
        let cl = p(&argv);
        assert_eq!(cl.df.len(), 2);
        assert_eq!(cl.df[0].key, "slots");
        assert_eq!(cl.df[0].value.as_deref(), Some("2"));
        assert_eq!(cl.df[1].value, None);
        assert_eq!(
            cl.to_ffmpeg_argv(),
            ["-i", "a.mp4", "-c:v", "libx264", "o.mkv"]
        );
    }

    #[test]
    fn round_trip_is_lossless() {
        let odd: &[&[&str]] = &[
            &[
                "-hide_banner",
                "-i",
                "in put.mp4",
                "-map",
                "0:a:1",
                "-b:a:1",
                "96k",
                "o.mkv",
            ],
            &[
                "-i", "a.mp4", "-i", "a.mp4", "-map", "1:v", "-map", "0:a", "-y", "o.mp4",
            ],
            &["-h", "encoder=libx264"],
            &["-version"],
            &[
                "-i",
                "x.mkv",
                "-vf",
                "scale=-2:720",
                "-x264-params",
                "keyint=-1",
                "-c:s",
                "copy",
                "o.mkv",
            ],
            &[
                "-i",
                "a",
                "-c:v",
                "libx264",
                "o1.mkv",
                "-c:v",
                "copy",
                "o2.mkv",
                "-trailing",
                "x",
            ],
        ];
        for argv in odd {
            let cl = p(argv);
            assert_eq!(cl.to_ffmpeg_argv(), argv.to_vec(), "{argv:?}");
        }
    }

    #[test]
    fn trailing_options_are_kept() {
        let cl = p(&["-i", "a", "o.mkv", "-c:v", "libx264"]);
        assert_eq!(cl.trailing.len(), 1);
    }

    #[test]
    fn exit_options_take_an_optional_argument() {
        let cl = p(&["-h"]);
        assert!(cl.exit_option().is_some());
        let cl = p(&["-encoders"]);
        assert_eq!(cl.exit_option().unwrap().flag, "encoders");
    }

    #[test]
    fn missing_argument_is_an_error() {
        assert_eq!(
            CmdLine::parse(&["-i", "a", "-c:v"]),
            Err(ArgvError::MissingArg("c:v".into()))
        );
        assert!(CmdLine::parse(&["-i"]).is_err());
    }

    #[test]
    fn identity_ignores_how_ffmpeg_talks_to_the_user() {
        let a = p(&["-i", "a.mp4", "-c:v", "libx264", "o.mkv"]);
        let b = p(&[
            "-y",
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-nostats",
            "-progress",
            "p.txt",
            "-i",
            "a.mp4",
            "-c:v",
            "libx264",
            "o.mkv",
        ]);
        assert_eq!(a.identity_argv(), b.identity_argv());
        let c = p(&["-i", "a.mp4", "-c:v", "libx264", "-crf", "20", "o.mkv"]);
        assert_ne!(a.identity_argv(), c.identity_argv());
        // an output option that happens to share a name stays
        let d = p(&["-i", "a.mp4", "-c:v", "libx264", "-n", "o.mkv"]);
        assert_eq!(d.identity_argv(), a.identity_argv());
    }
}
