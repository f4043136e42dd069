//! SHA-256 of a byte range of an open file, read with positioned reads.
//!
//! Streaming in fixed chunks keeps memory flat whatever the bundle size.
//! `sha2` picks the SHA-NI / ARMv8 SHA instructions at run time when the CPU
//! has them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use crate::error::ErrorKind;

/// Bytes read per positioned read while hashing.
pub const CHUNK: usize = 1 << 20;

/// SHA-256 of bytes `[0, len)` of `file`.
///
/// A file that ends before `len` (it shrank while being read) is an
/// [`ErrorKind::Changed`], never a short digest.
pub fn sha256_prefix(file: &File, len: u64) -> Result<[u8; 32], ErrorKind> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK)).max(1)];
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |rest| rest.min(buf.len()));
        let got = match file.read_at(&mut buf[..want], offset) {
            Ok(0) => {
                return Err(ErrorKind::Changed(format!(
                    "file ended at byte {offset} while hashing a {len}-byte binary region"
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ErrorKind::io("read binary region", e)),
        };
        hasher.update(&buf[..got]);
        offset += got as u64;
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of an in-memory buffer.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn prefix_digest_matches_the_in_memory_digest() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        for len in [1usize, 100, CHUNK, CHUNK + 1, data.len()] {
            assert_eq!(
                sha256_prefix(&f, len as u64).unwrap(),
                sha256(&data[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn a_file_shorter_than_the_region_is_a_change_not_a_digest() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"short").unwrap();
        assert!(matches!(sha256_prefix(&f, 10), Err(ErrorKind::Changed(_))));
    }
}
