//! The one owner of the host clock. Every steering client feeds its samples
//! to it, and it alone applies clock actions:
//!
//! - in the process: one [`Steering`] discipline over all steering clients
//!   (selection, combining, one correction), through one clock backend;
//! - on the host: a lock ([`hostlock`]) that one process holds while it may
//!   steer; the others measure only and take over when it goes;
//! - against the host's own time daemon: the kernel's clock state is read
//!   before every correction ([`ForeignWatch`]); a discipline that is not
//!   ours makes it stand down (measure only) until that discipline has
//!   been quiet for [`Options::quiet`]. A discipline is a change only one
//!   makes (the kernel's loop on, the frequency or tick rewritten) or a
//!   second foreign change within [`Options::quiet`] of the first; a single
//!   one (a step, a leap second we did not announce) is an event the owner
//!   steers on after.
//!
//! A client's [`Membership`] is its seat at the owner; what the owner says
//! of it (its role, whether the process steers) comes back through a
//! [`Link`], whose worker is woken when that changes.

pub mod hostlock;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use crate::clock::{ClockBackend, ClockError};
use crate::discipline::foreign::{Finding, ForeignWatch, KernelState, OwnerRecord, RecordPhase, Verdict};
use crate::discipline::{Correction, Decision, Role, SourceId, Steering, Why};
use crate::proto::client::Steered;
use crate::proto::validate::Sample;
use crate::sys::lock::lock;
use crate::sys::notify::Notifier;
use hostlock::{Acquire, HostLock};

/// The environment variable that lets a program override another time daemon.
pub const OVERRIDE_ENV_VAR: &str = "PROSSNTP_CLOCK_OWNER";
/// How long another discipline must have left the clock alone before the
/// owner steers again, seconds: longer than the longest poll interval of
/// chronyd and ntpd (1024 s by default) and systemd-timesyncd (2048 s).
/// Also the window in which a second one-off foreign change (a step, say)
/// after a first means another discipline.
pub const FOREIGN_QUIET_SECS: f64 = 3600.0;

/// A sink for trace lines.
pub type TraceFn = fn(&str);

/// How an owner behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Steer even when another discipline is found (`PROSSNTP_CLOCK_OWNER=override`).
    pub override_foreign: bool,
    /// Seconds without a foreign change before steering again.
    pub quiet: f64,
    /// This process's id, for the host lock's record.
    pub pid: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { override_foreign: false, quiet: FOREIGN_QUIET_SECS, pid: std::process::id() }
    }
}

impl Options {
    /// `PROSSNTP_CLOCK_OWNER`: `cooperate` (default) or `override`; anything
    /// else is traced and taken as the default.
    pub fn from_env(trace: TraceFn) -> Options {
        let override_foreign = match std::env::var(OVERRIDE_ENV_VAR).as_deref().map(str::trim) {
            Ok("override") => true,
            Ok("" | "cooperate") | Err(_) => false,
            Ok(other) => {
                trace(&format!("prossntp: {OVERRIDE_ENV_VAR}={other:?} is not cooperate or override: cooperating"));
                false
            }
        };
        Options { override_foreign, ..Options::default() }
    }
}

/// Why a process that could steer does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NotSteering {
    /// It steers.
    #[default]
    No,
    /// Another process of the host holds the clock-owner lock.
    OtherProcess,
    /// Another discipline (a time daemon) owns the clock.
    Foreign,
    /// The lock file cannot be opened.
    NoLock,
    /// The clock call was refused (EPERM).
    Refused,
}

/// What the owner says of one source.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkView {
    pub role: Role,
    pub why: Why,
    /// Whether the process steers the clock now, and if not, why.
    pub steering: bool,
    pub not_steering: NotSteering,
    /// What stands in the way, or the role's reason, as text.
    pub detail: String,
    /// The process holding the clock-owner lock, when another one does.
    pub owner_pid: Option<u32>,
    /// The clock backend the owner steers through.
    pub backend: &'static str,
    /// The source's offset estimate at its last sample and its jitter, s;
    /// the frequency correction in force, ppm.
    pub offset: f64,
    pub jitter: f64,
    pub frequency_ppm: f64,
    /// Steering clients of the process, and truechimers at the last selection.
    pub sources: u32,
    pub truechimers: u32,
    /// This source's worker drives the backend's ticks.
    pub ticker: bool,
}

