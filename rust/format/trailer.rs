//! The 64-byte bundle trailer (Executable Bundle Spec 1.0, "Trailer Layout").
//!
//! Pure functions over bytes: no I/O. All integers are little-endian:
//!
//! ```text
//! 0..4    source_len     u32
//! 4..8    metadata_len   u32
//! 8..12   footer_ver     u32   (1)
//! 12..44  binary_sha256  [u8; 32]
//! 44..56  reserved       [u8; 12], MUST be zero
//! 56..64  magic          b"AFBNDL01"
//! ```

use crate::error::ErrorKind;
use crate::format::digest::hex;

/// Size of the trailer in bytes.
pub const TRAILER_SIZE: usize = 64;
/// The trailer magic.
pub const MAGIC: [u8; 8] = *b"AFBNDL01";
/// The only trailer format version this reader knows.
pub const FOOTER_VERSION: u32 = 1;

/// A parsed, validated trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trailer {
    /// Length of the source region.
    pub source_len: u32,
    /// Length of the metadata (manifest) region.
    pub metadata_len: u32,
    /// Trailer format version.
    pub footer_ver: u32,
    /// SHA-256 of the binary region `[0, source_start)`.
    pub binary_sha256: [u8; 32],
}

/// Where the regions of a bundle of a given size are, as the trailer implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Total file size, trailer included.
    pub file_size: u64,
    /// Offset of the source region; also the length of the binary region.
    pub source_start: u64,
    /// Length of the source region.
    pub source_len: u64,
    /// Offset of the metadata region.
    pub metadata_start: u64,
    /// Length of the metadata region.
    pub metadata_len: u64,
}

impl Trailer {
    /// A version-1 trailer for the given region lengths and binary digest.
    pub fn new(source_len: u32, metadata_len: u32, binary_sha256: [u8; 32]) -> Self {
        Trailer {
            source_len,
            metadata_len,
            footer_ver: FOOTER_VERSION,
            binary_sha256,
        }
    }

    /// The 64 bytes of this trailer.
    pub fn to_bytes(&self) -> [u8; TRAILER_SIZE] {
        let mut out = [0u8; TRAILER_SIZE];
        out[0..4].copy_from_slice(&self.source_len.to_le_bytes());
        out[4..8].copy_from_slice(&self.metadata_len.to_le_bytes());
        out[8..12].copy_from_slice(&self.footer_ver.to_le_bytes());
        out[12..44].copy_from_slice(&self.binary_sha256);
        out[56..64].copy_from_slice(&MAGIC);
        out
    }

    /// Parse the last 64 bytes of a file (spec, reader steps 2-3, plus the
    /// reserved-bytes rule).
    ///
    /// Order of checks: magic (else [`ErrorKind::NotABundle`]), `footer_ver`
    /// (else [`ErrorKind::UnsupportedFooterVersion`]), reserved bytes (else
    /// [`ErrorKind::Format`]).
    pub fn parse(raw: &[u8; TRAILER_SIZE]) -> Result<Self, ErrorKind> {
        if !has_magic(raw) {
            return Err(ErrorKind::NotABundle(
                "no AFBNDL01 magic in the last 8 bytes".into(),
            ));
        }
        let word = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        let footer_ver = word(8);
        if footer_ver != FOOTER_VERSION {
            return Err(ErrorKind::UnsupportedFooterVersion {
                found: footer_ver,
                supported: FOOTER_VERSION,
            });
        }
        if raw[44..56].iter().any(|&b| b != 0) {
            return Err(ErrorKind::Format(format!(
                "trailer reserved bytes 44..56 must be zero, found {}",
                hex(&raw[44..56])
            )));
        }
        Ok(Trailer {
            source_len: word(0),
            metadata_len: word(4),
            footer_ver,
            binary_sha256: raw[12..44].try_into().expect("32 bytes"),
        })
    }

