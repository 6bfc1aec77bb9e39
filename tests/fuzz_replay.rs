//! Replays every input in `fuzz/corpus/<target>/` through the checks the
//! cargo-fuzz targets run (`tests/fuzz_checks/mod.rs`, shared with
//! `fuzz/fuzz_targets/`), so the corpus is a regression suite on stable
//! `cargo test`. `scripts/fuzz.sh` grows the corpus with libFuzzer.

mod fuzz_checks;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A target's check: panics when an invariant breaks.
type Check = fn(&[u8]);

/// Every target and its check; a corpus directory not listed here fails.
const TARGETS: [(&str, Check); 6] = [
    ("reply", fuzz_checks::reply),
    ("client", fuzz_checks::client),
    ("discipline", fuzz_checks::discipline),
    ("mac", fuzz_checks::mac),
    ("nts_ke", fuzz_checks::nts_ke),
    ("nts", fuzz_checks::nts),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus")
}

fn replay(target: &str) {
    let check = TARGETS.iter().find(|(name, _)| *name == target).expect("a known target").1;
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn reply_corpus() {
    replay("reply");
}

#[test]
fn client_corpus() {
    replay("client");
}

#[test]
fn discipline_corpus() {
    replay("discipline");
}

#[test]
fn mac_corpus() {
    replay("mac");
}

#[test]
fn nts_ke_corpus() {
    replay("nts_ke");
}

#[test]
fn nts_corpus() {
    replay("nts");
}

#[test]
fn every_corpus_directory_has_a_check() {
    for entry in fs::read_dir(corpus_root()).expect("fuzz/corpus") {
        let name = entry.expect("directory entry").file_name().to_string_lossy().into_owned();
        assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/corpus/{name} has no check in tests/fuzz_checks");
    }
}