/// One source's line to its client: the owner writes, the client's worker reads.
pub struct Link {
    view: Mutex<LinkView>,
    news: AtomicBool,
    wake: Option<Arc<Notifier>>,
    /// The client's server, for traces.
    label: Mutex<Arc<str>>,
}

impl Link {
    fn new(wake: Option<Arc<Notifier>>, backend: &'static str) -> Link {
        let view = LinkView {
            role: Role::Candidate,
            why: Why::NoSample,
            steering: false,
            not_steering: NotSteering::No,
            detail: String::new(),
            owner_pid: None,
            backend,
            offset: 0.0,
            jitter: 0.0,
            frequency_ppm: 0.0,
            sources: 0,
            truechimers: 0,
            ticker: false,
        };
        Link {
            view: Mutex::new(view),
            news: AtomicBool::new(false),
            wake,
            label: Mutex::new("an unconfigured client".into()),
        }
    }
}

/// What the owner is doing about the clock.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    /// The host lock has not been tried yet.
    Starting,
    /// Another process holds the host lock.
    OtherProcess {
        pid: Option<u32>,
    },
    /// The host lock cannot be taken.
    NoLock {
        why: String,
    },
    /// Another discipline was found; measuring only until it has been quiet.
    StandingDown {
        what: String,
        last_change: f64,
    },
    Steering,
    /// The clock call was refused: the steering clients end.
    Refused,
}

/// The clock while any steering client exists.
struct Clock {
    backend: Box<dyn ClockBackend>,
    steering: Steering,
    watch: ForeignWatch,
    mode: Mode,
    links: BTreeMap<SourceId, Arc<Link>>,
    /// One-off steps by somebody else, seen so far.
    foreign_steps: u64,
}

struct Inner {
    host: Box<dyn HostLock>,
    options: Options,
    trace: TraceFn,
    clock: Option<Clock>,
}

/// The owner of a clock; a process has one ([`process`]), tests and the
/// simulator make their own.
pub struct Owner {
    inner: Mutex<Inner>,
    epoch: Instant,
    /// Steps applied or found so far (changed under `inner`'s lock, right
    /// after each).
    steps: AtomicU64,
}

fn no_trace(_: &str) {}

impl Owner {
    pub fn new(host: Box<dyn HostLock>, options: Options) -> Owner {
        Owner {
            inner: Mutex::new(Inner { host, options, trace: no_trace, clock: None }),
            epoch: Instant::now(),
            steps: AtomicU64::new(0),
        }
    }


    /// Where the owner's time scale starts.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Seats a steering client. The first one's `backend` becomes the
    /// owner's; later ones steer through it (theirs is dropped). `wake`
    /// wakes the client's worker when the owner has news for it.
    pub fn join(
        self: &Arc<Self>,
        backend: Box<dyn ClockBackend>,
        wake: Option<Arc<Notifier>>,
        trace: TraceFn,
    ) -> Membership {
        let mut inner = self.inner();
        inner.trace = trace;
        if inner.clock.is_none() {
            inner.clock = Some(Clock {
                steering: Steering::new(0.0),
                watch: ForeignWatch::new(),
                mode: Mode::Starting,
                links: BTreeMap::new(),
                backend,
                foreign_steps: 0,
            });
        } else if let Some(c) = &inner.clock {
            if c.backend.name() != backend.name() {
                trace(&format!(
                    "prossntp: clock backend {} asked for, but the process steers through {}",
                    backend.name(),
                    c.backend.name()
                ));
            }
        }
        let Inner { host, options, clock, .. } = &mut *inner;
        let clock = clock.as_mut().expect("made above");
        let id = clock.steering.add_source();
        let link = Arc::new(Link::new(wake, clock.backend.name()));
        clock.links.insert(id, Arc::clone(&link));
        clock.settle(host.as_mut(), options, trace);
        clock.publish(Some(id), trace);
        drop(inner);
        Membership { owner: Arc::clone(self), id, link, seen: AtomicBool::new(false) }
    }

