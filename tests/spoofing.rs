//! Spoofed, replayed and late replies on a real socket never reach the
//! clock: a worker steering a recording backend, a server socket played by
//! the test, and spoofers on other ports and addresses.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Recorder;
use prossntp::owner::{hostlock::Solo, Options, Owner};
use prossntp::proto::packet::{Packet, MODE_SERVER, NTP_VERSION};
use prossntp::proto::timestamp::{NtpShort, NtpTimestamp};
use prossntp::sys::time::wall_now;
use prossntp::worker::{open_socket, status::Report, ServerConfig, Worker};

fn reply_to(nonce: NtpTimestamp) -> [u8; 48] {
    let now = wall_now();
    Packet {
        leap: 0,
        version: NTP_VERSION,
        mode: MODE_SERVER,
        stratum: 1,
        poll: 0,
        precision: -20,
        root_delay: NtpShort(0),
        root_dispersion: NtpShort(0x10),
        reference_id: *b"TEST",
        reference_ts: now,
        origin_ts: nonce,
        receive_ts: now,
        transmit_ts: now,
    }
    .encode()
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
