//! Walk + read: the candidates of a walk turned into bundles, rejections and skips.
//!
//! Reading is parallel over candidates, but results are kept in the walk's
//! precedence order, so the outcome never depends on scheduling. Files that
//! are the same inode (hard links, symlinks to one file) count once, under
//! the path that comes first ([`Sightings`]).
//!
//! A candidate is read in one of two ways, one function each: [`scan`] reads
//! its trailer and manifest, then verifies it ([`read_scanned`]: a rejection
//! carries the dag_ids its manifest declares); [`find`] reads trailer and
//! manifest only, and keeps the candidates declaring its dag_id, with their
//! descriptor, for [`decide`] to verify lazily in precedence order
//! ([`read_found`]). Both share the open, the exec check and the tail read
//! ([`open_candidate`]), and both read a file again, once, when it was
//! replaced between the walk's stat and the open ([`visit`]).
//!
//! Nor does the outcome depend on the open-file limit. `find` keeps the
//! descriptor of a candidate declaring the dag_id from the walk to
//! [`decide`], but at most [`MAX_KEPT_OPEN`] of them (fewer under a low
//! `RLIMIT_NOFILE`); any other candidate is opened again by its resolved path
//! when its turn comes, and only the same file in the same state is verified
//! ([`Bundle::reopen`]). A walk, read or verification that runs out of
//! descriptors or memory anyway ([`crate::error::exhausted`]) stops the whole
//! call with that error ([`ScanError::Exhausted`]): skipping the file would
//! let a later one win.
//!
//! Architecture Invariant: what `scan` and `find` return is a function of
//! the roots and the tree (never of threads, scheduling, listing order or
//! resource limits), and they decide through the same [`decide`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::bundle::precedence::{decide, Decision, Sightings};
use crate::bundle::{read, Bundle};
use crate::cache::disk::DiskCache;
use crate::error::{describe, Error, ErrorKind, Result as ReadResult};
use crate::format::trailer::{Layout, Trailer, TRAILER_SIZE};
use crate::fs::file::{OpenFile, Tail};
use crate::fs::storage::Storage;
use crate::verify::signature::TrustedSigners;
use crate::verify::{self, Verify, VerifyCost};
use crate::walk::pool::PoolError;
use crate::walk::{self, WalkStats};

/// How to read and verify the bundles found.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Hash every bundle's binary region (through the digest cache); `find`
    /// verifies its candidates whatever this says.
    pub verify: bool,
    /// Worker threads; `None` means sized for the roots' file systems
    /// ([`threads_for`](crate::walk::threads::threads_for)).
    pub threads: Option<usize>,
    /// The persistent digest cache, if enabled.
    pub disk_cache: Option<DiskCache>,
    /// When set, verification also requires a signature by one of these
    /// ([`crate::verify::signature`]); a failure is a rejection of kind `signature`.
    pub trusted_signers: Option<Arc<TrustedSigners>>,
}

impl ScanOptions {
    /// What a bundle is verified against: the digest caches and signers given.
    fn verification(&self) -> Verify<'_> {
        Verify::remembered(self.disk_cache.as_ref(), self.trusted_signers.as_deref())
    }
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
pub(crate) const MAX_KEPT_OPEN: usize = 64;

