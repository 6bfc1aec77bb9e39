//! The checked-in public headers must be exactly what cbindgen generates
//! from `src/ffi/` (and the version's numbers from Cargo.toml, which build.rs
//! writes). Generated here rather than in every build; `make header`
//! (`PROSSNTP_BLESS_HEADER=1 cargo test --test header`) writes them into
//! `include/`.
use std::path::{Path, PathBuf};

/// (name, text) of `prossntp.h` and `prossntp_ext.h` as generated now.
fn generate() -> [(&'static str, String); 2] {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let main = cbindgen::Builder::new()
        // Only the C-facing files: nothing of the crate's internals may leak.
        .with_src(crate_dir.join("src/ffi/types.rs"))
        .with_src(crate_dir.join("src/ffi/api.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");

    // prossntp_ext.h: the library's own calls, with their own header and guard.
    let mut ext = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    ext.header = Some(EXT_HEADER.into());
    ext.after_includes = Some(EXT_AFTER_INCLUDES.into());
    ext.trailer = Some(EXT_TRAILER.into());
    ext.sys_includes = vec!["stddef.h".into(), "stdint.h".into(), "time.h".into()];
    ext.export.rename.insert("timespec".into(), "struct timespec".into());
    ext.includes = vec!["prossntp.h".into()];
    ext.export.include = vec![];
    ext.export.exclude.extend(["tSMSNTPId".into(), "tSM_INT".into()]);
    ext.function.prefix = None;
    let ext = cbindgen::Builder::new()
        .with_src(Path::new(env!("OUT_DIR")).join("version.rs"))
        .with_src(crate_dir.join("src/ffi/ext_types.rs"))
        .with_src(crate_dir.join("src/ffi/ext.rs"))
        .with_config(ext)
        .generate()
        .expect("cbindgen could not generate prossntp_ext.h");
    [("prossntp.h", text(&main)), ("prossntp_ext.h", text(&ext))]
}

fn text(b: &cbindgen::Bindings) -> String {
    let mut out = Vec::new();
    b.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn checked_in_headers_are_current() {
    let bless = std::env::var_os("PROSSNTP_BLESS_HEADER").is_some_and(|v| v == "1");
    for (name, text) in generate() {
        let path = format!("{}/include/{name}", env!("CARGO_MANIFEST_DIR"));
        if bless {
            std::fs::write(&path, &text).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap();
        assert!(text == checked_in, "include/{name} is stale: run `make header` and commit it");
    }
}

const EXT_HEADER: &str = "/*
 * prossntp_ext.h: prossntp's own calls, beyond Aculab's API: a client's
 * statistics and its own clock of the server, the library version, and
 * texts for error codes and rejection reasons. Everything here is prefixed
 * prossntp_ / PROSSNTP_.
 */
#ifndef PROSSNTP_EXT_H
#define PROSSNTP_EXT_H";

const EXT_AFTER_INCLUDES: &str = "
#ifdef __cplusplus
extern \"C\" {
#endif
";

const EXT_TRAILER: &str = "
#ifdef __cplusplus
}  /* extern \"C\" */
#endif

#endif /* PROSSNTP_EXT_H */
";
