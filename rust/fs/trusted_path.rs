//! The trusted-path rule: resolve a path so that only root and the current
//! user decide where it leads, and open what it names without opening
//! anything but what was asked for.
//!
//! Whoever can redirect the persistent digest cache can vouch for a tampered
//! binary; whoever can redirect the `allowed_signers` file decides which keys
//! are trusted. Both are therefore reached through [`resolve`], ONE walk
//! with ONE rule (OpenSSH's `safe_path`, extended with symlinks and the
//! sticky bit):
//!
//! - the path is walked from `/` one component at a time, each relative to
//!   the descriptor of the directory before it (`O_PATH`, `O_NOFOLLOW`), so
//!   what was checked is what the next step is relative to;
//! - every directory on the way must be owned by root or the current user
//!   and not writable by group or others, unless it is sticky (like `/tmp`),
//!   where others cannot rename or delete entries they do not own; an entry
//!   taken from a directory others can write must then be owned by root or
//!   the current user;
//! - a symlink is resolved here, never by the kernel, and only if it is owned
//!   by root or the current user (it then sits in a directory checked above);
//!   `..` pops the directory physically, as the kernel does;
//! - the final component is opened `O_PATH | O_NOFOLLOW` (which never runs a
//!   device's or FIFO's open) and must be the inode the walk looked at.
//!
//! What the final component must be (a private directory, a file owned by
//! root or us and not writable by others) is the caller's rule, checked on
//! the returned descriptor's `fstat`. [`reopen_regular`] then opens a regular
//! file found this way (or by any `O_PATH` open) for reading.
//!
//! Architecture Invariant: this module knows no caller; `cache/disk.rs`,
//! `verify/signature.rs` and `fs/file.rs` use it, never the other way round.

use std::collections::VecDeque;
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

/// Symlinks followed while resolving one path (as the kernel's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;
/// Directories [`resolve`] may create for one path.
const MAX_CREATIONS: usize = 256;

/// What the last component of a path must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A directory; with `create`, missing directories are made (mode 0700).
    Directory {
        /// Create missing components.
        create: bool,
    },
    /// Anything but a directory (the caller checks its type on the `fstat`).
    File,
}

/// A path resolved under the trusted-path rule.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The last component, opened `O_PATH` (never for reading).
    pub(crate) fd: OwnedFd,
    /// The `fstat` of [`Resolved::fd`].
    pub(crate) stat: Stat,
    /// The absolute, symlink-free path as walked (for messages and as the
    /// file's name; never resolved again).
    pub(crate) path: PathBuf,
    /// The directory holding the last component (`O_PATH`) and its name
    /// there; `None` for `/` itself.
    pub(crate) parent: Option<(OwnedFd, CString)>,
}

fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why a path cannot be used under the trusted-path rule: who could redirect
/// it, or what the file system said. `what` names the thing being reached
/// ("the cache directory"), `path` where the walk was.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("the path of {what} is empty")]
    Empty {
        /// What the path was for.
        what: &'static str,
    },
    /// The path cannot be made absolute.
    #[error("cannot resolve {}: {source}", path.display())]
    Absolute {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A system call on the way failed.
    #[error("cannot {verb} {}: {errno}", path.display())]
    Io {
        /// What was attempted ("stat", "read link", ...).
        verb: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// A directory on the way belongs to someone else.
    #[error(
        "directory {} is owned by uid {uid}, neither root nor the current user (uid {euid}), \
         so they could redirect {what}",
        path.display()
    )]
    DirectoryOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The current user.
        euid: u32,
        /// What it could redirect.
        what: &'static str,
    },
    /// A directory on the way others can write, and not sticky.
    #[error(
        "directory {} is writable by group or others and not sticky (mode {mode:o}), so they \
         could redirect {what}",
        path.display()
    )]
    DirectoryWritable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// What it could redirect.
        what: &'static str,
    },
    /// A symbolic link on the way belongs to someone else.
    #[error(
        "{} (on the way to {what}) is a symbolic link owned by uid {uid}, neither root nor the \
         current user (uid {euid}); it could lead anywhere",
        path.display()
    )]
    SymlinkOwner {
        /// The link.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The current user.
        euid: u32,
        /// What it leads to.
        what: &'static str,
    },
    /// An entry of a (sticky) directory others can write belongs to someone else.
    #[error(
        "{} (on the way to {what}) is owned by uid {uid} in a directory others can write; it \
         could lead anywhere",
        path.display()
    )]
    EntryOwner {
        /// The entry.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// What it leads to.
        what: &'static str,
    },
    /// A component holds a NUL byte.
    #[error("{} contains a NUL byte", .0.display())]
    Nul(PathBuf),
    /// A component that must be a directory is not one.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The last component is a directory where a file was asked for.
    #[error("{} is a directory", .0.display())]
    IsADirectory(PathBuf),
    /// A name was swapped between its `stat` and its open.
    #[error("{} changed while it was opened", .0.display())]
    Changed(PathBuf),
}