    fn leave(&self, id: SourceId) {
        let mut inner = self.inner();
        let trace = inner.trace;
        let Inner { host, clock, .. } = &mut *inner;
        let Some(c) = clock.as_mut() else { return };
        c.links.remove(&id);
        c.steering.remove_source(id);
        if c.links.is_empty() {
            if c.mode == Mode::Steering {
                trace("prossntp: the last steering client is gone: the clock keeps its frequency, nobody steers it");
            }
            host.release();
            *clock = None;
        } else {
            c.publish(None, trace);
        }
    }

    fn with_clock<R>(&self, f: impl FnOnce(&mut Clock, &mut dyn HostLock, &Options, TraceFn) -> R) -> Option<R> {
        let mut inner = self.inner();
        let trace = inner.trace;
        let Inner { host, options, clock, .. } = &mut *inner;
        clock.as_mut().map(|c| f(c, host.as_mut(), options, trace))
    }

    /// In a child after `fork()`: the parent's clients are not ours; start
    /// afresh, leaving the parent's lock to the parent.
    fn after_fork_child(&self) {
        let mut inner = self.inner();
        inner.options.pid = std::process::id();
        inner.host.forget_inherited();
        // Nothing of the parent's clock state is dropped here (its links
        // belong to clients the child never runs).
        std::mem::forget(inner.clock.take());
    }
}

impl Clock {
    /// Tries to become, or stay, the clock's steering owner: takes the host
    /// lock when free, watches a foreign discipline for quiet.
    fn settle(&mut self, host: &mut dyn HostLock, options: &Options, trace: TraceFn) {
        match self.mode.clone() {
            Mode::Steering | Mode::Refused => {}
            Mode::StandingDown { what, mut last_change } => {
                let obs = self.backend.observe();
                let changed = self.watch.check(&obs).is_some();
                self.watch.rebase(obs);
                if changed {
                    last_change = obs.at;
                    record(host, options, RecordPhase::StandingDown, &obs, last_change);
                    self.mode = Mode::StandingDown { what, last_change };
                } else if obs.at - last_change >= options.quiet {
                    trace(&format!(
                        "prossntp: the clock's other discipline has made no change for {:.0} s: steering it again",
                        obs.at - last_change
                    ));
                    self.start_steering(host, options, trace, obs);
                }
            }
            Mode::Starting | Mode::OtherProcess { .. } | Mode::NoLock { .. } => match host.try_acquire() {
                Acquire::Held => self.take_over(host, options, trace),
                Acquire::Busy { pid } => {
                    let mode = Mode::OtherProcess { pid };
                    if self.mode != mode {
                        let who = pid.map_or("another process".into(), |p| format!("process {p}"));
                        trace(&format!("prossntp: {who} owns the clock (host lock): measuring only until it goes"));
                    }
                    self.mode = mode;
                }
                Acquire::Unavailable(why) => {
                    if !matches!(&self.mode, Mode::NoLock { why: w } if *w == why) {
                        trace(&format!(
                            "prossntp: {why}: the clock is not steered (measuring only); {} names another path",
                            crate::sys::hostlock::ENV_VAR
                        ));
                    }
                    self.mode = Mode::NoLock { why };
                }
            },
        }
    }

    /// The host lock was just taken: is the clock ours to steer?
    fn take_over(&mut self, host: &mut dyn HostLock, options: &Options, trace: TraceFn) {
        let obs = self.backend.observe();
        let rec = host.read_record().as_deref().and_then(OwnerRecord::parse);
        if options.override_foreign {
            trace(&format!("prossntp: {OVERRIDE_ENV_VAR}=override: steering whatever else disciplines the clock"));
            return self.start_steering(host, options, trace, obs);
        }
        // A predecessor that was standing down hands that on.
        if let Some(r) = rec.filter(|r| r.phase == RecordPhase::StandingDown && r.pid != options.pid) {
            let what = format!("inherited from process {}, which had found another discipline", r.pid);
            trace(&format!("prossntp: {what}: measuring only"));
            self.watch.rebase(obs);
            self.mode = Mode::StandingDown { what, last_change: r.last_foreign_change };
            return;
        }
        let in_flight = rec.is_some_and(|r| r.phase == RecordPhase::Applying);
        match ForeignWatch::first_look(&obs, rec.as_ref().map(|r| &r.state), in_flight) {
            Some(finding) => self.stand_down(host, options, trace, &finding.to_string(), &obs),
            None => self.start_steering(host, options, trace, obs),
        }
    }

