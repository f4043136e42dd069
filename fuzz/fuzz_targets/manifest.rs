//! The manifest loader: any bytes are a manifest or a clean error, never a
//! panic; a manifest that loads survives a canonical dump and reload.
#![no_main]

use _core::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = manifest::parse(data) {
        if let Ok(text) = manifest::dump(parsed.value.clone()) {
            let again = manifest::parse(text.as_bytes()).expect("a dumped manifest must load");
            assert_eq!(again.dag_ids.len(), parsed.dag_ids.len());
        }
    }
});
