//! Replies that must never be used, produced by the project's test server:
//! the client must not report sync for any of them. Measure only.

mod common;

use std::time::{Duration, Instant};

use common::{Client, TestServer};

/// Runs a client against a server in `mode` for `span`; returns every
/// non-Running (status, has_sync) it reported.
fn observe(mode: &str, span: Duration) -> Vec<(i32, i32)> {
    let server = TestServer::start(&["--mode", mode]);
    let client = Client::create(false);
    assert_eq!(client.config(server.addrs[0], 300, 600), 0);
    let mut seen = vec![];
    let start = Instant::now();
    while start.elapsed() < span {
        let st = client.status();
        if st.0 != 0 {
            seen.push(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn bad_replies_never_give_sync() {
    let modes = [
        "li3",
        "stratum0",
        "stratum16",
        "wrong-origin",
        "zero-ts",
        "truncated",
        "wrong-port",
        "root-distance",
        "late",
        "silent",
        "kod-rate",
    ];
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            modes.iter().map(|&mode| s.spawn(move || (mode, observe(mode, Duration::from_millis(1500))))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (mode, seen) in &results {
        assert!(seen.is_empty(), "{mode}: reported {seen:?}");
    }
    // The same server in normal mode does give sync: the harness can fail.
    assert_eq!(observe("normal", Duration::from_millis(500)), vec![(2, 1)]);
}

#[test]
fn deny_and_rstr_report_stopped() {
    for mode in ["kod-deny", "kod-rstr"] {
        let seen = observe(mode, Duration::from_millis(500));
        assert!(!seen.is_empty() && seen.iter().all(|&(s, _)| s == 1), "{mode}: {seen:?}");
    }
}
