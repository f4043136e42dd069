//! Parallel, deterministic walk of the roots, visiting each executable file once.
//!
//! The walk is breadth-first and level-synchronous: every directory of one
//! depth is listed in parallel (rayon), then the subdirectories found are
//! sorted and de-duplicated by `(st_dev, st_ino)` in one sequential step. A
//! directory reachable by several paths (symlinks, bind mounts) is therefore
//! walked once, under its shortest path, ties broken by byte order -- the same
//! choice whatever the thread count or the directory listing order, and
//! symlink cycles end because a directory is never entered twice.
//!
//! The walk applies no filters: hidden files and ignore files mean nothing
//! here. It follows symlinks to files and directories and keeps only regular
//! files executable by the caller (the spec's "executable bit set for the
//! invoking user", as `faccessat(X_OK)` judges it; see [`Caller`]). FIFOs,
//! sockets and devices are counted and never opened. Each entry costs one
//! stat call (see [`StatHow`]) -- on a network file system every system call is a round trip --
//! and each executable is handed to a visitor with that stat and the
//! directory's descriptor, while its directory is open: every per-file system
//! call is relative to that descriptor instead of re-resolving the whole path.
//! Results come back sorted: by root, then byte-wise by relative path.
//!
//! A file on a mount with `noexec` cannot be executed by anyone, root
//! included, whatever its mode bits say: where the walk judges from the mode
//! bits, it asks each mount it meets for `ST_NOEXEC` once ([`Mounts`]).
//!
//! Architecture Invariant: what the walk reports never depends on a resource
//! limit. A listing, stat or open that fails because the process or the
//! system ran out of descriptors or memory ([`crate::error::exhausted`]) is
//! not a skip: the walk stops and says so ([`Walk::exhausted`]).

pub mod pool;
pub mod threads;

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::error::{describe, exhausted, Error, ErrorKind, Op};
use crate::fs::storage::Storage;
use rustix::fs::{
    self as rfs, Access, AtFlags, Dir, FileType, Mode, OFlags, Stat, Statx, StatxFlags, CWD,
};

/// An executable regular file found by the walk, with what the visitor made of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<T> {
    /// Index of the root it was found under.
    pub(crate) root: usize,
    /// Path relative to that root (empty when the root is the file itself).
    pub(crate) rel: PathBuf,
    /// The path as walked: `roots[root].join(rel)`.
    pub(crate) path: PathBuf,
    /// The visitor's result for this file.
    pub(crate) found: T,
}

/// Counters of one walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Directories listed.
    pub dirs_visited: u64,
    /// Directories not entered again because they were already walked.
    pub dirs_deduplicated: u64,
    /// Entries that are not directories.
    pub files_seen: u64,
    /// Regular files executable by the caller.
    pub executables: u64,
    /// Regular files without exec permission for the caller (including
    /// those on a `noexec` mount).
    pub not_executable: u64,
    /// FIFOs, sockets and devices.
    pub special: u64,
}

impl WalkStats {
    fn add(&mut self, other: &WalkStats) {
        self.dirs_visited += other.dirs_visited;
        self.dirs_deduplicated += other.dirs_deduplicated;
        self.files_seen += other.files_seen;
        self.executables += other.executables;
        self.not_executable += other.not_executable;
        self.special += other.special;
    }
}

/// What a walk found.
#[derive(Debug)]
pub(crate) struct Walk<T> {
    /// Executables in precedence order: by root, then byte-wise by relative path.
    pub(crate) candidates: Vec<Candidate<T>>,
    /// Paths that could not be examined or used, with the reason, in path
    /// order (including files with exec bits on a `noexec` mount).
    pub(crate) skipped: Vec<(PathBuf, String)>,
    /// Indices of roots that do not exist.
    pub(crate) missing_roots: Vec<usize>,
    /// Counters.
    pub(crate) stats: WalkStats,
    /// Where the process or the system ran out of descriptors or memory.
    /// The walk stopped there: its results are incomplete and must not be
    /// used to decide anything.
    pub(crate) exhausted: Option<Error>,
}