    fn start_steering(&mut self, host: &mut dyn HostLock, options: &Options, trace: TraceFn, obs: KernelState) {
        // Start from the frequency correction already in force.
        self.steering.restart(self.backend.frequency_ppm(), self.backend.limits());
        self.watch.rebase(obs);
        self.mode = Mode::Steering;
        record(host, options, RecordPhase::Watching, &obs, 0.0);
        trace(&format!("prossntp: this process steers the clock (backend {})", self.backend.name()));
    }

    fn stand_down(
        &mut self,
        host: &mut dyn HostLock,
        options: &Options,
        trace: TraceFn,
        what: &str,
        obs: &KernelState,
    ) {
        trace(&format!(
            "prossntp: another discipline owns the clock: {what}; measuring only until it has made no change for {:.0} s",
            options.quiet
        ));
        self.watch.rebase(*obs);
        self.mode = Mode::StandingDown { what: what.into(), last_change: obs.at };
        record(host, options, RecordPhase::StandingDown, obs, obs.at);
    }

    /// Steering: whether `obs` shows another discipline (the owner then
    /// stands down). A one-off foreign change is traced and steered on.
    fn foreign(&mut self, host: &mut dyn HostLock, options: &Options, trace: TraceFn, obs: &KernelState) -> bool {
        if options.override_foreign {
            return false;
        }
        match self.watch.judge(obs, options.quiet) {
            Verdict::Quiet => false,
            Verdict::OneOff(finding) => {
                self.foreign_steps += u64::from(matches!(finding, Finding::Step { .. }));
                trace(&format!(
                    "prossntp: {finding}: a one-off change, steering on (another within {:.0} s would mean another \
                     discipline)",
                    options.quiet
                ));
                false
            }
            verdict @ Verdict::Discipline { .. } => {
                self.stand_down(host, options, trace, &verdict.to_string(), obs);
                true
            }
        }
    }

    /// A sample from `id`: the whole decision, applied.
    fn sample(
        &mut self,
        host: &mut dyn HostLock,
        options: &Options,
        trace: TraceFn,
        id: SourceId,
        now: Duration,
        sample: &Sample,
    ) -> Steered {
        self.settle(host, options, trace);
        if self.mode != Mode::Steering {
            self.publish(Some(id), trace);
            return if self.mode == Mode::Refused { Steered::ClockRefused } else { Steered::NotSteering };
        }
        let obs = self.backend.observe();
        let foreign_steps = self.foreign_steps;
        if self.foreign(host, options, trace, &obs) {
            self.publish(Some(id), trace);
            return Steered::NotSteering;
        }
        if self.foreign_steps != foreign_steps {
            // Somebody stepped the clock since this sample's request left,
            // perhaps while it was out: not used (nor any other in flight).
            self.publish(Some(id), trace);
            return Steered::Held;
        }
        let pending = self.backend.pending_slew();
        let outcome = match self.steering.sample(id, now, sample, pending) {
            Decision::Apply(action, report) => {
                record(host, options, RecordPhase::Applying, &obs, 0.0);
                let result = self.backend.apply(action, &report, now);
                let after = self.backend.observe();
                self.watch.rebase(after);
                record(host, options, RecordPhase::Done, &after, 0.0);
                match result {
                    Ok(()) => {
                        self.steering.confirm();
                        let how = match self.steering.next_deadline() {
                            Some(end) => format!(
                                "{:+.6} s spread over {:.0} s",
                                self.steering.last_offset(),
                                end.saturating_sub(now).as_secs_f64()
                            ),
                            None => format!("{:+.6} s", action.offset.as_seconds()),
                        };
                        trace(&format!(
                            "prossntp: {} {:?} {how}, frequency {:+.3} ppm",
                            self.backend.name(),
                            action.correction,
                            self.steering.freq_ppm()
                        ));
                        Steered::Applied(action.correction)
                    }
                    Err(ClockError::PermissionDenied) => self.refused(trace),
                    Err(ClockError::Os(e)) => {
                        trace(&format!(
                            "prossntp: {} failed: {}",
                            self.backend.name(),
                            std::io::Error::from_raw_os_error(e)
                        ));
                        Steered::Failed(e)
                    }
                }
            }
            Decision::Hold => Steered::Held,
            Decision::Refuse(step) => {
                trace(&format!(
                    "prossntp: refused to step the clock by {:+.3} s (beyond the bounds); clock left alone",
                    step.as_seconds()
                ));
                Steered::Refused(step)
            }
        };
        self.publish(Some(id), trace);
        outcome
    }

