//! The extension calls of `prossntp_ext.h` against the project's test server:
//! statistics as the client measures them, the size protocol, version and
//! error texts. Measure only.

mod common;

use std::ffi::CStr;
use std::os::raw::c_char;
use std::time::{Duration, Instant};

use common::{Client, TestServer};
use prossntp::ffi::api::sm_sntp_destroy;
use prossntp::ffi::ext::*;
use prossntp::ffi::ext_types::*;
use prossntp::ffi::types::*;

fn text(chars: &[c_char]) -> String {
    // SAFETY: the library NUL-terminates every text field.
    unsafe { CStr::from_ptr(chars.as_ptr()) }.to_string_lossy().into_owned()
}

fn cstr(p: *const c_char) -> Option<String> {
    // SAFETY: the library returns NULL or a static NUL-terminated string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn stats_of(sntp: tSMSNTPId) -> Result<prossntp_stats, i32> {
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut s: prossntp_stats = unsafe { std::mem::zeroed() };
    s.size = size_of::<prossntp_stats>() as u32;
    match unsafe { prossntp_get_stats(sntp, &mut s) } {
        0 => Ok(s),
        e => Err(e),
    }
}

/// Polls the stats until `done` holds or `timeout` passes; returns the last.
fn stats_until(c: &Client, timeout: Duration, done: impl Fn(&prossntp_stats) -> bool) -> prossntp_stats {
    let start = Instant::now();
    loop {
        let s = stats_of(c.0).unwrap();
        if done(&s) || start.elapsed() > timeout {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stats_report_what_the_client_measures() {
    let server = TestServer::start(&["--offset", "0.25"]);
    for addr in &server.addrs {
        let c = Client::create(addr.is_ipv6());
        let idle = stats_until(&c, Duration::from_secs(2), |s| !text(&s.backend).is_empty());
        assert_eq!((idle.state, idle.has_sync, idle.requests), (PROSSNTP_STATE_IDLE, 0, 0));
        assert_eq!((text(&idle.backend), idle.steering, text(&idle.server)), ("none".into(), 0, String::new()));
        assert_eq!((idle.last_reply_age, idle.last_error_age, idle.last_errno), (-1.0, -1.0, 0));

        assert_eq!(c.config(*addr, 300, 600), 0);
        assert!(c.wait_sync(1, Duration::from_secs(5)).is_some());
        let s = stats_until(&c, Duration::from_secs(5), |s| s.replies >= 3);
        assert_eq!((s.size as usize, s.state, s.has_sync), (size_of::<prossntp_stats>(), PROSSNTP_STATE_RUNNING, 1));
        assert_eq!(text(&s.server), addr.to_string());
        assert!((s.offset - 0.25).abs() < 0.002, "offset {}", s.offset);
        assert!((s.sample_offset - 0.25).abs() < 0.002, "sample offset {}", s.sample_offset);
        assert!(s.delay > 0.0 && s.delay < 0.05, "delay {}", s.delay);
        assert!(s.jitter >= 0.0 && s.jitter < 0.002, "jitter {}", s.jitter);
        assert!(s.frequency.abs() < 500.0, "drift {} ppm", s.frequency);
        assert!((1..=15).contains(&s.stratum) && s.leap == 0);
        assert!(s.requests >= s.replies && s.replies >= 3);
        assert_eq!((s.rejected_total, s.kod_received, s.steps, s.slews), (0, 0, 0, 0));
        // During the burst the interval is the burst's (capped by had_reply), then had_reply.
        assert!(s.poll_interval > 0.0 && s.poll_interval <= 0.6 + 1e-9, "poll {}", s.poll_interval);
        assert!((0.0..5.0).contains(&s.last_reply_age), "age {}", s.last_reply_age);
    }
}

#[test]
fn rejections_are_counted_by_reason() {
    let cases = [
        ("li3", PROSSNTP_REJECT_UNSYNCHRONIZED),
        ("stratum0", PROSSNTP_REJECT_UNSYNCHRONIZED),
        ("stratum16", PROSSNTP_REJECT_BAD_STRATUM),
        ("zero-ts", PROSSNTP_REJECT_ZERO_TIMESTAMP),
        ("truncated", PROSSNTP_REJECT_TRUNCATED),
        ("root-distance", PROSSNTP_REJECT_ROOT_DISTANCE),
        ("wrong-origin", PROSSNTP_REJECT_BAD_ORIGIN),
        ("late", PROSSNTP_REJECT_BAD_ORIGIN),
    ];
    std::thread::scope(|scope| {
        for (mode, reason) in cases {
            scope.spawn(move || {
                let server = TestServer::start(&["--mode", mode]);
                let c = Client::create(false);
                assert_eq!(c.config(server.addrs[0], 300, 600), 0);
                let s = stats_until(&c, Duration::from_secs(5), |s| s.rejected[reason as usize] >= 2);
                assert!(s.rejected[reason as usize] >= 2, "{mode}: {:?}", s.rejected);
                assert_eq!(s.rejected_total, s.rejected.iter().sum::<u64>(), "{mode}");
                assert_eq!(s.rejected_total, s.rejected[reason as usize], "{mode}: other reasons {:?}", s.rejected);
                assert_eq!((s.replies, s.has_sync, s.stratum), (0, 0, 0), "{mode}");
                assert!(cstr(prossntp_reject_text(reason)).is_some_and(|t| !t.is_empty()));
            });
        }
    });
}

#[test]
fn kisses_are_counted_and_deny_stops() {
    let rate = TestServer::start(&["--mode", "kod-rate"]);
    let c = Client::create(false);
    assert_eq!(c.config(rate.addrs[0], 300, 600), 0);
    let s = stats_until(&c, Duration::from_secs(3), |s| s.kod_received >= 1);
    assert_eq!((s.kod_received, s.state, s.replies), (1, PROSSNTP_STATE_RUNNING, 0));
    assert!((s.poll_interval - 1.2).abs() < 1e-6, "RATE doubles the interval: {}", s.poll_interval);

    let deny = TestServer::start(&["--mode", "kod-deny"]);
    assert_eq!(c.config(deny.addrs[0], 300, 600), 0);
    let s = stats_until(&c, Duration::from_secs(3), |s| s.state == PROSSNTP_STATE_STOPPED);
    assert_eq!((s.state, s.kod_received, s.poll_interval), (PROSSNTP_STATE_STOPPED, 2, 0.0));
}

#[test]
fn an_unreachable_server_is_the_last_error_with_its_errno() {
    // A port nobody listens on: the kernel answers with port unreachable.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let c = Client::create(false);
    assert_eq!(c.config(port, 200, 400), 0);
    let s = stats_until(&c, Duration::from_secs(3), |s| s.last_errno != 0);
    assert_eq!(s.last_errno, libc::ECONNREFUSED);
    assert!(text(&s.last_error).contains(&port.to_string()), "{}", text(&s.last_error));
    assert!(s.last_error_age >= 0.0 && s.last_error_age < 3.0);
    assert_eq!((s.replies, s.has_sync, s.last_reply_age), (0, 0, -1.0));
}

#[test]
fn the_size_field_bounds_what_is_written() {
    let c = Client::create(false);
    let full = size_of::<prossntp_stats>();
    // A newer caller's bigger struct: only our bytes are written, `size` says how many.
    let mut buf = vec![0xaau8; full + 64];
    buf[..4].copy_from_slice(&((full + 64) as u32).to_ne_bytes());
    assert_eq!(unsafe { prossntp_get_stats(c.0, buf.as_mut_ptr().cast()) }, ERR_SM_OK);
    assert_eq!(u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize, full);
    assert!(buf[full..].iter().all(|&b| b == 0xaa));
    // Too small, NULL, garbage and destroyed handles.
    let mut small = vec![0u8; full];
    small[..4].copy_from_slice(&(PROSSNTP_STATS_MIN_SIZE as u32 - 1).to_ne_bytes());
    assert_eq!(unsafe { prossntp_get_stats(c.0, small.as_mut_ptr().cast()) }, ERR_SM_BAD_PARAMETER);
    assert!(small[4..].iter().all(|&b| b == 0), "nothing written");
    assert_eq!(unsafe { prossntp_get_stats(c.0, std::ptr::null_mut()) }, ERR_SM_BAD_PARAMETER);
    assert_eq!(stats_of(0x1234 as tSMSNTPId).err(), Some(ERR_SM_BAD_PARAMETER));
    assert_eq!(stats_of(std::ptr::null_mut()).err(), Some(ERR_SM_BAD_PARAMETER));
    let gone = Client::create(false);
    let h = gone.0;
    drop(gone);
    assert_eq!(stats_of(h).err(), Some(ERR_SM_BAD_PARAMETER));
    assert_eq!(unsafe { sm_sntp_destroy(h) }, ERR_SM_BAD_PARAMETER);
}

#[test]
fn version_and_error_texts() {
    let v = cstr(prossntp_version()).unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    let header = format!("{PROSSNTP_VERSION_MAJOR}.{PROSSNTP_VERSION_MINOR}.{PROSSNTP_VERSION_PATCH}");
    assert_eq!(v, header, "the header's PROSSNTP_VERSION_* must match Cargo.toml");
    let codes = [
        ERR_SM_OK,
        ERR_SM_DEVERR,
        ERR_SM_BAD_PARAMETER,
        ERR_SM_NO_RESOURCES,
        ERR_SM_OS_RESOURCE_PROBLEM,
        ERR_SM_WRONG_MODULE_STATE,
    ];
    let unknown = cstr(prossntp_strerror(12345)).unwrap();
    assert_eq!(unknown, "unknown error code");
    for code in codes {
        let t = cstr(prossntp_strerror(code)).unwrap();
        assert!(!t.is_empty() && t != unknown, "{code}: {t}");
    }
    for r in 0..PROSSNTP_REJECT_COUNT {
        assert!(cstr(prossntp_reject_text(r)).is_some(), "reason {r}");
    }
    assert!(cstr(prossntp_reject_text(PROSSNTP_REJECT_COUNT)).is_none());
    assert!(cstr(prossntp_reject_text(-1)).is_none());
}

#[test]
fn a_measuring_client_says_why_it_does_not_steer_and_an_old_caller_gets_the_old_struct() {
    let server = TestServer::start(&["--offset", "0"]);
    let c = Client::create(false);
    assert_eq!(c.config(server.addrs[0], 300, 600), 0);
    assert!(c.wait_sync(1, Duration::from_secs(5)).is_some());
    let s = stats_of(c.0).unwrap();
    assert_eq!((s.role, s.not_steering, s.steering), (PROSSNTP_ROLE_MEASURING, PROSSNTP_STEER_NOT_CHOSEN, 0));
    assert_eq!((s.clock_owner_pid, s.sources, s.truechimers, s.reserved2), (0, 0, 0, 0));
    assert_eq!(text(&s.role_detail), "");
    // A program built against 1.0's 504-byte struct gets exactly those bytes.
    let mut old = vec![0x5au8; size_of::<prossntp_stats>()];
    old[..4].copy_from_slice(&(PROSSNTP_STATS_MIN_SIZE as u32).to_ne_bytes());
    assert_eq!(unsafe { prossntp_get_stats(c.0, old.as_mut_ptr().cast()) }, ERR_SM_OK);
    assert_eq!(u32::from_ne_bytes(old[..4].try_into().unwrap()) as usize, PROSSNTP_STATS_MIN_SIZE);
    assert!(old[PROSSNTP_STATS_MIN_SIZE..].iter().all(|&b| b == 0x5a), "nothing past the old struct");
}
