//! Authenticity: SSH signatures (`sshsig`) on bundles, checked against an
//! OpenSSH `allowed_signers` file.
//!
//! A bundle `B` is signed by a detached sidecar `B.sig`, byte for byte what
//! `ssh-keygen -Y sign -n afbundle -f KEY B` writes. The sidecar is not
//! executable, so walks never take it for a bundle and the bundle format is
//! untouched.
//!
//! Trust comes from [`TrustedSigners`], an `allowed_signers` file (format of
//! ssh-keygen(1), "ALLOWED SIGNERS") read once through one descriptor and
//! refused when anyone but its owner (the current user or root) could change
//! it or a directory above it. A signature is accepted when, in this order:
//! the sidecar is a readable regular file and parses; its namespace is
//! `afbundle`; its key is listed; a line listing it allows the namespace and
//! is valid now (`valid-after` / `valid-before`); and the signature verifies
//! over the SHA-512 (or SHA-256) of the whole bundle file. Every failure is an
//! [`ErrorKind::Signature`] with its [`Problem`].
//!
//! The cryptography is the RustCrypto `ssh-key` crate's (Ed25519, ECDSA
//! P-256/384/521, RSA with SHA-2). ssh-key 0.6 can verify an `sshsig` only
//! over a message held in memory; to stream a large file we hash it here
//! and hand the key's verifier the same "signed data" blob that
//! PROTOCOL.sshsig defines (five fields, no cryptography) — see
//! [`verify_digest`]. `cert-authority` lines need certificate keys in
//! signatures, which ssh-key 0.6 cannot decode there: such a file is refused
//! with a clear error rather than half-honoured.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey, SshSig};

use crate::error::{Error, ErrorKind};
use crate::hash::{sha256, WholeFile};
use crate::trailer::hex;

/// The `sshsig` namespace of bundle signatures (`ssh-keygen -Y sign -n afbundle`).
pub const NAMESPACE: &str = "afbundle";
/// Appended to a bundle's path to name its signature sidecar.
pub const SIDECAR_SUFFIX: &str = ".sig";
/// Largest `allowed_signers` file read.
pub const MAX_SIGNERS_BYTES: u64 = 1 << 20;
/// Largest sidecar read (an RSA-16384 signature is under 6 KiB of PEM).
pub const MAX_SIDECAR_BYTES: u64 = 64 << 10;

/// Which signature check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No usable sidecar: missing, a symlink, not a regular file, too large.
    NoSidecar,
    /// The sidecar is not an armored `sshsig` signature.
    Malformed,
    /// The signing key is not in the trusted signers.
    UnknownKey,
    /// The signature's namespace, or the signer line's `namespaces=`, is not `afbundle`.
    WrongNamespace,
    /// Every line listing the key has a `valid-after` in the future.
    NotYetValid,
    /// Every line listing the key has a `valid-before` in the past.
    Expired,
    /// The signature does not verify over this file's bytes.
    BadSignature,
    /// The `allowed_signers` file is unusable (unsafe permissions, syntax).
    SignersFile,
}

impl Problem {
    /// A short stable name (`BundleSignatureError.problem` in Python).
    pub fn name(self) -> &'static str {
        match self {
            Problem::NoSidecar => "no_sidecar",
            Problem::Malformed => "malformed",
            Problem::UnknownKey => "unknown_key",
            Problem::WrongNamespace => "wrong_namespace",
            Problem::NotYetValid => "not_yet_valid",
            Problem::Expired => "expired",
            Problem::BadSignature => "bad_signature",
            Problem::SignersFile => "signers_file",
        }
    }

    fn with(self, detail: impl Into<String>) -> ErrorKind {
        ErrorKind::Signature {
            problem: self,
            detail: detail.into(),
        }
    }
}

