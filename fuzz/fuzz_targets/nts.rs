//! NTS extension fields: a request from a session, then arbitrary or genuine
//! (and altered) replies into `NtsSession::verify`.
//! The input format and the invariants are in tests/fuzz_checks/mod.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::nts(data));
