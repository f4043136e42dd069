//! The manifest loader: any bytes are a manifest or a clean error, never a
//! panic; a manifest that loads survives a canonical dump and reload, and,
//! when no dag key is retyped between YAML 1.1 and 1.2, routes as many dag_ids
//! after it (a retyped key is written as its YAML 1.2 reading, which pack refuses).
#![no_main]

use _core::format::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = manifest::parse(data) {
        if let Ok(text) = manifest::dump(parsed.value.clone()) {
            let again = manifest::parse(text.as_bytes()).expect("a dumped manifest must load");
            if parsed.retyped.is_empty() {
                assert_eq!(again.dag_ids.len(), parsed.dag_ids.len());
            }
        }
    }
});
