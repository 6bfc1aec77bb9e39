//! The owner against a modelled kernel (the simulator's, behind the real
//! adjtimex backend) and in-memory host locks standing in for processes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::hostlock::{Acquire, HostLock, Shared, Solo};
use super::*;
use crate::clock::adjtimex::Adjtimex;
use crate::clock::{ClockBackend, ClockError};
use crate::discipline::{ClockAction, Correction, SyncReport};
use crate::proto::timestamp::{NtpDuration, NtpTimestamp};
use crate::sim::kernel::{Model, SimKernel};

fn sample(offset: f64) -> Sample {
    Sample {
        offset: NtpDuration::from_seconds(offset),
        delay: NtpDuration::from_seconds(0.0002),
        stratum: 2,
        leap: 0,
        reference_id: *b"TEST",
        root_delay: NtpDuration::ZERO,
        root_dispersion: NtpDuration::from_seconds(0.0002),
        t4: NtpTimestamp(1),
    }
}

fn no_trace(_: &str) {}

/// A host clock nobody disciplines, shared by every owner made on it.
struct Host {
    model: Arc<Mutex<Model>>,
}

impl Host {
    fn new() -> Host {
        Host { model: Arc::new(Mutex::new(Model::new(0.0, 0.0, 0.0, 1))) }
    }
    fn backend(&self) -> Box<dyn ClockBackend> {
        Box::new(Adjtimex::new(SimKernel(Arc::clone(&self.model))).unwrap())
    }
    fn advance(&self, t: f64) {
        lock(&self.model).advance_to(t);
    }
    fn freq_ppm(&self) -> f64 {
        lock(&self.model).freq * 1e6
    }
    /// What a server `ahead` seconds ahead of true time measures now.
    fn measure(&self, ahead: f64) -> Sample {
        sample(ahead - lock(&self.model).phase)
    }
    fn owner(&self, host: impl HostLock + 'static, pid: u32, quiet: f64) -> Arc<Owner> {
        Arc::new(Owner::new(Box::new(host), Options { override_foreign: false, quiet, pid }))
    }
}

/// A process owner (quiet window `quiet` s) and a client of it that has
/// steered with four samples 2 s apart, 0.5 ms off.
fn steering_from_the_start(host: &Host, quiet: f64) -> (Arc<Owner>, Membership) {
    let owner = host.owner(Solo::default(), 1, quiet);
    let m = owner.join(host.backend(), None, no_trace);
    for i in 0..4 {
        host.advance(2.0 * i as f64);
        assert!(matches!(m.sample(secs(2.0 * i as f64), &host.measure(0.0005)), Steered::Applied(_)));
    }
    (owner, m)
}

fn secs(t: f64) -> Duration {
    Duration::from_secs_f64(t)
}

#[test]
fn one_process_steers_the_other_waits_and_takes_over_when_it_dies() {
    let host = Host::new();
    let lock_a = Shared::new(101);
    let lock_b = lock_a.contender(202);
    let a = host.owner(lock_a.clone(), 101, 3600.0);
    let b = host.owner(lock_b, 202, 3600.0);
    let ma = a.join(host.backend(), None, no_trace);
    let mb = b.join(host.backend(), None, no_trace);
    assert!(ma.view().steering);
    let vb = mb.view();
    assert!(!vb.steering);
    assert_eq!((vb.role, vb.not_steering, vb.owner_pid), (Role::StandingDown, NotSteering::OtherProcess, Some(101)));
    for i in 0..5 {
        let t = 2.0 * i as f64;
        host.advance(t);
        assert!(matches!(ma.sample(secs(t), &host.measure(0.001)), Steered::Applied(Correction::Slew)));
        assert_eq!(mb.sample(secs(t), &host.measure(0.001)), Steered::NotSteering, "only one process steers");
    }
    // Killed: its lock goes with it (the record it wrote stays).
    lock_a.die();
    std::mem::forget(ma);
    host.advance(12.0);
    assert!(
        matches!(mb.sample(secs(12.0), &host.measure(0.001)), Steered::Applied(_)),
        "taken over at the next sample"
    );
    let v = mb.view();
    assert!(v.steering && v.role == Role::Selected, "{v:?}");
}

#[test]
fn leaving_lets_the_lock_go() {
    let host = Host::new();
    let lock_a = Shared::new(1);
    let mut probe = lock_a.contender(2);
    let a = host.owner(lock_a, 1, 3600.0);
    let m = a.join(host.backend(), None, no_trace);
    assert_eq!(probe.try_acquire(), Acquire::Busy { pid: Some(1) });
    drop(m);
    assert_eq!(probe.try_acquire(), Acquire::Held, "the last steering client gone, so is the lock");
}

