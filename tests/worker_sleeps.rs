//! Between requests the worker sleeps in poll(): it is not woken at all.
//! (A test binary of its own, so the only worker thread is this test's.)

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prossntp::ffi::api::*;
use prossntp::ffi::types::*;

// The sm_sntp_* calls are unsafe only for their pointer arguments, which
// point to live locals here.

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
    std::env::set_var("PROSSNTP_CLOCK", "none");
    let mut server = Command::new(env!("CARGO_BIN_EXE_prossntp-testserver"))
        .args(["--listen", "127.0.0.1:0", "--lifetime", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(server.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let addr: SocketAddr = line.strip_prefix("listening ").unwrap().parse().unwrap();
    let SocketAddr::V4(a) = addr else { panic!() };

    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut create: SM_SNTP_CREATE_PARMS = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { sm_sntp_create(&mut create) }, 0);
    // SAFETY: as above.
    let mut cfg: SM_SNTP_CONFIG_PARMS = unsafe { std::mem::zeroed() };
    cfg.sntp = create.sntp;
    cfg.server.sin_family = libc::AF_INET as _;
    cfg.server.sin_port = a.port().to_be();
    cfg.server.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    cfg.no_reply_delay = 1000;
    cfg.had_reply_delay = 60_000;
    assert_eq!(unsafe { sm_sntp_config(&mut cfg) }, 0);

    // Wait for the first sync; the next request (burst) is due 2 s after the first.
    let start = Instant::now();
    loop {
        let mut st = SM_SNTP_STATUS_PARMS {
            sntp: create.sntp,
            status: SntpStatusField(0),
            u: sm_sntp_status_u { sync: sm_sntp_status_sync { has_sync: 0 } },
        };
        assert_eq!(unsafe { sm_sntp_status(&mut st) }, 0);
        if st.status.0 == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no sync");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = worker_switches();
    std::thread::sleep(Duration::from_millis(1200));
    let after = worker_switches();
    eprintln!("worker context switches while idle for 1.2 s: {}", after - before);
    assert_eq!(after, before, "the worker woke while no request was due");

    assert_eq!(unsafe { sm_sntp_destroy(create.sntp) }, 0);
    let _ = server.kill();
    let _ = server.wait();
}
