//! Spoofed, replayed and late replies on a real socket never reach the
//! clock: a worker steering a recording backend, a server socket played by
//! the test, and spoofers on other ports and addresses. A flood of forged
//! replies neither stops the requests nor holds up configure and destroy.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Recorder;
use prossntp::owner::{hostlock::Solo, Options, Owner};
use prossntp::proto::auth::{KeyType, SymmetricKey};
use prossntp::proto::client::Auth;
use prossntp::proto::packet::Packet;
use prossntp::proto::timestamp::NtpTimestamp;
use prossntp::sys::time::wall_now;
use prossntp::worker::{open_socket, status::Report, ServerConfig, Worker};

fn reply_to(nonce: NtpTimestamp) -> [u8; 48] {
    let now = wall_now();
    Packet { reference_id: *b"TEST", ..Packet::reply(nonce, now, now) }.encode()
}

/// The next request's nonce and the client's address.
fn next_request(server: &UdpSocket) -> (NtpTimestamp, SocketAddr) {
    let mut buf = [0u8; 128];
    let (n, from) = server.recv_from(&mut buf).expect("a request");
    (Packet::parse(&buf[..n]).unwrap().transmit_ts, from)
}

fn drain(worker: &Worker) -> Vec<Report> {
    std::iter::from_fn(|| Some(worker.status())).take_while(|r| *r != Report::Running).collect()
}

#[test]
fn spoofed_replies_are_never_used() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = server.local_addr().unwrap().port();
    let other_port = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_addr = UdpSocket::bind(("127.0.0.2", port)).unwrap();

    let applied = Arc::new(AtomicUsize::new(0));
    let select = Recorder::select(&applied);
    // The test's own clock owner: nothing else in this process steers with it.
    let owner = Arc::new(Owner::new(Box::new(Solo::default()), Options::default()));
    let worker = Worker::spawn(open_socket("127.0.0.1:0".parse().unwrap()).unwrap(), select, owner, |_| {}).unwrap();
    let cfg = ServerConfig {
        server: server.local_addr().unwrap(),
        traffic_class: 0,
        no_reply: Duration::from_millis(300),
        had_reply: Duration::from_millis(600),
    };
    worker.configure(cfg).unwrap();

    let mut spoofed = 0;
    let mut previous = None;
    for _ in 0..6 {
        let (nonce, client) = next_request(&server);
        let good = reply_to(nonce);
        other_port.send_to(&good, client).unwrap(); // right content, wrong port
        other_addr.send_to(&good, client).unwrap(); // right port, wrong address
        server.send_to(&reply_to(NtpTimestamp(nonce.0 ^ 1)), client).unwrap(); // wrong origin
        server.send_to(&reply_to(NtpTimestamp(0)), client).unwrap(); // zero origin
        spoofed += 4;
        if let Some(old) = previous {
            server.send_to(&reply_to(old), client).unwrap(); // the last request's, after the next went
            spoofed += 1;
        }
        previous = Some(nonce);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(applied.load(Ordering::SeqCst), 0, "{spoofed} spoofed replies: the clock was touched");
    assert!(drain(&worker).is_empty(), "no sync from spoofed replies");

    // The real server answers: used once, and only once.
    let (nonce, client) = next_request(&server);
    let genuine = reply_to(nonce);
    server.send_to(&genuine, client).unwrap();
    let start = Instant::now();
    while applied.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(applied.load(Ordering::SeqCst), 1, "the genuine reply is used");
    assert_eq!(drain(&worker), vec![Report::Sync(true)]);
    server.send_to(&genuine, client).unwrap(); // duplicate
    let _ = next_request(&server);
    server.send_to(&genuine, client).unwrap(); // replayed later
    spoofed += 2;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(applied.load(Ordering::SeqCst), 1, "duplicates and replays are not used");
    eprintln!("spoofed, replayed or late replies sent: {spoofed}; accepted: 0; clock actions: 1 (the genuine reply)");
    worker.shutdown();
}