#[test]
fn a_foreign_discipline_is_noticed_and_left_alone_until_it_is_quiet() {
    let host = Host::new();
    let (_owner, m) = steering_from_the_start(&host, 100.0);
    // chronyd sets the frequency (and error bounds).
    host.advance(9.0);
    lock(&host.model).foreign_frequency(12.5);
    host.advance(10.0);
    assert_eq!(m.sample(secs(10.0), &host.measure(0.0005)), Steered::NotSteering);
    let v = m.view();
    assert_eq!((v.role, v.not_steering, v.steering), (Role::StandingDown, NotSteering::Foreign, false));
    assert!(v.detail.contains("frequency"), "{}", v.detail);
    // It keeps at it: the library changes nothing, and waits.
    for i in 1..=5 {
        let t = 10.0 + 16.0 * i as f64;
        host.advance(t - 1.0);
        lock(&host.model).foreign_frequency(12.5 + i as f64);
        host.advance(t);
        assert_eq!(m.sample(secs(t), &host.measure(0.0005)), Steered::NotSteering);
        assert!((host.freq_ppm() - (12.5 + i as f64)).abs() < 1e-9, "the kernel frequency is the daemon's");
    }
    // It stops; after 100 s without a change the library steers again.
    let mut resumed = None;
    for i in 1..=20 {
        let t = 90.0 + 16.0 * i as f64;
        host.advance(t);
        if let Steered::Applied(_) = m.sample(secs(t), &host.measure(0.0005)) {
            resumed = Some(t);
            break;
        }
    }
    let t = resumed.expect("steers again");
    assert!((185.0..=220.0).contains(&t), "resumed at {t} s, the daemon's last change at 89 s");
    assert!(m.view().steering);
}

#[test]
fn one_foreign_step_is_steered_on_a_second_within_the_quiet_window_is_a_discipline() {
    let host = Host::new();
    let (_owner, m) = steering_from_the_start(&host, 100.0);
    // Somebody runs `date` once: an event, not a discipline.
    host.advance(9.0);
    lock(&host.model).meddle(100.0, 0.0);
    for i in 0..5 {
        let t = 10.0 + 2.0 * i as f64;
        host.advance(t);
        assert_ne!(m.sample(secs(t), &host.measure(0.0005)), Steered::NotSteering, "at {t} s");
        assert!(m.view().steering);
    }
    // Again 50 s later, within the 100 s window: somebody keeps stepping it.
    host.advance(59.0);
    lock(&host.model).meddle(-3.0, 0.0);
    host.advance(60.0);
    assert_eq!(m.sample(secs(60.0), &host.measure(0.0005)), Steered::NotSteering);
    let v = m.view();
    assert_eq!(v.not_steering, NotSteering::Foreign);
    assert!(v.detail.contains("s after another change not ours"), "{}", v.detail);
}

#[test]
fn a_kernel_pll_found_at_the_start_means_standing_down_at_once() {
    let host = Host::new();
    lock(&host.model).status = libc::STA_PLL;
    let owner = host.owner(Solo::default(), 1, 3600.0);
    let m = owner.join(host.backend(), None, no_trace);
    assert_eq!(m.view().not_steering, NotSteering::Foreign);
    assert!(m.view().detail.contains("PLL"), "{}", m.view().detail);
    host.advance(1.0);
    assert_eq!(m.sample(secs(1.0), &sample(0.01)), Steered::NotSteering);
    let model = lock(&host.model);
    assert_eq!((model.slew_left, model.freq, model.status & libc::STA_PLL), (0.0, 0.0, libc::STA_PLL), "untouched");
}

#[test]
fn a_recent_sync_by_someone_else_is_foreign_but_our_own_predecessor_is_not() {
    let host = Host::new();
    lock(&host.model).maxerror = 50_000; // chronyd wrote it a while ago
    let owner = host.owner(Solo::default(), 1, 3600.0);
    assert_eq!(owner.join(host.backend(), None, no_trace).view().not_steering, NotSteering::Foreign);

    // A library process steered and died: its record explains the state.
    let host = Host::new();
    let lock_a = Shared::new(1);
    let a = host.owner(lock_a.clone(), 1, 3600.0);
    let ma = a.join(host.backend(), None, no_trace);
    host.advance(1.0);
    assert!(matches!(ma.sample(secs(1.0), &sample(0.002)), Steered::Applied(_)));
    lock_a.die();
    std::mem::forget(ma);
    host.advance(30.0);
    let b = host.owner(lock_a.contender(2), 2, 3600.0);
    assert_eq!(b.join(host.backend(), None, no_trace).view().not_steering, NotSteering::No);
}

#[test]
fn the_override_steers_whatever_else_is_there() {
    let host = Host::new();
    lock(&host.model).status = libc::STA_PLL;
    let owner =
        Arc::new(Owner::new(Box::new(Solo::default()), Options { override_foreign: true, quiet: 3600.0, pid: 1 }));
    let m = owner.join(host.backend(), None, no_trace);
    assert!(m.view().steering);
    host.advance(1.0);
    assert!(matches!(m.sample(secs(1.0), &sample(0.001)), Steered::Applied(_)));
}

