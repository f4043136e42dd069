//! Parallel, deterministic walk of the roots -> candidate files in precedence order.
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
//! here. It follows symlinks to files and directories, keeps only regular
//! files executable by the caller (`access(X_OK)`, as the spec's "executable
//! bit set for the invoking user"), and never opens anything: FIFOs, sockets
//! and devices are counted and left alone.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, FileType};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// A regular, executable file found by the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index of the root it was found under.
    pub root: usize,
    /// Path relative to that root (empty when the root is the file itself).
    pub rel: PathBuf,
    /// The path as walked: `roots[root].join(rel)`.
    pub path: PathBuf,
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
    /// Regular files without exec permission for the caller.
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
#[derive(Debug, Default)]
pub struct Walk {
    /// Candidates in precedence order: by root, then byte-wise by relative path.
    pub candidates: Vec<Candidate>,
    /// Paths that could not be examined, with the reason, in path order.
    pub skipped: Vec<(PathBuf, String)>,
    /// Indices of roots that do not exist.
    pub missing_roots: Vec<usize>,
    /// Counters.
    pub stats: WalkStats,
}

/// One directory to list: where it is relative to its root.
struct Dir {
    rel: PathBuf,
}

/// What listing one directory produced.
#[derive(Default)]
struct Listing {
    subdirs: Vec<(PathBuf, (u64, u64))>,
    files: Vec<PathBuf>,
    skipped: Vec<(PathBuf, String)>,
    stats: WalkStats,
}

enum Kind {
    Dir((u64, u64)),
    Executable,
    NotExecutable,
    Special,
}

/// Walk `roots` in order. Must run inside the rayon pool that should do the work.
pub fn walk(roots: &[PathBuf]) -> Walk {
    let mut out = Walk::default();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    for (index, root) in roots.iter().enumerate() {
        let meta = match fs::metadata(root) {
            Ok(meta) => meta,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                out.missing_roots.push(index);
                continue;
            }
            Err(e) => {
                out.skipped.push((root.clone(), describe(&e)));
                out.missing_roots.push(index);
                continue;
            }
        };
        if !meta.is_dir() {
            let mut listing = Listing::default();
            classify_into(
                &mut listing,
                root,
                PathBuf::new(),
                Ok(meta.file_type()),
                || Ok(meta.clone()),
            );
            absorb(
                &mut out,
                index,
                root,
                listing.files,
                listing.skipped,
                &listing.stats,
            );
            continue;
        }
        if !seen.insert((meta.dev(), meta.ino())) {
            out.stats.dirs_deduplicated += 1;
            continue;
        }
        let mut level = vec![Dir {
            rel: PathBuf::new(),
        }];
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        while !level.is_empty() {
            let listings: Vec<Listing> = level.par_iter().map(|dir| list(root, dir)).collect();
            let mut next = Vec::new();
            for listing in listings {
                out.stats.add(&listing.stats);
                files.extend(listing.files);
                skipped.extend(listing.skipped);
                next.extend(listing.subdirs);
            }
            next.sort_unstable_by(|a, b| {
                a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes())
            });
            level = next
                .into_iter()
                .filter_map(|(rel, id)| {
                    if seen.insert(id) {
                        Some(Dir { rel })
                    } else {
                        out.stats.dirs_deduplicated += 1;
                        None
                    }
                })
                .collect();
        }
        files.sort_unstable_by(|a: &PathBuf, b| {
            a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes())
        });
        absorb(&mut out, index, root, files, skipped, &WalkStats::default());
    }
    out.skipped
        .sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    out
}

fn absorb(
    out: &mut Walk,
    index: usize,
    root: &Path,
    files: Vec<PathBuf>,
    skipped: Vec<(PathBuf, String)>,
    stats: &WalkStats,
) {
    out.stats.add(stats);
    out.candidates
        .extend(files.into_iter().map(|rel| Candidate {
            root: index,
            path: if rel.as_os_str().is_empty() {
                root.to_path_buf()
            } else {
                root.join(&rel)
            },
            rel,
        }));
    out.skipped.extend(skipped);
}

/// List one directory and classify its entries.
fn list(root: &Path, dir: &Dir) -> Listing {
    let mut listing = Listing::default();
    let path = root.join(&dir.rel);
    let entries = match fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) => {
            listing
                .skipped
                .push((path, format!("cannot list directory: {}", describe(&e))));
            return listing;
        }
    };
    listing.stats.dirs_visited += 1;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                listing.skipped.push((
                    path.clone(),
                    format!("cannot read directory entry: {}", describe(&e)),
                ));
                continue;
            }
        };
        let child = entry.path();
        let rel = dir.rel.join(entry.file_name());
        classify_into(&mut listing, &child, rel, entry.file_type(), || {
            fs::metadata(&child)
        });
    }
    listing
}

