//! The packaged docs follow the code: every config key and every own `-df_` option is in the
//! man page (doc/distrffmpeg.1) and completed by the bash, zsh and fish completions
//! (completions/), every environment variable the code reads is in the man page, and the
//! Debian package's assets (Cargo.toml, `[package.metadata.deb]`) exist. Needs bash, zsh and
//! fish (as `.ci/run` installs them), no ffmpeg and no sshd.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The field names of `pub struct NAME { ... }` in Rust source: `pub field:` lines up to the
/// closing brace at the start of a line.
fn struct_fields(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("no `pub struct {name}` in src/config.rs"));
    let body = &src[start..];
    let body = &body[..body.find("\n}").expect("struct ends")];
    let fields: Vec<String> = body
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':'))
        .map(|(f, _)| f.trim().to_string())
        .collect();
    assert!(!fields.is_empty(), "no fields found in `pub struct {name}`");
    fields
}

/// The string literals of `pub const NAME: &[&str] = &[ ... ];`.
fn const_strs(src: &str, name: &str) -> Vec<String> {
    let Some(start) = src.find(&format!("const {name}: &[&str] = &[")) else {
        return Vec::new();
    };
    let body = &src[start..];
    let body = &body[body.find("&[").unwrap() + 2..body.find("];").expect("list ends")];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Every key of the config file: the fields of `Config` and the `-df_` override keys.
fn config_keys() -> BTreeSet<String> {
    let src = read("src/config.rs");
    let mut keys: BTreeSet<String> = struct_fields(&src, "Config").into_iter().collect();
    keys.extend(const_strs(&src, "KEYS"));
    keys
}

/// The keys of a worker entry and of its `params`.
fn worker_keys() -> BTreeSet<String> {
    let src = read("src/config.rs");
    let mut keys: BTreeSet<String> = struct_fields(&src, "WorkerConfig").into_iter().collect();
    keys.extend(struct_fields(&src, "WorkerParams"));
    keys
}

/// distrffmpeg's own options: the five it has, and any `-df_name` that `-df_help` lists
/// (not the `-df_KEY=VALUE` overrides).
fn own_options() -> BTreeSet<String> {
    let mut own: BTreeSet<String> = ["help", "version", "dry_run", "check", "transfer_test"]
        .into_iter()
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_distrffmpeg"))
        .arg("-df_help")
        .env("DISTRFFMPEG_CONFIG", dir.path().join("none.json"))
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "-df_help: {out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let keys = config_keys();
    for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        if let Some(name) = word.strip_prefix("-df_") {
            if !name.is_empty() && name != "KEY" && !keys.contains(name) {
                own.insert(name.to_string());
            }
        }
    }
    own
}

/// The environment variables the code reads by name (`var("X")`, `var_os("X")`, `…_ENV: &str
/// = "X"`), outside the test helpers.
fn env_vars() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    let mut vars = BTreeSet::new();
    for f in files {
        if f.ends_with("testutil.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // the code before its unit tests
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for pat in ["var(\"", "var_os(\"", "_ENV: &str = \""] {
            for (i, _) in text.match_indices(pat) {
                let rest = &text[i + pat.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    vars.insert(name.to_string());
                }
            }
        }
    }
    assert!(
        vars.contains("DISTRFFMPEG_CONFIG"),
        "env scan found {vars:?}"
    );
    vars
}

/// The tags of the man page's `.TP` paragraphs: the first word of the line after each
/// `.TP`, without font macros and escapes (`.BI \-df_transfer_test= file` →
/// `-df_transfer_test`).
fn man_tags(man: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = man.lines().collect();
    let mut tags = BTreeSet::new();
    for w in lines.windows(2) {
        if w[0].trim() != ".TP" {
            continue;
        }
        let tag = w[1]
            .trim_start_matches(|c: char| c == '.' || c.is_ascii_uppercase())
            .trim()
            .replace("\\-", "-")
            .replace("\\c", "");
        let first = tag.split_whitespace().next().unwrap_or("");
        let first = first.trim_matches('"').trim_end_matches('=');
        tags.insert(first.to_string());
    }
    tags
}

#[test]
fn man_page_documents_every_key_option_and_variable() {
    let man = read("doc/distrffmpeg.1");
    let tags = man_tags(&man);
    let mut missing = Vec::new();
    for key in config_keys().iter().chain(worker_keys().iter()) {
        if !tags.contains(key) {
            missing.push(format!("config key {key}"));
        }
    }
    for opt in own_options() {
        if !tags.contains(&format!("-df_{opt}")) {
            missing.push(format!("option -df_{opt}"));
        }
    }
    for var in env_vars() {
        if !man.contains(&format!(".B {var}\n")) && !man.contains(&format!(".BR {var} ")) {
            missing.push(format!("environment variable {var}"));
        }
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "CONFIGURATION",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "SEE ALSO",
    ] {
        if !man.contains(&format!("\n.SH {section}\n")) {
            missing.push(format!("section {section}"));
        }
    }
    assert!(
        missing.is_empty(),
        "doc/distrffmpeg.1 lacks (as a .TP entry): {missing:?}"
    );
    let th = man
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect(".TH line");
    assert!(
        th.contains(&format!("\"distrffmpeg {}\"", env!("CARGO_PKG_VERSION"))),
        "the man page's .TH names another version than Cargo.toml's: {th}"
    );
}

