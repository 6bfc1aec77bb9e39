//! Thin platform calls, each `unsafe` block justified: pollable notifiers
//! (eventfd or pipe), `poll()`, random nonces, the wall clock and the
//! host-wide clock-owner lock file.
pub mod hostlock;
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

/// Whether a network interface with this index exists (an IPv6 scope id).
pub fn interface_exists(index: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname may write.
    !unsafe { libc::if_indextoname(index, name.as_mut_ptr()) }.is_null()
}