    /// When timed work is due next: the end of a slew spread over time, or
    /// the backend's own pacing.
    fn next_tick(&self) -> Option<Duration> {
        match (self.steering.next_deadline(), self.backend.next_tick()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timed work that is due: a spread slew's end, the backend's tick.
    fn tick(&mut self, host: &mut dyn HostLock, options: &Options, trace: TraceFn, now: Duration) {
        if self.mode != Mode::Steering || self.next_tick().is_none_or(|d| d > now) {
            return;
        }
        let obs = self.backend.observe();
        if self.foreign(host, options, trace, &obs) {
            return self.publish(None, trace);
        }
        let mut result = Ok(());
        if self.steering.next_deadline().is_some_and(|d| d <= now) {
            let pending = self.backend.pending_slew();
            if let Some((action, report)) = self.steering.end_spread(now, pending) {
                result = self.backend.apply(action, &report, now);
            }
        }
        if result.is_ok() && self.backend.next_tick().is_some_and(|d| d <= now) {
            result = self.backend.tick(now);
        }
        match result {
            Ok(()) => self.watch.rebase(self.backend.observe()),
            Err(ClockError::PermissionDenied) => {
                self.refused(trace);
                self.publish(None, trace);
            }
            Err(ClockError::Os(e)) => {
                trace(&format!("prossntp: {} failed: {}", self.backend.name(), std::io::Error::from_raw_os_error(e)))
            }
        }
        // The ticking client may change (a spread ended, another began).
        self.publish(None, trace);
    }

    fn refused(&mut self, trace: TraceFn) -> Steered {
        trace(&format!("prossntp: {} was refused permission to set the clock (EPERM)", self.backend.name()));
        self.mode = Mode::Refused;
        Steered::ClockRefused
    }

    /// Publishes every source's view; `caller`'s worker is not woken (it
    /// reads its own right after the call). Cheap per source unless its
    /// role changed.
    fn publish(&mut self, caller: Option<SourceId>, trace: TraceFn) {
        let (sources, truechimers) = self.steering.counts();
        let steering = self.mode == Mode::Steering;
        // The first client's worker drives a backend that ticks.
        let ticker = self.links.keys().next().copied().filter(|_| steering && self.next_tick().is_some());
        let (not_steering, owner_pid) = match &self.mode {
            Mode::Steering => (NotSteering::No, None),
            Mode::Refused => (NotSteering::Refused, None),
            Mode::Starting => (NotSteering::OtherProcess, None),
            Mode::OtherProcess { pid } => (NotSteering::OtherProcess, *pid),
            Mode::NoLock { .. } => (NotSteering::NoLock, None),
            Mode::StandingDown { .. } => (NotSteering::Foreign, None),
        };
        for (&id, link) in &self.links {
            let Some(sv) = self.steering.view(id) else { continue };
            let (role, why) = match self.mode {
                Mode::Steering => (sv.role, sv.why),
                Mode::Refused => (Role::Candidate, Why::Nothing),
                _ => (Role::StandingDown, Why::Nothing),
            };
            let mut v = lock(&link.view);
            (v.offset, v.jitter, v.frequency_ppm) = (sv.offset, sv.jitter, self.steering.freq_ppm());
            (v.sources, v.truechimers, v.owner_pid, v.backend) =
                (sources as u32, truechimers as u32, owner_pid, self.backend.name());
            let news = v.role != role
                || std::mem::discriminant(&v.why) != std::mem::discriminant(&why)
                || v.steering != steering
                || v.not_steering != not_steering
                || v.ticker != (ticker == Some(id));
            if !news {
                continue;
            }
            (v.role, v.why, v.steering, v.not_steering, v.ticker) =
                (role, why, steering, not_steering, ticker == Some(id));
            v.detail = match &self.mode {
                Mode::Steering => why_text(&why),
                Mode::Refused => "the clock call was refused (EPERM)".into(),
                Mode::Starting => String::new(),
                Mode::OtherProcess { pid } => {
                    format!("{} owns the clock", pid.map_or("another process".into(), |p| format!("process {p}")))
                }
                Mode::NoLock { why } => why.clone(),
                Mode::StandingDown { what, .. } => what.clone(),
            };
            let detail = if v.detail.is_empty() { String::new() } else { format!(": {}", v.detail) };
            drop(v);
            link.news.store(true, Ordering::Release);
            if caller != Some(id) {
                if let Some(w) = &link.wake {
                    w.raise();
                }
            }
            trace(&format!("prossntp: {}: {}{detail}", lock(&link.label), role_name(role)));
        }
    }
}

/// Writes the host lock's record of what this process did to the clock.
fn record(host: &mut dyn HostLock, options: &Options, phase: RecordPhase, state: &KernelState, last_change: f64) {
    let rec = OwnerRecord { pid: options.pid, phase, state: *state, last_foreign_change: last_change };
    host.write_record(&rec.to_line());
}

/// The role as the stats and traces name it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Candidate => "candidate",
        Role::Selected => "selected",
        Role::Combined => "combined",
        Role::Falseticker => "falseticker",
        Role::Measuring => "measuring only",
        Role::StandingDown => "standing down",
    }
}

