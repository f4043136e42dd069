//! Bundles: reading candidates, scan and find, and which bundle runs a dag_id.

pub mod precedence;
pub mod scan;
