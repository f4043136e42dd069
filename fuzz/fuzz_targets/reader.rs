//! The whole-file reader: any file is a bundle, not a bundle, or a typed error.
#![no_main]

use std::io::Write;

use _core::bundle;
use _core::verify::Verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.flush().expect("flush");
    if let Ok((bundle, _)) = bundle::read_bundle(file.path(), Some(Verify::remembered(None, None))) {
        assert!(bundle.verified);
        assert!(bundle.layout.source_start > 0);
        assert_eq!(bundle.layout.file_size, data.len() as u64);
    }
});