/// Root or the current user: the only owners whose choices are trusted.
pub(crate) fn is_trusted_owner(uid: u32, euid: u32) -> bool {
    uid == 0 || uid == euid
}

/// Whether a directory may lead us on: owned by root or us, and not
/// writable by group or others unless sticky (entries then checked one by one).
fn check_directory(st: &Stat, euid: u32, path: &Path, what: &'static str) -> Result<(), PathError> {
    if !is_trusted_owner(st.st_uid, euid) {
        return Err(PathError::DirectoryOwner {
            path: path.to_path_buf(),
            uid: st.st_uid,
            euid,
            what,
        });
    }
    if st.st_mode & 0o022 != 0 && st.st_mode & libc::S_ISVTX == 0 {
        return Err(PathError::DirectoryWritable {
            path: path.to_path_buf(),
            mode: st.st_mode & 0o7777,
            what,
        });
    }
    Ok(())
}

/// Whether `entry`, found in `parent`, may be used: a symlink only if root
/// or we own it; in a directory others can write (a sticky one, else it was
/// refused), any entry only if root or we own it (its owner chose it).
fn check_entry(
    parent: &Stat,
    entry: &Stat,
    euid: u32,
    path: &Path,
    what: &'static str,
) -> Result<(), PathError> {
    if is_trusted_owner(entry.st_uid, euid) {
        return Ok(());
    }
    if FileType::from_raw_mode(entry.st_mode) == FileType::Symlink {
        return Err(PathError::SymlinkOwner {
            path: path.to_path_buf(),
            uid: entry.st_uid,
            euid,
            what,
        });
    }
    if parent.st_mode & 0o022 != 0 {
        return Err(PathError::EntryOwner {
            path: path.to_path_buf(),
            uid: entry.st_uid,
            what,
        });
    }
    Ok(())
}

/// Resolve `path` under the trusted-path rule (see the module docs) to what
/// `target` asks for; `what` names it in messages ("the cache directory").
pub(crate) fn resolve(
    path: &Path,
    target: Target,
    what: &'static str,
) -> Result<Resolved, PathError> {
    if path.as_os_str().is_empty() {
        return Err(PathError::Empty { what });
    }
    let euid = geteuid();
    let abs = std::path::absolute(path).map_err(|source| PathError::Absolute {
        path: path.to_path_buf(),
        source,
    })?;
    let fail = |verb: &'static str, at: &Path, errno: Errno| PathError::Io {
        verb,
        path: at.to_path_buf(),
        errno,
    };
    let opath = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root =
        rfs::openat(CWD, "/", opath, Mode::empty()).map_err(|e| fail("open", Path::new("/"), e))?;
    let root_st = rfs::fstat(&root).map_err(|e| fail("stat", Path::new("/"), e))?;
    check_directory(&root_st, euid, Path::new("/"), what)?;
    // The directories walked so far (physical, so `..` pops), with their
    // stat and the path spelled as walked.
    let mut stack: Vec<(OwnedFd, Stat, PathBuf, CString)> =
        vec![(root, root_st, PathBuf::from("/"), CString::default())];
    let mut pending: VecDeque<OsString> = components(&abs);
    let (mut links, mut creations) = (0, 0);
    while let Some(name) = pending.pop_front() {
        if name.is_empty() || name == "." {
            continue;
        }
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let (parent, parent_st, parent_path, _) = stack.last().expect("root stays");
        let here = parent_path.join(&name);
        let cname =
            CString::new(name.as_bytes()).map_err(|_| PathError::Nul(path.to_path_buf()))?;
        let st = match rfs::statat(parent, &*cname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT)
                if target == (Target::Directory { create: true }) && creations < MAX_CREATIONS =>
            {
                creations += 1;
                match rfs::mkdirat(parent, &*cname, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(fail("create directory", &here, e)),
                }
                pending.push_front(name);
                continue;
            }
            Err(e) => return Err(fail("stat", &here, e)),
        };
        check_entry(parent_st, &st, euid, &here, what)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(fail("resolve", path, Errno::LOOP));
                }
                let link = rfs::readlinkat(parent, &*cname, Vec::new())
                    .map_err(|e| fail("read link", &here, e))?;
                let link = PathBuf::from(OsString::from_vec(link.into_bytes()));
                if link.is_absolute() {
                    stack.truncate(1);
                }
                for part in components(&link).into_iter().rev() {
                    pending.push_front(part);
                }
            }
            FileType::Directory => {
                let fd = open_same(parent.as_fd(), &cname, opath, &st, &here)?;
                let fd_st = rfs::fstat(&fd).map_err(|e| fail("stat", &here, e))?;
                if !pending.is_empty() {
                    check_directory(&fd_st, euid, &here, what)?;
                }
                stack.push((fd, fd_st, here, cname));
            }
            _ if pending.is_empty() && target == Target::File => {
                let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = open_same(parent.as_fd(), &cname, flags, &st, &here)?;
                let stat = rfs::fstat(&fd).map_err(|e| fail("stat", &here, e))?;
                let (parent, _, _, _) = stack.pop().expect("root stays");
                return Ok(Resolved {
                    fd,
                    stat,
                    path: here,
                    parent: Some((parent, cname)),
                });
            }
            _ => return Err(PathError::NotADirectory(here)),
        }
    }
    let (fd, stat, last_path, name) = stack.pop().expect("root stays");
    if target == Target::File {
        return Err(PathError::IsADirectory(last_path));
    }
    let parent = stack.pop().map(|(dir, ..)| (dir, name));
    Ok(Resolved {
        fd,
        stat,
        path: last_path,
        parent,
    })
}

