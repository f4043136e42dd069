//! Walk + read: the candidates of a walk turned into bundles, rejections and skips.
//!
//! Reading is parallel over candidates, but results are kept in the walk's
//! precedence order, so the outcome never depends on scheduling. Files that
//! are the same inode (hard links, symlinks to one file) count once, under
//! the path that comes first.
//!
//! Nor does it depend on the open-file limit. `find` keeps the descriptor of
//! a candidate declaring the dag_id from the walk to [`decide`], but at most
//! [`MAX_KEPT_OPEN`] of them (fewer under a low `RLIMIT_NOFILE`); any other
//! candidate is opened again by its resolved path when its turn comes, and
//! only the same file in the same state is verified ([`OpenFile::ensure_state`]).
//! A walk, read or verification that runs out of descriptors or memory
//! anyway ([`crate::error::exhausted`]) stops the whole call with that error
//! ([`ScanError::Exhausted`]): skipping the file would let a later one win.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::bundle::precedence::{decide, Decision};
use crate::cache::disk::DiskCache;
use crate::error::{describe, Error, ErrorKind};
use crate::format::trailer::TRAILER_SIZE;
use crate::fs::file::{self, Bundle, OpenFile, Verify};
use crate::fs::storage::Storage;
use crate::verify::signature::TrustedSigners;
use crate::walk::pool::PoolError;
use crate::walk::{self, WalkStats};

/// What to do with each bundle found.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Hash every bundle's binary region (through the digest cache).
    pub verify: bool,
    /// Keep only bundles that declare this dag_id (others are read, counted,
    /// and dropped); verification is left to the caller.
    pub dag_id: Option<String>,
    /// Worker threads; `None` means sized for the roots' file systems
    /// ([`threads_for`](crate::walk::threads::threads_for)).
    pub threads: Option<usize>,
    /// The persistent digest cache, if enabled.
    pub disk_cache: Option<DiskCache>,
    /// When set, verification also requires a signature by one of these
    /// ([`crate::verify::signature`]); a failure is a rejection of kind `signature`.
    pub trusted_signers: Option<Arc<TrustedSigners>>,
}

/// Counters of one scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// The walk's counters.
    pub walk: WalkStats,
    /// Candidates whose trailer had the magic.
    pub bundles_read: u64,
    /// Candidates that were the same file as an earlier candidate.
    pub duplicate_files: u64,
    /// Bytes fed to SHA-256.
    pub bytes_hashed: u64,
    /// Verifications answered by the digest cache.
    pub cache_hits: u64,
}

/// Why a scan or find gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No worker pool.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The process or the system ran out of descriptors or memory (the
    /// error names the path and the call): whatever was not seen could
    /// have changed the answer.
    #[error("{0}")]
    Exhausted(Error),
}

/// The most candidate descriptors [`find`] keeps open from the walk to
/// [`decide`]. The rest are opened again when their turn comes, which costs
/// an `O_PATH` open, a reopen and an `fstat`: one dag_id is rarely declared
/// by more than a handful of bundles.
pub const MAX_KEPT_OPEN: usize = 64;

/// How many candidate descriptors this process may keep open during a find:
/// an eighth of the soft `RLIMIT_NOFILE`, at most [`MAX_KEPT_OPEN`] (the
/// rest of the limit is left to the walk's directories and reads and to
/// the caller).
pub fn kept_open_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return MAX_KEPT_OPEN;
    }
    usize::try_from(limit.rlim_cur / 8)
        .unwrap_or(usize::MAX)
        .min(MAX_KEPT_OPEN)
}

/// Descriptors a find may still keep open, shared by the walk's threads.
/// Which candidates keep theirs depends on scheduling; what is decided does
/// not (a candidate without one is verified as the same file, or loses).
struct KeptOpen(AtomicUsize);

impl KeptOpen {
    fn keep(&self, file: OpenFile) -> Option<OpenFile> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok()
            .map(|_| file)
    }
}

/// Everything a scan found, in precedence order.
#[derive(Debug, Default)]
pub struct ScanOutput {
    /// Bundles (only those declaring `dag_id` when one was given).
    pub bundles: Vec<Bundle>,
    /// Files with the magic that failed, each with its path and why.
    pub rejected: Vec<Error>,
    /// Paths that could not be examined.
    pub skipped: Vec<(PathBuf, String)>,
    /// Indices of roots that do not exist.
    pub missing_roots: Vec<usize>,
    /// Counters.
    pub stats: ScanStats,
    /// With a dag_id (else empty): the descriptor each bundle was read
    /// through, if it was kept open (same order as `bundles`), so
    /// verification hashes exactly that file.
    pub files: Vec<Option<OpenFile>>,
}

