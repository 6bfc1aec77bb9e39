//! Cost of the C entry points a host calls often, called from Rust through
//! the rlib: `sm_sntp_status`, `sm_sntp_get_event`, `prossntp_get_stats`;
//! their parts (handle registry lookup, status queue, statistics snapshot,
//! panic boundary); and `sm_sntp_status` from 1, 2 and 8 threads, each on
//! its own client, to see whether the shared handle registry shows.
//!
//! Creates clients (worker threads) but configures them only when
//! `PROSSNTP_CHRONYD_V4` names a server (scripts/testnet.sh sets it): run
//! it inside scripts/testnet.sh, as scripts/bench.sh does. PROSSNTP_CLOCK
//! defaults to `none` here.

use std::hint::black_box;
use std::mem::zeroed;
use std::net::SocketAddrV4;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use prossntp::ffi::api::{sm_sntp_config, sm_sntp_create, sm_sntp_destroy, sm_sntp_get_event, sm_sntp_status};
use prossntp::ffi::ext::prossntp_get_stats;
use prossntp::ffi::ext_types::prossntp_stats;
use prossntp::ffi::registry;
use prossntp::ffi::types::*;

/// A client, configured against `server` (if any) and synced (or given up on after 10 s).
fn client(server: Option<SocketAddrV4>) -> tSMSNTPId {
    // SAFETY: plain C data; all-zero is a valid IPv4 create block.
    let mut c: SM_SNTP_CREATE_PARMS = unsafe { zeroed() };
    // SAFETY: a valid parameter block.
    assert_eq!(unsafe { sm_sntp_create(&mut c) }, ERR_SM_OK);
    if let Some(server) = server {
        // SAFETY: plain C data.
        let mut cfg: SM_SNTP_CONFIG_PARMS = unsafe { zeroed() };
        cfg.sntp = c.sntp;
        cfg.server.sin_family = libc::AF_INET as libc::sa_family_t;
        cfg.server.sin_port = server.port().to_be();
        cfg.server.sin_addr.s_addr = u32::from(*server.ip()).to_be();
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 64_000;
        // SAFETY: a valid parameter block.
        assert_eq!(unsafe { sm_sntp_config(&mut cfg) }, ERR_SM_OK);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !synced(c.sntp) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    c.sntp
}

fn synced(sntp: tSMSNTPId) -> bool {
    let mut s = stats_block();
    // SAFETY: `s` is a whole prossntp_stats with its size set.
    unsafe { prossntp_get_stats(sntp, &mut s) == ERR_SM_OK && s.has_sync == 1 }
}

fn stats_block() -> prossntp_stats {
    // SAFETY: plain C data; all-zero is valid.
    let mut s: prossntp_stats = unsafe { zeroed() };
    s.size = size_of::<prossntp_stats>() as u32;
    s
}

/// `sm_sntp_status`: its return code and the status reported.
fn status_of(sntp: tSMSNTPId) -> (tSM_INT, i32) {
    // SAFETY: plain C data.
    let mut p: SM_SNTP_STATUS_PARMS = unsafe { zeroed() };
    p.sntp = sntp;
    // SAFETY: a valid parameter block.
    let rc = unsafe { sm_sntp_status(&mut p) };
    (rc, p.status.0)
}

fn status(sntp: tSMSNTPId) -> tSM_INT {
    // SAFETY: plain C data.
    let mut p: SM_SNTP_STATUS_PARMS = unsafe { zeroed() };
    p.sntp = sntp;
    // SAFETY: a valid parameter block.
    unsafe { sm_sntp_status(black_box(&mut p)) }
}

/// `sm_sntp_status` from one thread per client, `iters` calls each. Returns
/// (wall time from the first thread's start to the last one's end, the
/// threads' mean CPU time).
fn status_threads(clients: &[tSMSNTPId], iters: u64) -> (Duration, Duration) {
    let barrier = Arc::new(Barrier::new(clients.len()));
    let handles: Vec<_> = clients
        .iter()
        .map(|&c| {
            let key = c as usize;
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let sntp = key as tSMSNTPId;
                barrier.wait();
                let (w0, c0) = (Instant::now(), thread_cpu());
                for _ in 0..iters {
                    black_box(status(sntp));
                }
                (w0, Instant::now(), thread_cpu() - c0)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let start = results.iter().map(|r| r.0).min().unwrap();
    let end = results.iter().map(|r| r.1).max().unwrap();
    let cpu = results.iter().map(|r| r.2).sum::<Duration>() / results.len() as u32;
    (end - start, cpu)
}

fn thread_cpu() -> Duration {
    // SAFETY: plain C data, filled by the call.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: `ts` is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("PROSSNTP_CLOCK").is_none() {
        std::env::set_var("PROSSNTP_CLOCK", "none");
    }
    let server = std::env::var("PROSSNTP_CHRONYD_V4").ok().and_then(|s| s.parse().ok());
    let clients: Vec<tSMSNTPId> = (0..8).map(|_| client(server)).collect();
    let one = clients[0];
    // Drain the Sync messages so every call below reports Running.
    for &c in &clients {
        while status_of(c) == (ERR_SM_OK, kSMSNTPStatus::kSMSNTPStatusSync as i32) {}
    }
    eprintln!(
        "ffi bench: clients {} (PROSSNTP_CHRONYD_V4 {})",
        if synced(one) { "configured and synced" } else { "idle (not configured)" },
        server.map_or("unset".into(), |s: SocketAddrV4| s.to_string())
    );

    let mut g = c.benchmark_group("ffi");
    g.bench_function("sm_sntp_status", |b| b.iter(|| status(one)));
    g.bench_function("sm_sntp_get_event", |b| {
        // SAFETY: plain C data.
        let mut p: SM_SNTP_EVENT_PARMS = unsafe { zeroed() };
        p.sntp = one;
        // SAFETY: a valid parameter block.
        b.iter(|| unsafe { sm_sntp_get_event(black_box(&mut p)) })
    });
    g.bench_function("prossntp_get_stats", |b| {
        let mut s = stats_block();
        // SAFETY: a whole prossntp_stats with its size set.
        b.iter(|| unsafe { prossntp_get_stats(one, black_box(&mut s)) })
    });
    g.bench_function("sm_sntp_status, bad handle", |b| b.iter(|| status(black_box(0x1000 as tSMSNTPId))));

    // The parts of a call.
    g.bench_function("part: registry::get (lookup + Arc clone/drop)", |b| {
        b.iter(|| registry::get(black_box(one as usize)))
    });
    let handle = registry::get(one as usize).unwrap();
    g.bench_function("part: worker status (queue lock + event lock)", |b| b.iter(|| handle.worker.status()));
    g.bench_function("part: worker stats (snapshot clone)", |b| b.iter(|| handle.worker.stats()));
    g.bench_function("part: Instant::elapsed (get_stats reads 2 ages)", |b| {
        let t = Instant::now();
        b.iter(|| black_box(t).elapsed())
    });
    g.bench_function("part: catch_unwind (panic boundary)", |b| {
        b.iter(|| std::panic::catch_unwind(|| black_box(1)).unwrap_or(0))
    });
    drop(handle);

    // Threads, each on its own client: per-call CPU time and aggregate wall time.
    for n in [1usize, 2, 8] {
        let mine = &clients[..n];
        g.bench_function(format!("sm_sntp_status x{n} threads: CPU per call per thread"), |b| {
            b.iter_custom(|iters| status_threads(mine, iters).1)
        });
        g.bench_function(format!("sm_sntp_status x{n} threads: wall per call, aggregate"), |b| {
            b.iter_custom(|iters| status_threads(mine, iters).0 / n as u32)
        });
    }
    g.finish();

    for c in clients {
        // SAFETY: a live handle.
        unsafe { sm_sntp_destroy(c) };
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! { name = group; config = config(); targets = benches }
criterion_main!(group);