/// A role's reason as text ("" when there is nothing to say).
pub fn why_text(why: &Why) -> String {
    match *why {
        Why::Nothing => String::new(),
        Why::NoSample => "no valid sample yet".into(),
        Why::Inconsistent => "its newest sample disagrees with its own estimate (its server's time changed?)".into(),
        Why::AwaitingAgreement(n) => format!("its offset calls for a step: {n} of 3 agreeing samples"),
        Why::WaitingForOthers => "waiting for the other servers to answer".into(),
        Why::NoMajority => "no majority of the servers agrees".into(),
        Why::Unreachable => "its server does not answer".into(),
        Why::Distant => "agrees, but its root distance is beyond the combine limit".into(),
        Why::Disagrees { by } => {
            format!("disagrees with the other server by {by:+.6} s; following the one with the smaller root distance")
        }
        Why::OutsideMajority { by } => format!("{by:+.6} s from the offset the majority agrees on"),
        Why::NotApplied => "no correction applied with it yet".into(),
    }
}

/// A steering client's seat at its owner; leaving is dropping it.
pub struct Membership {
    owner: Arc<Owner>,
    id: SourceId,
    link: Arc<Link>,
    seen: AtomicBool,
}

impl Membership {
    #[cfg(any(test, feature = "__internal-api"))]
    pub fn id(&self) -> SourceId {
        self.id
    }

    /// How many times the clock has been stepped as the owner knows it (its
    /// own steps, and one-off steps by somebody else it found). Read it before a
    /// request's send time and hand it to [`Membership::sample`] with the
    /// reply's sample: a sample whose request left before a step is not used.
    pub fn steps(&self) -> u64 {
        self.owner.steps.load(Ordering::SeqCst)
    }

    #[cfg(any(test, feature = "__internal-api"))]
    /// Hands a valid sample taken at `now` to the owner, its request sent
    /// after the last step.
    pub fn sample(&self, now: Duration, sample: &Sample) -> Steered {
        self.sample_of_request(now, sample, self.steps())
    }

    /// Hands a valid sample taken at `now` to the owner; `steps_at_send`:
    /// [`Membership::steps`] before its request left. A sample whose request
    /// left before a step is dropped (its times straddle the step, or were
    /// both taken on the clock before it): whatever the source's role, it
    /// never reaches the discipline.
    pub fn sample_of_request(&self, now: Duration, sample: &Sample, steps_at_send: u64) -> Steered {
        let id = self.id;
        self.owner
            .with_clock(|c, host, options, trace| {
                if self.owner.steps.load(Ordering::SeqCst) != steps_at_send {
                    trace(&format!(
                        "prossntp: {}: sample not used: the clock was stepped while its request was out",
                        lock(&self.link.label)
                    ));
                    return Steered::Held;
                }
                let foreign_steps = c.foreign_steps;
                let outcome = c.sample(host, options, trace, id, now, sample);
                // (Somebody else's step found on the way counts too.)
                if outcome == Steered::Applied(Correction::Step) || c.foreign_steps != foreign_steps {
                    self.owner.steps.fetch_add(1, Ordering::SeqCst);
                }
                outcome
            })
            .unwrap_or(Steered::NotSteering)
    }

