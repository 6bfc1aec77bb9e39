//! Symmetric-key MACs: a key from the first bytes, then a datagram into
//! `SymmetricKey::verify`, and the same header signed.
//! The input format and the invariants are in tests/fuzz_checks/mod.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mac(data));