/// One line of an `allowed_signers` file.
#[derive(Clone, Debug)]
pub struct Signer {
    /// The principals field as written (comma-separated patterns).
    pub principals: String,
    /// The public key.
    pub key: KeyData,
    /// `namespaces=` patterns; `None` allows every namespace.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after=` as Unix seconds.
    pub valid_after: Option<i64>,
    /// `valid-before=` as Unix seconds.
    pub valid_before: Option<i64>,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// A loaded `allowed_signers` file.
#[derive(Clone, Debug)]
pub struct TrustedSigners {
    path: PathBuf,
    content_sha256: [u8; 32],
    signers: Vec<Signer>,
}

impl TrustedSigners {
    /// Open `path` once, refuse it if others could change it, and parse it.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                Problem::SignersFile
                    .with(format!("cannot open: {e}"))
                    .at(path)
            })?;
        let real = real_path(&file).unwrap_or_else(|| crate::reader::resolve(path));
        check_trusted_file(&file, &real).map_err(|why| Problem::SignersFile.with(why).at(path))?;
        let mut raw = Vec::new();
        (&file)
            .take(MAX_SIGNERS_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| {
                Problem::SignersFile
                    .with(format!("cannot read: {e}"))
                    .at(path)
            })?;
        if raw.len() as u64 > MAX_SIGNERS_BYTES {
            return Err(Problem::SignersFile
                .with(format!("larger than the {MAX_SIGNERS_BYTES}-byte limit"))
                .at(path));
        }
        Self::parse(&raw, &real).map_err(|k| k.at(path))
    }

    /// Parse the bytes of an `allowed_signers` file (`path` names it in messages).
    pub fn parse(raw: &[u8], path: &Path) -> Result<Self, ErrorKind> {
        let text = std::str::from_utf8(raw)
            .map_err(|e| Problem::SignersFile.with(format!("not UTF-8: {e}")))?;
        let mut signers = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let signer = parse_line(line, line_no)
                .map_err(|why| Problem::SignersFile.with(format!("line {line_no}: {why}")))?;
            signers.push(signer);
        }
        Ok(TrustedSigners {
            path: path.to_path_buf(),
            content_sha256: sha256(raw),
            signers,
        })
    }

    /// The file these signers were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the file's bytes as read (for cache keys and reports).
    pub fn content_sha256(&self) -> [u8; 32] {
        self.content_sha256
    }

    /// The parsed lines, in file order.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// The first line that lists `sig`'s key, allows [`NAMESPACE`] and is
    /// valid at `now` (Unix seconds); else why none is.
    pub fn authorize(&self, sig: &SshSig, now: i64) -> Result<&Signer, ErrorKind> {
        if sig.namespace() != NAMESPACE {
            return Err(Problem::WrongNamespace.with(format!(
                "signature namespace is {:?}, expected {NAMESPACE:?}",
                sig.namespace()
            )));
        }
        let fingerprint = fingerprint(sig.public_key());
        let mut first_refusal = None;
        for signer in self.signers.iter().filter(|s| &s.key == sig.public_key()) {
            let refusal = if !signer
                .namespaces
                .as_deref()
                .is_none_or(|patterns| match_list(NAMESPACE, patterns))
            {
                Problem::WrongNamespace.with(format!(
                    "key {fingerprint} ({}) is not allowed for namespace {NAMESPACE:?} (line {})",
                    signer.principals, signer.line
                ))
            } else if signer.valid_after.is_some_and(|t| now < t) {
                Problem::NotYetValid.with(format!(
                    "key {fingerprint} ({}) is not valid before {} (line {})",
                    signer.principals,
                    signer.valid_after.unwrap_or_default(),
                    signer.line
                ))
            } else if signer.valid_before.is_some_and(|t| now >= t) {
                Problem::Expired.with(format!(
                    "key {fingerprint} ({}) expired at {} (line {})",
                    signer.principals,
                    signer.valid_before.unwrap_or_default(),
                    signer.line
                ))
            } else {
                return Ok(signer);
            };
            first_refusal.get_or_insert(refusal);
        }
        Err(first_refusal.unwrap_or_else(|| {
            Problem::UnknownKey.with(format!(
                "signed by {fingerprint}, which is not in {}",
                self.path.display()
            ))
        }))
    }
}

/// `SHA256:...` fingerprint of a key, as `ssh-keygen -l` prints it.
fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Which whole-file digest `sig` signs.
pub fn whole_file_hash(sig: &SshSig) -> Result<WholeFile, ErrorKind> {
    match sig.hash_alg() {
        HashAlg::Sha256 => Ok(WholeFile::Sha256),
        HashAlg::Sha512 => Ok(WholeFile::Sha512),
        other => Err(Problem::Malformed.with(format!("unsupported hash algorithm {other:?}"))),
    }
}

