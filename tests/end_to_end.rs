//! The whole library through its C ABI, against the project's test server and
//! (when `PROSSNTP_CHRONYD_V4`/`_V6` name one) a real chronyd on loopback.
//! Every client measures only: these tests never touch the clock.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, TestServer};

#[test]
fn syncs_with_the_test_server_over_ipv4_and_ipv6() {
    let server = TestServer::start(&["--offset", "0.25"]);
    for (i, addr) in server.addrs.iter().enumerate() {
        let c = Client::create(i == 1);
        assert_eq!(c.config(*addr, 500, 2000), 0);
        let t = c.wait_sync(1, Duration::from_secs(10)).expect("sync");
        eprintln!("first sync with {addr} after {t:?}");
        assert_eq!(c.status(), (0, -1), "Running: nothing new; has_sync untouched");
    }
}

#[test]
fn sync_is_lost_and_regained_when_the_server_goes_silent_and_back() {
    let server = TestServer::start(&[]);
    let c = Client::create(false);
    assert_eq!(c.config(server.addrs[0], 200, 400), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync");
    server.control("mode=silent");
    let lost = c.wait_sync(0, Duration::from_secs(10)).expect("sync lost");
    assert!(lost >= Duration::from_millis(600), "not before 4 unanswered requests: {lost:?}");
    server.control("mode=normal");
    c.wait_sync(1, Duration::from_secs(10)).expect("sync regained");
}

#[test]
fn destroy_is_prompt_whatever_the_delays() {
    let server = TestServer::start(&[]);
    let c = Client::create(false);
    assert_eq!(c.config(server.addrs[0], 64_000, 64_000), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync");
    let start = Instant::now();
    drop(c);
    let took = start.elapsed();
    eprintln!("destroy with 64 s delays took {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn syncs_with_chronyd() {
    let servers: Vec<SocketAddr> = ["PROSSNTP_CHRONYD_V4", "PROSSNTP_CHRONYD_V6"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.parse().unwrap())
        .collect();
    if servers.is_empty() {
        assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not named");
        eprintln!("skipped: no chronyd named (run through scripts/testnet.sh)");
        return;
    }
    for addr in servers {
        let c = Client::create(addr.is_ipv6());
        assert_eq!(c.config(addr, 1000, 64_000), 0);
        let t = c.wait_sync(1, Duration::from_secs(10)).expect("sync with chronyd");
        eprintln!("first sync with chronyd at {addr} after {t:?}");
    }
}
