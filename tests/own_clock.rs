//! `prossntp_gettime` against real servers on loopback: chronyd serving
//! true time + 0.5 s (a second chronyd following scripts/testnet.sh's), and
//! the project's test server (exactly + 0.25 s). Measure only: the host
//! clock is the truth, so the error of the own clock is known.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Chronyd, Client, TestServer};
use prossntp::ffi::ext::*;
use prossntp::ffi::ext_types::*;

fn own_time(c: &Client) -> prossntp_time {
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut t: prossntp_time = unsafe { std::mem::zeroed() };
    t.size = size_of::<prossntp_time>();
    assert_eq!(unsafe { prossntp_gettime(c.0, &mut t) }, 0);
    t
}

fn stats(c: &Client) -> prossntp_stats {
    // SAFETY: as above.
    let mut s: prossntp_stats = unsafe { std::mem::zeroed() };
    s.size = size_of::<prossntp_stats>() as u32;
    assert_eq!(unsafe { prossntp_get_stats(c.0, &mut s) }, 0);
    s
}

fn host_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}

/// Runs a measuring client against `server`, `ahead` seconds ahead of this
/// host's clock, for `secs`; reads the own clock every 50 ms and returns
/// (errors of the own clock against the midpoint of two host clock reads
/// around the call, errors of the stats estimate at each sample, readings
/// over their bound by more than half those reads' spread and `slack`),
/// seconds.
fn measure(server: SocketAddr, ahead: f64, secs: u64, slack: f64) -> (Vec<f64>, Vec<f64>, usize) {
    let c = Client::create(server.is_ipv6());
    assert_eq!(c.config(server, 2000, 2000), 0);
    c.wait_sync(1, Duration::from_secs(15)).expect("sync");
    std::thread::sleep(Duration::from_secs(3)); // a second sample: the rate is known
    let (mut own, mut est, mut over, mut seen) = (vec![], vec![], 0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        // The call's clock read lies between two host clock reads (a
        // thread preempted between the call and a single read would count
        // the time it was away as error).
        // (The last of a few calls in a row: the first after a sleep runs
        // on cold caches, microseconds slower.)
        let (mut before, mut t, mut after) = (0.0, own_time(&c), 0.0);
        for _ in 0..4 {
            before = host_now();
            t = own_time(&c);
            after = host_now();
        }
        assert_eq!(t.synced, 1);
        let server = t.time.tv_sec as f64 + t.time.tv_nsec as f64 * 1e-9 - ahead;
        let err = (server - (before + after) / 2.0).abs();
        own.push(err);
        over += (err > t.error_bound + (after - before) / 2.0 + slack) as usize;
        let s = stats(&c);
        if s.replies != seen {
            seen = s.replies;
            est.push((s.offset - ahead).abs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (own, est, over)
}

fn report(name: &str, own: &mut [f64], est: &mut [f64], over: usize) {
    eprintln!(
        "{name}: own clock error median {:.1} us, p95 {:.1} us ({} reads, {over} over the bound); \
         stats offset error median {:.1} us, p95 {:.1} us ({} samples)",
        quantile(own, 0.5) * 1e6,
        quantile(own, 0.95) * 1e6,
        own.len(),
        quantile(est, 0.5) * 1e6,
        quantile(est, 0.95) * 1e6,
        est.len()
    );
}

#[test]
fn the_own_clock_keeps_the_test_servers_time_within_its_bound() {
    let server = TestServer::start(&["--offset", "0.25"]);
    for addr in server.addrs.clone() {
        let (mut own, mut est, over) = measure(addr, 0.25, 10, 2e-6);
        report(&format!("test server {addr}"), &mut own, &mut est, over);
        assert_eq!(over, 0, "the bound holds");
        assert!(quantile(&mut own, 0.5) < 100e-6);
    }
}

/// A chronyd serving true time + 0.5 s, following the one testnet.sh runs.
fn chronyd_ahead(upstream: SocketAddr, port: u16) -> Chronyd {
    Chronyd::start(
        "own-clock",
        &format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\n\
             server {} port {} iburst minpoll -4 maxpoll -4 offset 0.5\n",
            upstream.ip(),
            upstream.port()
        ),
    )
}

#[test]
fn the_own_clock_keeps_chronyds_time_plus_half_a_second() {
    let Some(upstream) = std::env::var("PROSSNTP_CHRONYD_V4").ok().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not named");
        eprintln!("skipped: no chronyd named (run through scripts/testnet.sh)");
        return;
    };
    let port = 11124;
    let _ahead = chronyd_ahead(upstream, port);
    // It serves +0.5 s once it has followed its source for a moment.
    std::thread::sleep(Duration::from_secs(3));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // chronyd's own tracking of its source adds a few microseconds.
    let (mut own, mut est, over) = measure(addr, 0.5, 20, 20e-6);
    report("chronyd +0.5 s", &mut own, &mut est, over);
    assert_eq!(over, 0, "the bound holds (give or take chronyd's own tracking, 20 us)");
    assert!(quantile(&mut own, 0.5) < 200e-6);
}