/// Where an executable is, for the visitor: a directory descriptor and a
/// name relative to it, plus the full path for messages.
pub(crate) struct Entry<'a> {
    /// Descriptor of the containing directory (or the current directory).
    pub(crate) dir: BorrowedFd<'a>,
    /// Name relative to `dir`.
    pub(crate) name: &'a CStr,
    /// The full path as walked.
    pub(crate) path: &'a Path,
    /// What [`stat_entry`] (following symlinks) said of the file when the walk
    /// classified it: type, mode, size and identity, before any open.
    pub(crate) stat: &'a Stat,
}

/// What listing one directory produced.
struct Listing<T> {
    subdirs: Vec<(PathBuf, (u64, u64))>,
    files: Vec<(PathBuf, T)>,
    skipped: Vec<(PathBuf, String)>,
    stats: WalkStats,
    exhausted: Option<Error>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            subdirs: Vec::new(),
            files: Vec::new(),
            skipped: Vec::new(),
            stats: WalkStats::default(),
            exhausted: None,
        }
    }
}

impl<T> Listing<T> {
    /// Record a failure of `op` on `path`: a skip with the reason, or, if
    /// the process ran out of a resource, what stops the walk.
    fn failed(&mut self, path: PathBuf, op: Op, e: io::Error) {
        if exhausted(&e) {
            self.exhausted.get_or_insert(ErrorKind::io(op, e).at(path));
        } else {
            self.skipped
                .push((path, format!("cannot {op}: {}", describe(&e))));
        }
    }
}

/// One classified directory entry.
enum Kind<T> {
    Dir((u64, u64)),
    Executable(T),
    NotExecutable,
    /// Exec bits set, on a mount with `noexec`.
    OnNoExecMount,
    Special,
    Skipped(String),
    /// `op` failed because the process or the system ran out of a resource.
    Exhausted(Op, io::Error),
}

/// The reason given for a file with exec bits on a `noexec` mount.
const ON_NOEXEC_MOUNT: &str = "not executable: on a file system mounted noexec";

