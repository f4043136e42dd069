//! The PyO3 bindings: convert arguments, release the GIL, map errors.
//!
//! Architecture Invariant: no decision here. Which bundle wins, what counts
//! as the same file, how a dag_id's candidates are grouped, every failure
//! kind and stage: all come from the layers below as data, and cross to
//! Python as frozen, picklable records (`records.rs`) or as the one mapping
//! of [`crate::error::Error`] to exceptions (`errors.rs`).

pub mod bundle;
pub mod errors;
pub mod inspect;
pub mod pack;
pub mod records;
pub mod scan;
pub mod signature;
