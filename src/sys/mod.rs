//! Thin platform calls, each `unsafe` block justified: pollable notifiers
//! (eventfd or pipe), `poll()`, random nonces and the wall clock.
pub mod lock;
pub mod notify;
pub mod poll;
pub mod random;
pub mod time;
pub mod udp;

use std::io;

/// The `errno` of the last failed call.
pub fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