/// Walk `roots` in order, calling `visit` on every executable regular file.
///
/// Must run inside the rayon pool that should do the work; `visit` runs on
/// its threads.
/// `storages[i]` is what `roots[i]` lives on ([`crate::fs::storage::storage`]).
pub(crate) fn walk<T, F>(roots: &[PathBuf], storages: &[Storage], visit: F) -> Walk<T>
where
    T: Send,
    F: Fn(Entry<'_>) -> T + Sync,
{
    let mut out = Walk {
        candidates: Vec::new(),
        skipped: Vec::new(),
        missing_roots: Vec::new(),
        stats: WalkStats::default(),
        exhausted: None,
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let caller = Caller::current();
    let mounts = Mounts::default();
    for (index, root) in roots.iter().enumerate() {
        if out.exhausted.is_some() {
            break;
        }
        let stat = match rfs::stat(root) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {
                out.missing_roots.push(index);
                continue;
            }
            Err(e) if exhausted(&e.into()) => {
                out.exhausted = Some(ErrorKind::io(Op::Stat, e.into()).at(root));
                break;
            }
            Err(e) => {
                out.skipped.push((root.clone(), describe(&e.into())));
                out.missing_roots.push(index);
                continue;
            }
        };
        let mut files = Vec::new();
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            // The root is a file: name it relative to the current directory.
            let mut listing = Listing::default();
            let name = match std::ffi::CString::new(root.as_os_str().as_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            };
            // A file named as a root: its own mount, asked by path.
            let noexec = || crate::fs::storage::noexec_at(root).ok();
            let kind = classify_stat(&stat, CWD, &name, root, &caller, Some(&noexec), &visit);
            record(&mut listing, PathBuf::new(), root, kind);
            out.stats.add(&listing.stats);
            out.skipped.extend(listing.skipped);
            out.exhausted = listing.exhausted;
            files = listing.files;
        } else if !seen.insert((stat.st_dev, stat.st_ino)) {
            out.stats.dirs_deduplicated += 1;
        } else {
            // Where a lookup always brings the attributes back (FUSE), the
            // walk's stat takes them from it (see [`StatHow`]) -- but only
            // on that mount: a directory on another device is asked the
            // classic way.
            let fresh_lookups = storages
                .get(index)
                .is_some_and(|s| s.lookups_bring_attributes());
            let how = |dev: u64| {
                if fresh_lookups && dev == stat.st_dev {
                    StatHow::FromLookup
                } else {
                    StatHow::Revalidate
                }
            };
            let mut level = vec![(PathBuf::new(), stat.st_dev)];
            while !level.is_empty() {
                let listings: Vec<Listing<T>> = level
                    .par_iter()
                    .map(|(rel, dev)| list(root, rel, how(*dev), &caller, &mounts, &visit))
                    .collect();
                let mut next = Vec::new();
                for listing in listings {
                    out.stats.add(&listing.stats);
                    files.extend(listing.files);
                    out.skipped.extend(listing.skipped);
                    next.extend(listing.subdirs);
                    if out.exhausted.is_none() {
                        out.exhausted = listing.exhausted;
                    }
                }
                if out.exhausted.is_some() {
                    break;
                }
                next.sort_unstable_by(|a, b| bytes(&a.0).cmp(bytes(&b.0)));
                level = next
                    .into_iter()
                    .filter_map(|(rel, id)| {
                        if seen.insert(id) {
                            Some((rel, id.0))
                        } else {
                            out.stats.dirs_deduplicated += 1;
                            None
                        }
                    })
                    .collect();
            }
        }
        files.sort_unstable_by(|a, b| bytes(&a.0).cmp(bytes(&b.0)));
        out.candidates
            .extend(files.into_iter().map(|(rel, found)| Candidate {
                root: index,
                path: if rel.as_os_str().is_empty() {
                    root.clone()
                } else {
                    root.join(&rel)
                },
                rel,
                found,
            }));
    }
    out.skipped.sort_by(|a, b| bytes(&a.0).cmp(bytes(&b.0)));
    out
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// List one directory and classify (and visit) its entries.
fn list<T, F>(
    root: &Path,
    rel: &Path,
    how: StatHow,
    caller: &Caller,
    mounts: &Mounts,
    visit: &F,
) -> Listing<T>
where
    T: Send,
    F: Fn(Entry<'_>) -> T + Sync,
{
    let mut listing = Listing::default();
    let path = root.join(rel);
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    // The directory stream owns the descriptor the entries are then
    // examined through (`Dir::read_from` would reopen it: two more calls).
    let names = match rfs::openat(CWD, &path, flags, Mode::empty()).and_then(|fd| {
        let mut dir = Dir::new(fd)?;
        let names = read_names(&mut dir);
        Ok((dir, names))
    }) {
        Ok(found) => found,
        Err(e) => {
            listing.failed(path, Op::ListDirectory, e.into());
            return listing;
        }
    };
    let (dir, (names, entry_errors)) = names;
    let Ok(dir_fd) = dir.fd() else {
        return listing;
    };
    listing.stats.dirs_visited += 1;
    for e in entry_errors {
        listing.failed(path.clone(), Op::ReadDirectoryEntry, e.into());
    }
    // Learnt on first need, by the first executable entry judged from its mode.
    let here = DirMount::new(dir_fd, mounts);
    let kinds: Vec<(usize, Kind<T>)> = names
        .par_iter()
        .enumerate()
        .map(|(i, (name, file_type))| {
            let child = path.join(OsStr::from_bytes(name.to_bytes()));
            let kind = classify(*file_type, dir_fd, name, &child, how, caller, &here, visit);
            (i, kind)
        })
        .collect();
    for (i, kind) in kinds {
        let name = OsStr::from_bytes(names[i].0.to_bytes());
        record(&mut listing, rel.join(name), &path.join(name), kind);
    }
    listing
}

type Names = (Vec<(std::ffi::CString, FileType)>, Vec<rustix::io::Errno>);

fn read_names(dir: &mut Dir) -> Names {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    while let Some(entry) = dir.read() {
        match entry {
            Ok(entry) => {
                let name = entry.file_name();
                if name.to_bytes() != b"." && name.to_bytes() != b".." {
                    names.push((name.to_owned(), entry.file_type()));
                }
            }
            Err(e) => {
                errors.push(e);
                break;
            }
        }
    }
    (names, errors)
}

fn record<T>(listing: &mut Listing<T>, rel: PathBuf, path: &Path, kind: Kind<T>) {
    match kind {
        Kind::Dir(id) => {
            listing.subdirs.push((rel, id));
            return;
        }
        Kind::Executable(found) => {
            listing.stats.executables += 1;
            listing.files.push((rel, found));
        }
        Kind::NotExecutable => listing.stats.not_executable += 1,
        Kind::OnNoExecMount => {
            listing.stats.not_executable += 1;
            listing
                .skipped
                .push((path.to_path_buf(), ON_NOEXEC_MOUNT.into()));
        }
        Kind::Special => listing.stats.special += 1,
        Kind::Skipped(reason) => listing.skipped.push((path.to_path_buf(), reason)),
        Kind::Exhausted(op, e) => listing.failed(path.to_path_buf(), op, e),
    }
    listing.stats.files_seen += 1;
}

/// Classify one entry with ONE stat call (following symlinks), which
/// answers type, exec permission, size, identity and mount at once; entries
/// the directory already names as FIFOs, sockets or devices cost nothing.
#[allow(clippy::too_many_arguments)]
fn classify<T, F>(
    file_type: FileType,
    dir: BorrowedFd<'_>,
    name: &CStr,
    path: &Path,
    how: StatHow,
    caller: &Caller,
    here: &DirMount<'_>,
    visit: &F,
) -> Kind<T>
where
    F: Fn(Entry<'_>) -> T,
{
    match file_type {
        FileType::Fifo | FileType::Socket | FileType::CharacterDevice | FileType::BlockDevice => {
            return Kind::Special
        }
        _ => {}
    }
    let (stat, mnt_id) = match stat_entry(dir, name, how) {
        Ok(found) => found,
        Err(rustix::io::Errno::NOENT) if file_type == FileType::Symlink => {
            return Kind::Skipped("dangling symlink".into())
        }
        // A file removed since the directory was listed is simply not there.
        Err(rustix::io::Errno::NOENT) if file_type == FileType::RegularFile => {
            return Kind::NotExecutable
        }
        Err(rustix::io::Errno::LOOP) => return Kind::Skipped("symlink loop".into()),
        Err(e) if exhausted(&e.into()) => return Kind::Exhausted(Op::Stat, e.into()),
        Err(e) => return Kind::Skipped(format!("cannot stat: {}", describe(&e.into()))),
    };
    // Whether the file is on this directory's mount, and that mount is
    // `noexec`: asked only where the mode bits would otherwise decide.
    let noexec = || here.noexec_of(&stat, mnt_id, file_type);
    classify_stat(&stat, dir, name, path, caller, Some(&noexec), visit)
}

/// How the walk asks for an entry's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatHow {
    /// As `fstatat`: the file system revalidates cached attributes as it
    /// always does (NFS after `acregmin`..`acregmax`, FUSE after the
    /// mount's attribute timeout).
    Revalidate,
    /// `statx(AT_STATX_DONT_SYNC)`: the attributes the name's lookup has
    /// just brought back, without a second round trip to revalidate them.
    /// Only for FUSE, where a lookup whose entry has expired always asks the
    /// daemon and gets the attributes with the answer (a plain `fstatat`
    /// costs a LOOKUP and then a GETATTR for the same answer when the
    /// attribute timeout is 0): the attributes are then as fresh as the
    /// mount's entry timeout allows, instead of its attribute timeout
    /// (libfuse sets both to 1 s unless told otherwise). NFS, SMB and Ceph
    /// would answer `AT_STATX_DONT_SYNC` from their attribute caches with
    /// no bound at all, so they never get it.
    FromLookup,
}

/// What `fstatat(dir, name)` (following symlinks) says, asked `how`, and
/// the id of the mount the file is on (`STATX_MNT_ID`, Linux 5.8+).
///
/// One `statx` call: with `AT_STATX_SYNC_AS_STAT` it is `fstatat` with the
/// mount id added. Nothing read through a descriptor trusts these attributes alone:
/// `OpenFile::ensure_unchanged` compares them with the descriptor's own
/// `fstat` (which does revalidate) before a digest is remembered or a bundle
/// wins, and a mismatch re-reads the name as it is now. Kernels without
/// `statx` (before 4.11, sandboxes that refuse it) get the plain `fstatat`
/// and no mount id.
fn stat_entry(
    dir: BorrowedFd<'_>,
    name: &CStr,
    how: StatHow,
) -> rustix::io::Result<(Stat, Option<u64>)> {
    let wanted = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID;
    let needed = StatxFlags::TYPE
        | StatxFlags::MODE
        | StatxFlags::UID
        | StatxFlags::INO
        | StatxFlags::SIZE
        | StatxFlags::MTIME
        | StatxFlags::CTIME;
    // NO_AUTOMOUNT: what `fstatat` does implicitly.
    let flags = match how {
        StatHow::Revalidate => AtFlags::NO_AUTOMOUNT,
        StatHow::FromLookup => AtFlags::STATX_DONT_SYNC | AtFlags::NO_AUTOMOUNT,
    };
    match rfs::statx(dir, name, flags, wanted) {
        Ok(x) if StatxFlags::from_bits_retain(x.stx_mask).contains(needed) => {
            let mount = StatxFlags::from_bits_retain(x.stx_mask)
                .contains(StatxFlags::MNT_ID)
                .then_some(x.stx_mnt_id);
            Ok((stat_of(&x), mount))
        }
        // A file system that leaves out a field the walk relies on, and a
        // kernel or sandbox without `statx`, are asked the classic way.
        Ok(_) | Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
            rfs::statat(dir, name, AtFlags::empty()).map(|st| (st, None))
        }
        Err(e) => Err(e),
    }
}

/// The `stat` a `statx` answer stands for (the fields the walk and the reader use).
fn stat_of(x: &Statx) -> Stat {
    // SAFETY: `Stat` is a plain C struct of integers; all-zero is a valid value.
    let mut st: Stat = unsafe { std::mem::zeroed() };
    st.st_dev = rfs::makedev(x.stx_dev_major, x.stx_dev_minor) as _;
    st.st_ino = x.stx_ino as _;
    st.st_mode = u32::from(x.stx_mode) as _;
    st.st_nlink = x.stx_nlink as _;
    st.st_uid = x.stx_uid as _;
    st.st_gid = x.stx_gid as _;
    st.st_rdev = rfs::makedev(x.stx_rdev_major, x.stx_rdev_minor) as _;
    st.st_size = x.stx_size as _;
    st.st_blksize = x.stx_blksize as _;
    st.st_blocks = x.stx_blocks as _;
    st.st_atime = x.stx_atime.tv_sec as _;
    st.st_atime_nsec = x.stx_atime.tv_nsec as _;
    st.st_mtime = x.stx_mtime.tv_sec as _;
    st.st_mtime_nsec = x.stx_mtime.tv_nsec as _;
    st.st_ctime = x.stx_ctime.tv_sec as _;
    st.st_ctime_nsec = x.stx_ctime.tv_nsec as _;
    st
}

/// `noexec`, when given, says whether the file is known to be on a mount
/// with `noexec` (`Some(true)`), known to be on one without it
/// (`Some(false)`), or cannot say (`None`).
#[allow(clippy::too_many_arguments)]
fn classify_stat<T, F>(
    stat: &Stat,
    dir: BorrowedFd<'_>,
    name: &CStr,
    path: &Path,
    caller: &Caller,
    noexec: Option<&dyn Fn() -> Option<bool>>,
    visit: &F,
) -> Kind<T>
where
    F: Fn(Entry<'_>) -> T,
{
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Kind::Dir((stat.st_dev, stat.st_ino)),
        FileType::RegularFile => match caller.permission(stat, noexec, dir, name) {
            Permission::Executable => Kind::Executable(visit(Entry {
                dir,
                name,
                path,
                stat,
            })),
            Permission::NotExecutable => Kind::NotExecutable,
            Permission::OnNoExecMount => Kind::OnNoExecMount,
        },
        _ => Kind::Special,
    }
}

/// Whether the caller may execute a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permission {
    /// It may.
    Executable,
    /// No exec bit for the caller (or an ACL or security module says no).
    NotExecutable,
    /// Exec bits set, but the file is on a mount with `noexec`, where no
    /// one may execute anything.
    OnNoExecMount,
}

