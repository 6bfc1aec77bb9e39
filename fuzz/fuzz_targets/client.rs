//! An op sequence (configure, timeouts, on_sent, datagrams from the server
//! or elsewhere, clock results) driving one `proto::client::Client`.
//! The input format and the invariants are in tests/fuzz_checks/mod.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::client(data));
