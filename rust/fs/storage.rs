//! What a root lives on, and how many threads its walk should use; and
//! whether a mount allows exec ([`noexec`]).
//!
//! On a local disk a walk is bound by CPU: one thread per CPU is enough. On a
//! network file system (NFS, SMB, FUSE, Ceph, Lustre, ...) every lookup,
//! getattr, open and read is a round trip to a server, and the walk is bound
//! by latency: the way to go faster is to have more round trips in flight.
//! [`threads_for`] picks the size of the pool from the `statfs` magic of
//! every root: [`network_threads`] when any root is on a network file system,
//! one per CPU otherwise. An explicit `threads` always wins.

use std::path::{Path, PathBuf};

/// Round trips kept in flight per CPU on a network file system.
///
/// Every round trip also costs the client some CPU (the system call, the
/// kernel's file system client, waking the thread), so past a point more
/// threads only queue for the CPUs. Measured on 2 CPUs behind 1 ms per
/// operation (benches/test_nfs.py, find on 4,040 entries, 5,460 round trips):
/// 16 threads keep 89% of their round trips' latency hidden, 32 threads 84%,
/// 48 77%, 64 72%. 16 per CPU is where the curve bends there.
pub const NETWORK_THREADS_PER_CPU: usize = 16;
/// The fewest threads a scan of a network file system uses (one CPU still
/// has to hide a millisecond per operation).
pub const NETWORK_THREADS_MIN: usize = 32;
/// The most threads a scan of a network file system uses by default.
pub const NETWORK_THREADS_MAX: usize = 64;

/// Threads a scan uses by default when a root lives on a network file system
/// and the machine has `cpus` CPUs: [`NETWORK_THREADS_PER_CPU`] each, within
/// [`NETWORK_THREADS_MIN`]..=[`NETWORK_THREADS_MAX`].
pub fn network_threads(cpus: usize) -> usize {
    cpus.saturating_mul(NETWORK_THREADS_PER_CPU)
        .clamp(NETWORK_THREADS_MIN, NETWORK_THREADS_MAX)
}

/// Where a root lives, as far as latency is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A local disk or memory file system (ext4, xfs, btrfs, tmpfs, overlay, ...).
    Local,
    /// A network or user-space file system, named for messages.
    Network(&'static str),
}

impl Storage {
    /// Whether looking a name up always brings its attributes back from
    /// the server once the entry has expired, so that the walk may take
    /// them from the lookup (`AT_STATX_DONT_SYNC`, see
    /// [`StatHow`](crate::walk::StatHow)): FUSE. Not NFS, SMB or Ceph, whose
    /// `AT_STATX_DONT_SYNC` answers from an attribute cache of any age.
    pub fn lookups_bring_attributes(self) -> bool {
        self == Storage::Network("fuse")
    }
}

/// The network (or user-space) file systems, by `statfs` `f_type` magic
/// (linux/magic.h and the file systems' own headers).
const NETWORK_MAGICS: &[(u64, &str)] = &[
    (0x6969, "nfs"),
    (0x517B, "smb"),
    (0xFF53_4D42, "cifs"),
    (0xFE53_4D42, "smb2"),
    (0x6573_5546, "fuse"),
    (0x00C3_6400, "ceph"),
    (0x0BD0_0BD0, "lustre"),
    (0x0102_1997, "9p"),
    (0x4750_4653, "gpfs"),
    (0x5346_414F, "afs"),
    (0x6B41_4653, "kafs"),
    (0x7375_7245, "coda"),
    (0x564C, "ncp"),
    (0x1983_0326, "beegfs"),
    (0x2003_0528, "orangefs"),
];

/// Classify a `statfs` `f_type`.
pub fn storage_of_magic(f_type: u64) -> Storage {
    NETWORK_MAGICS
        .iter()
        .find(|(magic, _)| *magic == f_type)
        .map_or(Storage::Local, |(_, name)| Storage::Network(name))
}