/// How many candidate descriptors this process may keep open during a find:
/// an eighth of the soft `RLIMIT_NOFILE`, at most [`MAX_KEPT_OPEN`] (the
/// rest of the limit is left to the walk's directories and reads and to
/// the caller).
pub(crate) fn kept_open_budget() -> usize {
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

/// A file with the magic that was refused: why, and the dag_ids its
/// manifest declares (empty when the manifest could not be read).
#[derive(Debug)]
pub struct Rejected {
    /// Why, with the path.
    pub error: Error,
    /// The dag_ids the file's manifest declares, as read.
    pub dag_ids: Vec<String>,
}

/// Everything a scan found, in precedence order.
#[derive(Debug, Default)]
pub struct ScanOutput {
    /// Bundles (for a find: its candidates, those declaring its dag_id).
    pub bundles: Vec<Bundle>,
    /// Files with the magic that failed, each with its path and why.
    pub rejected: Vec<Rejected>,
    /// Paths that could not be examined.
    pub skipped: Vec<(PathBuf, String)>,
    /// Indices of roots that do not exist.
    pub missing_roots: Vec<usize>,
    /// Counters.
    pub stats: ScanStats,
    /// For a find (else empty): the descriptor each bundle was read
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
    dag_id: &str,
    options: &ScanOptions,
    resolve: R,
) -> Result<FindOutput, ScanError>
where
    R: FnMut(&str) -> Result<String, String>,
{
    find_keeping(roots, dag_id, options, resolve, kept_open_budget())
}

/// [`find`], keeping at most `kept_open` candidate descriptors open.
fn find_keeping<R>(
    roots: &[PathBuf],
    dag_id: &str,
    options: &ScanOptions,
    resolve: R,
    kept_open: usize,
) -> Result<FindOutput, ScanError>
where
    R: FnMut(&str) -> Result<String, String>,
{
    let mut out = candidates(roots, dag_id, options, kept_open)?;
    let files = std::mem::take(&mut out.files);
    let mut costs = VerifyCost::default();
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
                    reopened = bundle.reopen()?;
                    &reopened
                }
            };
            // Digest and (with trusted signers) signature, in one read of
            // the file the manifest came from.
            signed_by = verify::verify(
                file,
                &bundle.path,
                &bundle.trailer,
                &bundle.layout,
                options.verification(),
                &mut costs,
            )
            .map_err(|kind| kind.at(&bundle.path))?;
            Ok(())
        })
    };
    if let Some(err) = decision.incomplete {
        return Err(ScanError::Exhausted(err));
    }
    if let Some((i, _)) = &decision.winner {
        out.bundles[*i].set_verified(signed_by);
    }
    out.stats.bytes_hashed += costs.bytes_hashed;
    out.stats.cache_hits += u64::from(costs.cache_hit);
    Ok(FindOutput {
        scan: out,
        decision,
    })
}

/// Walk `roots` and read every candidate for `find`, unverified: the
/// bundles declaring `dag_id`, each with its descriptor when one of
/// `kept_open` slots was free.
fn candidates(
    roots: &[PathBuf],
    dag_id: &str,
    options: &ScanOptions,
    kept_open: usize,
) -> Result<ScanOutput, ScanError> {
    let read = |opened: ReadResult<OpenFile>, path: &Path, reopened: bool| {
        read_found(opened, path, dag_id, reopened)
    };
    walk_and_read(roots, options.threads, Some(kept_open), &read)
}

/// Walk `roots` and read every candidate, in a pool of `options.threads`;
/// with `options.verify`, verify each bundle.
pub fn scan(roots: &[PathBuf], options: &ScanOptions) -> Result<ScanOutput, ScanError> {
    let verify = options.verify.then(|| options.verification());
    let read = |opened: ReadResult<OpenFile>, path: &Path, reopened: bool| {
        read_scanned(opened, path, verify, reopened)
    };
    walk_and_read(roots, options.threads, None, &read)
}

/// How one candidate is read: `(the open's result, the path walked, whether
/// this is the second read of a file replaced after the walk's stat)`.
type Reader<'a> = dyn Fn(ReadResult<OpenFile>, &Path, bool) -> Outcome + Sync + 'a;

enum Outcome {
    NotABundle,
    /// A valid bundle header that does not declare the dag_id looked for.
    Uninteresting((u64, u64)),
    Bundle(Box<Bundle>, VerifyCost, (u64, u64), Option<OpenFile>),
    Rejected(Box<Rejected>, (u64, u64), VerifyCost),
    Skipped(PathBuf, String),
    /// Opening it failed for want of descriptors or memory.
    Exhausted(Error),
}

