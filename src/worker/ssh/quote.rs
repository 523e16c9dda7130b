//! Remote command lines: every remote command is an argv vector turned into one string by the
//! quoting function of the worker's platform (POSIX sh or PowerShell), never by string gluing.
//! On POSIX the string sshd hands to the login shell is plain words that sh, bash, dash, zsh,
//! fish, tcsh and busybox ash all read the same way: the sh-quoted command travels base64
//! encoded and is decoded by /bin/sh. The encode wrapper also makes the remote ffmpeg die when
//! the channel's stdin closes.

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

/// A remote command that cannot be sent whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the remote command is {len} bytes long, over the {limit}-byte limit of {what}; not sending it cut")]
    TooLong {
        len: usize,
        limit: usize,
        what: &'static str,
    },
    #[error("a batch file (.cmd/.bat) cannot receive an argument with a line break: {0:?}")]
    BatchNewline(String),
}

/// Linux's limit on one argument string (`MAX_ARG_STRLEN`): the login shell gets the whole
/// command as one argument of `-c`, and /bin/sh the decoded script as one.
const POSIX_ARG_MAX: usize = 128 * 1024;
/// CreateProcess's limit on a command line, in UTF-16 units.
const WINDOWS_CMDLINE_MAX: usize = 32_767;
/// cmd.exe's limit on the command line it runs.
const CMD_EXE_MAX: usize = 8_191;

/// The argv as one POSIX sh command line, each argument single-quoted.
fn sh_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| sh_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What sshd hands to any login shell: `/bin/sh` decodes the base64 script and runs it. The
/// string holds only letters, digits, `+/=`, spaces and `' " $ ( ) | %`, inside or around one
/// single-quoted word without backslashes or embedded quotes, which every common shell reads
/// literally.
fn posix_any_shell(script: &str) -> Result<String, CommandError> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(script.as_bytes());
    let cmd = format!("exec /bin/sh -c 'eval \"$(printf %s {b64} | base64 -d)\"'");
    if cmd.len() > POSIX_ARG_MAX {
        return Err(CommandError::TooLong {
            len: cmd.len(),
            limit: POSIX_ARG_MAX,
            what: "a POSIX command argument",
        });
    }
    Ok(cmd)
}

/// Whether a Windows program is a batch file, which runs through cmd.exe.
fn is_batch(program: &str) -> bool {
    let p = program.to_ascii_lowercase();
    p.ends_with(".cmd") || p.ends_with(".bat")
}

/// One argument of a batch file's command line: always double-quoted so that cmd.exe's
/// metacharacters (`& | ^ < > ( )`) stay literal, `"` doubled, and `%` written so that
/// cmd.exe cannot expand a variable from it. Line breaks cannot be passed at all.
pub fn cmd_arg(arg: &str) -> Result<String, CommandError> {
    if arg.contains(['\r', '\n']) {
        return Err(CommandError::BatchNewline(arg.to_string()));
    }
    let mut s = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' => s.push_str("\"\""),
            '%' => s.push_str("%%cd:~,%"),
            _ => s.push(c),
        }
    }
    s.push('"');
    Ok(s)
}

/// The program and its arguments as a Windows process's (FileName, Arguments): a batch file
/// runs under `cmd.exe /d /e:ON /v:OFF /c` with cmd.exe's quoting, anything else gets the C
/// runtime's argv quoting. Lines over the platform's limits are refused, never cut.
fn windows_process(argv: &[String]) -> Result<(String, String), CommandError> {
    let (program, args) = argv.split_first().expect("non-empty argv");
    let (file, line, limit, what) = if is_batch(program) {
        let mut parts = vec![cmd_arg(program)?];
        for a in args {
            parts.push(cmd_arg(a)?);
        }
        let line = format!("/d /e:ON /v:OFF /c \"{}\"", parts.join(" "));
        ("cmd.exe".to_string(), line, CMD_EXE_MAX, "cmd.exe")
    } else {
        let line = args
            .iter()
            .map(|a| windows_arg(a))
            .collect::<Vec<_>>()
            .join(" ");
        let limit = WINDOWS_CMDLINE_MAX - windows_arg(program).len() - 1;
        (program.clone(), line, limit, "a Windows command line")
    };
    let len = line.encode_utf16().count();
    if len > limit {
        return Err(CommandError::TooLong { len, limit, what });
    }
    Ok((file, line))
}

/// A plain remote command: the argv quoted for the platform's shell.
pub fn command(platform: Platform, argv: &[String]) -> Result<String, CommandError> {
    match platform {
        Platform::Posix => posix_any_shell(&sh_line(argv)),
        Platform::Windows => {
            let (file, line) = windows_process(argv)?;
            if file == "cmd.exe" {
                // PowerShell's own call operator mangles a batch file's arguments
                return powershell(&format!(
                    "$i = New-Object System.Diagnostics.ProcessStartInfo; \
                     $i.FileName = 'cmd.exe'; $i.Arguments = {}; $i.UseShellExecute = $false; \
                     $p = [System.Diagnostics.Process]::Start($i); $p.WaitForExit(); \
                     exit $p.ExitCode",
                    ps_quote(&line)
                ));
            }
            let quoted = argv.iter().map(|a| ps_quote(a)).collect::<Vec<_>>();
            powershell(&format!("& {}; exit $LASTEXITCODE", quoted.join(" ")))
        }
    }
}