/// What [`find`] decided for one dag_id.
#[derive(Debug)]
pub struct FindOutput {
    /// The scan (its `bundles` are the candidates, in precedence order;
    /// the winner has `verified` set).
    pub scan: ScanOutput,
    /// The winner among `scan.bundles`, and why each other candidate lost.
    pub decision: Decision,
}

/// Find the bundle that runs `dag_id`: walk, read every candidate's trailer
/// and manifest, then [`decide`] in precedence order, verifying candidates
/// through the descriptor they were read with (no second parse; see the
/// module docs for the candidates beyond [`kept_open_budget`]) and through
/// `options.disk_cache`.
pub fn find<R>(
    roots: &[PathBuf],
    options: &ScanOptions,
    resolve: R,
) -> Result<FindOutput, ScanError>
where
    R: FnMut(&str) -> Result<String, String>,
{
    find_keeping(roots, options, resolve, kept_open_budget())
}

/// [`find`], keeping at most `kept_open` candidate descriptors open.
fn find_keeping<R>(
    roots: &[PathBuf],
    options: &ScanOptions,
    resolve: R,
    kept_open: usize,
) -> Result<FindOutput, ScanError>
where
    R: FnMut(&str) -> Result<String, String>,
{
    debug_assert!(options.dag_id.is_some());
    let mut out = scan_keeping(roots, options, kept_open)?;
    let files = std::mem::take(&mut out.files);
    let mut costs = file::VerifyCost::default();
    let mut signed_by = None;
    let decision = {
        let candidates: Vec<&Bundle> = out.bundles.iter().collect();
        decide(&candidates, resolve, |i| {
            let bundle = &out.bundles[i];
            let reopened;
            let file = match &files[i] {
                Some(file) => file,
                // Not kept open: the same file in the same state, or nothing
                // (`integrity`, as any file changed since it was read).
                None => {
                    reopened = OpenFile::open(&bundle.path)?;
                    reopened
                        .ensure_state(&bundle.state)
                        .map_err(|kind| kind.at(&bundle.path))?;
                    &reopened
                }
            };
            // Digest and (with trusted signers) signature, in one read of
            // the file the manifest came from.
            signed_by = file
                .verify_signed(
                    &bundle.path,
                    &bundle.trailer,
                    &bundle.layout,
                    options.disk_cache.as_ref(),
                    options.trusted_signers.as_deref(),
                    &mut costs,
                )
                .and_then(|signer| file.ensure_unchanged().map(|()| signer))
                .map_err(|kind| kind.at(&bundle.path))?;
            Ok(())
        })
    };
    if let Some(err) = decision.incomplete {
        return Err(ScanError::Exhausted(err));
    }
    if let Some((i, _)) = &decision.winner {
        out.bundles[*i].verified = true;
        out.bundles[*i].signed_by = signed_by;
    }
    out.stats.bytes_hashed += costs.bytes_hashed;
    out.stats.cache_hits += u64::from(costs.cache_hit);
    Ok(FindOutput {
        scan: out,
        decision,
    })
}

enum Outcome {
    NotABundle,
    /// A valid bundle header that does not declare the dag_id looked for.
    Uninteresting((u64, u64)),
    Bundle(Box<Bundle>, file::VerifyCost, (u64, u64), Option<OpenFile>),
    Rejected(Error, (u64, u64), file::VerifyCost),
    Skipped(PathBuf, String),
    /// Opening it failed for want of descriptors or memory.
    Exhausted(Error),
}

/// Walk `roots` and read every candidate, in a pool of `options.threads`.
/// With a dag_id, no descriptor is kept ([`ScanOutput::files`] are `None`).
pub fn scan(roots: &[PathBuf], options: &ScanOptions) -> Result<ScanOutput, ScanError> {
    scan_keeping(roots, options, 0)
}

fn scan_keeping(
    roots: &[PathBuf],
    options: &ScanOptions,
    kept_open: usize,
) -> Result<ScanOutput, ScanError> {
    // One `statfs` per root decides both the pool size and how the walk stats.
    let storages: Vec<_> = roots
        .iter()
        .map(|r| crate::fs::storage::storage(r))
        .collect();
    let threads = crate::walk::threads::threads_for_storage(&storages, options.threads);
    let pool = crate::walk::pool::pool(Some(threads))?;
    pool.install(|| scan_in_pool(roots, &storages, options, kept_open))
        .map_err(ScanError::Exhausted)
}