/// Walk `roots` with `read` as the visitor, in a pool of `threads`. With
/// `kept_open` (a find), up to that many descriptors are kept, one slot per
/// bundle in [`ScanOutput::files`].
fn walk_and_read(
    roots: &[PathBuf],
    threads: Option<usize>,
    kept_open: Option<usize>,
    read: &Reader<'_>,
) -> Result<ScanOutput, ScanError> {
    // One `statfs` per root decides both the pool size and how the walk stats.
    let storages: Vec<_> = roots
        .iter()
        .map(|r| crate::fs::storage::storage(r))
        .collect();
    let threads = crate::walk::threads::threads_for_storage(&storages, threads);
    let pool = crate::walk::pool::pool(Some(threads))?;
    pool.install(|| read_in_pool(roots, &storages, kept_open, read))
        .map_err(ScanError::Exhausted)
}

fn read_in_pool(
    roots: &[PathBuf],
    storages: &[Storage],
    kept_open: Option<usize>,
    read: &Reader<'_>,
) -> Result<ScanOutput, Error> {
    let kept = KeptOpen(AtomicUsize::new(kept_open.unwrap_or(0)));
    let walk = walk::walk(roots, storages, |entry| match visit(&entry, read) {
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
    let mut sightings = Sightings::default();
    let mut first_sight = |stats: &mut ScanStats, id, cost: VerifyCost| {
        if !sightings.first(id) {
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
            Outcome::Rejected(rejected, ..) if rejected.error.kind.is_exhaustion() => {
                return Err(rejected.error)
            }
            Outcome::Skipped(path, reason) => out.skipped.push((path, reason)),
            Outcome::Uninteresting(id) => {
                first_sight(&mut out.stats, id, VerifyCost::default());
            }
            Outcome::Bundle(bundle, cost, id, file) => {
                if first_sight(&mut out.stats, id, cost) {
                    out.bundles.push(*bundle);
                    if kept_open.is_some() {
                        out.files.push(file);
                    }
                }
            }
            Outcome::Rejected(rejected, id, cost) => {
                if first_sight(&mut out.stats, id, cost) {
                    out.rejected.push(*rejected);
                }
            }
        }
    }
    Ok(out)
}

fn rejected(error: Error, dag_ids: Vec<String>, id: (u64, u64), cost: VerifyCost) -> Outcome {
    Outcome::Rejected(Box::new(Rejected { error, dag_ids }), id, cost)
}

/// Read one executable the walk found with `read`. Most candidates are not
/// bundles: one too short to hold a trailer is settled by the walk's stat
/// alone, without opening it.
fn visit(entry: &walk::Entry<'_>, read: &Reader<'_>) -> Outcome {
    if u64::try_from(entry.stat.st_size).unwrap_or(0) < TRAILER_SIZE as u64 {
        return Outcome::NotABundle;
    }
    let opened = OpenFile::open_at_stat(entry.dir, entry.name, entry.path, entry.stat);
    match read(opened, entry.path, false) {
        // The name was re-pointed between the walk's stat and the open (a
        // deploy by rename), or a digest remembered under an older state
        // would condemn it: read what the name holds now, once, through a
        // descriptor whose own fstat is the reference, as if just found.
        Outcome::Rejected(rejected, ..)
            if matches!(rejected.error.kind, ErrorKind::Changed { .. }) =>
        {
            let opened = OpenFile::open_at(entry.dir, entry.name, entry.path);
            read(opened, entry.path, true)
        }
        outcome => outcome,
    }
}

/// What scan and find both do with a candidate first: settle the open's
/// outcome, the exec permission and the trailer (with one read of the file's
/// tail, which usually holds the manifest too). `Err` is the outcome when
/// there is nothing more to read.
///
/// `reopened`: the file is not the one the walk classified, whose exec
/// permission must then be judged again, on this descriptor.
fn open_candidate(
    opened: ReadResult<OpenFile>,
    path: &Path,
    reopened: bool,
) -> Result<(OpenFile, (Trailer, Layout), Tail), Outcome> {
    let open = match opened {
        Ok(open) => open,
        Err(e) if e.kind.is_exhaustion() => return Err(Outcome::Exhausted(e)),
        Err(e) => {
            return Err(match e.kind {
                ErrorKind::NotABundle(_) => Outcome::NotABundle,
                ErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Outcome::Skipped(e.path, "vanished before it could be opened".into())
                }
                ErrorKind::Io { op, source } => {
                    Outcome::Skipped(e.path, format!("cannot {op}: {}", describe(&source)))
                }
                other => Outcome::Skipped(e.path, other.to_string()),
            })
        }
    };
    // The walk judged the exec permission on this same state; a file swapped
    // in after the walk's stat is caught by `ensure_unchanged` (the
    // descriptor's fstat) before anything read through it is trusted, and
    // then read again here (`reopened`), its permission judged on the
    // descriptor as the walk would (owner bit, ACLs).
    let executable = if reopened {
        open.executable()
    } else {
        open.state().mode & 0o111 != 0
    };
    if !executable {
        return Err(Outcome::NotABundle);
    }
    // Most candidates are not bundles: settle that before any other work.
    match read::tail(&open) {
        Ok((trailer, layout, tail)) => Ok((open, (trailer, layout), tail)),
        Err(ErrorKind::NotABundle(_)) => Err(Outcome::NotABundle),
        Err(kind) => {
            let id = open.state().identity();
            let error = kind.at(open.resolved_path(path));
            Err(rejected(error, Vec::new(), id, VerifyCost::default()))
        }
    }
}

/// Scan's reading of a candidate: trailer, manifest, then (with `verify`)
/// the one verification; a rejection carries the dag_ids the manifest declares.
fn read_scanned(
    opened: ReadResult<OpenFile>,
    path: &Path,
    verify: Option<Verify<'_>>,
    reopened: bool,
) -> Outcome {
    let (open, head, tail) = match open_candidate(opened, path, reopened) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let id = open.state().identity();
    let resolved = open.resolved_path(path);
    let manifest = match read::manifest_in(&open, &head.1, &tail) {
        Ok(manifest) => manifest,
        Err(kind) => return rejected(kind.at(resolved), Vec::new(), id, VerifyCost::default()),
    };
    let dag_ids = manifest.dag_ids.clone();
    let mut cost = VerifyCost::default();
    match Bundle::read(&open, resolved, head, manifest, verify, &mut cost) {
        Ok(bundle) => Outcome::Bundle(Box::new(bundle), cost, id, None),
        Err(error) => rejected(error, dag_ids, id, cost),
    }
}

/// Find's reading of a candidate: trailer and manifest, and nothing more
/// (no path resolution, no hashing) for a bundle that does not declare
/// `dag_id`; one that does is kept with its descriptor, unverified.
fn read_found(opened: ReadResult<OpenFile>, path: &Path, dag_id: &str, reopened: bool) -> Outcome {
    let (open, head, tail) = match open_candidate(opened, path, reopened) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let id = open.state().identity();
    let manifest = match read::manifest_in(&open, &head.1, &tail) {
        Ok(manifest) => manifest,
        Err(kind) => {
            let error = kind.at(open.resolved_path(path));
            return rejected(error, Vec::new(), id, VerifyCost::default());
        }
    };
    if !manifest.declares(dag_id) {
        return Outcome::Uninteresting(id);
    }
    let dag_ids = manifest.dag_ids.clone();
    let resolved = open.resolved_path(path);
    let mut cost = VerifyCost::default();
    match Bundle::read(&open, resolved, head, manifest, None, &mut cost) {
        Ok(bundle) => Outcome::Bundle(Box::new(bundle), cost, id, Some(open)),
        Err(error) => rejected(error, dag_ids, id, cost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Op;
    use crate::format::digest::sha256;
    use crate::format::trailer::Trailer;
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
    fn finds_candidates_are_only_declaring_bundles_and_nothing_is_hashed() {
        let dir = tempfile::tempdir().unwrap();
        bundle(&dir.path().join("a"), b"one", &["x"]);
        bundle(&dir.path().join("b"), b"two", &["y"]);
        let opts = ScanOptions {
            verify: true,
            threads: Some(2),
            ..Default::default()
        };
        let out = candidates(&[dir.path().to_path_buf()], "y", &opts, 0).unwrap();
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

    /// Visit `path` as the walk would, with `stat` as the walk's stat of it:
    /// as `scan` reads it with `options`, or as `find` does for `dag_id`.
    fn visit_as_walked(
        path: &Path,
        stat: &rustix::fs::Stat,
        options: &ScanOptions,
        dag_id: Option<&str>,
    ) -> Outcome {
        let dir_fd = fs::File::open(path.parent().unwrap()).unwrap();
        let name = std::ffi::CString::new(path.file_name().unwrap().as_bytes()).unwrap();
        let entry = walk::Entry {
            dir: std::os::fd::AsFd::as_fd(&dir_fd),
            name: &name,
            path,
            stat,
        };
        let verify = options.verify.then(|| options.verification());
        match dag_id {
            Some(dag_id) => visit(&entry, &|o, p, r| read_found(o, p, dag_id, r)),
            None => visit(&entry, &|o, p, r| read_scanned(o, p, verify, r)),
        }
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
        match visit_as_walked(&path, &stale, &ScanOptions::default(), Some("x")) {
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
        match visit_as_walked(&path, &stale, &options, None) {
            Outcome::Rejected(rejected, ..) => {
                assert!(
                    matches!(rejected.error.kind, ErrorKind::DigestMismatch { .. }),
                    "{}",
                    rejected.error
                );
                // Read before hashing: the rejection names what it declares.
                assert_eq!(rejected.dag_ids, ["x"]);
            }
            _ => panic!("expected a rejection"),
        }
        // A good build is renamed over it; the walk's stat is the old one.
        bundle(&dir.path().join("new"), b"version 1", &["x"]);
        fs::rename(dir.path().join("new"), &path).unwrap();
        match visit_as_walked(&path, &stale, &options, None) {
            Outcome::Bundle(bundle, ..) => {
                assert!(bundle.verified);
                assert_ne!(bundle.state.ino, stale.st_ino);
            }
            Outcome::Rejected(rejected, ..) => panic!("rejected: {}", rejected.error),
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
            visit_as_walked(&path, &stale, &options, None),
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
        match visit_as_walked(&path, &stale, &options, None) {
            Outcome::Bundle(bundle, ..) => {
                assert_eq!(bundle.signed_by.as_deref(), Some("ci"));
                assert!(bundle.manifest.declares("z"));
            }
            Outcome::Rejected(rejected, ..) => panic!("rejected: {}", rejected.error),
            _ => panic!("expected the new bundle"),
        }
    }

    fn find_d(root: &Path, kept_open: usize, mut before_verify: impl FnMut()) -> FindOutput {
        let options = ScanOptions {
            threads: Some(2),
            ..Default::default()
        };
        let resolve = |v: &str| {
            before_verify();
            Ok(v.to_owned())
        };
        find_keeping(&[root.to_path_buf()], "d", &options, resolve, kept_open).unwrap()
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
            match read_scanned(opened, &path, None, false) {
                Outcome::Exhausted(err) => assert_eq!(err.path, path),
                _ => panic!("errno {errno}: expected the scan to stop"),
            }
        }
    }

    #[test]
    fn a_file_that_vanishes_between_walk_and_open_is_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        match read_scanned(OpenFile::open(&gone), &gone, None, false) {
            Outcome::Skipped(path, reason) => {
                assert_eq!(path, gone);
                assert!(reason.contains("vanished"), "{reason}");
            }
            _ => panic!("expected a skip"),
        }
    }
}