    /// The client's server stopped answering.
    pub fn unreachable(&self) {
        self.owner.with_clock(|c, _, _, trace| {
            c.steering.set_unreachable(self.id);
            c.publish(Some(self.id), trace);
        });
    }

    /// The client was configured again: its samples so far are forgotten.
    pub fn reset(&self, label: &str) {
        *lock(&self.link.label) = label.into();
        self.owner.with_clock(|c, _, _, trace| {
            c.steering.reset_source(self.id);
            c.publish(Some(self.id), trace);
        });
    }

    /// When the owner's backend must tick next, if this client drives it.
    pub fn next_tick(&self) -> Option<Duration> {
        if !lock(&self.link.view).ticker {
            return None;
        }
        self.owner.with_clock(|c, _, _, _| if c.mode == Mode::Steering { c.next_tick() } else { None }).flatten()
    }

    pub fn tick(&self, now: Duration) {
        self.owner.with_clock(|c, host, options, trace| {
            let foreign_steps = c.foreign_steps;
            c.tick(host, options, trace, now);
            if c.foreign_steps != foreign_steps {
                self.owner.steps.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    /// What the owner says of this client now.
    pub fn view(&self) -> LinkView {
        lock(&self.link.view).clone()
    }

    /// The view, if its news changed since the last call (or on the first).
    pub fn news(&self) -> Option<LinkView> {
        let first = !self.seen.swap(true, Ordering::AcqRel);
        (self.link.news.swap(false, Ordering::AcqRel) || first).then(|| self.view())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.owner.leave(self.id);
    }
}

/// The process's owner of the host clock (lock file from `PROSSNTP_LOCK_FILE`,
/// options from `PROSSNTP_CLOCK_OWNER`, read when first needed).
pub fn process(trace: TraceFn) -> Arc<Owner> {
    static PROCESS: LazyLock<Arc<Owner>> = LazyLock::new(|| {
        Arc::new(Owner::new(Box::new(crate::sys::hostlock::LockFile::from_env()), Options::default()))
    });
    static FORK: Once = Once::new();
    let owner = Arc::clone(&PROCESS);
    FORK.call_once(|| {
        lock(&owner.inner).options = Options::from_env(trace);
        fork::register(&PROCESS);
    });
    owner
}

/// The process owner's lock is held across `fork()`, so the child never
/// inherits it locked; the child then starts without the parent's clock.
mod fork {
    use std::cell::UnsafeCell;
    use std::sync::{Arc, MutexGuard, OnceLock};

    use super::{Inner, Owner};
    use crate::sys::lock::lock;

    struct Guard(UnsafeCell<Option<MutexGuard<'static, Inner>>>);
    // SAFETY: only the atfork handlers touch it, in the thread that forks,
    // one fork at a time (the owner's lock serialises them).
    unsafe impl Sync for Guard {}
    static GUARD: Guard = Guard(UnsafeCell::new(None));
    static OWNER: OnceLock<&'static Owner> = OnceLock::new();

    extern "C" fn prepare() {
        if let Some(owner) = OWNER.get() {
            let guard = lock(&owner.inner);
            // SAFETY: see Guard.
            unsafe { *GUARD.0.get() = Some(guard) };
        }
    }

    extern "C" fn parent() {
        // SAFETY: see Guard; dropping the guard releases the lock.
        unsafe { drop((*GUARD.0.get()).take()) };
    }

    extern "C" fn child() {
        parent();
        if let Some(owner) = OWNER.get() {
            owner.after_fork_child();
        }
    }

    pub(super) fn register(owner: &'static Arc<Owner>) {
        if OWNER.set(&**owner).is_ok() {
            // SAFETY: the handlers are plain extern "C" functions that live as
            // long as the library (it is never unloaded: linked with -z nodelete).
            unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
