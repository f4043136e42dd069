//! Authenticity: SSH signatures (`sshsig`) on bundles, checked against an
//! OpenSSH `allowed_signers` file.
//!
//! A bundle `B` is signed by a detached sidecar `B.sig`, byte for byte what
//! `ssh-keygen -Y sign -n afbundle -f KEY B` writes. The sidecar is not
//! executable, so walks never take it for a bundle and the bundle format is
//! untouched.
//!
//! Trust comes from [`TrustedSigners`], an `allowed_signers` file (format of
//! ssh-keygen(1), "ALLOWED SIGNERS") reached under the trusted-path rule
//! ([`crate::fs::trusted_path`]: refused when anyone but root or the current user
//! could change it, a directory above it, or a link on the way), located
//! `O_PATH` and read once, and read line by line exactly as OpenSSH reads it
//! ([`crate::verify::allowed_signers`]: a line OpenSSH would skip is skipped, with
//! its reason kept). A signature is accepted when, in this order: the
//! sidecar is a regular file (located `O_PATH` first, so a FIFO is never
//! opened) and parses; its namespace is `afbundle`; a usable line lists its
//! key, allows the namespace and is valid now (`valid-after` /
//! `valid-before`, both inclusive); and the signature verifies over the
//! SHA-512 (or SHA-256) of the whole bundle file. Every failure is an
//! [`ErrorKind::Signature`] with its [`Problem`].
//!
//! The cryptography is the RustCrypto `ssh-key` crate's (Ed25519, ECDSA
//! P-256/384/521, RSA with SHA-2). ssh-key 0.6 can verify an `sshsig` only
//! over a message held in memory; to stream a large file we hash it here
//! and hand the key's verifier the same "signed data" blob that
//! PROTOCOL.sshsig defines (five fields, no cryptography) — see
//! [`verify_digest`]. Signatures made with a certificate key cannot be
//! decoded by ssh-key 0.6, so a `cert-authority` line never vouches for
//! anything here (OpenSSH would accept a certificate it signed): afbundle
//! refuses where OpenSSH might accept, never the other way round.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, SshSig};

use crate::error::{Error, ErrorKind, Op, Problem};
use crate::format::digest::hex;
use crate::format::digest::sha256;
use crate::fs::trusted_path::{self, Target};
use crate::verify::allowed_signers::{self, Line};
use crate::verify::hash::WholeFile;

/// The `sshsig` namespace of bundle signatures (`ssh-keygen -Y sign -n afbundle`).
pub const NAMESPACE: &str = "afbundle";
/// Appended to a bundle's path to name its signature sidecar.
pub(crate) const SIDECAR_SUFFIX: &str = ".sig";
/// Largest `allowed_signers` file read.
pub(crate) const MAX_SIGNERS_BYTES: u64 = 1 << 20;
/// Largest sidecar read (an RSA-16384 signature is under 6 KiB of PEM).
pub(crate) const MAX_SIDECAR_BYTES: u64 = 64 << 10;

pub use crate::verify::allowed_signers::Signer;

/// A loaded `allowed_signers` file.
#[derive(Clone, Debug)]
pub struct TrustedSigners {
    path: PathBuf,
    content_sha256: [u8; 32],
    signers: Vec<Signer>,
    skipped: Vec<(usize, String)>,
}

