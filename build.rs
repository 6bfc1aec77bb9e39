//! Build script: compiles the C trace shim, and derives the soname and the
//! `PROSSNTP_VERSION_*` constants from the one source of the version,
//! Cargo.toml. (The public headers are generated and checked by
//! `tests/header.rs`, not in every build.)
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=Cargo.toml");
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
    // The version's numbers, for src/ffi/ext_types.rs (and so the header).
    let part = |name: &str| std::env::var(format!("CARGO_PKG_VERSION_{name}")).expect("cargo sets the version");
    let (major, minor, patch) = (part("MAJOR"), part("MINOR"), part("PATCH"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let consts = format!(
        "/// Library version, also returned as text by `prossntp_version`.\n\
         #[allow(dead_code, reason = \"for the C header\")]\n\
         pub const PROSSNTP_VERSION_MAJOR: i32 = {major};\n\
         #[allow(dead_code, reason = \"for the C header\")]\n\
         pub const PROSSNTP_VERSION_MINOR: i32 = {minor};\n\
         #[allow(dead_code, reason = \"for the C header\")]\n\
         pub const PROSSNTP_VERSION_PATCH: i32 = {patch};\n"
    );
    std::fs::write(out_dir.join("version.rs"), consts).expect("OUT_DIR is writable");
    // The soname: programs record NEEDED libprossntp.so.MAJOR (`make install`
    // installs libprossntp.so.MAJOR.MINOR.PATCH with that link;
    // scripts/so-links.sh adds the link next to the built library for
    // programs linked against target/).
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux" | "freebsd") => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprossntp.so.{major}"),
        Ok("illumos" | "solaris") => println!("cargo:rustc-cdylib-link-arg=-Wl,-h,libprossntp.so.{major}"),
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
}