fn scan_in_pool(
    roots: &[PathBuf],
    storages: &[Storage],
    options: &ScanOptions,
    kept_open: usize,
) -> Result<ScanOutput, Error> {
    let kept = KeptOpen(AtomicUsize::new(kept_open));
    let walk = walk::walk(roots, storages, |entry| match visit(&entry, options) {
        Outcome::Bundle(bundle, cost, id, Some(file)) => {
            Outcome::Bundle(bundle, cost, id, kept.keep(file))
        }
        outcome => outcome,
    });
    if let Some(err) = walk.exhausted {
        return Err(err);
    }
    let outcomes = walk.candidates.into_iter().map(|c| c.found);

    let mut out = ScanOutput {
        skipped: walk.skipped,
        missing_roots: walk.missing_roots,
        stats: ScanStats {
            walk: walk.stats,
            ..ScanStats::default()
        },
        ..ScanOutput::default()
    };
    // Every file with the magic counts once, under its first path in
    // precedence order (hard links, symlinks to one file).
    let mut files_seen: HashSet<(u64, u64)> = HashSet::new();
    let mut first_sight = |stats: &mut ScanStats, id, cost: file::VerifyCost| {
        if !files_seen.insert(id) {
            stats.duplicate_files += 1;
            return false;
        }
        stats.bundles_read += 1;
        stats.bytes_hashed += cost.bytes_hashed;
        stats.cache_hits += u64::from(cost.cache_hit);
        true
    };
    for outcome in outcomes {
        match outcome {
            Outcome::NotABundle => {}
            Outcome::Exhausted(err) => return Err(err),
            Outcome::Rejected(err, ..) if err.kind.is_exhaustion() => return Err(err),
            Outcome::Skipped(path, reason) => out.skipped.push((path, reason)),
            Outcome::Uninteresting(id) => {
                first_sight(&mut out.stats, id, file::VerifyCost::default());
            }
            Outcome::Bundle(bundle, cost, id, file) => {
                if first_sight(&mut out.stats, id, cost) {
                    out.bundles.push(*bundle);
                    if options.dag_id.is_some() {
                        out.files.push(file);
                    }
                }
            }
            Outcome::Rejected(err, id, cost) => {
                if first_sight(&mut out.stats, id, cost) {
                    out.rejected.push(err);
                }
            }
        }
    }
    Ok(out)
}

fn rejected(err: Error, id: (u64, u64)) -> Outcome {
    Outcome::Rejected(err, id, file::VerifyCost::default())
}

/// Read one executable the walk found. Most candidates are not bundles:
/// one too short to hold a trailer is settled by the walk's stat
/// alone, without opening it.
fn visit(entry: &walk::Entry<'_>, options: &ScanOptions) -> Outcome {
    if u64::try_from(entry.stat.st_size).unwrap_or(0) < TRAILER_SIZE as u64 {
        return Outcome::NotABundle;
    }
    let opened = OpenFile::open_at_stat(entry.dir, entry.name, entry.path, entry.stat);
    match read_candidate(opened, entry.path, options, false) {
        // The name was re-pointed between the walk's stat and the open (a
        // deploy by rename): read what the name holds now, once, through a
        // descriptor whose own fstat is the reference, as if just found.
        Outcome::Rejected(err, ..) if matches!(err.kind, ErrorKind::Changed { .. }) => {
            let opened = OpenFile::open_at(entry.dir, entry.name, entry.path);
            read_candidate(opened, entry.path, options, true)
        }
        outcome => outcome,
    }
}