/// `openat(dir, name, flags)`, refused unless it is the inode `st` describes
/// (a name swapped between the `statat` and the open).
fn open_same(
    dir: BorrowedFd<'_>,
    name: &CString,
    flags: OFlags,
    st: &Stat,
    path: &Path,
) -> Result<OwnedFd, PathError> {
    let fail = |verb: &'static str, errno: Errno| PathError::Io {
        verb,
        path: path.to_path_buf(),
        errno,
    };
    let fd = rfs::openat(dir, &**name, flags, Mode::empty()).map_err(|e| fail("open", e))?;
    let now = rfs::fstat(&fd).map_err(|e| fail("stat", e))?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(PathError::Changed(path.to_path_buf()));
    }
    Ok(fd)
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Why [`reopen_regular`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReopenError {
    /// The open failed.
    Open(Errno),
    /// The `fstat` of the new descriptor failed (fallback only).
    Stat(Errno),
    /// Without `/proc`, the name led to another inode than `located`.
    Replaced,
}

impl std::fmt::Display for ReopenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReopenError::Open(e) => write!(f, "{}", std::io::Error::from(*e)),
            ReopenError::Stat(e) => write!(f, "cannot stat: {}", std::io::Error::from(*e)),
            ReopenError::Replaced => f.write_str("the file was replaced while it was opened"),
        }
    }
}