/// Verify `sig` over a message whose [`whole_file_hash`] is `digest`.
///
/// The signed data is PROTOCOL.sshsig's blob: `"SSHSIG"`, then as SSH
/// strings the namespace, an empty reserved field, the hash algorithm name
/// and the digest — the same bytes ssh-key's `PublicKey::verify` builds from
/// an in-memory message, and with an empty reserved field like OpenSSH's
/// verifier. The public-key cryptography is ssh-key's.
pub fn verify_digest(sig: &SshSig, digest: &[u8]) -> Result<(), ErrorKind> {
    use ::signature::Verifier;
    if sig.namespace() != NAMESPACE {
        return Err(Problem::WrongNamespace.with(format!(
            "signature namespace is {:?}, expected {NAMESPACE:?}",
            sig.namespace()
        )));
    }
    let mut signed = Vec::with_capacity(6 + 4 * 4 + NAMESPACE.len() + 6 + digest.len());
    signed.extend_from_slice(b"SSHSIG");
    for field in [
        NAMESPACE.as_bytes(),
        b"",
        sig.hash_alg().as_str().as_bytes(),
        digest,
    ] {
        let len = u32::try_from(field.len()).expect("short field");
        signed.extend_from_slice(&len.to_be_bytes());
        signed.extend_from_slice(field);
    }
    sig.public_key()
        .verify(&signed, sig.signature())
        .map_err(|_| {
            Problem::BadSignature.with(format!(
                "signature by {} does not match the file's {} {}",
                fingerprint(sig.public_key()),
                sig.hash_alg().as_str(),
                hex(&digest[..8.min(digest.len())])
            ))
        })
}

/// The sidecar path of a bundle: `BUNDLE.sig`.
pub fn sidecar_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(SIDECAR_SUFFIX);
    PathBuf::from(name)
}

