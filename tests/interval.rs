//! `prossntp_now` against chronyd on loopback: the status follows the
//! server (synchronised, holdover while it is stopped, synchronised again
//! once restarted) and the truth, the host clock chronyd serves, stays in
//! [earliest, latest] throughout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Chronyd, Client};
use prossntp::ffi::ext::*;
use prossntp::ffi::ext_types::*;

fn interval(c: &Client) -> prossntp_interval {
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut iv: prossntp_interval = unsafe { std::mem::zeroed() };
    iv.size = size_of::<prossntp_interval>();
    assert_eq!(unsafe { prossntp_now(c.0, &mut iv) }, 0);
    iv
}

fn ns(t: libc::timespec) -> i128 {
    t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128
}

fn host_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

/// A chronyd serving this host's clock (it never touches it: -x).
fn chronyd(port: u16) -> Chronyd {
    Chronyd::start("interval", &format!("port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\n"))
}

/// Reads the interval around a host clock read every 50 ms for `secs`:
/// returns the statuses seen, in order (repeats dropped), and how far the
/// truth lay outside, at most (ns; `slack` for chronyd's own handling).
fn watch(c: &Client, secs: f64, slack: i128, until: impl Fn(i32) -> bool) -> (Vec<i32>, i128) {
    let (mut seen, mut worst) = (vec![], 0i128);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let before = interval(c);
        let truth = host_ns();
        let after = interval(c);
        let out = (ns(before.earliest) - slack - truth).max(truth - ns(after.latest) - slack).max(0);
        worst = worst.max(out);
        if seen.last() != Some(&after.status) {
            seen.push(after.status);
        }
        if until(after.status) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (seen, worst)
}

#[test]
fn holdover_while_chronyd_is_stopped_and_synchronised_once_it_is_back() {
    if std::process::Command::new("chronyd").arg("-v").output().is_err() {
        assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not installed");
        eprintln!("skipped: no chronyd");
        return;
    }
    common::measure_only();
    let port = 11125;
    let mut server = chronyd(port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let c = Client::create(false);
    assert_eq!(c.config(addr, 2000, 2000), 0);
    // SAFETY: as above.
    let mut iv: prossntp_interval = unsafe { std::mem::zeroed() };
    iv.size = size_of::<prossntp_interval>();
    assert_eq!(unsafe { prossntp_wait_bound(c.0, 0.01, 20_000, &mut iv) }, 0, "synchronised within 20 s");
    let slack = 20_000;
    let (seen, worst) = watch(&c, 6.0, slack, |_| false);
    eprintln!("serving: statuses {seen:?}, worst {worst} ns outside");
    assert_eq!(seen, vec![PROSSNTP_TIME_SYNCHRONISED]);
    server.stop();
    let stopped = Instant::now();
    let (seen, worst_silent) = watch(&c, 12.0, slack, |s| s == PROSSNTP_TIME_HOLDOVER);
    let holdover_after = stopped.elapsed().as_secs_f64();
    eprintln!("stopped: statuses {seen:?} (holdover after {holdover_after:.1} s), worst {worst_silent} ns outside");
    assert_eq!(seen.last(), Some(&PROSSNTP_TIME_HOLDOVER), "holdover once replies are overdue");
    assert!(holdover_after < 8.0, "twice the 2 s poll and a second after the last reply: {holdover_after} s");
    let (_, worst_holdover) = watch(&c, 5.0, slack, |_| false);
    drop(server);
    let _back = chronyd(port);
    let restarted = Instant::now();
    let (seen, worst_back) = watch(&c, 20.0, slack, |s| s == PROSSNTP_TIME_SYNCHRONISED);
    let back_after = restarted.elapsed().as_secs_f64();
    eprintln!("restarted: statuses {seen:?} (synchronised after {back_after:.1} s), worst {worst_back} ns outside");
    assert_eq!(seen.last(), Some(&PROSSNTP_TIME_SYNCHRONISED), "synchronised again");
    assert_eq!((worst, worst_silent, worst_holdover, worst_back), (0, 0, 0, 0), "the truth always inside");
}
