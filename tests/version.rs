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

/// CHANGELOG.md: its latest entry is the Cargo version, and every call,
/// struct and constant family the extension header declares is named in it
/// (a release that adds to the ABI says so).
#[test]
fn the_changelog_names_the_version_and_every_addition_to_the_abi() {
    let root = env!("CARGO_MANIFEST_DIR");
    let log = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).unwrap();
    let latest = log.lines().find_map(|l| l.strip_prefix("## ")).expect("a release entry");
    assert!(
        latest.starts_with(&format!("{} ", env!("CARGO_PKG_VERSION"))),
        "CHANGELOG.md's latest entry is {latest:?}, Cargo.toml says {}",
        env!("CARGO_PKG_VERSION")
    );
    let header = std::fs::read_to_string(format!("{root}/include/prossntp_ext.h")).unwrap();
    let mut missing = vec![];
    let mut need = |name: String| {
        if !log.contains(&name) && !missing.contains(&name) {
            missing.push(name);
        }
    };
    for line in header.lines().filter(|l| !l.trim_start().starts_with('*')) {
        // Constants by family (PROSSNTP_ROLE_*), but the lone ones by name.
        if let Some(rest) = line.strip_prefix("#define PROSSNTP_") {
            let name = rest.split_whitespace().next().unwrap_or("");
            if name == "EXT_H" {
                continue;
            }
            let lone = name.ends_with("MIN_SIZE") || !name.contains('_');
            need(if lone {
                format!("PROSSNTP_{name}")
            } else {
                format!("PROSSNTP_{}_", name.split('_').next().unwrap())
            });
        }
        // Calls and structs by name.
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("prossntp_")
                && (line.contains(&format!("{word}(")) || line.contains(&format!("struct {word} {{")))
            {
                need(word.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "CHANGELOG.md does not name {missing:?}");
}