/// Read and parse the sidecar of the bundle at `bundle` (its resolved path).
///
/// The last component is opened with `O_NOFOLLOW` and non-blocking, and must
/// be a regular file of at most [`MAX_SIDECAR_BYTES`]. Where the sidecar
/// comes from is not what makes it trustworthy — the signature binds the
/// bundle's bytes to a trusted key — so a sidecar anyone planted verifies
/// only if a trusted key signed exactly these bytes.
pub fn read_sidecar(bundle: &Path) -> Result<SshSig, ErrorKind> {
    let path = sidecar_path(bundle);
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Problem::NoSidecar
                .with(format!("not signed: no signature file {}", path.display())))
        }
        // Out of descriptors or memory says nothing about the signature:
        // the caller stops instead of rejecting the bundle (`scan.rs`).
        Err(e) if crate::error::exhausted(&e) => {
            return Err(ErrorKind::io("open signature file", e))
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Problem::NoSidecar.with(format!(
                "signature file {} is a symbolic link (refused)",
                path.display()
            )))
        }
        Err(e) => {
            return Err(Problem::NoSidecar.with(format!("cannot open {}: {e}", path.display())))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| Problem::NoSidecar.with(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Problem::NoSidecar.with(format!(
            "signature file {} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_SIDECAR_BYTES {
        return Err(Problem::Malformed.with(format!(
            "signature file {} is larger than {MAX_SIDECAR_BYTES} bytes",
            path.display()
        )));
    }
    let mut raw = Vec::new();
    (&file)
        .take(MAX_SIDECAR_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Problem::NoSidecar.with(format!("cannot read {}: {e}", path.display())))?;
    parse_sidecar(&raw).map_err(|why| {
        Problem::Malformed.with(format!(
            "signature file {} is not an SSH signature: {why}",
            path.display()
        ))
    })
}

/// Parse an armored `-----BEGIN SSH SIGNATURE-----` block.
pub fn parse_sidecar(raw: &[u8]) -> Result<SshSig, String> {
    if raw.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(format!("larger than {MAX_SIDECAR_BYTES} bytes"));
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
    SshSig::from_pem(text.trim()).map_err(|e| e.to_string())
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

// ---- the trust rule for the signer file -------------------------------------

fn real_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let target = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    (target.is_absolute() && !target.as_os_str().as_bytes().ends_with(b" (deleted)"))
        .then_some(target)
}

/// Whoever can change the signer file decides what runs, so (as for the
/// digest cache directory) it must be a regular file owned by the current
/// user or root and not writable by group or others; and so must every
/// directory above it, since whoever can write a directory can replace its
/// entries. A sticky directory (like /tmp) is fine: others cannot rename or
/// delete entries they do not own.
fn check_trusted_file(file: &File, real: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let trusted_owner = |uid: u32| uid == euid || uid == 0;
    if !trusted_owner(meta.uid()) {
        return Err(format!(
            "owned by uid {}, not by the current user (uid {euid}) or root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:o}); run: chmod go-w {}",
            meta.mode() & 0o7777,
            real.display()
        ));
    }
    for dir in real.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let m = std::fs::metadata(dir)
            .map_err(|e| format!("cannot stat directory {}: {e}", dir.display()))?;
        if !trusted_owner(m.uid()) {
            return Err(format!(
                "directory {} is owned by uid {}, not by the current user (uid {euid}) or root",
                dir.display(),
                m.uid()
            ));
        }
        if m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0 {
            return Err(format!(
                "directory {} is writable by group or others (mode {:o})",
                dir.display(),
                m.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

// ---- allowed_signers syntax ---------------------------------------------------

/// Split off the first whitespace-separated token, honouring double quotes.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    Some((s, ""))
}

fn unquote(s: &str) -> Result<&str, String> {
    match s.strip_prefix('"') {
        None if s.contains('"') => Err(format!("stray quote in {s:?}")),
        None => Ok(s),
        Some(rest) => rest
            .strip_suffix('"')
            .filter(|inner| !inner.contains('"'))
            .ok_or_else(|| format!("unbalanced quotes in {s:?}")),
    }
}

fn is_key_type(token: &str) -> bool {
    ssh_key::Algorithm::new(token).is_ok() || token.contains("-cert-v01@openssh.com")
}

fn parse_line(line: &str, line_no: usize) -> Result<Signer, String> {
    let (principals, rest) = next_token(line).ok_or("empty line")?;
    let principals = unquote(principals)?.to_string();
    if principals.is_empty() {
        return Err("empty principals".into());
    }
    let (mut token, mut rest) = next_token(rest).ok_or("no public key after the principals")?;
    let mut options = Options::default();
    if !is_key_type(token) {
        options = parse_options(token)?;
        (token, rest) = next_token(rest).ok_or("no public key after the options")?;
    }
    if token.contains("-cert-v01@openssh.com") {
        return Err(format!("certificate key type {token} is not a public key"));
    }
    let key = PublicKey::from_openssh(&format!("{token}{rest}"))
        .map_err(|e| format!("bad public key ({token}): {e}"))?;
    Ok(Signer {
        principals,
        key: key.key_data().clone(),
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        line: line_no,
    })
}

#[derive(Default)]
struct Options {
    namespaces: Option<Vec<String>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// Split on commas outside double quotes.
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_options(options: &str) -> Result<Options, String> {
    let mut parsed = Options::default();
    for option in split_options(options) {
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v)?)),
            None => (option, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", None) => {
                return Err(
                    "cert-authority is not supported (afbundle verifies plain keys only; \
                     list each signing key instead)"
                        .into(),
                )
            }
            ("namespaces", Some(v)) => {
                parsed.namespaces = Some(v.split(',').map(str::to_string).collect());
            }
            ("valid-after", Some(v)) => parsed.valid_after = Some(parse_time(v)?),
            ("valid-before", Some(v)) => parsed.valid_before = Some(parse_time(v)?),
            _ => return Err(format!("unknown or malformed option {option:?}")),
        }
    }
    Ok(parsed)
}

/// `YYYYMMDD[HHMM[SS]][Z]` as Unix seconds: UTC with `Z`, else local time
/// (ssh-keygen's rule).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("bad time {s:?} (expected YYYYMMDD[HHMM[SS]][Z])");
    let (digits, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (s, false),
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num =
        |r: std::ops::Range<usize>| digits.get(r).map_or(0, |d| d.parse::<i64>().unwrap_or(0));
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    if utc {
        return Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second);
    }
    // SAFETY: an all-zero tm is valid; mktime only reads and normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = (year - 1900) as libc::c_int;
    tm.tm_mon = (month - 1) as libc::c_int;
    tm.tm_mday = day as libc::c_int;
    tm.tm_hour = hour as libc::c_int;
    tm.tm_min = minute as libc::c_int;
    tm.tm_sec = second as libc::c_int;
    tm.tm_isdst = -1;
    // SAFETY: tm is a valid, initialised struct owned by this frame.
    let t = unsafe { libc::mktime(&mut tm) };
    if t == -1 {
        return Err(bad());
    }
    #[allow(clippy::useless_conversion)] // time_t is 32-bit on some targets
    Ok(i64::from(t))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// OpenSSH's `match_pattern`: `*` and `?` wildcards.
fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, _) => s.is_empty(),
        (Some(b'*'), _) => (0..=s.len()).any(|i| match_pattern(&s[i..], &p[1..])),
        (Some(b'?'), Some(_)) => match_pattern(&s[1..], &p[1..]),
        (Some(pc), Some(sc)) if pc == sc => match_pattern(&s[1..], &p[1..]),
        _ => false,
    }
}

