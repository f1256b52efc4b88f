//! What the macros accept and how they refuse the rest: each case under `tests/ui/` is
//! compiled on its own; the `service/`, `main/`, `periodic/`, `retry/` and `options/` cases must fail with the error in
//! their `.stderr` file, the `pass/` cases must compile and run.
//!
//! After a deliberate change of a message: `TRYBUILD=overwrite cargo test -p
//! oslo-ui-tests`, then read every changed `.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/service/*.rs");
    cases.compile_fail("tests/ui/main/*.rs");
    cases.compile_fail("tests/ui/periodic/*.rs");
    cases.compile_fail("tests/ui/retry/*.rs");
    cases.compile_fail("tests/ui/options/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