/// `reply` with key `key`'s ID and MAC appended.
fn signed(reply: &[u8], key: &SymmetricKey) -> Vec<u8> {
    let mut b = reply.to_vec();
    key.sign(&mut b);
    b
}

#[test]
fn with_a_key_forged_and_replayed_replies_are_never_used() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let key = SymmetricKey::new(4, KeyType::Aes128, &[0x5a; 16]).unwrap();
    let other_id = SymmetricKey::new(5, KeyType::Aes128, &[0x5a; 16]).unwrap();
    let other_key = SymmetricKey::new(4, KeyType::Aes128, &[0x5b; 16]).unwrap();
    let applied = Arc::new(AtomicUsize::new(0));
    let owner = Arc::new(Owner::new(Box::new(Solo::default()), Options::default()));
    let worker =
        Worker::spawn(open_socket("127.0.0.1:0".parse().unwrap()).unwrap(), Recorder::select(&applied), owner, |_| {})
            .unwrap();
    worker.set_auth(Auth::Key(key.clone())).unwrap();
    worker
        .configure(ServerConfig {
            server: server.local_addr().unwrap(),
            traffic_class: 0,
            no_reply: Duration::from_millis(300),
            had_reply: Duration::from_millis(600),
        })
        .unwrap();
    let mut forged = 0;
    for _ in 0..5 {
        let mut buf = [0u8; 128];
        let (n, client) = server.recv_from(&mut buf).expect("a request");
        assert_eq!(key.verify(&buf[..n]), Ok(()), "the request carries the key's MAC");
        let good = reply_to(Packet::parse(&buf[..n]).unwrap().transmit_ts);
        let full = signed(&good, &key);
        let mut extension = good.to_vec();
        extension.extend_from_slice(&[0x02, 0x04, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for bytes in [
            good.to_vec(),                   // no MAC
            signed(&good, &other_id),        // a valid MAC under another key ID
            signed(&good, &other_key),       // the right ID, another key
            full[..full.len() - 3].to_vec(), // a truncated MAC
            extension,                       // an extension field instead
            full[..good.len() + 4].to_vec(), // the key ID alone
        ] {
            server.send_to(&bytes, client).unwrap();
            forged += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(applied.load(Ordering::SeqCst), 0, "{forged} forged replies: the clock was touched");
    assert!(drain(&worker).is_empty(), "no sync from forged replies");
    let stats = worker.stats();
    assert_eq!(stats.counters.valid_replies, 0);
    // The genuine, signed reply is used once; its replay is not.
    let mut buf = [0u8; 128];
    let (n, client) = server.recv_from(&mut buf).expect("a request");
    let genuine = signed(&reply_to(Packet::parse(&buf[..n]).unwrap().transmit_ts), &key);
    server.send_to(&genuine, client).unwrap();
    let start = Instant::now();
    while applied.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(applied.load(Ordering::SeqCst), 1, "the genuine reply is used");
    server.send_to(&genuine, client).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(applied.load(Ordering::SeqCst), 1, "a replayed signed reply is not used");
    let rejected = worker.stats().counters.rejected_total();
    eprintln!("forged with a key: {forged} sent, 0 accepted; {rejected} rejected in all (replay included)");
    assert!(rejected > forged, "{rejected} rejected");
    worker.shutdown();
}

/// Sends `datagram` to `to` from `socket` as fast as it can, in batches of
/// 64 with `sendmmsg`, until `stop`; returns how many went.
fn flood(socket: &UdpSocket, to: SocketAddr, datagram: &[u8], stop: &AtomicBool) -> u64 {
    use std::os::fd::AsRawFd;
    let addr = socket2::SockAddr::from(to);
    let mut iov = libc::iovec { iov_base: datagram.as_ptr() as *mut libc::c_void, iov_len: datagram.len() };
    // SAFETY: all-zero is a valid mmsghdr; the pointers set below outlive every call.
    let mut msgs: [libc::mmsghdr; 64] = unsafe { std::mem::zeroed() };
    for m in &mut msgs {
        m.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        m.msg_hdr.msg_namelen = addr.len();
        m.msg_hdr.msg_iov = &mut iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `msgs` holds 64 initialised headers pointing to live data.
        let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        if n > 0 {
            sent += n as u64;
        }
    }
    sent
}

#[test]
fn a_flood_of_forged_replies_does_not_starve_the_schedule() {
    // The server, played by the test: it answers every request, and counts them.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let stop_server = Arc::new(AtomicBool::new(false));
    let responder = {
        let (server, requests, stop) = (server.try_clone().unwrap(), requests.clone(), stop_server.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 128];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, client)) = server.recv_from(&mut buf) {
                    requests.fetch_add(1, Ordering::SeqCst);
                    if let Some(p) = Packet::parse(&buf[..n]) {
                        let _ = server.send_to(&reply_to(p.transmit_ts), client);
                    }
                }
            }
        })
    };
    let applied = Arc::new(AtomicUsize::new(0));
    let owner = Arc::new(Owner::new(Box::new(Solo::default()), Options::default()));
    let socket = open_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = socket.local_addr().unwrap().as_socket().unwrap();
    // Each rejected reply is traced: a sink as slow as a synchronous logger
    // (50 us a line) makes the worker judge far fewer datagrams a second
    // than two threads can send on loopback, on any machine.
    let slow_sink: prossntp::worker::TraceFn = |_| std::thread::sleep(Duration::from_micros(50));
    let worker = Arc::new(Worker::spawn(socket, Recorder::select(&applied), owner, slow_sink).unwrap());
    // A request every 300 ms, replies or none.
    let interval = Duration::from_millis(300);
    let cfg = ServerConfig {
        server: server.local_addr().unwrap(),
        traffic_class: 0,
        no_reply: interval,
        had_reply: interval,
    };
    worker.configure(cfg).unwrap();
    let start = Instant::now();
    while requests.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(requests.load(Ordering::SeqCst) > 0, "no first request");

    // Two threads flood the client with replies from the server's own
    // address and port, with a wrong origin: each is judged and rejected.
    let forged = reply_to(NtpTimestamp(0x0123_4567_89ab_cdef));
    let stop_flood = Arc::new(AtomicBool::new(false));
    // Stops the flood however the test ends (dropped before the worker,
    // whose drop waits for it): a failure must not leave it hanging.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _stop_flood_on_exit = StopOnDrop(stop_flood.clone());
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let (from, stop) = (server.try_clone().unwrap(), stop_flood.clone());
            std::thread::spawn(move || flood(&from, client, &forged, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (before, rejected_before) = (requests.load(Ordering::SeqCst), worker.stats().counters.rejected_total());
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let during = requests.load(Ordering::SeqCst) - before;
    let rejected = worker.stats().counters.rejected_total() - rejected_before;
    eprintln!(
        "under the flood: {during} requests in {window:?} (the schedule calls for 10), {rejected} forged replies \
         judged, {} genuine replies used in all",
        worker.stats().counters.valid_replies
    );
    assert!(during >= 4, "{during} requests in {window:?} under a flood; the schedule calls for 10");
    assert!(rejected > 1000, "the flood hardly reached the worker: {rejected} judged");

    // A new configuration is served under the flood too...
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    worker.configure(ServerConfig { server: other.local_addr().unwrap(), ..cfg }).unwrap();
    assert!(other.recv_from(&mut [0u8; 128]).is_ok(), "no request to the newly configured server within 5 s");
    // ...and so is destroy (on a thread of its own, so that a hang fails the test).
    let (tx, rx) = std::sync::mpsc::channel();
    let w = worker.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        w.shutdown();
        let _ = tx.send(());
    });
    let done = rx.recv_timeout(Duration::from_secs(5));
    eprintln!("shutdown under the flood took {:?}", started.elapsed());
    assert!(done.is_ok(), "shutdown did not return within 5 s under a flood");

    stop_flood.store(true, Ordering::SeqCst);
    let sent: u64 = flooders.into_iter().map(|f| f.join().unwrap()).sum();
    stop_server.store(true, Ordering::SeqCst);
    responder.join().unwrap();
    eprintln!("forged replies sent: {sent}");
}