/// Who is walking: the real uid, as `faccessat` judges it.
pub(crate) struct Caller {
    uid: u32,
}

impl Caller {
    /// The calling process.
    pub(crate) fn current() -> Self {
        Caller {
            // SAFETY: getuid cannot fail and has no side effects.
            uid: unsafe { libc::getuid() },
        }
    }

    /// Whether the caller may execute the regular file `stat` describes
    /// (`dir`/`name`): the spec's "executable bit set for the invoking user",
    /// as Airflow's own walk asks it (`access(X_OK)`).
    ///
    /// Decided without a system call where the answer is known: no x bit
    /// at all; a file on a `noexec` mount (`noexec` asked only now, and
    /// only for files with an x bit); root (any x bit, as the kernel grants
    /// it) and the file's owner (the owner's bit, which ACLs never override)
    /// on a mount known to allow exec. Otherwise `faccessat(X_OK)`, which
    /// weighs ACLs and the mount of the file the name leads to.
    pub(crate) fn permission(
        &self,
        stat: &Stat,
        noexec: Option<&dyn Fn() -> Option<bool>>,
        dir: BorrowedFd<'_>,
        name: &CStr,
    ) -> Permission {
        let mode = stat.st_mode;
        if mode & 0o111 == 0 {
            return Permission::NotExecutable;
        }
        let by_mode = |allowed: bool| {
            if allowed {
                Permission::Executable
            } else {
                Permission::NotExecutable
            }
        };
        match noexec.and_then(|noexec| noexec()) {
            Some(true) => Permission::OnNoExecMount,
            Some(false) if self.uid == 0 => Permission::Executable,
            Some(false) if self.uid == stat.st_uid => by_mode(mode & 0o100 != 0),
            _ => by_mode(rfs::accessat(dir, name, Access::EXEC_OK, AtFlags::empty()).is_ok()),
        }
    }
}