/// Runs a PowerShell script through OpenSSH's default Windows shell without any cmd.exe
/// quoting: the script travels base64-encoded (UTF-16LE), as `-EncodedCommand` requires.
fn powershell(script: &str) -> Result<String, CommandError> {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(utf16);
    let cmd = format!("powershell -NoProfile -NonInteractive -EncodedCommand {b64}");
    if cmd.len() > WINDOWS_CMDLINE_MAX {
        return Err(CommandError::TooLong {
            len: cmd.len(),
            limit: WINDOWS_CMDLINE_MAX,
            what: "a Windows command line",
        });
    }
    Ok(cmd)
}

/// The POSIX wrapper (`$1`: the lease dir, `$2`: the worker's slot count, then the argv).
/// With a slot count, the encode first takes a lease on one of the worker's slots: an
/// exclusive `flock` on `$1/slot-<i>.lock`, held on fd 4 by the wrapper and ffmpeg, so that it
/// dies with the encode (killed, crashed, or its host gone); the watcher does not hold it. No
/// slot free: `BUSY_LINE` on stderr and exit `BUSY_STATUS`. A worker without flock(1) takes no
/// lease. Then ffmpeg runs in the background with stdin from /dev/null while a watcher reads
/// the channel's stdin (kept on fd 3, since background jobs get /dev/null as stdin); when that
/// closes (the client went away or cancelled), the watcher kills ffmpeg (SIGTERM, then SIGKILL
/// if it is still flushing a second later). The exit status is ffmpeg's.
const SH_WRAPPER: &str = "d=$1 n=$2; shift 2; \
if [ \"$n\" -gt 0 ] && command -v flock >/dev/null 2>&1; then i=0; \
while [ $i -lt $n ]; do exec 4>>\"$d/slot-$i.lock\"; flock -n 4 && break; exec 4>&-; i=$((i+1)); done; \
if [ $i -ge $n ]; then echo \"distrffmpeg: all $n slots busy\" >&2; exit 75; fi; fi; \
exec 3<&0; \"$@\" </dev/null 3<&- & p=$!; \
(cat <&3 >/dev/null 2>&1; kill $p 2>/dev/null; sleep 1; kill -9 $p 2>/dev/null) \
4>&- >/dev/null 2>&1 & w=$!; \
exec 3<&-; wait $p; s=$?; kill $w 2>/dev/null; exit $s";

/// The exit status and stderr line of an encode that found every slot of its worker leased.
pub const BUSY_STATUS: u32 = 75;
pub const BUSY_LINE: &str = "slots busy";

/// Where and how many slot leases an encode may take on a worker.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// The worker's lease dir (absolute, private: made by the capability probe).
    pub dir: &'a str,
    pub slots: usize,
}

