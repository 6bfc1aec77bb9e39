//! A level-triggered, pollable flag: readable while raised. An eventfd on
//! Linux, a non-blocking close-on-exec pipe elsewhere. Used for the client's
//! event descriptor and for waking the worker.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use std::sync::Mutex;

use crate::sys::lock::lock;

#[derive(Debug)]
pub struct Notifier {
    /// The end that polls readable.
    read: OwnedFd,
    /// The end written to raise; `None` for an eventfd (same descriptor).
    write: Option<OwnedFd>,
    raised: Mutex<bool>,
}

impl Notifier {
    pub fn new() -> io::Result<Notifier> {
        let (read, write) = open()?;
        Ok(Notifier { read, write, raised: Mutex::new(false) })
    }

    /// The descriptor to poll for `POLLIN`.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the descriptor readable (idempotent).
    pub fn raise(&self) {
        let mut raised = lock(&self.raised);
        if !*raised {
            let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
            let one: u64 = 1;
            // eventfd needs 8 bytes; a pipe takes the first one.
            let len = if self.write.is_some() { 1 } else { 8 };
            // SAFETY: `one` outlives the call and holds at least `len` bytes; `fd` is open and owned by self.
            let n = unsafe { libc::write(fd, (&one as *const u64).cast(), len) };
            *raised = n > 0;
        }
    }

    /// Makes the descriptor unreadable (idempotent).
    pub fn lower(&self) {
        let mut raised = lock(&self.raised);
        if *raised {
            drain(self.read.as_raw_fd());
            *raised = false;
        }
    }
}

fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is a valid writable buffer of its length; `fd` is open and non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 || (n as usize) < buf.len() {
            break;
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open() -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, None))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open() -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [fds[0], fds[1]] {
        // SAFETY: fcntl on descriptors we own, with integer arguments only.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    Ok((r, Some(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::poll::{poll_readable, Readiness};
    use std::time::Duration;

    #[test]
    fn level_triggered_raise_and_lower() {
        let n = Notifier::new().unwrap();
        let ready = |n: &Notifier| poll_readable(&[n.fd()], Some(Duration::ZERO)).unwrap() == Readiness::from_bits(1);
        assert!(!ready(&n));
        n.raise();
        n.raise();
        assert!(ready(&n));
        assert!(ready(&n), "stays readable until lowered");
        n.lower();
        assert!(!ready(&n));
        n.lower();
        n.raise();
        assert!(ready(&n));
    }
}
