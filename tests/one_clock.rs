//! One clock, many clients, over real sockets: workers in one process feed
//! one owner, which selects and combines their servers (the project's test
//! server at different offsets), and a second owner sharing the host lock
//! (another process, as far as the lock is concerned) measures only until
//! the first goes. The clock is a recording backend: nothing is touched.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Recorder, TestServer};
use prossntp::discipline::Role;
use prossntp::owner::hostlock::{HostLock, Shared, Solo};
use prossntp::owner::{NotSteering, Options, Owner};
use prossntp::worker::stats::{ClockRole, Stats};
use prossntp::worker::{open_socket, ServerConfig, Worker};

fn owner(lock: impl HostLock + 'static, pid: u32) -> Arc<Owner> {
    Arc::new(Owner::new(Box::new(lock), Options { pid, ..Options::default() }))
}

fn client(owner: &Arc<Owner>, applied: &Arc<AtomicUsize>, server: std::net::SocketAddr) -> Worker {
    let select = Recorder::select(applied);
    let w =
        Worker::spawn(open_socket("127.0.0.1:0".parse().unwrap()).unwrap(), select, Arc::clone(owner), |_| {}).unwrap();
    let cfg = ServerConfig {
        server,
        traffic_class: 0,
        no_reply: Duration::from_millis(200),
        had_reply: Duration::from_millis(300),
    };
    w.configure(cfg).unwrap();
    w
}

/// Polls until `done` holds for every worker's stats (or 10 s pass).
fn until(workers: &[&Worker], done: impl Fn(&[Stats]) -> bool) -> Vec<Stats> {
    let start = Instant::now();
    loop {
        let s: Vec<Stats> = workers.iter().map(|w| w.stats()).collect();
        if done(&s) || start.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn member(s: &Stats) -> (NotSteering, Option<u32>, u32, u32) {
    match &s.clock {
        ClockRole::Member { not_steering, owner_pid, sources, truechimers, .. } => {
            (*not_steering, *owner_pid, *sources, *truechimers)
        }
        other => panic!("not a member of the clock: {other:?}"),
    }
}

#[test]
fn three_clients_in_one_process_steer_one_clock_and_outvote_a_falseticker() {
    let servers = [&["--offset", "0"][..], &["--offset", "0"], &["--offset", "0.2"]].map(TestServer::start);
    let applied = Arc::new(AtomicUsize::new(0));
    let owner = owner(Solo::default(), 1);
    let workers: Vec<Worker> = servers.iter().map(|s| client(&owner, &applied, s.addrs[0])).collect();
    let refs: Vec<&Worker> = workers.iter().collect();
    let stats = until(&refs, |s| s[2].role == Role::Falseticker && s[..2].iter().all(|x| x.has_sync));
    let roles: Vec<Role> = stats.iter().map(|s| s.role).collect();
    assert_eq!(roles.iter().filter(|r| r.follows()).count(), 2, "{roles:?}");
    assert_eq!(roles[2], Role::Falseticker, "{roles:?}");
    assert_eq!(stats.iter().map(|s| s.has_sync).collect::<Vec<_>>(), vec![true, true, false]);
    for s in &stats {
        assert!(s.steering, "the process steers");
        assert_eq!(s.backend, "recorder");
        assert_eq!(member(s), (NotSteering::No, None, 3, 2));
    }
    // Every correction the clock got is one a client's sample caused.
    let counted: u64 = workers.iter().map(|w| w.stats()).map(|s| s.counters.steps + s.counters.slews).sum();
    assert_eq!(applied.load(Ordering::SeqCst) as u64, counted);
    assert_eq!(stats[2].counters.steps + stats[2].counters.slews, 0, "the falseticker moved nothing");
    for w in &workers {
        w.shutdown();
    }
}

#[test]
fn a_second_process_measures_until_the_first_goes() {
    let server = TestServer::start(&["--offset", "0"]);
    let (applied_a, applied_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let lock_a = Shared::new(4321);
    let (a, b) = (owner(lock_a.clone(), 4321), owner(lock_a.contender(8765), 8765));
    let wa = client(&a, &applied_a, server.addrs[0]);
    // Whichever asks first owns the clock: let the first be first.
    until(&[&wa], |s| s[0].steering);
    let wb = client(&b, &applied_b, server.addrs[0]);
    let stats = until(&[&wa, &wb], |s| s.iter().all(|x| x.has_sync));
    assert!(stats[0].steering && !stats[1].steering);
    assert_eq!(stats[1].role, Role::StandingDown);
    assert_eq!(member(&stats[1]).0, NotSteering::OtherProcess);
    assert_eq!(member(&stats[1]).1, Some(4321), "it names the owner");
    assert!(stats[1].has_sync, "standing down, it still measures");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(applied_b.load(Ordering::SeqCst), 0, "the second never steers");
    assert!(applied_a.load(Ordering::SeqCst) > 0);
    // The first goes (its last client destroyed: the lock is let go).
    wa.shutdown();
    let stats = until(&[&wb], |s| s[0].steering);
    assert!(stats[0].steering, "taken over: {:?}", stats[0].clock);
    let before = applied_b.load(Ordering::SeqCst);
    let _ = until(&[&wb], |_| applied_b.load(Ordering::SeqCst) > before);
    assert!(applied_b.load(Ordering::SeqCst) > before, "and steers");
    wb.shutdown();
}

#[test]
fn clients_coming_and_going_while_others_steer_leave_the_clock_clean() {
    let server = TestServer::start(&["--offset", "0"]);
    let applied = Arc::new(AtomicUsize::new(0));
    let lock = Shared::new(1);
    let mut probe = lock.contender(2);
    let owner = owner(lock, 1);
    let steady: Vec<Worker> = (0..2).map(|_| client(&owner, &applied, server.addrs[0])).collect();
    // Four threads create and destroy steering clients while the steady ones
    // sample: every destroy races the selection of some sample.
    std::thread::scope(|scope| {
        for k in 0..4u64 {
            let (owner, applied, addr) = (&owner, &applied, server.addrs[0]);
            scope.spawn(move || {
                for i in 0..15u64 {
                    let w = client(owner, applied, addr);
                    std::thread::sleep(Duration::from_millis((k * 7 + i * 13) % 60));
                    w.shutdown();
                }
            });
        }
    });
    // (A client's statistics are refreshed when its worker wakes: at its next sample.)
    let stats = until(&[&steady[0], &steady[1]], |s| {
        s.iter().all(|x| x.has_sync && x.role.follows() && matches!(x.clock, ClockRole::Member { sources: 2, .. }))
    });
    assert!(stats.iter().all(|s| s.has_sync && s.steering), "{:?}", stats.iter().map(|s| &s.clock).collect::<Vec<_>>());
    assert_eq!(member(&stats[0]).2, 2, "the two steady clients are the sources left");
    assert!(applied.load(Ordering::SeqCst) > 0);
    for w in &steady {
        w.shutdown();
    }
    assert_eq!(probe.try_acquire(), prossntp::owner::hostlock::Acquire::Held, "the last client gone, so is the lock");
}
