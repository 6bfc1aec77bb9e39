//! Arbitrary datagrams (with nonce, t1 and t4 from the first bytes) into
//! `Packet::parse`/`encode` and `validate::judge`.
//! The input format and the invariants are in tests/fuzz_checks/mod.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::reply(data));
