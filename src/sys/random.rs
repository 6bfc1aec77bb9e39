//! Unpredictable 64-bit values for request nonces, from the kernel.

use std::io;

/// A random u64 from the kernel's CSPRNG.
pub fn random_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "illumos",
    target_os = "solaris"
))]
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    // Never wait for the entropy pool at boot (the worker would stall, config
    // and destroy with it): GRND_INSECURE where the kernel has it (Linux 5.6),
    // else a blocking read, which older kernels end quickly after boot.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let mut flags = libc::GRND_INSECURE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let mut flags = 0;
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EINVAL) if flags != 0 => flags = 0,
                _ => return Err(e),
            }
        } else {
            done += n as usize;
        }
    }
    Ok(())
}

#[cfg(target_vendor = "apple")]
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `buf`; arc4random_buf cannot fail.
    unsafe { libc::arc4random_buf(buf.as_mut_ptr().cast(), buf.len()) };
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_differ() {
        let a = super::random_u64().unwrap();
        let b = super::random_u64().unwrap();
        assert_ne!(a, b);
    }
}
