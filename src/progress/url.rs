//! `-progress URL` as ffmpeg opens it: `pipe:[N]` and `-`, `file:` and plain paths, `unix:`
//! sockets, `tcp://` and `udp://`. Other protocols ffmpeg knows (http, rtmp, …) are left to
//! ffmpeg itself: such a command passes through (`needs_ffmpeg`).

use anyhow::{bail, Context, Result};
use std::io::Write;

/// Protocols of ffmpeg 5.1 that can be written to and that we do not open ourselves; a URL
/// with another prefix is a file name to ffmpeg (`url_find_protocol` falls back to `file`).
const FFMPEG_ONLY: &[&str] = &[
    "http", "https", "rtmp", "rtmps", "rtmpe", "rtmpt", "rtmpte", "rtmpts", "ftp", "sftp", "srt",
    "rist", "icecast", "tls", "crypto", "gopher", "gophers", "prompeg", "rtp", "sctp", "srtp",
    "zmq", "librtmp", "fd", "cache", "async", "md5", "tee", "subfile", "concat", "data",
];

/// The scheme of `url` as ffmpeg reads it (`tcp` for `tcp://h:1`), if it has one.
fn scheme(url: &str) -> Option<&str> {
    let (s, _) = url.split_once(':')?;
    (!s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(s)
}

/// A `-progress` URL that only ffmpeg can open (the command then passes through).
pub fn needs_ffmpeg(url: &str) -> bool {
    scheme(url).is_some_and(|s| FFMPEG_ONLY.contains(&s) || s == "tcp" && url.contains("listen"))
}

/// Datagrams, one per block (ffmpeg writes each block with one `avio_flush`).
struct Udp(std::net::UdpSocket);

impl Write for Udp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `host:port` of `proto://host:port?options`.
fn host_port<'a>(url: &'a str, proto: &str) -> Result<&'a str> {
    let rest = url
        .strip_prefix(proto)
        .and_then(|r| r.strip_prefix("://"))
        .with_context(|| format!("-progress {url}: expected {proto}://host:port"))?;
    let hp = rest.split(['?', '/']).next().unwrap_or_default();
    if !hp.contains(':') {
        bail!("-progress {url}: no port");
    }
    Ok(hp)
}

/// Opens the user's `-progress` target for writing.
pub async fn open(url: &str) -> Result<Box<dyn Write + Send>> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || open_blocking(&url)).await?
}

fn open_blocking(url: &str) -> Result<Box<dyn Write + Send>> {
    let failed = || format!("Failed to open progress URL \"{url}\"");
    Ok(match scheme(url) {
        _ if url == "-" => Box::new(std::io::stdout()),
        // ffmpeg's strtol: no number (or trailing junk) means stdout
        Some("pipe") => match url[5..].parse::<u32>() {
            Err(_) | Ok(1) => Box::new(std::io::stdout()),
            Ok(2) => Box::new(std::io::stderr()),
            Ok(fd) => {
                // the inherited descriptor, reopened: appending keeps a `3>>log` redirection's
                // earlier content, and a fresh `3>log` is empty anyway
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(format!("/dev/fd/{fd}"))
                    .with_context(failed)?;
                Box::new(f)
            }
        },
        Some("unix") => {
            let path = &url[5..];
            #[cfg(unix)]
            {
                Box::new(std::os::unix::net::UnixStream::connect(path).with_context(failed)?)
            }
            #[cfg(not(unix))]
            bail!("{}: unix sockets need a Unix system", failed())
        }
        Some("tcp") => {
            let s = std::net::TcpStream::connect(host_port(url, "tcp")?).with_context(failed)?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
        Some("udp") => {
            let to = host_port(url, "udp")?;
            let bind = if to.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = std::net::UdpSocket::bind(bind).with_context(failed)?;
            s.connect(to).with_context(failed)?;
            Box::new(Udp(s))
        }
        s if s.is_some_and(|s| FFMPEG_ONLY.contains(&s)) => {
            bail!(
                "{}: only ffmpeg opens {} URLs",
                failed(),
                s.unwrap_or_default()
            )
        }
        _ => {
            let path = url.strip_prefix("file:").unwrap_or(url);
            Box::new(std::fs::File::create(path).with_context(failed)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn schemes_as_ffmpeg_reads_them() {
        assert!(needs_ffmpeg("http://127.0.0.1:8080/progress"));
        assert!(needs_ffmpeg("tcp://127.0.0.1:9000?listen=1"));
        assert!(!needs_ffmpeg("tcp://127.0.0.1:9000"));
        assert!(!needs_ffmpeg("unix:///tmp/p.sock"));
        assert!(!needs_ffmpeg("pipe:1"));
        assert!(!needs_ffmpeg("progress.txt"));
        // an unknown prefix is part of a file name to ffmpeg
        assert!(!needs_ffmpeg("report:1.txt"));
    }

    #[tokio::test]
    async fn sockets_and_files_receive_the_blocks() {
        let dir = tempfile::tempdir().unwrap();
        // unix socket, as ffmpeg-python's show_progress example listens
        let sock = dir.path().join("p.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut w = open(&format!("unix://{}", sock.display())).await.unwrap();
        w.write_all(b"frame=1\nprogress=end\n").unwrap();
        drop(w);
        let mut got = String::new();
        l.accept().unwrap().0.read_to_string(&mut got).unwrap();
        assert_eq!(got, "frame=1\nprogress=end\n");
        // tcp
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut w = open(&format!("tcp://127.0.0.1:{port}")).await.unwrap();
        w.write_all(b"progress=end\n").unwrap();
        drop(w);
        let mut got = String::new();
        l.accept().unwrap().0.read_to_string(&mut got).unwrap();
        assert_eq!(got, "progress=end\n");
        // file: and a plain path
        let f = dir.path().join("p.txt");
        let mut w = open(&format!("file:{}", f.display())).await.unwrap();
        w.write_all(b"x").unwrap();
        drop(w);
        assert_eq!(std::fs::read(&f).unwrap(), b"x");
        // nobody listening: ffmpeg's message
        let err = open("tcp://127.0.0.1:1").await.err().unwrap();
        assert!(format!("{err:#}").starts_with("Failed to open progress URL"));
    }
}
