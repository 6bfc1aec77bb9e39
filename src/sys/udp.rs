//! A client's UDP socket ([`ClientSocket`]) and the kernel timestamps of
//! its datagrams: receive times from SO_TIMESTAMPNS on Linux
//! (nanoseconds), SO_TIMESTAMP elsewhere (microseconds); on Linux also
//! software transmit times (SO_TIMESTAMPING), read from the error queue.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::proto::timestamp::NtpTimestamp;

/// Opens a client's UDP socket, bound to `local` with a kernel-chosen
/// (randomised) port, non-blocking and close-on-exec.
pub fn open_socket(local: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    Ok(socket)
}

/// A client's socket and the options set on it for its server.
pub struct ClientSocket {
    socket: UdpSocket,
    /// Whether the kernel timestamps sent datagrams.
    tx_timestamps: bool,
    /// Whether the server is the socket's connected peer (not on Linux).
    connected: bool,
}

impl ClientSocket {
    pub fn new(socket: UdpSocket) -> ClientSocket {
        ClientSocket { socket, tx_timestamps: false, connected: false }
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    pub fn tx_timestamps(&self) -> bool {
        self.tx_timestamps
    }

    /// Sets the socket up for `server`: kernel receive (and, where there
    /// are, transmit) timestamps, the traffic class, and ICMP errors.
    /// Returns what could not be set (errno and text); the socket works
    /// without each.
    pub fn set_up(&mut self, server: SocketAddr, traffic_class: u8) -> Vec<(io::Error, String)> {
        let mut problems = vec![];
        if let Err(e) = enable_rx_timestamps(self.fd()) {
            let what = format!("no kernel receive timestamps ({e}); reading the clock instead");
            problems.push((e, what));
        }
        // Not on every platform: the send time is then read just before sendto.
        self.tx_timestamps = enable_tx_timestamps(self.fd()).is_ok();
        let sock = socket2::SockRef::from(&self.socket);
        let r = if server.is_ipv4() {
            sock.set_tos_v4(u32::from(traffic_class))
        } else {
            sock.set_tclass_v6(u32::from(traffic_class))
        };
        if let Err(e) = r {
            let what = format!("cannot set traffic class {traffic_class}: {e}");
            problems.push((e, what));
        }
        // On Linux the socket stays unconnected: a connected UDP socket's
        // receive timestamps came about 7 us later on loopback (a T4 late by
        // that, an offset biased by half of it); the client checks each
        // reply's source itself, and ICMP errors are asked for explicitly.
        // Elsewhere connecting is what reports them.
        self.connected = match enable_icmp_errors(self.fd(), server.is_ipv6()) {
            Ok(()) => false,
            Err(_) => match self.socket.connect(server) {
                Ok(()) => true,
                Err(e) => {
                    let what = format!("connect to {server} failed: {e}");
                    problems.push((e, what));
                    false
                }
            },
        };
        problems
    }

    /// NTP goes to `server` from now on (NTS may name another).
    pub fn redirect(&self, server: SocketAddr) {
        if self.connected {
            let _ = self.socket.connect(server);
        }
    }

    pub fn send(&self, packet: &[u8], server: SocketAddr) -> io::Result<()> {
        let sent = if self.connected { self.socket.send(packet) } else { self.socket.send_to(packet, server) };
        sent.map(|_| ())
    }

    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        recv_timestamped(self.fd(), buf)
    }

    pub fn error_queue(&self) -> ErrorQueue {
        drain_error_queue(self.fd())
    }
}

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

/// Asks the kernel to report ICMP errors (port or host unreachable) on an
/// unconnected socket (Linux; elsewhere `Unsupported`): the next receive
/// fails with the error, as on a connected one, and the error queue holds
/// the ICMP message.
pub fn enable_icmp_errors(fd: RawFd, ipv6: bool) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let on: libc::c_int = 1;
        let (level, name) =
            if ipv6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) } else { (libc::IPPROTO_IP, libc::IP_RECVERR) };
        // SAFETY: `on` is a live c_int whose size is passed; `fd` is a socket the caller owns.
        let rc = unsafe {
            libc::setsockopt(fd, level, name, (&on as *const libc::c_int).cast(), size_of::<libc::c_int>() as _)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (fd, ipv6);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Asks the kernel to timestamp every datagram as it leaves (Linux; elsewhere
/// `Unsupported`). The times are read with [`drain_error_queue`].
pub fn enable_tx_timestamps(fd: RawFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let flags = (libc::SOF_TIMESTAMPING_TX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_OPT_TSONLY) as libc::c_int;
        // SAFETY: `flags` is a live c_int whose size is passed; `fd` is a socket the caller owns.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPING,
                (&flags as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as _,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// What the error queue held when drained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorQueue {
    /// The latest transmit timestamp.
    pub sent: Option<NtpTimestamp>,
    /// The errno of the latest ICMP error (port or host unreachable...).
    pub icmp_errno: Option<i32>,
}

/// Drains the socket's error queue (non-blocking): transmit timestamps and
/// ICMP errors; the latest of each. Must be called when the socket polls
/// ready, or a pending error-queue entry keeps it ready.
pub fn drain_error_queue(fd: RawFd) -> ErrorQueue {
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        ErrorQueue::default()
    }
    #[cfg(target_os = "linux")]
    let mut found = ErrorQueue::default();
    #[cfg(target_os = "linux")]
    loop {
        let mut control = [0u64; 32];
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: byte.len() };
        // SAFETY: msghdr is plain C data; all-zero is valid before the fields are set.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 32]>() as _;
        // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            break;
        }
        each_cmsg(&msg, |level, kind, data| match (level, kind) {
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => {
                // struct scm_timestamping: ts[0] is the software timestamp.
                if let Some(ts) = read::<libc::timespec>(data).filter(|ts| ts.tv_sec != 0 || ts.tv_nsec != 0) {
                    found.sent = Some(NtpTimestamp::from_unix(ts.tv_sec as i64, ts.tv_nsec as u32));
                }
            }
            (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
                if let Some(e) = read::<libc::sock_extended_err>(data) {
                    if e.ee_origin == libc::SO_EE_ORIGIN_ICMP || e.ee_origin == libc::SO_EE_ORIGIN_ICMP6 {
                        found.icmp_errno = Some(e.ee_errno as i32);
                    }
                }
            }
            _ => {}
        });
    }
    #[cfg(target_os = "linux")]
    found
}