impl TrustedSigners {
    /// Open `path` once, refuse it if others could change it, and parse it.
    ///
    /// The path is resolved under the trusted-path rule
    /// ([`crate::fs::trusted_path`]), as the digest cache directory is: every
    /// directory on the way, and every symlink followed, must be root's or
    /// the current user's, and no directory writable by others (unless
    /// sticky). The file itself must be a regular file owned by the current
    /// user or root and not writable by group or others; it is located
    /// `O_PATH` and only then opened for reading, so a FIFO or device there
    /// is never opened.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let refused = |why: String| Problem::SignersFile.with(why).at(path);
        let found = trusted_path::resolve(path, Target::File, "the signer file")
            .map_err(|e| refused(e.to_string()))?;
        check_trusted_file(&found.stat, &found.path).map_err(refused)?;
        let (dir, name) = found
            .parent
            .as_ref()
            .expect("a file has a parent directory");
        let fd = trusted_path::reopen_regular(
            &found.fd,
            &found.stat,
            dir.as_fd(),
            &**name,
            OFlags::NOFOLLOW,
        )
        .map_err(|e| refused(format!("cannot open: {e}")))?;
        let mut raw = Vec::new();
        File::from(fd)
            .take(MAX_SIGNERS_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| refused(format!("cannot read: {e}")))?;
        if raw.len() as u64 > MAX_SIGNERS_BYTES {
            return Err(refused(format!(
                "larger than the {MAX_SIGNERS_BYTES}-byte limit"
            )));
        }
        Ok(Self::parse(&raw, &found.path))
    }

    /// Read the bytes of an `allowed_signers` file (`path` names it in
    /// messages) as OpenSSH does ([`crate::verify::allowed_signers`]): a line it
    /// would skip is skipped here too, and remembered with its reason
    /// ([`TrustedSigners::skipped`]); nothing in the content fails the file.
    pub(crate) fn parse(raw: &[u8], path: &Path) -> Self {
        let mut signers = Vec::new();
        let mut skipped = Vec::new();
        for (i, line) in allowed_signers::parse(raw).into_iter().enumerate() {
            match line {
                Line::Ignored => {}
                Line::Signer(signer) => signers.push(*signer),
                Line::Skipped(why) => skipped.push((i + 1, why)),
            }
        }
        TrustedSigners {
            path: path.to_path_buf(),
            content_sha256: sha256(raw),
            signers,
            skipped,
        }
    }

    /// The file these signers were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the file's bytes as read (for cache keys and reports).
    pub fn content_sha256(&self) -> [u8; 32] {
        self.content_sha256
    }

    /// The usable lines, in file order.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// The lines OpenSSH would skip (line number, reason), in file order.
    pub fn skipped(&self) -> &[(usize, String)] {
        &self.skipped
    }

    /// The first line that lists `sig`'s key, allows [`NAMESPACE`] and is
    /// valid at `now` (Unix seconds); else why none is.
    pub(crate) fn authorize(&self, sig: &SshSig, now: i64) -> Result<&Signer, ErrorKind> {
        if sig.namespace() != NAMESPACE {
            return Err(Problem::WrongNamespace.with(format!(
                "signature namespace is {:?}, expected {NAMESPACE:?}",
                sig.namespace()
            )));
        }
        let fingerprint = fingerprint(sig.public_key());
        let mut first_refusal = None;
        for signer in self.signers.iter().filter(|s| &s.key == sig.public_key()) {
            let refusal = if signer.cert_authority {
                Problem::UnknownKey.with(format!(
                    "key {fingerprint} ({}) is listed as a cert-authority (line {}), which vouches \
                     only for certificates it signed; afbundle verifies plain-key signatures",
                    signer.principals, signer.line
                ))
            } else if !signer.allows_namespace(NAMESPACE) {
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
            } else if signer.valid_before.is_some_and(|t| now > t) {
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
            let skipped = match self.skipped.as_slice() {
                [] => String::new(),
                [(line, why)] => format!(" (line {line} was skipped: {why})"),
                [(line, why), rest @ ..] => format!(
                    " ({} lines were skipped; line {line}: {why})",
                    rest.len() + 1
                ),
            };
            Problem::UnknownKey.with(format!(
                "signed by {fingerprint}, which is not in {}{skipped}",
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
pub(crate) fn whole_file_hash(sig: &SshSig) -> Result<WholeFile, ErrorKind> {
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
pub(crate) fn verify_digest(sig: &SshSig, digest: &[u8]) -> Result<(), ErrorKind> {
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
pub(crate) fn sidecar_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(SIDECAR_SUFFIX);
    PathBuf::from(name)
}

/// Read and parse the sidecar of the bundle at `bundle` (its resolved path).
///
/// The sidecar is located `O_PATH | O_NOFOLLOW` (which never runs a FIFO's
/// or device's open), must be a regular file of at most
/// [`MAX_SIDECAR_BYTES`] (a symlink is refused), and only then is that inode
/// opened for reading ([`trusted_path::reopen_regular`]). Where the sidecar
/// comes from is not what makes it trustworthy — the signature binds the
/// bundle's bytes to a trusted key — so a sidecar anyone planted verifies
/// only if a trusted key signed exactly these bytes.
pub(crate) fn read_sidecar(bundle: &Path) -> Result<SshSig, ErrorKind> {
    let path = sidecar_path(bundle);
    let no_sidecar = |why: String| Problem::NoSidecar.with(why);
    let located = match rfs::openat(
        CWD,
        &path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => {
            return Err(no_sidecar(format!(
                "not signed: no signature file {}",
                path.display()
            )))
        }
        // Out of descriptors or memory says nothing about the signature:
        // the caller stops instead of rejecting the bundle (`bundle/scan.rs`).
        Err(e) if crate::error::exhausted(&e.into()) => {
            return Err(ErrorKind::io(Op::OpenSignature, e.into()))
        }
        Err(e) => return Err(no_sidecar(format!("cannot open {}: {e}", path.display()))),
    };
    let st = rfs::fstat(&located)
        .map_err(|e| no_sidecar(format!("cannot stat {}: {e}", path.display())))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => {
            return Err(no_sidecar(format!(
                "signature file {} is a symbolic link (refused)",
                path.display()
            )))
        }
        _ => {
            return Err(no_sidecar(format!(
                "signature file {} is not a regular file",
                path.display()
            )))
        }
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_SIDECAR_BYTES {
        return Err(Problem::Malformed.with(format!(
            "signature file {} is larger than {MAX_SIDECAR_BYTES} bytes",
            path.display()
        )));
    }
    let fd =
        trusted_path::reopen_regular(&located, &st, CWD, &path, OFlags::NOFOLLOW).map_err(|e| {
            match e {
                trusted_path::ReopenError::Open(errno) | trusted_path::ReopenError::Stat(errno)
                    if crate::error::exhausted(&errno.into()) =>
                {
                    ErrorKind::io(Op::OpenSignature, errno.into())
                }
                _ => no_sidecar(format!("cannot open {}: {e}", path.display())),
            }
        })?;
    let mut raw = Vec::new();
    File::from(fd)
        .take(MAX_SIDECAR_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| no_sidecar(format!("cannot read {}: {e}", path.display())))?;
    parse_sidecar(&raw).map_err(|why| {
        Problem::Malformed.with(format!(
            "signature file {} is not an SSH signature: {why}",
            path.display()
        ))
    })
}

/// Parse an armored `-----BEGIN SSH SIGNATURE-----` block.
pub(crate) fn parse_sidecar(raw: &[u8]) -> Result<SshSig, String> {
    if raw.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(format!("larger than {MAX_SIDECAR_BYTES} bytes"));
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
    SshSig::from_pem(text.trim()).map_err(|e| e.to_string())
}

/// The current time in Unix seconds.
pub(crate) fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

// ---- the trust rule for the signer file -------------------------------------

/// Whoever can change the signer file decides what runs, so (as for the
/// digest cache directory) it must be a regular file owned by the current
/// user or root and not writable by group or others. The directories above
/// it were checked by the walk that found it ([`trusted_path::resolve`]).
fn check_trusted_file(st: &Stat, real: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("not a regular file".into());
    }
    if !trusted_path::is_trusted_owner(st.st_uid, euid) {
        return Err(format!(
            "owned by uid {}, not by the current user (uid {euid}) or root",
            st.st_uid
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:o}); run: chmod go-w {}",
            st.st_mode & 0o7777,
            real.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh Ed25519 key and its signature of a small file, both by
    /// OpenSSH's own `ssh-keygen` (make test-tools installs it).
    fn signed() -> (tempfile::TempDir, String, SshSig) {
        let dir = tempfile::tempdir().unwrap();
        let (key, file) = (dir.path().join("key"), dir.path().join("f"));
        std::fs::write(&file, b"bytes").unwrap();
        for args in [
            &["-q", "-t", "ed25519", "-N", "", "-f", "key"][..],
            &["-q", "-Y", "sign", "-n", NAMESPACE, "-f", "key", "f"][..],
        ] {
            let status = std::process::Command::new("ssh-keygen")
                .args(args)
                .current_dir(dir.path())
                .status()
                .expect("ssh-keygen (make test-tools installs it)");
            assert!(status.success());
        }
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let public = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let sig = read_sidecar(&file).unwrap();
        (dir, public, sig)
    }

    fn signers(text: &str) -> TrustedSigners {
        TrustedSigners::parse(text.as_bytes(), Path::new("allowed_signers"))
    }

    fn refusal(signers: &TrustedSigners, sig: &SshSig, now: i64) -> (Problem, String) {
        match signers.authorize(sig, now) {
            Err(ErrorKind::Signature { problem, detail }) => (problem, detail),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_skipped_line_grants_nothing_and_is_named_in_the_refusal() {
        let (_dir, key, sig) = signed();
        // "Revoke by adding valid-before=": OpenSSH refuses the repeated
        // option, so the line, and the key, are out.
        let file = signers(&format!(
            "# ci\nci valid-before=\"20200101Z\",valid-before=\"29990101Z\" {key}\n"
        ));
        assert_eq!(file.signers().len(), 0);
        let (problem, why) = refusal(&file, &sig, 1_700_000_000);
        assert_eq!(problem, Problem::UnknownKey);
        assert!(
            why.contains("line 2 was skipped: bad options: multiple \"valid-before\" clauses"),
            "{why}"
        );
        // A bad line does not hide a good one.
        let file = signers(&format!("ci bogus {key}\nci\t{key}\n"));
        assert_eq!(file.skipped().len(), 1);
        assert_eq!(file.authorize(&sig, 1_700_000_000).unwrap().line, 2);
    }

    #[test]
    fn validity_bounds_are_inclusive_as_in_openssh() {
        let (_dir, key, sig) = signed();
        let file = signers(&format!(
            "ci valid-after=\"20200101Z\",valid-before=\"20300101Z\" {key}\n"
        ));
        let (after, before) = (1_577_836_800, 1_893_456_000);
        assert!(file.authorize(&sig, after).is_ok());
        assert!(file.authorize(&sig, before).is_ok());
        assert_eq!(refusal(&file, &sig, after - 1).0, Problem::NotYetValid);
        assert_eq!(refusal(&file, &sig, before + 1).0, Problem::Expired);
    }

    #[test]
    fn a_cert_authority_line_does_not_vouch_for_its_own_plain_signature() {
        let (_dir, key, sig) = signed();
        let file = signers(&format!("*@x cert-authority {key}\n"));
        let (problem, why) = refusal(&file, &sig, 1_700_000_000);
        assert_eq!(problem, Problem::UnknownKey);
        assert!(why.contains("cert-authority (line 1)"), "{why}");
    }

    #[test]
    fn a_namespace_list_must_allow_afbundle() {
        let (_dir, key, sig) = signed();
        for (list, ok) in [
            ("git,af*", true),
            ("*,!afbundle", false),
            ("", false),
            ("?fbundl?", true),
        ] {
            let file = signers(&format!("ci namespaces=\"{list}\" {key}\n"));
            assert_eq!(file.authorize(&sig, 1_700_000_000).is_ok(), ok, "{list}");
        }
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
