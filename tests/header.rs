//! The checked-in public headers must be exactly what cbindgen generates.
#[test]
fn checked_in_headers_are_current() {
    let generated = [
        ("prossntp.h", include_str!(concat!(env!("OUT_DIR"), "/prossntp.h"))),
        ("prossntp_ext.h", include_str!(concat!(env!("OUT_DIR"), "/prossntp_ext.h"))),
    ];
    for (name, text) in generated {
        let path = format!("{}/include/{name}", env!("CARGO_MANIFEST_DIR"));
        let checked_in = std::fs::read_to_string(&path).unwrap();
        assert!(text == checked_in, "include/{name} is stale: run `make header` and commit it");
    }
}