/// OpenSSH's `match_pattern_list`: any positive match, and no `!negated` one.
fn match_list(s: &str, patterns: &[String]) -> bool {
    let mut matched = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if match_pattern(s.as_bytes(), neg.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= match_pattern(s.as_bytes(), p.as_bytes()),
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuwkjLquLdjJv0EsfvJYAF/gvgYRxOZdFbbfQLQiKow";

    fn parse(text: &str) -> Result<TrustedSigners, ErrorKind> {
        TrustedSigners::parse(text.as_bytes(), Path::new("allowed_signers"))
    }

    fn problem(err: ErrorKind) -> (Problem, String) {
        match err {
            ErrorKind::Signature { problem, detail } => (problem, detail),
            other => panic!("not a signature error: {other}"),
        }
    }

    #[test]
    fn a_plain_line_comments_and_blank_lines_parse() {
        let s = parse(&format!("# ci\n\nci@example.com {ED} release key\n")).unwrap();
        assert_eq!(s.signers().len(), 1);
        let line = &s.signers()[0];
        assert_eq!(line.principals, "ci@example.com");
        assert_eq!(line.line, 3);
        assert!(line.namespaces.is_none() && line.valid_after.is_none());
    }

    #[test]
    fn options_are_parsed_case_insensitively_with_quotes() {
        let s = parse(&format!(
            "\"a@x,b@x\" NAMESPACES=\"afbundle,git\",valid-after=20200101Z,valid-before=\"20300101120000Z\" {ED}\n"
        ))
        .unwrap();
        let line = &s.signers()[0];
        assert_eq!(line.principals, "a@x,b@x");
        assert_eq!(line.namespaces.as_deref().unwrap(), ["afbundle", "git"]);
        assert_eq!(line.valid_after, Some(1_577_836_800));
        assert_eq!(line.valid_before, Some(1_893_499_200));
    }

    #[test]
    fn cert_authority_is_refused_as_unsupported() {
        let (p, why) = problem(parse(&format!("*@x cert-authority {ED}")).unwrap_err());
        assert_eq!(p, Problem::SignersFile);
        assert!(
            why.contains("line 1") && why.contains("cert-authority is not supported"),
            "{why}"
        );
    }

    #[test]
    fn malformed_lines_are_errors_that_name_the_line() {
        for (text, needle) in [
            ("only-a-principal", "no public key"),
            ("p ssh-ed25519 !!!notbase64", "bad public key"),
            ("p bogus-option {ED}", "unknown or malformed option"),
            ("p valid-after=2020 {ED}", "bad time"),
            ("p valid-before=20201301 {ED}", "bad time"),
            ("p namespaces=\"afbundle {ED}", "quote"),
            ("p", "no public key"),
        ] {
            let text = text.replace("{ED}", ED);
            let (p, why) = problem(parse(&format!("# c\n{text}\n")).unwrap_err());
            assert_eq!(p, Problem::SignersFile, "{text}");
            assert!(
                why.contains("line 2") && why.contains(needle),
                "{text}: {why}"
            );
        }
        let (_, why) = problem(TrustedSigners::parse(b"\xff\xfe", Path::new("x")).unwrap_err());
        assert!(why.contains("UTF-8"), "{why}");
    }

    #[test]
    fn time_formats_follow_ssh_keygen() {
        assert_eq!(parse_time("19700101Z"), Ok(0));
        assert_eq!(parse_time("197001010001Z"), Ok(60));
        assert_eq!(parse_time("20000229235959Z"), Ok(951_868_799));
        assert!(parse_time("19700101").is_ok());
        for bad in [
            "1970010",
            "19700101Zx",
            "1970-01-01",
            "19701301Z",
            "19700101250000Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_like_openssh() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(match_list("afbundle", &list(&["git", "af*"])));
        assert!(match_list("afbundle", &list(&["?fbundl?"])));
        assert!(!match_list("afbundle", &list(&["*", "!afbundle"])));
        assert!(!match_list("afbundle", &list(&["file"])));
    }

    #[test]
    fn a_malformed_sidecar_is_a_clean_error() {
        assert!(parse_sidecar(b"").is_err());
        assert!(parse_sidecar(
            b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
        )
        .is_err());
        assert!(parse_sidecar(&[0xffu8; 100]).is_err());
        assert!(parse_sidecar(&vec![b'a'; MAX_SIDECAR_BYTES as usize + 1]).is_err());
    }

    #[test]
    fn the_sidecar_sits_next_to_the_bundle() {
        assert_eq!(sidecar_path(Path::new("/b/x")), Path::new("/b/x.sig"));
    }
}