/// Whether each mount a walk meets is mounted `noexec`, asked once per mount.
///
/// Keyed by mount id (`STATX_MNT_ID`), not by device: one file system can
/// be mounted twice, once with `noexec` and once without (two bind mounts
/// or container volumes from the same disk), and `ST_NOEXEC` is a property
/// of the mount. Where the kernel gives no mount id (before Linux 5.8),
/// nothing is remembered: each directory's own mount is asked.
#[derive(Default)]
struct Mounts(Mutex<HashMap<u64, bool>>);

impl Mounts {
    /// Whether the mount `id` is `noexec`; `learn` asks the kernel, the
    /// first time only (an answer it cannot give is not remembered).
    fn noexec(&self, id: u64, learn: impl FnOnce() -> Option<bool>) -> Option<bool> {
        let known = |mounts: &Mutex<HashMap<u64, bool>>| {
            mounts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .copied()
        };
        if let Some(noexec) = known(&self.0) {
            return Some(noexec);
        }
        // Asked without the lock: another thread asking the same is harmless.
        let noexec = learn()?;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, noexec);
        Some(noexec)
    }
}

/// The mount of a directory being listed, learnt from its descriptor on
/// first need: one `statx` for its mount id (no round trip, even on a network file
/// system), and [`Mounts`] for its `noexec` flag.
struct DirMount<'a> {
    dir: BorrowedFd<'a>,
    mounts: &'a Mounts,
    found: OnceLock<Option<Mount>>,
}

