//! Nothing to export: this crate exists for its trybuild cases under `tests/ui/`,
//! run by `tests/ui.rs`.