/// What `path` lives on. A path that does not exist (yet) is looked up
/// through its nearest existing ancestor; if even that fails, it is local.
pub fn storage(path: &Path) -> Storage {
    for p in path.ancestors() {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        match rustix::fs::statfs(p) {
            // `f_type`'s integer type differs between targets; the magic is
            // its low 32 bits.
            #[allow(clippy::unnecessary_cast)]
            Ok(fs) => return storage_of_magic(fs.f_type as u64 & 0xFFFF_FFFF),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => continue,
            Err(_) => return Storage::Local,
        }
    }
    Storage::Local
}

/// Whether the mount `fd` is on has `noexec` (`statfs` `f_flags`
/// `ST_NOEXEC`): nothing on it may be executed, by anyone.
pub fn noexec(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    Ok(has_noexec(&rustix::fs::fstatvfs(fd)?))
}

/// [`noexec`] for the mount `path` leads to (symlinks followed).
pub fn noexec_at(path: &Path) -> std::io::Result<bool> {
    Ok(has_noexec(&rustix::fs::statvfs(path)?))
}

fn has_noexec(vfs: &rustix::fs::StatVfs) -> bool {
    vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC)
}

/// The pool size for a scan of `roots`: `explicit` if given, else
/// [`network_threads`] when any root is on a network file system, else one
/// per CPU.
pub fn threads_for(roots: &[PathBuf], explicit: Option<usize>) -> usize {
    match explicit {
        Some(n) => n,
        None => threads_for_storage(&roots.iter().map(|r| storage(r)).collect::<Vec<_>>(), None),
    }
}

/// [`threads_for`] when what each root lives on is already known.
pub fn threads_for_storage(storages: &[Storage], explicit: Option<usize>) -> usize {
    if let Some(n) = explicit {
        return n;
    }
    let local = crate::pool::default_threads();
    if storages.iter().any(|s| matches!(s, Storage::Network(_))) {
        network_threads(local)
    } else {
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_magics_are_recognised_and_others_are_local() {
        assert_eq!(storage_of_magic(0x6969), Storage::Network("nfs"));
        assert_eq!(storage_of_magic(0xFE53_4D42), Storage::Network("smb2"));
        assert_eq!(storage_of_magic(0x6573_5546), Storage::Network("fuse"));
        assert_eq!(storage_of_magic(0xEF53), Storage::Local); // ext4
        assert_eq!(storage_of_magic(0x0102_1994), Storage::Local); // tmpfs
    }

    #[test]
    fn only_fuse_lookups_are_trusted_to_bring_fresh_attributes() {
        assert!(storage_of_magic(0x6573_5546).lookups_bring_attributes());
        for other in [0x6969, 0xFE53_4D42, 0x00C3_6400, 0xEF53] {
            assert!(
                !storage_of_magic(other).lookups_bring_attributes(),
                "{other:#x}"
            );
        }
    }

    #[test]
    fn a_temporary_directory_is_local_and_gets_one_thread_per_cpu() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/there");
        assert_eq!(storage(dir.path()), Storage::Local);
        assert_eq!(storage(&missing), Storage::Local);
        let roots = [dir.path().to_path_buf(), missing];
        assert_eq!(threads_for(&roots, None), crate::pool::default_threads());
        assert_eq!(threads_for(&roots, Some(3)), 3);
    }

    #[test]
    fn the_network_default_grows_with_the_cpus_within_its_bounds() {
        const { assert!(NETWORK_THREADS_MAX <= crate::pool::MAX_THREADS) };
        assert_eq!(network_threads(1), 32);
        assert_eq!(network_threads(2), 32);
        assert_eq!(network_threads(3), 48);
        assert_eq!(network_threads(4), 64);
        assert_eq!(network_threads(256), 64);
        assert_eq!(network_threads(usize::MAX), 64);
    }
}