/// Classify one entry, following symlinks; `stat` is called only when the
/// directory entry's type is not enough (symlinks, directories).
fn classify_into(
    listing: &mut Listing,
    path: &Path,
    rel: PathBuf,
    file_type: io::Result<FileType>,
    stat: impl FnOnce() -> io::Result<fs::Metadata>,
) {
    match kind(path, file_type, stat) {
        Ok(Kind::Dir(id)) => listing.subdirs.push((rel, id)),
        Ok(Kind::Executable) => {
            listing.stats.files_seen += 1;
            listing.stats.executables += 1;
            listing.files.push(rel);
        }
        Ok(Kind::NotExecutable) => {
            listing.stats.files_seen += 1;
            listing.stats.not_executable += 1;
        }
        Ok(Kind::Special) => {
            listing.stats.files_seen += 1;
            listing.stats.special += 1;
        }
        Err(reason) => {
            listing.stats.files_seen += 1;
            listing.skipped.push((path.to_path_buf(), reason));
        }
    }
}

fn kind(
    path: &Path,
    file_type: io::Result<FileType>,
    stat: impl FnOnce() -> io::Result<fs::Metadata>,
) -> Result<Kind, String> {
    let file_type = file_type.map_err(|e| describe(&e))?;
    let (file_type, meta) = if file_type.is_symlink() || file_type.is_dir() {
        let meta = stat().map_err(|e| {
            if file_type.is_symlink() && e.kind() == io::ErrorKind::NotFound {
                "dangling symlink".to_owned()
            } else if e.raw_os_error() == Some(libc::ELOOP) {
                "symlink loop".to_owned()
            } else {
                format!("cannot stat: {}", describe(&e))
            }
        })?;
        (meta.file_type(), Some(meta))
    } else {
        (file_type, None)
    };
    if file_type.is_dir() {
        let meta = meta.expect("directories are always stat'ed");
        return Ok(Kind::Dir((meta.dev(), meta.ino())));
    }
    if file_type.is_fifo()
        || file_type.is_socket()
        || file_type.is_block_device()
        || file_type.is_char_device()
    {
        return Ok(Kind::Special);
    }
    if !file_type.is_file() {
        return Ok(Kind::Special);
    }
    Ok(if executable(path) {
        Kind::Executable
    } else {
        Kind::NotExecutable
    })
}

/// `access(path, X_OK)`: executable for the calling user (root: any x bit).
fn executable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
}

/// An I/O error as a short phrase, without Rust's "(os error N)" suffix.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            text.split(" (os error").next().unwrap_or(&text).to_owned()
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn exe(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn rels(walk: &Walk) -> Vec<String> {
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
        let walk = walk(&[dir.path().to_path_buf()]);
        assert_eq!(rels(&walk), [".hidden", "A", "a-c", "a/b/c", "a/z", "b"]);
    }

    #[test]
    fn files_without_exec_permission_are_counted_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("plain"), b"x").unwrap();
        let walk = walk(&[dir.path().to_path_buf()]);
        assert!(walk.candidates.is_empty());
        assert_eq!(walk.stats.not_executable, 1);
    }

    #[test]
    fn symlink_cycles_end_and_each_directory_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("inner/pipeline"));
        symlink(dir.path(), dir.path().join("inner/loop")).unwrap();
        symlink(dir.path().join("inner"), dir.path().join("alias")).unwrap();
        let walk = walk(&[dir.path().to_path_buf()]);
        // "alias" and "inner" are the same directory at the same depth: the
        // byte-wise smaller name wins.
        assert_eq!(rels(&walk), ["alias/pipeline"]);
        assert!(walk.stats.dirs_deduplicated >= 2);
    }

    #[test]
    fn dangling_symlinks_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path().join("nowhere"), dir.path().join("dangling")).unwrap();
        let walk = walk(&[dir.path().to_path_buf()]);
        assert_eq!(walk.skipped.len(), 1);
        assert_eq!(walk.skipped[0].1, "dangling symlink");
    }

    #[test]
    fn a_missing_root_is_reported_and_a_file_root_is_a_candidate() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("solo"));
        let walk = walk(&[dir.path().join("missing"), dir.path().join("solo")]);
        assert_eq!(walk.missing_roots, [0]);
        assert_eq!(walk.candidates.len(), 1);
        assert_eq!(walk.candidates[0].root, 1);
        assert_eq!(walk.candidates[0].path, dir.path().join("solo"));
    }

    #[test]
    fn fifos_are_never_candidates() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o755) }, 0);
        let walk = walk(&[dir.path().to_path_buf()]);
        assert!(walk.candidates.is_empty());
        assert_eq!(walk.stats.special, 1);
    }
}