#[derive(Clone, Copy, Debug)]
struct Mount {
    id: Option<u64>,
    dev: u64,
    noexec: bool,
}

impl<'a> DirMount<'a> {
    fn new(dir: BorrowedFd<'a>, mounts: &'a Mounts) -> Self {
        DirMount {
            dir,
            mounts,
            found: OnceLock::new(),
        }
    }

    /// Whether the entry (its stat, mount id and directory entry type) is
    /// on this directory's mount, and if so that mount's `noexec` flag;
    /// `None` when that cannot be told.
    fn noexec_of(&self, stat: &Stat, mnt_id: Option<u64>, file_type: FileType) -> Option<bool> {
        let mount = self.found.get_or_init(|| self.learn()).as_ref()?;
        let here = match (mount.id, mnt_id) {
            (Some(ours), Some(its)) => ours == its,
            // Without mount ids: a regular file named in this directory (not
            // a symlink, which may lead to another mount) on this device.
            _ => file_type == FileType::RegularFile && stat.st_dev == mount.dev,
        };
        here.then_some(mount.noexec)
    }

    fn learn(&self) -> Option<Mount> {
        let flags = AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC;
        let (id, dev) = match rfs::statx(self.dir, c"", flags, StatxFlags::MNT_ID) {
            Ok(x) => (
                StatxFlags::from_bits_retain(x.stx_mask)
                    .contains(StatxFlags::MNT_ID)
                    .then_some(x.stx_mnt_id),
                rfs::makedev(x.stx_dev_major, x.stx_dev_minor),
            ),
            Err(_) => (None, rfs::fstat(self.dir).ok()?.st_dev),
        };
        let ask = || crate::fs::storage::noexec(self.dir).ok();
        let noexec = match id {
            Some(id) => self.mounts.noexec(id, ask)?,
            None => ask()?,
        };
        Some(Mount { id, dev, noexec })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::fs;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn exe(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn walk_paths(roots: &[PathBuf]) -> Walk<PathBuf> {
        let storages: Vec<_> = roots
            .iter()
            .map(|r| crate::fs::storage::storage(r))
            .collect();
        walk(roots, &storages, |entry| entry.path.to_path_buf())
    }

    fn rels(walk: &Walk<PathBuf>) -> Vec<String> {
        walk.candidates
            .iter()
            .map(|c| c.rel.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn candidates_come_in_byte_order_of_their_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "a/z", "a-c", "A", ".hidden", "a/b/c"] {
            exe(&dir.path().join(name));
        }
        let walk = walk_paths(&[dir.path().to_path_buf()]);
        assert_eq!(rels(&walk), [".hidden", "A", "a-c", "a/b/c", "a/z", "b"]);
        assert!(walk.candidates.iter().all(|c| c.found == c.path));
    }

    #[test]
    fn files_without_exec_permission_are_counted_not_visited() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("plain"), b"x").unwrap();
        let walk = walk_paths(&[dir.path().to_path_buf()]);
        assert!(walk.candidates.is_empty());
        assert_eq!(walk.stats.not_executable, 1);
    }

