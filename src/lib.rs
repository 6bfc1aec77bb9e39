//! prossntp: an SNTP client library with the C ABI of Aculab's Prosody SNTP
//! Client API.
//!
//! - [`proto`] and [`discipline`]: the sans-IO core (packets, validation,
//!   schedule, client state machine, clock decisions).
//! - [`clock`]: the clock backends behind one trait.
//! - [`owner`]: the one owner of the host clock that every steering client
//!   feeds (selection, combining, the host lock, standing down).
//! - [`sys`]: thin platform calls (event descriptors, poll, randomness, time).
//! - [`worker`]: the per-client thread that drives the core.
//! - [`sim`]: the deterministic simulator (Linux: it models `struct timex`).
//! - [`ffi`]: the `extern "C"` API, handle registry, trace and panic boundary.
#![deny(unsafe_op_in_unsafe_fn)]
// C types (long, time_t, suseconds_t) differ in width by target: casts that
// are no-ops on LP64 are needed elsewhere.
#![allow(clippy::unnecessary_cast)]

pub mod clock;
pub mod discipline;
pub mod ffi;
pub mod owner;
pub mod proto;
#[cfg(target_os = "linux")]
pub mod sim;
pub mod sys;
pub mod worker;
