//! Unit tests of the known_hosts reader: which lines apply to a host, the verdict on a key,
//! the algorithm order, and learned lines (hashed ones checked by OpenSSH's `ssh-keygen -F`).

use super::*;

const ED_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILhitIj8ce023QEb95HxVylrGiqRWvay80aNqEy1fZph";
const ED_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILvcNvApzZpyJWFGVDarT3X71X5Nh8bUVmtKDOa9CgE0";
const EC_C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN3CYprz5327X7RzayK//GDWVSXXj5Ne9ssYut7YpHKuOoyeoyj711LH+X2dehfQOJmBk+wF6wExGk0+GIFB5Rw=";
const RSA_D: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC21GzOZfKFfXhw/8pbP1/U7EzzsFNoTBo+E9hn4XLsnCYpgLxccuIBNXfz0cbGhJbdzF1hoVqh+fPIaXH3ea9t8Y4SdbVNy04O28wwJuHAUGM4kt1hcdLiE6kmaPEZzadazrPumnu1CDtEpsI4sXsMvWehim2uWlQeYdakvC82XI2T26r4XAuZlSvkgV5aljnxMbkVG2WvsXUmrnU3bN7HCjUjQAya/n6qgqwXnXV8Vlwwnc1bSn5z0hCB5gXeAyt76j9IWy6euCwdsyDBNfFf5Qonhdg8DPmnpoSW/WMUXqYrftqjljQ59gvqb3htzHxy1YtqeB3AZHG5511aAg/T";
/// `ssh-keygen -H` of `[10.0.0.5]:2222 ED_A` and `example.com EC_C`.
const HASHED: &str = "|1|9VYVN8ZG5tk4yep3cmntuTg/FAw=|4BDR/YcsOjErZjI4OOJVhZ5aYLI= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILhitIj8ce023QEb95HxVylrGiqRWvay80aNqEy1fZph\n\
|1|fE8sL8fsW6SBPJtUvko2qodkCb0=|glD7s/eeuvuj9PhFmfeOw0dPcPw= ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN3CYprz5327X7RzayK//GDWVSXXj5Ne9ssYut7YpHKuOoyeoyj711LH+X2dehfQOJmBk+wF6wExGk0+GIFB5Rw=\n";

fn key(s: &str) -> PublicKey {
    s.parse().unwrap()
}

struct Files {
    dir: tempfile::TempDir,
    files: KnownHostsFiles,
}

/// A user file and a system file with these contents.
fn files(user: &str, system: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let u = dir.path().join("known_hosts");
    let g = dir.path().join("ssh_known_hosts");
    std::fs::write(&u, user).unwrap();
    std::fs::write(&g, system).unwrap();
    Files {
        files: KnownHostsFiles {
            user: vec![u],
            global: vec![g],
            hash: false,
        },
        dir,
    }
}

fn verdict(f: &Files, host: &str, port: u16, k: &str) -> Verdict {
    HostEntries::lookup(&f.files, host, port)
        .unwrap()
        .verdict(&key(k))
}

fn at(f: &Files, name: &str, line: usize) -> Place {
    Place {
        file: f.dir.path().join(name),
        line,
    }
}

#[test]
fn plain_names_and_ports() {
    let f = files(
        &format!("# comment\n\nhost1 {ED_A}\n[host2]:2222\t {ED_A} a comment\n"),
        "",
    );
    assert_eq!(verdict(&f, "host1", 22, ED_A), Verdict::Known);
    assert_eq!(
        verdict(&f, "HOST1", 22, ED_A),
        Verdict::Known,
        "names ignore case"
    );
    assert_eq!(
        verdict(&f, "host1", 2222, ED_A),
        Verdict::Unknown,
        "another port"
    );
    assert_eq!(verdict(&f, "host2", 2222, ED_A), Verdict::Known);
    assert_eq!(verdict(&f, "host2", 22, ED_A), Verdict::Unknown);
    assert_eq!(
        verdict(&f, "host1", 22, ED_B),
        Verdict::Changed(at(&f, "known_hosts", 3))
    );
    assert_eq!(host_name("h", 22), "h");
    assert_eq!(host_name("H", 2200), "[h]:2200");
}

