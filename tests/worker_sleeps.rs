//! Between requests the worker sleeps in poll(): it is not woken at all.
//! (A test binary of its own, so the only worker thread is this test's.)

mod common;

use std::time::Duration;

use common::{worker_switches, Client, TestServer};

#[test]
fn no_wake_ups_between_requests() {
    let server = TestServer::start(&[]);
    let client = Client::create(false);
    assert_eq!(client.config(server.addrs[0], 1000, 60_000), 0);

    // Wait for the first sync; the next request (burst) is due 2 s after the first.
    client.wait_sync(1, Duration::from_secs(10)).expect("sync");
    std::thread::sleep(Duration::from_millis(300));
    let before = worker_switches();
    std::thread::sleep(Duration::from_millis(1200));
    let after = worker_switches();
    eprintln!("worker context switches while idle for 1.2 s: {}", after - before);
    assert_eq!(after, before, "the worker woke while no request was due");
}