/// `reopened`: the file is not the one the walk classified, whose exec
/// permission must then be judged again, on this descriptor.
fn read_candidate(
    opened: crate::error::Result<OpenFile>,
    path: &Path,
    options: &ScanOptions,
    reopened: bool,
) -> Outcome {
    let open = match opened {
        Ok(open) => open,
        Err(e) if e.kind.is_exhaustion() => return Outcome::Exhausted(e),
        Err(e) => {
            return match e.kind {
                ErrorKind::NotABundle(_) => Outcome::NotABundle,
                ErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Outcome::Skipped(e.path, "vanished before it could be opened".into())
                }
                ErrorKind::Io { op, source } => {
                    Outcome::Skipped(e.path, format!("cannot {op}: {}", describe(&source)))
                }
                other => Outcome::Skipped(e.path, other.to_string()),
            }
        }
    };
    let state = open.state();
    let id = (state.dev, state.ino);
    // The walk judged the exec permission on this same state; a file swapped
    // in after the walk's stat is caught by `ensure_unchanged` (the
    // descriptor's fstat) before anything read through it is trusted, and
    // then read again here (`reopened`), its permission judged on the
    // descriptor as the walk would (owner bit, ACLs).
    let executable = if reopened {
        open.executable()
    } else {
        state.mode & 0o111 != 0
    };
    if !executable {
        return Outcome::NotABundle;
    }
    // Most candidates are not bundles: settle that before any other work,
    // with one read of the file's tail (trailer, and usually the manifest).
    let (trailer, layout, tail) = match open.tail() {
        Ok(found) => found,
        Err(ErrorKind::NotABundle(_)) => return Outcome::NotABundle,
        Err(kind) => return rejected(kind.at(open.resolved_path(path)), id),
    };
    let Some(dag_id) = options.dag_id.as_deref() else {
        let resolved = open.resolved_path(path);
        let disk = options.disk_cache.as_ref();
        let mut cost = file::VerifyCost::default();
        let verify = match (&options.trusted_signers, options.verify) {
            (Some(signers), true) => Verify::Signed(signers),
            (_, verify) => Verify::from(verify),
        };
        return match file::read_parts(&open, &resolved, trailer, layout, verify, disk, &mut cost) {
            Ok(bundle) => Outcome::Bundle(Box::new(bundle), cost, id, None),
            Err(e) => Outcome::Rejected(e, id, cost),
        };
    };
    // Looking for one dag_id: read the manifest, and spend nothing more
    // (no path resolution, no hashing) on bundles that do not declare it.
    let manifest = match open.manifest_in(&layout, &tail) {
        Ok(manifest) => manifest,
        Err(kind) => return rejected(kind.at(open.resolved_path(path)), id),
    };
    if !manifest.declares(dag_id) {
        return Outcome::Uninteresting(id);
    }
    let resolved = open.resolved_path(path);
    if let Err(kind) = open.ensure_unchanged() {
        return rejected(kind.at(resolved), id);
    }
    let bundle = Bundle {
        path: resolved,
        state,
        trailer,
        layout,
        manifest,
        verified: false,
        signed_by: None,
    };
    Outcome::Bundle(
        Box::new(bundle),
        file::VerifyCost::default(),
        id,
        Some(open),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Op;
    use crate::format::trailer::Trailer;
    use crate::verify::hash::sha256;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    fn bundle(path: &Path, binary: &[u8], dags: &[&str]) {
        let meta = format!(
            "sdk: {{supervisor_schema_version: '2026-06-16'}}\ndags: {{{}}}\n",
            dags.iter()
                .map(|d| format!("{d}: {{}}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let t = Trailer::new(0, meta.len() as u32, sha256(binary));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, [binary, meta.as_bytes(), &t.to_bytes()].concat()).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..40 {
            bundle(
                &dir.path().join(format!("d{}/b{i}", i % 7)),
                format!("bin{i}").as_bytes(),
                &["x"],
            );
        }
        let roots = [dir.path().to_path_buf()];
        let paths = |threads| {
            let opts = ScanOptions {
                verify: true,
                threads: Some(threads),
                ..Default::default()
            };
            scan(&roots, &opts)
                .unwrap()
                .bundles
                .into_iter()
                .map(|b| b.path)
                .collect::<Vec<_>>()
        };
        let one = paths(1);
        assert_eq!(one.len(), 40);
        assert_eq!(one, paths(2));
        assert_eq!(one, paths(8));
    }

    #[test]
    fn a_dag_id_filter_keeps_only_declaring_bundles_and_hashes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        bundle(&dir.path().join("a"), b"one", &["x"]);
        bundle(&dir.path().join("b"), b"two", &["y"]);
        let opts = ScanOptions {
            verify: true,
            dag_id: Some("y".into()),
            threads: Some(2),
            ..Default::default()
        };
        let out = scan(&[dir.path().to_path_buf()], &opts).unwrap();
        assert_eq!(out.bundles.len(), 1);
        assert!(!out.bundles[0].verified);
        assert_eq!(out.stats.bytes_hashed, 0);
        assert_eq!(out.stats.bundles_read, 2);
    }

    #[test]
    fn a_hard_link_counts_once_under_its_first_path() {
        let dir = tempfile::tempdir().unwrap();
        bundle(&dir.path().join("b"), b"one", &["x"]);
        fs::hard_link(dir.path().join("b"), dir.path().join("a")).unwrap();
        let out = scan(&[dir.path().to_path_buf()], &ScanOptions::default()).unwrap();
        assert_eq!(out.bundles.len(), 1);
        assert!(out.bundles[0].path.ends_with("a"));
        assert_eq!(out.stats.duplicate_files, 1);
    }

    /// Visit `path` as the walk would, with `stat` as the walk's stat of it.
    fn visit_as_walked(path: &Path, stat: &rustix::fs::Stat, options: &ScanOptions) -> Outcome {
        let dir_fd = fs::File::open(path.parent().unwrap()).unwrap();
        let name = std::ffi::CString::new(path.file_name().unwrap().as_bytes()).unwrap();
        let entry = walk::Entry {
            dir: std::os::fd::AsFd::as_fd(&dir_fd),
            name: &name,
            path,
            stat,
        };
        visit(&entry, options)
    }

    #[test]
    fn a_bundle_renamed_over_between_stat_and_open_is_read_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        bundle(&path, b"old version", &["x"]);
        let stale = rustix::fs::stat(&path).unwrap();
        // A deploy replaces the bundle by rename after the walk's stat.
        bundle(&dir.path().join("new"), b"new version!", &["x"]);
        fs::rename(dir.path().join("new"), &path).unwrap();
        let options = ScanOptions {
            dag_id: Some("x".into()),
            ..Default::default()
        };
        match visit_as_walked(&path, &stale, &options) {
            Outcome::Bundle(bundle, ..) => {
                assert_eq!(bundle.trailer.binary_sha256, sha256(b"new version!"));
                assert_ne!(bundle.state.ino, stale.st_ino);
            }
            _ => panic!("expected the new bundle"),
        }
    }

    #[test]
    fn a_remembered_mismatch_of_an_older_state_does_not_reject_the_file_as_it_is_now() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        bundle(&path, b"version 1", &["x"]);
        // Damaged in place: the trailer still promises "version 1".
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"W", 0).unwrap();
        drop(file);
        // Past the racy-timestamp window, so the mismatch is remembered.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stale = rustix::fs::stat(&path).unwrap();
        let options = ScanOptions {
            verify: true,
            ..Default::default()
        };
        assert!(matches!(
            visit_as_walked(&path, &stale, &options),
            Outcome::Rejected(
                Error {
                    kind: ErrorKind::DigestMismatch { .. },
                    ..
                },
                ..
            )
        ));
        // A good build is renamed over it; the walk's stat is the old one.
        bundle(&dir.path().join("new"), b"version 1", &["x"]);
        fs::rename(dir.path().join("new"), &path).unwrap();
        match visit_as_walked(&path, &stale, &options) {
            Outcome::Bundle(bundle, ..) => {
                assert!(bundle.verified);
                assert_ne!(bundle.state.ino, stale.st_ino);
            }
            Outcome::Rejected(err, ..) => panic!("rejected: {err}"),
            _ => panic!("expected the new bundle"),
        }
    }

    /// Sign `path` with `key` as `ssh-keygen -Y sign -n afbundle` does (OpenSSH's own).
    fn ssh_sign(path: &Path, key: &Path) {
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "afbundle", "-f"])
            .arg(key)
            .arg(path)
            .status()
            .expect("ssh-keygen (make test-tools installs it)");
        assert!(status.success());
    }

    #[test]
    fn a_remembered_whole_file_digest_of_an_older_state_does_not_refuse_a_new_signature() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (make test-tools installs it)");
        assert!(made.success());
        let public = fs::read_to_string(dir.path().join("key.pub")).unwrap();
        let signers_file = dir.path().join("allowed_signers");
        fs::write(&signers_file, format!("ci {public}")).unwrap();
        let options = ScanOptions {
            verify: true,
            disk_cache: Some(DiskCache::open(&dir.path().join("cache")).unwrap()),
            trusted_signers: Some(Arc::new(TrustedSigners::load(&signers_file).unwrap())),
            ..Default::default()
        };
        let path = dir.path().join("bundles/b");
        bundle(&path, b"same binary", &["x"]);
        ssh_sign(&path, &key);
        std::thread::sleep(std::time::Duration::from_millis(50)); // racy-timestamp window
        let stale = rustix::fs::stat(&path).unwrap();
        assert!(matches!(
            visit_as_walked(&path, &stale, &options),
            Outcome::Bundle(..)
        ));
        // A new build (same binary and size, another manifest) and its
        // signature are renamed in; the walk's stat is the old one, whose
        // digests are remembered.
        let new = dir.path().join("bundles/new");
        bundle(&new, b"same binary", &["z"]);
        ssh_sign(&new, &key);
        fs::rename(
            dir.path().join("bundles/new.sig"),
            dir.path().join("bundles/b.sig"),
        )
        .unwrap();
        fs::rename(&new, &path).unwrap();
        match visit_as_walked(&path, &stale, &options) {
            Outcome::Bundle(bundle, ..) => {
                assert_eq!(bundle.signed_by.as_deref(), Some("ci"));
                assert!(bundle.manifest.declares("z"));
            }
            Outcome::Rejected(err, ..) => panic!("rejected: {err}"),
            _ => panic!("expected the new bundle"),
        }
    }

    fn find_d(root: &Path, kept_open: usize, mut before_verify: impl FnMut()) -> FindOutput {
        let options = ScanOptions {
            dag_id: Some("d".into()),
            threads: Some(2),
            ..Default::default()
        };
        let resolve = |v: &str| {
            before_verify();
            Ok(v.to_owned())
        };
        find_keeping(&[root.to_path_buf()], &options, resolve, kept_open).unwrap()
    }

    fn winner(found: &FindOutput) -> Option<&Bundle> {
        let (i, _) = found.decision.winner.as_ref()?;
        Some(&found.scan.bundles[*i])
    }

    #[test]
    fn a_candidate_whose_descriptor_was_not_kept_is_verified_all_the_same() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            bundle(&dir.path().join(format!("b{i}")), b"same", &["d"]);
        }
        for kept_open in [0, 2, MAX_KEPT_OPEN] {
            let found = find_d(dir.path(), kept_open, || {});
            let kept = found.scan.files.iter().flatten().count();
            assert!(kept <= kept_open, "{kept} > {kept_open}");
            let won = winner(&found).unwrap();
            assert!(won.path.ends_with("b0") && won.verified);
            assert_eq!(found.decision.shadowed().count(), 4);
        }
    }

    #[test]
    fn a_candidate_replaced_after_its_read_loses_as_changed_kept_open_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a");
        bundle(&dir.path().join("b"), b"second", &["d"]);
        for kept_open in [0, MAX_KEPT_OPEN] {
            bundle(&first, b"old", &["d"]);
            // The resolver runs after the walk read `a` and before `a` is
            // verified: a new build is renamed over it there. Reopened, the
            // name is another file; kept open, the old file's ctime moved
            // when it lost its name. Either way `a` is not the file read.
            let replace = || {
                bundle(&dir.path().join("new"), b"new", &["d"]);
                fs::rename(dir.path().join("new"), &first).unwrap();
            };
            let found = find_d(dir.path(), kept_open, replace);
            assert!(winner(&found).unwrap().path.ends_with("b"));
            match &found.decision.losers[0] {
                (0, crate::bundle::precedence::Loss::Failed(err)) => {
                    assert!(matches!(err.kind, ErrorKind::Changed { .. }), "{err}");
                }
                other => panic!("expected `a` to lose as changed: {other:?}"),
            }
        }
    }

    #[test]
    fn running_out_of_descriptors_is_never_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOMEM] {
            let error = std::io::Error::from_raw_os_error(errno);
            let opened = Err(ErrorKind::io(Op::Open, error).at(&path));
            match read_candidate(opened, &path, &ScanOptions::default(), false) {
                Outcome::Exhausted(err) => assert_eq!(err.path, path),
                _ => panic!("errno {errno}: expected the scan to stop"),
            }
        }
    }

    #[test]
    fn a_file_that_vanishes_between_walk_and_open_is_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        match read_candidate(OpenFile::open(&gone), &gone, &ScanOptions::default(), false) {
            Outcome::Skipped(path, reason) => {
                assert_eq!(path, gone);
                assert!(reason.contains("vanished"), "{reason}");
            }
            _ => panic!("expected a skip"),
        }
    }
}