#[test]
fn hashed_names_as_openssh_writes_them() {
    let f = files(HASHED, "");
    assert_eq!(verdict(&f, "10.0.0.5", 2222, ED_A), Verdict::Known);
    assert_eq!(verdict(&f, "10.0.0.5", 22, ED_A), Verdict::Unknown);
    assert_eq!(verdict(&f, "example.com", 22, EC_C), Verdict::Known);
    assert_eq!(
        verdict(&f, "10.0.0.5", 2222, ED_B),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
}

#[test]
fn a_wildcard_with_another_key_is_a_changed_key() {
    let f = files(&format!("* {ED_B}\n"), "");
    assert_eq!(
        verdict(&f, "anything", 22, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    assert_eq!(
        verdict(&f, "10.0.0.1", 2222, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    let f = files(&format!("*.lan,10.0.0.? {ED_B}\n"), "");
    assert_eq!(
        verdict(&f, "nas.lan", 22, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    assert_eq!(
        verdict(&f, "10.0.0.7", 22, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    assert_eq!(
        verdict(&f, "10.0.0.17", 22, ED_A),
        Verdict::Unknown,
        "? is one character"
    );
    assert_eq!(verdict(&f, "lan", 22, ED_A), Verdict::Unknown);
    let f = files(&format!("[*.lan]:2222 {ED_B}\n"), "");
    assert_eq!(
        verdict(&f, "nas.lan", 2222, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    assert_eq!(verdict(&f, "nas.lan", 22, ED_A), Verdict::Unknown);
}

#[test]
fn a_negated_match_makes_the_line_not_apply() {
    let f = files(
        &format!("*.lan,!evil.lan {ED_B}\n!*.lan,*.lan {EC_C}\n"),
        "",
    );
    assert_eq!(
        verdict(&f, "good.lan", 22, ED_A),
        Verdict::Changed(at(&f, "known_hosts", 1))
    );
    assert_eq!(verdict(&f, "evil.lan", 22, ED_A), Verdict::Unknown);
    assert_eq!(
        verdict(&f, "good.lan", 22, EC_C),
        Verdict::Unknown,
        "negated first"
    );
}

#[test]
fn revoked_keys_are_refused_whatever_else_matches() {
    let f = files(
        &format!("host1 {ED_A}\n"),
        &format!("@revoked * {ED_A}\n@revoked other {ED_B}\n"),
    );
    assert_eq!(
        verdict(&f, "host1", 22, ED_A),
        Verdict::Revoked(at(&f, "ssh_known_hosts", 1))
    );
    // a revoked line is no known key: another key of the type is not "changed" because of it
    assert_eq!(verdict(&f, "other", 22, EC_C), Verdict::Unknown);
    assert_eq!(
        verdict(&f, "other", 22, ED_B),
        Verdict::Revoked(at(&f, "ssh_known_hosts", 2))
    );
}

#[test]
fn a_certificate_authority_never_accepts_a_plain_key() {
    let f = files(
        &format!("@cert-authority *.lan {ED_A}\nknown.lan {EC_C}\n"),
        "",
    );
    assert_eq!(
        verdict(&f, "nas.lan", 22, ED_A),
        Verdict::CertAuthority(at(&f, "known_hosts", 1)),
        "the CA's own key presented as a host key"
    );
    assert_eq!(
        verdict(&f, "nas.lan", 22, ED_B),
        Verdict::CertAuthority(at(&f, "known_hosts", 1))
    );
    assert_eq!(verdict(&f, "known.lan", 22, EC_C), Verdict::Known);
    let f = files(
        &format!("@cert-authority *.lan {ED_A}\nknown.lan {ED_A}\n"),
        "",
    );
    assert_eq!(
        verdict(&f, "known.lan", 22, ED_B),
        Verdict::Changed(at(&f, "known_hosts", 2)),
        "a changed key is named as one"
    );
    assert_eq!(verdict(&f, "other", 22, ED_A), Verdict::Unknown);
    let e = HostEntries::lookup(&f.files, "nas.lan", 22).unwrap();
    assert_eq!(
        e.preferred_algorithms(),
        russh::Preferred::DEFAULT.key.to_vec()
    );
}

#[test]
fn several_keys_per_host() {
    let f = files(
        &format!("host1 {ED_B}\nhost1,host9 {ED_A}\nhost1 {EC_C}\n"),
        "",
    );
    assert_eq!(verdict(&f, "host1", 22, ED_A), Verdict::Known);
    assert_eq!(verdict(&f, "host1", 22, ED_B), Verdict::Known);
    assert_eq!(verdict(&f, "host1", 22, EC_C), Verdict::Known);
    assert_eq!(
        verdict(&f, "host1", 22, RSA_D),
        Verdict::Unknown,
        "no rsa line"
    );
    assert_eq!(
        verdict(&f, "host9", 22, ED_B),
        Verdict::Changed(at(&f, "known_hosts", 2))
    );
}

#[test]
fn the_system_file_is_read_after_the_user_file() {
    let f = files("", &format!("host1 {EC_C}\n"));
    assert_eq!(verdict(&f, "host1", 22, EC_C), Verdict::Known);
    let f = files(&format!("host1 {ED_B}\n"), &format!("host1 {ED_A}\n"));
    assert_eq!(
        verdict(&f, "host1", 22, ED_A),
        Verdict::Known,
        "any matching line accepts"
    );
    let mut f = files("", "");
    f.files.user.push(f.dir.path().join("missing"));
    assert_eq!(
        verdict(&f, "host1", 22, ED_A),
        Verdict::Unknown,
        "missing files are empty"
    );
}

#[test]
fn unparsable_lines_are_skipped() {
    let f = files(
        &format!("garbage\nhost1 ssh-foo AAAA\n@bogus host1 {ED_B}\nhost1 {ED_A}\n"),
        "",
    );
    assert_eq!(verdict(&f, "host1", 22, ED_A), Verdict::Known);
}

#[test]
fn algorithms_are_offered_in_the_order_of_the_known_keys() {
    let f = files(&format!("host1 {RSA_D}\nhost1 {EC_C}\nother {ED_A}\n"), "");
    let e = HostEntries::lookup(&f.files, "host1", 22).unwrap();
    let order = e.preferred_algorithms();
    let rsa = |h| Algorithm::Rsa { hash: h };
    assert_eq!(
        order[..4],
        [
            rsa(Some(HashAlg::Sha512)),
            rsa(Some(HashAlg::Sha256)),
            rsa(None),
            Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256
            },
        ]
    );
    assert_eq!(order[4], Algorithm::Ed25519);
    assert_eq!(order.len(), russh::Preferred::DEFAULT.key.len());
}

fn keygen_finds(file: &Path, name: &str) -> bool {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(name)
        .arg("-f")
        .arg(file)
        .output()
        .expect("ssh-keygen (openssh-client)");
    out.status.success() && !out.stdout.is_empty()
}

#[test]
fn learned_keys_are_appended_hashed_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new/.ssh/known_hosts");
    let mut files = KnownHostsFiles {
        user: vec![file.clone()],
        global: vec![],
        hash: true,
    };
    assert_eq!(learn(&files, "10.0.0.5", 2222, &key(ED_A)).unwrap(), file);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("10.0.0.5"),
        "{text}"
    );
    assert!(
        keygen_finds(&file, "[10.0.0.5]:2222"),
        "OpenSSH finds it: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    let e = HostEntries::lookup(&files, "10.0.0.5", 2222).unwrap();
    assert_eq!(e.verdict(&key(ED_A)), Verdict::Known);
    // plain, after a last line without its newline
    std::fs::write(&file, format!("x {ED_B}")).unwrap();
    files.hash = false;
    learn(&files, "Host1", 22, &key(EC_C)).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text, format!("x {ED_B}\nhost1 {EC_C}\n"));
    assert!(keygen_finds(&file, "host1"));
    files.user.clear();
    assert!(learn(&files, "h", 22, &key(EC_C)).is_err());
}
