//! Faults: an unreachable server (ICMP port unreachable), a server killed and
//! restarted, a local address removed. The client keeps going, has_sync goes
//! 1 -> 0 -> 1, the worker does not spin, and no descriptor leaks. The
//! scenarios run one after another, so the only worker is the current one.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::{open_fds, worker_switches, Client, TestServer};

/// Wake-ups allowed per request: the send, the ICMP error or the reply, a
/// command: a spinning worker makes thousands.
const SWITCHES_PER_REQUEST: u64 = 6;

#[test]
fn faults() {
    unreachable_server();
    server_killed_and_restarted();
    local_address_removed();
}

fn unreachable_server() {
    let closed: SocketAddr = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // dropped: nothing listens
    let fds = open_fds();
    let c = Client::create(false);
    assert_eq!(c.config(closed, 200, 400), 0);
    std::thread::sleep(Duration::from_millis(300));
    let before = worker_switches();
    std::thread::sleep(Duration::from_secs(2));
    let switches = worker_switches() - before;
    eprintln!("unreachable server: {switches} worker wake-ups in 2 s (10 requests)");
    assert!(switches <= 10 * SWITCHES_PER_REQUEST, "busy loop: {switches}");
    assert_eq!(c.status(), (0, -1), "no sync, still running");
    drop(c);
    assert_eq!(open_fds(), fds, "descriptors back to where they were");
}

fn server_killed_and_restarted() {
    let mut server = TestServer::start_on(&["127.0.0.1:0"], &[]);
    let addr = server.addrs[0];
    let c = Client::create(false);
    assert_eq!(c.config(addr, 200, 400), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync");
    server.stop();
    let lost = c.wait_sync(0, Duration::from_secs(10)).expect("sync lost when the server dies");
    let _restarted = TestServer::start_on(&[&addr.to_string()], &[]);
    let back = c.wait_sync(1, Duration::from_secs(10)).expect("sync regained when it returns");
    eprintln!("server killed: sync lost after {lost:?}; restarted: regained after {back:?}");
}

/// Runs only inside the test namespace (scripts/testnet.sh), where the only
/// interface is this namespace's own loopback.
fn local_address_removed() {
    let links = Command::new("ip").args(["-o", "link", "show"]).output().map(|o| o.stdout).unwrap_or_default();
    let only_loopback = links.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() == 1;
    let in_testnet = std::env::var("PROSSNTP_IN_TESTNET").as_deref() == Ok("1") && only_loopback;
    if !in_testnet {
        eprintln!("local address removal skipped: not inside scripts/testnet.sh");
        return;
    }
    let ip = |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success(), "ip {args:?}");
    let local = "198.51.100.7";
    ip(&["addr", "add", &format!("{local}/32"), "dev", "lo"]);
    let server = TestServer::start_on(&["127.0.0.1:0"], &[]);
    let fds = open_fds();
    let c = Client::create_on(local.parse().unwrap());
    assert_eq!(c.config(server.addrs[0], 200, 400), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync from the local address");
    ip(&["addr", "del", &format!("{local}/32"), "dev", "lo"]);
    c.wait_sync(0, Duration::from_secs(10)).expect("sync lost without the local address");
    let before = worker_switches();
    std::thread::sleep(Duration::from_secs(1));
    let switches = worker_switches() - before;
    assert!(switches <= 5 * SWITCHES_PER_REQUEST, "busy loop: {switches}");
    ip(&["addr", "add", &format!("{local}/32"), "dev", "lo"]);
    let back = c.wait_sync(1, Duration::from_secs(10)).expect("sync regained with the address back");
    eprintln!("local address removed: {switches} wake-ups in 1 s; back: sync after {back:?}");
    drop(c);
    assert_eq!(open_fds(), fds);
    ip(&["addr", "del", &format!("{local}/32"), "dev", "lo"]);
}