/// Calls `f(level, type, data)` for each control message `recvmsg` left in
/// `msg`: the one parser of control messages.
fn each_cmsg(msg: &libc::msghdr, mut f: impl FnMut(libc::c_int, libc::c_int, &[u8])) {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros walk its control
    // buffer within msg_controllen, and each message's data lies within it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let h = &*cmsg;
            let header = libc::CMSG_LEN(0) as usize;
            let len = (h.cmsg_len as usize).saturating_sub(header);
            let data = std::slice::from_raw_parts(libc::CMSG_DATA(cmsg), len);
            f(h.cmsg_level, h.cmsg_type, data);
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// A `T` (plain C data) from the start of `data`, if it is long enough.
fn read<T: Copy>(data: &[u8]) -> Option<T> {
    // SAFETY: `data` holds at least size_of::<T>() bytes, and T is plain C
    // data (every caller's T is a libc struct of integers): any bytes are valid.
    (data.len() >= size_of::<T>()).then(|| unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<T>()) })
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
    // Room for the timestamp control messages, aligned for cmsghdr.
    let mut control = [0u64; 32];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain C data; all-zero is valid before the fields are set.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as _;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 32]>() as _;
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
    let mut found = None;
    each_cmsg(msg, |level, kind, data| {
        if level != libc::SOL_SOCKET || kind != TS_OPTION {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(ts) = read::<libc::timespec>(data) {
            found = Some(NtpTimestamp::from_unix(ts.tv_sec as i64, ts.tv_nsec as u32));
        }
        #[cfg(not(target_os = "linux"))]
        if let Some(tv) = read::<libc::timeval>(data) {
            found = Some(NtpTimestamp::from_unix(tv.tv_sec as i64, tv.tv_usec as u32 * 1000));
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::time::wall_now;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unconnected_socket_hears_of_port_unreachable() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_icmp_errors(tx.as_raw_fd(), false).unwrap();
        tx.send_to(b"anyone?", closed).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(drain_error_queue(tx.as_raw_fd()).icmp_errno, Some(libc::ECONNREFUSED));
        assert_eq!(drain_error_queue(tx.as_raw_fd()), ErrorQueue::default(), "the queue is drained");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sent_datagrams_get_a_kernel_transmit_timestamp() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_tx_timestamps(tx.as_raw_fd()).unwrap();
        assert_eq!(drain_error_queue(tx.as_raw_fd()).sent, None, "nothing sent yet");
        let before = wall_now();
        tx.send_to(b"one", rx.local_addr().unwrap()).unwrap();
        let first = drain_error_queue(tx.as_raw_fd()).sent.expect("transmit timestamp");
        tx.send_to(b"two", rx.local_addr().unwrap()).unwrap();
        let second = drain_error_queue(tx.as_raw_fd()).sent.expect("transmit timestamp");
        let after = wall_now();
        assert!(before.since(first).0 <= 0 && first.since(second).0 <= 0 && second.since(after).0 <= 0);
        assert_eq!(drain_error_queue(tx.as_raw_fd()).sent, None, "the queue is drained");
        // Error-queue entries never show up as datagrams.
        let mut buf = [0u8; 8];
        let r = recv_timestamped(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"one");
    }

    #[test]
    fn loopback_datagram_carries_a_kernel_timestamp() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_rx_timestamps(rx.as_raw_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The kernel turns receive timestamping on (a static key, flipped from
        // a work queue) only once some socket asks for it: when this is the
        // only one, the first datagram may come before that. Warm it up.
        tx.send_to(b"warm-up", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut warm = [0u8; 16];
        let _ = recv_timestamped(rx.as_raw_fd(), &mut warm);
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