    #[test]
    fn symlink_cycles_end_and_each_directory_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("inner/pipeline"));
        symlink(dir.path(), dir.path().join("inner/loop")).unwrap();
        symlink(dir.path().join("inner"), dir.path().join("alias")).unwrap();
        let walk = walk_paths(&[dir.path().to_path_buf()]);
        // "alias" and "inner" are the same directory at the same depth: the
        // byte-wise smaller name wins.
        assert_eq!(rels(&walk), ["alias/pipeline"]);
        assert!(walk.stats.dirs_deduplicated >= 2);
    }

    #[test]
    fn dangling_symlinks_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path().join("nowhere"), dir.path().join("dangling")).unwrap();
        let walk = walk_paths(&[dir.path().to_path_buf()]);
        assert_eq!(walk.skipped.len(), 1);
        assert_eq!(walk.skipped[0].1, "dangling symlink");
    }

    #[test]
    fn a_missing_root_is_reported_and_a_file_root_is_a_candidate() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("solo"));
        let walk = walk_paths(&[dir.path().join("missing"), dir.path().join("solo")]);
        assert_eq!(walk.missing_roots, [0]);
        assert_eq!(walk.candidates.len(), 1);
        assert_eq!(walk.candidates[0].root, 1);
        assert_eq!(walk.candidates[0].path, dir.path().join("solo"));
    }

    #[test]
    fn fifos_are_never_visited() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o755) }, 0);
        let walk = walk_paths(&[dir.path().to_path_buf()]);
        assert!(walk.candidates.is_empty());
        assert_eq!(walk.stats.special, 1);
    }

    #[test]
    fn a_big_flat_directory_gives_the_same_order_on_any_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..300 {
            exe(&dir.path().join(format!("f{:03}", (i * 7919) % 300)));
        }
        let roots = [dir.path().to_path_buf()];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let parallel = pool.install(|| rels(&walk_paths(&roots)));
        let serial = rels(&walk_paths(&roots));
        assert_eq!(parallel, serial);
        assert_eq!(serial.first().map(String::as_str), Some("f000"));
    }

    #[test]
    fn a_mount_is_asked_for_noexec_once() {
        let mounts = Mounts::default();
        let asked = std::cell::Cell::new(0);
        let learn = |answer| {
            asked.set(asked.get() + 1);
            Some(answer)
        };
        assert_eq!(mounts.noexec(7, || learn(true)), Some(true));
        assert_eq!(mounts.noexec(7, || learn(false)), Some(true));
        assert_eq!(mounts.noexec(9, || learn(false)), Some(false));
        assert_eq!(asked.get(), 2);
        // An answer the kernel could not give is asked again next time.
        assert_eq!(mounts.noexec(8, || None), None);
        assert_eq!(mounts.noexec(8, || learn(false)), Some(false));
    }

    #[test]
    fn only_a_file_on_the_directorys_own_mount_takes_its_noexec_flag() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("exe"));
        // A symlink to a file on another mount (procfs).
        symlink("/proc/self/status", dir.path().join("elsewhere")).unwrap();
        let fd = rfs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let mounts = Mounts::default();
        let here = DirMount::new(fd.as_fd(), &mounts);
        let expected = crate::fs::storage::noexec(fd.as_fd()).unwrap();
        let judged = |name: &str, file_type| {
            let name = CString::new(name).unwrap();
            let (stat, mnt_id) = stat_entry(fd.as_fd(), &name, StatHow::Revalidate).unwrap();
            here.noexec_of(&stat, mnt_id, file_type)
        };
        assert_eq!(judged("exe", FileType::RegularFile), Some(expected));
        assert_eq!(judged("elsewhere", FileType::Symlink), None);
        assert_eq!(mounts.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_statx_of_an_entry_says_what_fstatat_says() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("exe"));
        fs::create_dir(dir.path().join("sub")).unwrap();
        symlink("exe", dir.path().join("link")).unwrap();
        let fd = rfs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        for name in ["exe", "sub", "link"] {
            let name = CString::new(name).unwrap();
            let (ours, _) = stat_entry(fd.as_fd(), &name, StatHow::FromLookup).unwrap();
            let (plain, _) = stat_entry(fd.as_fd(), &name, StatHow::Revalidate).unwrap();
            let theirs = rfs::statat(&fd, &name, AtFlags::empty()).unwrap();
            let fields = |st: &Stat| {
                (
                    st.st_dev,
                    st.st_ino,
                    st.st_mode,
                    st.st_uid,
                    st.st_size,
                    (st.st_mtime, st.st_mtime_nsec),
                    (st.st_ctime, st.st_ctime_nsec),
                )
            };
            assert_eq!(fields(&ours), fields(&theirs), "{name:?}");
            assert_eq!(fields(&plain), fields(&theirs), "{name:?}");
        }
        let missing = CString::new("missing").unwrap();
        assert_eq!(
            stat_entry(fd.as_fd(), &missing, StatHow::FromLookup).unwrap_err(),
            rustix::io::Errno::NOENT
        );
    }
}