/// Open for reading (non-blocking, `O_NOCTTY`) the regular file that
/// `located`, an `O_PATH` descriptor whose `fstat` is `st`, refers to.
///
/// The same inode is re-opened through `/proc/self/fd/N`, so nothing but
/// the regular file the caller checked is ever opened: a FIFO or device
/// never sees an open. Without `/proc`, `name` is opened relative to `dir`
/// with `fallback` flags added (`O_NOFOLLOW` where the name must not be a
/// link) and must be the same inode; a FIFO renamed there in between would
/// be opened non-blocking, never read.
pub(crate) fn reopen_regular<P: rustix::path::Arg>(
    located: &OwnedFd,
    st: &Stat,
    dir: BorrowedFd<'_>,
    name: P,
    fallback: OFlags,
) -> Result<OwnedFd, ReopenError> {
    debug_assert_eq!(FileType::from_raw_mode(st.st_mode), FileType::RegularFile);
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let proc_path = format!("/proc/self/fd/{}", located.as_raw_fd());
    match rfs::openat(CWD, proc_path.as_str(), flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOENT) => {
            let fd = rfs::openat(dir, name, flags | fallback, Mode::empty())
                .map_err(ReopenError::Open)?;
            let now = rfs::fstat(&fd).map_err(ReopenError::Stat)?;
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                return Err(ReopenError::Replaced);
            }
            Ok(fd)
        }
        Err(e) => Err(ReopenError::Open(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn file(r: &Resolved) -> Result<String, String> {
        if FileType::from_raw_mode(r.stat.st_mode) != FileType::RegularFile {
            return Err("not a regular file".into());
        }
        let (dir, name) = r.parent.as_ref().unwrap();
        let fd = reopen_regular(&r.fd, &r.stat, dir.as_fd(), &**name, OFlags::NOFOLLOW).unwrap();
        let mut text = String::new();
        use std::io::Read;
        fs::File::from(fd).read_to_string(&mut text).unwrap();
        Ok(text)
    }

    #[test]
    fn a_file_is_reached_through_trusted_links_and_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        fs::write(dir.path().join("real/f"), "content").unwrap();
        symlink("real", dir.path().join("link")).unwrap();
        symlink("../real/f", dir.path().join("real/alias")).unwrap();
        let r = resolve(&dir.path().join("link/../link/alias"), Target::File, "f").unwrap();
        assert_eq!(r.path, dir.path().join("real/f"));
        assert_eq!(file(&r).unwrap(), "content");
    }

    #[test]
    fn a_directory_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::write(shared.join("f"), "x").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let err = resolve(&shared.join("f"), Target::File, "the test file")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is writable by group or others and not sticky")
                && err.contains("redirect the test file"),
            "{err}"
        );
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(resolve(&shared.join("f"), Target::File, "f").is_ok());
    }

    #[test]
    fn a_symlink_owned_by_another_user_is_never_followed() {
        if geteuid() != 0 {
            return; // lchown to another user needs root (CI runs as root)
        }
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        symlink("f", dir.path().join("theirs")).unwrap();
        std::os::unix::fs::lchown(dir.path().join("theirs"), Some(65534), None).unwrap();
        let err = resolve(&dir.path().join("theirs"), Target::File, "the file")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbolic link owned by uid 65534") && err.contains("lead anywhere"),
            "{err}"
        );
    }

    #[test]
    fn in_a_sticky_directory_only_entries_of_root_or_ours_are_used() {
        if geteuid() != 0 {
            return; // chown to another user needs root (CI runs as root)
        }
        let dir = tempfile::tempdir().unwrap();
        let sticky = dir.path().join("sticky");
        fs::create_dir(&sticky).unwrap();
        fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
        fs::create_dir(sticky.join("theirs")).unwrap();
        fs::write(sticky.join("theirs/f"), "x").unwrap();
        std::os::unix::fs::chown(sticky.join("theirs"), Some(65534), None).unwrap();
        let err = resolve(&sticky.join("theirs/f"), Target::File, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("in a directory others can write"), "{err}");
    }

    #[test]
    fn a_fifo_is_located_but_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        // No reader or writer exists: a blocking open for reading would hang here.
        let r = resolve(&fifo, Target::File, "f").unwrap();
        assert_eq!(FileType::from_raw_mode(r.stat.st_mode), FileType::Fifo);
        assert!(file(&r).is_err());
    }

    #[test]
    fn the_wrong_kind_of_last_component_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        let err = resolve(dir.path(), Target::File, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = resolve(
            &dir.path().join("f"),
            Target::Directory { create: false },
            "d",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("is not a directory"), "{err}");
        let err = resolve(&dir.path().join("f/g"), Target::File, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory"), "{err}");
        let err = resolve(&dir.path().join("missing"), Target::File, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("No such file"), "{err}");
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn missing_directories_are_created_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert!(resolve(&deep, Target::Directory { create: false }, "d").is_err());
        let r = resolve(&deep, Target::Directory { create: true }, "d").unwrap();
        assert_eq!(r.path, deep);
        assert!(deep.is_dir());
        assert_eq!(r.parent.unwrap().1.as_bytes(), b"c");
    }

    #[test]
    fn a_symlink_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = resolve(&dir.path().join("a"), Target::File, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic links"), "{err}");
    }

    #[test]
    fn the_root_itself_resolves_as_a_directory() {
        let r = resolve(Path::new("/"), Target::Directory { create: false }, "d").unwrap();
        assert_eq!(r.path, Path::new("/"));
        assert!(r.parent.is_none());
        assert!(resolve(Path::new("/"), Target::File, "f").is_err());
    }
}
