//! The fonts subtitles are burned in with: libass finds them through fontconfig, so an SSH
//! worker takes a burn-in job's chunks only when fontconfig there lists the same fonts, picks
//! the same ones for the generic families, and its ffmpeg loads the same text-rendering
//! libraries as here (one listing, made by the same script on both sides).

use super::ssh::quote::{self, Platform};

/// Prints every font fontconfig knows (file, family, style, version, index; sorted bytewise),
/// the file it picks for the generic families and libass's default (Arial), the config files
/// in use (their rules pick the fonts for other names) with their checksums, and the real files
/// of the text-rendering libraries ffmpeg (`$1`) loads (libass and what it draws with: their
/// versions are in the names); fails where fontconfig's tools are missing.
const SCRIPT: &str = r#"command -v fc-list >/dev/null 2>&1 && command -v fc-match >/dev/null 2>&1 || exit 3
fc-list --format '%{file}|%{family}|%{style}|%{fontversion}|%{index}\n' | LC_ALL=C sort || exit 3
for f in sans-serif serif monospace Arial; do fc-match --format "$f=%{file}\n" "$f" || exit 3; done
fc-conflist 2>/dev/null | sed -n 's/^+ \([^:]*\):.*/\1/p' | LC_ALL=C sort | while IFS= read -r c; do
  printf '%s %s\n' "$c" "$(cksum < "$c")"
done
p=$(command -v -- "$1") && command -v ldd >/dev/null 2>&1 || exit 0
ldd "$p" 2>/dev/null | while read -r name arrow path rest; do
  case $name in libass*|libfreetype*|libharfbuzz*|libfribidi*|libfontconfig*|libunibreak*)
    printf '%s=%s\n' "$name" "$(readlink -f -- "$path")" ;;
  esac
done"#;

/// The argv of the listing for the ffmpeg at `ffmpeg`.
fn argv(ffmpeg: &str) -> Vec<String> {
    ["sh", "-c", SCRIPT, "sh", ffmpeg]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The listing here for the local ffmpeg, or None where fontconfig's tools are missing.
pub async fn local(ffmpeg: &str) -> Option<String> {
    let args = argv(ffmpeg);
    let out = crate::process::output(&args[0], &args[1..]).await.ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The remote command that makes the listing on a POSIX worker for its ffmpeg (None on
/// Windows, whose libass does not use fontconfig).
pub fn remote_command(platform: Platform, ffmpeg: &str) -> Option<String> {
    match platform {
        Platform::Posix => quote::command(platform, &argv(ffmpeg)).ok(),
        Platform::Windows => None,
    }
}
