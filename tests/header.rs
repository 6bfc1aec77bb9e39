//! The checked-in public header must be exactly what cbindgen generates.
#[test]
fn checked_in_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/prossntp.h"));
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/prossntp.h")).unwrap();
    assert!(generated == checked_in, "include/prossntp.h is stale: run `make header` and commit it");
}
