//! One source for the version, Cargo.toml: build.rs derives the soname and
//! `PROSSNTP_VERSION_*` from it (tests/header.rs checks the headers that
//! carry them, tests/stats.rs `prossntp_version()`); here, every man page's
//! header names it too.
#[test]
fn every_man_page_names_the_cargo_version() {
    let want = format!("\"prossntp {}\"", env!("CARGO_PKG_VERSION"));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/man");
    let mut pages = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.starts_with(".so ") {
            continue; // a link to another page
        }
        let th = text.lines().find(|l| l.starts_with(".TH ")).unwrap_or_else(|| panic!("{}: no .TH", path.display()));
        assert!(th.contains(&want), "{}: {th} does not name {want}", path.display());
        pages += 1;
    }
    assert!(pages >= 12, "only {pages} man pages in {dir}");
}