    /// The region offsets for a file of `file_size` bytes (spec, steps 4-5).
    ///
    /// Fails with [`ErrorKind::Format`] when the regions would start before
    /// offset 0 or leave an empty binary region.
    pub fn layout(&self, file_size: u64) -> Result<Layout, ErrorKind> {
        let before_trailer = file_size.checked_sub(TRAILER_SIZE as u64).ok_or_else(|| {
            ErrorKind::NotABundle("file is shorter than the 64-byte trailer".into())
        })?;
        let regions = u64::from(self.source_len) + u64::from(self.metadata_len);
        let source_start = before_trailer.checked_sub(regions).ok_or_else(|| {
            ErrorKind::Format(format!(
                "trailer declares source_len={} and metadata_len={} but only {} bytes precede \
                 the trailer: regions extend past the start of the file",
                self.source_len, self.metadata_len, before_trailer
            ))
        })?;
        if source_start == 0 {
            return Err(ErrorKind::Format(
                "trailer leaves no room for the executable: the binary region is empty".into(),
            ));
        }
        Ok(Layout {
            file_size,
            source_start,
            source_len: u64::from(self.source_len),
            metadata_start: source_start + u64::from(self.source_len),
            metadata_len: u64::from(self.metadata_len),
        })
    }
}

/// Whether the last 8 bytes of `raw` are the bundle magic.
pub(crate) fn has_magic(raw: &[u8; TRAILER_SIZE]) -> bool {
    raw[56..64] == MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trailer {
        Trailer::new(10, 20, [7u8; 32])
    }

    #[test]
    fn build_then_parse_round_trips() {
        let t = sample();
        assert_eq!(Trailer::parse(&t.to_bytes()).unwrap(), t);
    }

    #[test]
    fn layout_matches_the_spec_byte_order() {
        let raw = sample().to_bytes();
        assert_eq!(&raw[0..4], &10u32.to_le_bytes());
        assert_eq!(&raw[4..8], &20u32.to_le_bytes());
        assert_eq!(&raw[8..12], &1u32.to_le_bytes());
        assert_eq!(&raw[12..44], &[7u8; 32]);
        assert_eq!(&raw[44..56], &[0u8; 12]);
        assert_eq!(&raw[56..64], b"AFBNDL01");
    }

    #[test]
    fn wrong_magic_is_not_a_bundle() {
        let mut raw = sample().to_bytes();
        raw[63] = b'2';
        assert!(matches!(
            Trailer::parse(&raw),
            Err(ErrorKind::NotABundle(_))
        ));
    }

    #[test]
    fn unknown_footer_version_is_a_versioning_error() {
        let mut raw = sample().to_bytes();
        raw[8] = 2;
        assert!(matches!(
            Trailer::parse(&raw),
            Err(ErrorKind::UnsupportedFooterVersion {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn footer_version_is_checked_before_reserved_bytes() {
        let mut raw = sample().to_bytes();
        raw[8] = 9;
        raw[50] = 1;
        assert!(matches!(
            Trailer::parse(&raw),
            Err(ErrorKind::UnsupportedFooterVersion { .. })
        ));
    }

    #[test]
    fn non_zero_reserved_bytes_are_a_format_error() {
        for at in 44..56 {
            let mut raw = sample().to_bytes();
            raw[at] = 0x80;
            assert!(
                matches!(Trailer::parse(&raw), Err(ErrorKind::Format(_))),
                "byte {at}"
            );
        }
    }

    #[test]
    fn regions_are_located_from_the_end() {
        let layout = sample().layout(1000).unwrap();
        assert_eq!(layout.metadata_start, 1000 - 64 - 20);
        assert_eq!(layout.source_start, 1000 - 64 - 20 - 10);
        assert_eq!(layout.source_len, 10);
        assert_eq!(layout.metadata_len, 20);
    }

    #[test]
    fn regions_past_the_start_of_file_are_a_format_error() {
        let err = sample().layout(64 + 29).unwrap_err();
        assert!(matches!(err, ErrorKind::Format(ref m) if m.contains("past the start")));
    }

    #[test]
    fn empty_binary_region_is_a_format_error() {
        let err = sample().layout(64 + 30).unwrap_err();
        assert!(matches!(err, ErrorKind::Format(ref m) if m.contains("binary region is empty")));
    }

    #[test]
    fn one_byte_binary_region_is_fine() {
        assert_eq!(sample().layout(64 + 31).unwrap().source_start, 1);
    }

    #[test]
    fn maximal_lengths_do_not_overflow() {
        let t = Trailer::new(u32::MAX, u32::MAX, [0; 32]);
        assert!(t.layout(u64::MAX).is_ok());
        assert!(matches!(t.layout(100), Err(ErrorKind::Format(_))));
    }

    #[test]
    fn shorter_than_a_trailer_is_not_a_bundle() {
        assert!(matches!(sample().layout(63), Err(ErrorKind::NotABundle(_))));
    }
}
