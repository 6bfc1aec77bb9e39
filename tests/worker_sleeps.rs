//! Between requests the worker sleeps in poll(): it is not woken at all.
//! (A test binary of its own, so the only worker thread is this test's.)

mod common;

use std::time::Duration;

use common::{Client, TestServer};

/// Voluntary and involuntary context switches of the thread named `prossntp`.
fn worker_switches() -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        if std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim() == "prossntp" {
            let status = std::fs::read_to_string(dir.join("status")).unwrap();
            return status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
                .sum();
        }
    }
    panic!("no worker thread");
}

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
