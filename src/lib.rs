//! prossntp: an SNTP client library with the C ABI of Aculab's Prosody SNTP
//! Client API.
//!
//! - `proto` and `discipline`: the sans-IO core (packets, validation,
//!   schedule, client state machine, clock decisions).
//! - `clock`: the clock backends behind one trait.
//! - `owner`: the one owner of the host clock that every steering client
//!   feeds (selection, combining, the host lock, standing down).
//! - `sys`: thin platform calls (event descriptors, poll, randomness, time).
//! - `worker`: the per-client thread that drives the core.
//! - `sim`: the deterministic simulator (Linux: it models `struct timex`).
//! - `ffi`: the `extern "C"` API, handle registry, trace and panic boundary.
#![deny(unsafe_op_in_unsafe_fn)]
// C types (long, time_t, suseconds_t) differ in width by target: casts that
// are no-ops on LP64 are needed elsewhere.
#![allow(clippy::unnecessary_cast)]

// The crate's modules are private: C programs see only the `extern "C"`
// calls, and the dead-code lint sees what nothing uses. With the
// `__internal-api` feature (the crate's own tests, benches, fuzz targets,
// examples and test server; never a stable interface) they are public.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "__internal-api")]
            pub mod $name;
            #[cfg(not(feature = "__internal-api"))]
            mod $name;
        )*
    };
}

internal_modules!(clock, discipline, ffi, owner, proto, sys, worker);

/// The deterministic simulator, for the tests and examples that use it.
#[cfg(all(target_os = "linux", feature = "__internal-api"))]
pub mod sim;
