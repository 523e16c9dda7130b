//! Remote command lines: every remote command is an argv vector turned into one string by the
//! quoting function of the worker's platform (POSIX sh or PowerShell), never by string gluing.
//! The encode wrapper also makes the remote ffmpeg die when the channel's stdin closes.

use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Posix,
    Windows,
}

impl Platform {
    pub fn from_config(name: &str) -> Platform {
        if name.eq_ignore_ascii_case("windows") {
            Platform::Windows
        } else {
            Platform::Posix
        }
    }
}

/// POSIX sh: single quotes, embedded `'` as `'\''`.
pub fn sh_quote(arg: &str) -> String {
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

/// PowerShell: single-quoted verbatim string, embedded `'` doubled (also the typographic
/// single quotes PowerShell treats as quote characters).
pub fn ps_quote(arg: &str) -> String {
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('\'');
    for c in arg.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            s.push(c);
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// One argument of a Windows command line as the C runtime's argv parser
/// (`CommandLineToArgvW` rules) reads it back.
pub fn windows_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '\u{b}', '"']) {
        return arg.to_string();
    }
    let mut s = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                s.push_str(&"\\".repeat(backslashes * 2 + 1));
                s.push('"');
                backslashes = 0;
            }
            _ => {
                s.push_str(&"\\".repeat(backslashes));
                s.push(c);
                backslashes = 0;
            }
        }
    }
    s.push_str(&"\\".repeat(backslashes * 2));
    s.push('"');
    s
}

/// A plain remote command: the argv quoted for the platform's shell.
pub fn command(platform: Platform, argv: &[String]) -> String {
    match platform {
        Platform::Posix => argv
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        Platform::Windows => {
            let call = argv
                .iter()
                .map(|a| ps_quote(a))
                .collect::<Vec<_>>()
                .join(" ");
            powershell(&format!("& {call}; exit $LASTEXITCODE"))
        }
    }
}

/// Runs a PowerShell script through OpenSSH's default Windows shell without any cmd.exe
/// quoting: the script travels base64-encoded (UTF-16LE), as `-EncodedCommand` requires.
fn powershell(script: &str) -> String {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(utf16);
    format!("powershell -NoProfile -NonInteractive -EncodedCommand {b64}")
}

/// The POSIX wrapper: ffmpeg runs in the background with stdin from /dev/null while a watcher
/// reads the channel's stdin (kept on fd 3, since background jobs get /dev/null as stdin);
/// when that closes (the client went away or cancelled), the watcher kills ffmpeg (SIGTERM,
/// then SIGKILL if it is still flushing a second later). The exit
/// status is ffmpeg's.
const SH_WRAPPER: &str = "exec 3<&0; \"$@\" </dev/null 3<&- & p=$!; \
(cat <&3 >/dev/null 2>&1; kill $p 2>/dev/null; sleep 1; kill -9 $p 2>/dev/null) \
>/dev/null 2>&1 & w=$!; \
exec 3<&-; wait $p; s=$?; kill $w 2>/dev/null; exit $s";

/// The remote encode command: `argv` (ffmpeg and its arguments) under the kill-on-close wrapper.
pub fn guarded_command(platform: Platform, argv: &[String]) -> String {
    match platform {
        Platform::Posix => {
            let mut v = vec![
                "sh".to_string(),
                "-c".to_string(),
                SH_WRAPPER.to_string(),
                "sh".to_string(),
            ];
            v.extend(argv.iter().cloned());
            command(Platform::Posix, &v)
        }
        Platform::Windows => {
            let (program, args) = argv.split_first().expect("non-empty argv");
            let line = args
                .iter()
                .map(|a| windows_arg(a))
                .collect::<Vec<_>>()
                .join(" ");
            let script = format!(
                "$i = New-Object System.Diagnostics.ProcessStartInfo; \
                 $i.FileName = {}; $i.Arguments = {}; $i.UseShellExecute = $false; \
                 $p = [System.Diagnostics.Process]::Start($i); \
                 $t = [Console]::In.ReadToEndAsync(); \
                 while (-not $p.WaitForExit(200)) {{ if ($t.IsCompleted) {{ $p.Kill(); break }} }}; \
                 $p.WaitForExit(); exit $p.ExitCode",
                ps_quote(program),
                ps_quote(&line)
            );
            powershell(&script)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "plain",
        "with space",
        "it's",
        "a b'c\"$(touch /tmp/pwned);d.mp4",
        "`id`",
        "$HOME",
        "semi;colon && rm -rf /",
        "new\nline",
        "ünïcödé 文字",
        "-leading.mp4",
        "",
        "back\\slash\\",
        "'",
        "\"",
    ];

    /// What sh makes of a quoted command line: the argv it would run.
    fn sh_roundtrip(cmd: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for a in {cmd}; do printf '%s\\0' \"$a\"; done"))
            .output()
            .unwrap();
        let mut v: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(String::from)
            .collect();
        v.pop();
        v
    }

    #[test]
    fn posix_quoting_survives_hostile_strings() {
        let argv: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
        assert_eq!(sh_roundtrip(&command(Platform::Posix, &argv)), argv);
        assert_eq!(
            shell_words::split(&command(Platform::Posix, &argv)).unwrap(),
            argv
        );
    }

    #[test]
    fn posix_wrapper_passes_argv_and_exit_status() {
        let script_argv = vec![
            "sh".to_string(),
            "-c".into(),
            "printf '%s|' \"$@\"; exit 7".into(),
            "x".into(),
        ];
        let mut argv = script_argv.clone();
        argv.extend(HOSTILE.iter().map(|s| s.to_string()));
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(guarded_command(Platform::Posix, &argv))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.code(), Some(7));
        let want: String = HOSTILE.iter().map(|s| format!("{s}|")).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn posix_wrapper_kills_the_command_when_stdin_closes() {
        let argv = vec!["sleep".to_string(), "30".into()];
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(guarded_command(Platform::Posix, &argv))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            child.try_wait().unwrap().is_none(),
            "still running while stdin is open"
        );
        let t = std::time::Instant::now();
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert!(!status.success());
    }

    #[test]
    fn powershell_quotes_double_single_quotes() {
        assert_eq!(ps_quote("it's"), "'it''s'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(ps_quote("$(x) `y` ;z"), "'$(x) `y` ;z'");
        let c = command(Platform::Windows, &["ffmpeg".into(), "-version".into()]);
        assert!(c.starts_with("powershell -NoProfile -NonInteractive -EncodedCommand "));
        let b64 = c.rsplit(' ').next().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let u16s: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(
            String::from_utf16(&u16s).unwrap(),
            "& 'ffmpeg' '-version'; exit $LASTEXITCODE"
        );
    }

    #[test]
    fn windows_argv_quoting_follows_crt_rules() {
        assert_eq!(windows_arg("plain"), "plain");
        assert_eq!(windows_arg("with space"), "\"with space\"");
        assert_eq!(windows_arg(""), "\"\"");
        assert_eq!(windows_arg("a\"b"), "\"a\\\"b\"");
        assert_eq!(windows_arg("dir with\\"), "\"dir with\\\\\"");
        assert_eq!(windows_arg("C:\\a b\\c"), "\"C:\\a b\\c\"");
        assert_eq!(windows_arg("x\\\"y"), "\"x\\\\\\\"y\"");
    }
}
