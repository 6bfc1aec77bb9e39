//! Receiving datagrams with the kernel's receive timestamp: SO_TIMESTAMPNS on
//! Linux (nanoseconds), SO_TIMESTAMP elsewhere (microseconds).

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use crate::proto::timestamp::NtpTimestamp;

#[cfg(target_os = "linux")]
const TS_OPTION: libc::c_int = libc::SO_TIMESTAMPNS;
#[cfg(not(target_os = "linux"))]
const TS_OPTION: libc::c_int = libc::SO_TIMESTAMP;

/// Asks the kernel to timestamp every received datagram.
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int whose size is passed; `fd` is a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            TS_OPTION,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as _,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A received datagram: its length, sender and kernel receive time (if the
/// kernel gave one).
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub timestamp: Option<NtpTimestamp>,
}

/// One non-blocking `recvmsg` into `buf`.
pub fn recv_timestamped(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    // Room for one timespec control message, aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain C data; all-zero is valid before the fields are set.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as _;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `name` was zeroed and then (partly) filled by the kernel: every byte is initialised.
    let from = socket_addr(unsafe { &name.assume_init() });
    Ok(Received { len: n as usize, from, timestamp: timestamp_of(&msg) })
}

fn socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and aligned enough for.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(std::net::SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

fn timestamp_of(msg: &libc::msghdr) -> Option<NtpTimestamp> {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros walk its control buffer within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let h = &*cmsg;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == TS_OPTION {
                #[cfg(target_os = "linux")]
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    return Some(NtpTimestamp::from_unix(ts.tv_sec as i64, ts.tv_nsec as u32));
                }
                #[cfg(not(target_os = "linux"))]
                {
                    let tv: libc::timeval = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    return Some(NtpTimestamp::from_unix(tv.tv_sec as i64, tv.tv_usec as u32 * 1000));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::time::wall_now;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn loopback_datagram_carries_a_kernel_timestamp() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_rx_timestamps(rx.as_raw_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = wall_now();
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let after = wall_now();
        let mut buf = [0u8; 64];
        let r = recv_timestamped(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.from, Some(tx.local_addr().unwrap()));
        let ts = r.timestamp.expect("kernel timestamp");
        assert!(ts.since(before).0 >= 0 && after.since(ts).as_nanos() > 100_000_000, "stamped on arrival, not on read");
        let err = recv_timestamped(rx.as_raw_fd(), &mut buf).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
