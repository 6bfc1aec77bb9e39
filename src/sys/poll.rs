//! `poll()` on a few descriptors with an optional timeout.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Which of the polled descriptors are readable: bit i for descriptor i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness(u32);

impl Readiness {
    #[cfg(test)]
    pub fn from_bits(bits: u32) -> Self {
        Readiness(bits)
    }

    pub fn is_ready(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}

/// Waits until one of `fds` (at most 32) is readable or `timeout` passes
/// (`None`: no timeout). Interrupted waits return no readiness.
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Readiness> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // Round up so a wake-up never comes before the deadline.
    let ms = match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
    };
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs for the duration of the call.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(Readiness(0)) } else { Err(e) };
    }
    let bits = pfds.iter().enumerate().filter(|(_, p)| p.revents != 0).fold(0, |b, (i, _)| b | (1 << i));
    Ok(Readiness(bits))
}
