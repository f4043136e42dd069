//! The trailer parser and region arithmetic: any 64 bytes, any file size.
#![no_main]

use _core::format::trailer::{Trailer, TRAILER_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < TRAILER_SIZE + 8 {
        return;
    }
    let raw: [u8; TRAILER_SIZE] = data[..TRAILER_SIZE].try_into().unwrap();
    let size = u64::from_le_bytes(data[TRAILER_SIZE..TRAILER_SIZE + 8].try_into().unwrap());
    if let Ok(trailer) = Trailer::parse(&raw) {
        assert_eq!(
            trailer.to_bytes(),
            raw,
            "a parsed trailer must rebuild byte for byte"
        );
        if let Ok(layout) = trailer.layout(size) {
            assert!(layout.source_start > 0);
            assert_eq!(
                layout.metadata_start + layout.metadata_len + TRAILER_SIZE as u64,
                size
            );
        }
    }
});