/// Refuses every change (a clock the process may not set).
struct Refusing;

impl ClockBackend for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn steers(&self) -> bool {
        true
    }
    fn apply(&mut self, _: ClockAction, _: &SyncReport, _: Duration) -> Result<(), ClockError> {
        Err(ClockError::PermissionDenied)
    }
}

#[test]
fn a_refused_clock_call_reaches_every_steering_client() {
    let owner = Arc::new(Owner::new(Box::new(Solo::default()), Options::default()));
    let a = owner.join(Box::new(Refusing), None, no_trace);
    let b = owner.join(Box::new(Refusing), None, no_trace);
    let _ = (a.news(), b.news());
    assert_eq!(b.sample(secs(0.0), &sample(0.001)), Steered::Held, "waits for a's server");
    assert_eq!(a.sample(secs(0.0), &sample(0.001)), Steered::ClockRefused);
    let news = b.news().expect("b is told");
    assert_eq!(news.not_steering, NotSteering::Refused);
}

struct NoFile;

impl HostLock for NoFile {
    fn try_acquire(&mut self) -> Acquire {
        Acquire::Unavailable("lock file /run/x: Permission denied".into())
    }
    fn read_record(&mut self) -> Option<String> {
        None
    }
    fn write_record(&mut self, _: &str) {}
    fn release(&mut self) {}
}

#[test]
fn without_the_lock_file_the_clock_is_not_steered() {
    let host = Host::new();
    let owner = host.owner(NoFile, 1, 3600.0);
    let m = owner.join(host.backend(), None, no_trace);
    let v = m.view();
    assert_eq!((v.role, v.not_steering), (Role::StandingDown, NotSteering::NoLock));
    assert!(v.detail.contains("Permission denied"));
    assert_eq!(m.sample(secs(0.0), &sample(0.01)), Steered::NotSteering);
}

#[test]
fn roles_reach_every_client_and_wake_the_others() {
    let host = Host::new();
    let owner = host.owner(Solo::default(), 1, 3600.0);
    let wakes: Vec<_> = (0..3).map(|_| Arc::new(Notifier::new().unwrap())).collect();
    let ms: Vec<_> = wakes.iter().map(|w| owner.join(host.backend(), Some(Arc::clone(w)), no_trace)).collect();
    for (m, label) in ms.iter().zip(["a", "b", "false"]) {
        m.reset(label);
        let _ = m.news();
    }
    for round in 0..4 {
        let t = 2.0 * round as f64;
        host.advance(t);
        for (m, ahead) in ms.iter().zip([0.001, 0.0011, 0.2011]) {
            let _ = m.sample(secs(t), &host.measure(ahead));
        }
        if round == 0 {
            // a's sample alone waited for the others; b's made a followed:
            // a's worker was woken to hear it.
            assert!(poll_readable_now(&wakes[0]), "a told of its new role");
            assert_eq!(ms[0].news().map(|v| v.role.follows()), Some(true));
        }
    }
    let roles: Vec<_> = ms.iter().map(|m| m.view().role).collect();
    assert_eq!(roles.iter().filter(|r| r.follows()).count(), 2, "{roles:?}");
    assert_eq!(roles[2], Role::Falseticker, "{roles:?}");
    assert!(ms[2].view().detail.contains("from the offset the majority agrees on"));
    assert!(ms[1..].iter().all(|m| m.news().is_some()), "each told");
}

fn poll_readable_now(n: &Notifier) -> bool {
    crate::sys::poll::poll_readable(&[n.fd()], Some(Duration::ZERO)).is_ok_and(|r| r.is_ready(0))
}

#[test]
fn a_sample_at_a_foreign_step_is_not_used_and_counts_as_a_step() {
    let host = Host::new();
    let (_owner, m) = steering_from_the_start(&host, 100.0);
    let before = m.steps();
    host.advance(9.0);
    lock(&host.model).meddle(100.0, 0.0);
    host.advance(10.0);
    // The request of the sample at hand may have left before the step.
    assert_eq!(m.sample_of_request(secs(10.0), &host.measure(0.0005), before), Steered::Held);
    assert_eq!(m.steps(), before + 1, "requests out across it are not used either");
    // Those sent after it are: three agreeing samples step the clock back.
    let mut outcomes = vec![];
    for t in [12.0, 14.0, 16.0] {
        host.advance(t);
        outcomes.push(m.sample_of_request(secs(t), &host.measure(0.0005), m.steps()));
    }
    assert_eq!(outcomes, vec![Steered::Held, Steered::Held, Steered::Applied(Correction::Step)]);
}
