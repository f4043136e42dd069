//! What a root lives on ([`storage`]: a local disk, or a network or
//! user-space file system by its `statfs` magic), and whether a mount allows
//! exec ([`noexec`]).

use std::path::Path;

/// Where a root lives, as far as latency is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storage {
    /// A local disk or memory file system (ext4, xfs, btrfs, tmpfs, overlay, ...).
    Local,
    /// A network or user-space file system, named for messages.
    Network(&'static str),
}

impl Storage {
    /// Whether looking a name up always brings its attributes back from
    /// the server once the entry has expired, so that the walk may take
    /// them from the lookup (`AT_STATX_DONT_SYNC`, the walk's `StatHow`):
    /// FUSE. Not NFS, SMB or Ceph, whose
    /// `AT_STATX_DONT_SYNC` answers from an attribute cache of any age.
    pub(crate) fn lookups_bring_attributes(self) -> bool {
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
pub(crate) fn storage_of_magic(f_type: u64) -> Storage {
    NETWORK_MAGICS
        .iter()
        .find(|(magic, _)| *magic == f_type)
        .map_or(Storage::Local, |(_, name)| Storage::Network(name))
}

/// What `path` lives on. A path that does not exist (yet) is looked up
/// through its nearest existing ancestor; if even that fails, it is local.
pub(crate) fn storage(path: &Path) -> Storage {
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
pub(crate) fn noexec(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    Ok(has_noexec(&rustix::fs::fstatvfs(fd)?))
}

/// [`noexec`] for the mount `path` leads to (symlinks followed).
pub(crate) fn noexec_at(path: &Path) -> std::io::Result<bool> {
    Ok(has_noexec(&rustix::fs::statvfs(path)?))
}

fn has_noexec(vfs: &rustix::fs::StatVfs) -> bool {
    vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC)
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
}
