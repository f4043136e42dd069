//! The PyO3 bindings: convert arguments, release the GIL, map errors.

pub mod bundle;
pub mod errors;
pub mod inspect;
pub mod pack;
pub mod records;
pub mod scan;
pub mod signature;