/// The remote encode command: `argv` (ffmpeg and its arguments) under the kill-on-close
/// wrapper, holding a slot lease (POSIX workers; Windows takes none).
pub fn guarded_command(
    platform: Platform,
    argv: &[String],
    lease: Option<Lease>,
) -> Result<String, CommandError> {
    match platform {
        Platform::Posix => {
            let (dir, slots) = lease.map_or(("", 0), |l| (l.dir, l.slots));
            let mut v = vec![
                "sh".to_string(),
                "-c".to_string(),
                SH_WRAPPER.to_string(),
                "sh".to_string(),
                dir.to_string(),
                slots.to_string(),
            ];
            v.extend(argv.iter().cloned());
            command(Platform::Posix, &v)
        }
        Platform::Windows => {
            let (program, line) = windows_process(argv)?;
            let script = format!(
                "$i = New-Object System.Diagnostics.ProcessStartInfo; \
                 $i.FileName = {}; $i.Arguments = {}; $i.UseShellExecute = $false; \
                 $p = [System.Diagnostics.Process]::Start($i); \
                 $t = [Console]::In.ReadToEndAsync(); \
                 while (-not $p.WaitForExit(200)) {{ if ($t.IsCompleted) {{ $p.Kill(); break }} }}; \
                 $p.WaitForExit(); exit $p.ExitCode",
                ps_quote(&program),
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

    /// The login shells sshd may hand the command string to (`SHELL -c STRING`).
    const LOGIN_SHELLS: &[&[&str]] = &[
        &["sh"],
        &["bash"],
        &["dash"],
        &["zsh"],
        &["fish"],
        &["tcsh"],
        &["busybox", "ash"],
    ];

    /// What a login shell makes of a remote command line: the argv it ran (printf's output).
    fn run_in_shell(shell: &[&str], cmd: &str, cwd: &std::path::Path) -> (Vec<String>, String) {
        let out = std::process::Command::new(shell[0])
            .args(&shell[1..])
            .arg("-c")
            .arg(cmd)
            .current_dir(cwd)
            .output()
            .unwrap_or_else(|e| {
                panic!("{shell:?}: {e} (install fish, tcsh, zsh, busybox; .ci/run does this)")
            });
        let mut v: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(String::from)
            .collect();
        v.pop();
        (v, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Values that break naive quoting in some shell: fish reads `\'` and `\\` inside single
    /// quotes as escapes, tcsh rejects newlines in quotes, `!` is csh history.
    const SHELL_HOSTILE: &[&str] = &[
        "eq=gamma=1.0\\'",
        "x;touch pwned-fish;#",
        "'; touch pwned-q; '",
        "trailing\\",
        "\\\\double",
        "a\nb\nc",
        "$(touch pwned-sub)",
        "`touch pwned-bt`",
        "!!",
        "*",
        "|",
        "%s %n",
        "{a,b}",
        "~root",
        "\u{7f}\t\u{1}",
    ];

    #[test]
    fn every_login_shell_runs_the_same_argv() {
        let mut argv: Vec<String> = vec!["printf".into(), "%s\\0".into()];
        let values: Vec<String> = HOSTILE
            .iter()
            .chain(SHELL_HOSTILE)
            .map(|s| s.to_string())
            .collect();
        argv.extend(values.iter().cloned());
        let cmd = command(Platform::Posix, &argv).unwrap();
        assert!(
            cmd.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" +/=_'\"$()|%-.".contains(&b)),
            "{cmd}"
        );
        for shell in LOGIN_SHELLS {
            let dir = tempfile::tempdir().unwrap();
            let (got, err) = run_in_shell(shell, &cmd, dir.path());
            assert_eq!(got, values, "{shell:?}: {err}");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{shell:?} ran something: {left:?}");
        }
        // the decoded script is plain sh quoting
        let inner = sh_line(&argv);
        assert_eq!(shell_words::split(&inner).unwrap(), argv);
    }

    #[test]
    fn overlong_commands_are_refused_not_cut() {
        let big = vec!["ffmpeg".to_string(), "x".repeat(100_000)];
        let e = command(Platform::Posix, &big).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(guarded_command(Platform::Windows, &big, None).is_err());
        let ok = vec!["ffmpeg".to_string(), "x".repeat(60_000)];
        assert!(command(Platform::Posix, &ok).is_ok());
    }

    #[test]
    fn batch_files_get_cmd_exe_quoting() {
        assert_eq!(cmd_arg("a&b|c^d<e>f").unwrap(), "\"a&b|c^d<e>f\"");
        assert_eq!(cmd_arg("say \"hi\"").unwrap(), "\"say \"\"hi\"\"\"");
        assert_eq!(cmd_arg("%PATH%").unwrap(), "\"%%cd:~,%PATH%%cd:~,%\"");
        assert!(cmd_arg("a\nb").is_err());
        let (file, line) = windows_process(&[
            "C:\\ff\\ffmpeg.CMD".into(),
            "-i".into(),
            "a & calc.exe".into(),
        ])
        .unwrap();
        assert_eq!(file, "cmd.exe");
        assert_eq!(
            line,
            "/d /e:ON /v:OFF /c \"\"C:\\ff\\ffmpeg.CMD\" \"-i\" \"a & calc.exe\"\""
        );
        let (file, line) = windows_process(&["ffmpeg.exe".into(), "a & b".into()]).unwrap();
        assert_eq!((file.as_str(), line.as_str()), ("ffmpeg.exe", "\"a & b\""));
        let long = vec!["x.bat".to_string(), "y".repeat(9000)];
        assert!(matches!(
            windows_process(&long),
            Err(CommandError::TooLong {
                what: "cmd.exe",
                ..
            })
        ));
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
            .arg(guarded_command(Platform::Posix, &argv, None).unwrap())
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
            .arg(guarded_command(Platform::Posix, &argv, None).unwrap())
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
    fn posix_wrapper_holds_a_slot_lease_for_the_encodes_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let lease = Some(Lease {
            dir: dir.path().to_str().unwrap(),
            slots: 1,
        });
        let run = |argv: &[&str]| {
            let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            std::process::Command::new("sh")
                .arg("-c")
                .arg(guarded_command(Platform::Posix, &argv, lease).unwrap())
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        // runs to the end with its channel (stdin) open, as an encode does
        let finish = |mut c: std::process::Child| {
            let channel = c.stdin.take();
            let status = c.wait().unwrap();
            drop(channel);
            let mut err = String::new();
            std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
            (status.code(), err)
        };
        let mut holder = run(&["sleep", "30"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (code, err) = finish(run(&["true"]));
        assert_eq!(code, Some(BUSY_STATUS as i32));
        assert!(err.contains(BUSY_LINE), "{err}");
        // the holder's encode is killed (its channel closed): the lease goes with it
        drop(holder.stdin.take());
        holder.wait().unwrap();
        let (code, err) = finish(run(&["true"]));
        assert_eq!(code, Some(0), "{err}");
    }

    #[test]
    fn powershell_quotes_double_single_quotes() {
        assert_eq!(ps_quote("it's"), "'it''s'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(ps_quote("$(x) `y` ;z"), "'$(x) `y` ;z'");
        let c = command(Platform::Windows, &["ffmpeg".into(), "-version".into()]).unwrap();
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