/// What a shell's completion offers for `distrffmpeg -df_`.
fn completed(shell: &str, script: &str) -> BTreeSet<String> {
    let out = Command::new(shell)
        .args(["-c", script])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {shell} ({e}): install it (apt-get install {shell})")
        });
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

fn assert_offers(what: &str, offered: &BTreeSet<String>) {
    let mut missing: Vec<String> = config_keys()
        .iter()
        .map(|k| format!("-df_{k}="))
        .filter(|k| !offered.contains(k))
        .collect();
    for opt in own_options() {
        let plain = format!("-df_{opt}");
        if !offered.contains(&plain) && !offered.contains(&format!("{plain}=")) {
            missing.push(plain);
        }
    }
    assert!(
        missing.is_empty(),
        "{what} does not complete {missing:?} (it offers {offered:?})"
    );
}

#[test]
fn bash_completion_offers_every_option_and_key() {
    let offered = completed(
        "bash",
        r#"source completions/distrffmpeg.bash || exit 1
        complete -p distrffmpeg >/dev/null || exit 1
        COMP_LINE='distrffmpeg -df_'; COMP_POINT=${#COMP_LINE}
        COMP_WORDS=(distrffmpeg -df_); COMP_CWORD=1
        _distrffmpeg distrffmpeg -df_ distrffmpeg
        printf '%s\n' "${COMPREPLY[@]}""#,
    );
    assert_offers("completions/distrffmpeg.bash", &offered);
}

#[test]
fn zsh_completion_offers_every_option_and_key() {
    // outside the completion system: _describe prints the names it is given
    let offered = completed(
        "zsh",
        r#"emulate -L zsh
        compdef() { registered=$* }
        _describe() { while [[ $1 == -? ]]; do shift 2; done; print -rl -- "${(@)${(P)2}%%:*}" }
        source completions/_distrffmpeg || exit 1
        [[ $registered == '_distrffmpeg distrffmpeg' ]] || { print -u2 "compdef: $registered"; exit 1 }
        PREFIX=-df_ _distrffmpeg"#,
    );
    assert_offers("completions/_distrffmpeg", &offered);
}

#[test]
fn fish_completion_offers_every_option_and_key() {
    let offered = completed(
        "fish",
        "source completions/distrffmpeg.fish; or exit 1; complete -C 'distrffmpeg -df_'",
    );
    assert_offers("completions/distrffmpeg.fish", &offered);
}

/// `["source", "dest", "mode"]` rows of `assets` in `[package.metadata.deb]`.
fn deb_assets() -> Vec<(String, String)> {
    let toml = read("Cargo.toml");
    let deb = toml
        .split("\n[package.metadata.deb]\n")
        .nth(1)
        .expect("Cargo.toml has a [package.metadata.deb] section");
    let deb = deb.split("\n[").next().unwrap();
    let assets = &deb[deb.find("\nassets = [").expect("deb assets") + 1..];
    let mut rows = Vec::new();
    for line in assets.lines().skip(1) {
        let line = line.trim();
        if line == "]" {
            break;
        }
        let parts: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(parts.len(), 3, "asset row {line:?}");
        rows.push((parts[0].to_string(), parts[1].to_string()));
    }
    assert!(!rows.is_empty(), "no deb assets found");
    rows
}

#[test]
fn deb_assets_exist_and_install_the_docs() {
    let assets = deb_assets();
    for (src, _) in &assets {
        if let Some(bin) = src.strip_prefix("target/release/") {
            assert_eq!(bin, "distrffmpeg", "the binary asset");
        } else {
            assert!(root().join(src).is_file(), "deb asset {src} does not exist");
        }
    }
    for (src, dest) in [
        ("target/release/distrffmpeg", "usr/bin/"),
        ("doc/distrffmpeg.1", "usr/share/man/man1/distrffmpeg.1"),
        (
            "completions/distrffmpeg.bash",
            "usr/share/bash-completion/completions/distrffmpeg",
        ),
        (
            "completions/_distrffmpeg",
            "usr/share/zsh/vendor-completions/_distrffmpeg",
        ),
        (
            "completions/distrffmpeg.fish",
            "usr/share/fish/vendor_completions.d/distrffmpeg.fish",
        ),
        ("README.md", "usr/share/doc/distrffmpeg/README.md"),
        (
            "config.sample.json",
            "usr/share/doc/distrffmpeg/config.sample.json",
        ),
    ] {
        assert!(
            assets.iter().any(|(s, d)| s == src && d == dest),
            "no deb asset {src} -> {dest} in {assets:?}"
        );
    }
}
