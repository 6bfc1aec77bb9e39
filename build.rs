//! Build script: compiles the C trace shim and generates the public header.
//!
//! The header goes to `$OUT_DIR/prossntp.h`; `tests/header.rs` fails when
//! `include/prossntp.h` differs from it. `PROSSNTP_BLESS_HEADER=1` (used by
//! `make header`) also writes it into `include/`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=PROSSNTP_BLESS_HEADER");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    // No server time before this is plausible (SOURCE_DATE_EPOCH keeps builds reproducible).
    let build_time = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    });
    println!("cargo:rustc-env=PROSSNTP_BUILD_UNIX={build_time}");

    // Never unloaded by dlclose(): worker threads may still be running its code.
    if matches!(std::env::var("CARGO_CFG_TARGET_OS").as_deref(), Ok("linux" | "freebsd" | "illumos" | "solaris")) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    // The soname: programs record NEEDED libprossntp.so.1 (major = PROSSNTP_VERSION_MAJOR;
    // `make install` installs libprossntp.so.1.3.0 with that link; scripts/so-links.sh adds the
    // link next to the built library for programs linked against target/).
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux" | "freebsd") => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprossntp.so.1"),
        Ok("illumos" | "solaris") => println!("cargo:rustc-cdylib-link-arg=-Wl,-h,libprossntp.so.1"),
        _ => {}
    }

    let shim = cc::Build::new().file("src/ffi/trace_shim.c").warnings(true).try_compile("prossntp_trace_shim");
    if let Err(e) = shim {
        // Checking for another target without its C compiler: carry on so the
        // Rust code is still type-checked; linking would need the compiler.
        if std::env::var("TARGET") == std::env::var("HOST") {
            panic!("cannot compile src/ffi/trace_shim.c: {e}");
        }
        println!("cargo:warning=trace shim not compiled for this target ({e}); a link would need a C cross-compiler");
    }

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("prossntp.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        // Only the C-facing files: nothing of the crate's internals may leak.
        .with_src(crate_dir.join("src/ffi/types.rs"))
        .with_src(crate_dir.join("src/ffi/api.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(&out);
    let bless = std::env::var_os("PROSSNTP_BLESS_HEADER").is_some_and(|v| v == "1");
    if bless {
        bindings.write_to_file(crate_dir.join("include/prossntp.h"));
    }

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
    let ext_bindings = cbindgen::Builder::new()
        .with_src(crate_dir.join("src/ffi/ext_types.rs"))
        .with_src(crate_dir.join("src/ffi/ext.rs"))
        .with_config(ext)
        .generate()
        .expect("cbindgen could not generate prossntp_ext.h");
    ext_bindings.write_to_file(out.with_file_name("prossntp_ext.h"));
    if bless {
        ext_bindings.write_to_file(crate_dir.join("include/prossntp_ext.h"));
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
