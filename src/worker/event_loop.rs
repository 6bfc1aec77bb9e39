//! The worker thread's event loop: the UDP socket, `poll()` on it and the
//! wake descriptor with deadlines on the monotonic clock, the sans-IO
//! client driven from there, a steering client's samples handed to the
//! clock's owner, NTS key exchanges on threads of their own, and the
//! statistics and status messages callers read.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::stats::{self, LastError, Measuring, State, Stats};
use super::{AuthChange, BackendSelect, KeOutcome, NtsConfig, ServerConfig, Shared, TraceFn, STACK_SIZE};
use crate::discipline::module_clock::{ModuleClock, PublishContext, RawStamps};
use crate::discipline::Tracker;
use crate::owner::{Membership, NotSteering, Owner};
use crate::proto::client::{Auth, Client, Config, Output, Steered, StopReason};
use crate::proto::timestamp::NtpTimestamp;
use crate::proto::validate::Verdict;
use crate::sys::lock::lock;
use crate::sys::time::{mono_ns, raw_gap, raw_ns, slept_ns, slept_upper_ns, unix_secs_now, wall_now};
use crate::sys::udp::ClientSocket;
use crate::sys::{poll::poll_readable, random::random_u64};

/// Largest datagram read; longer ones are truncated and rejected or ignored.
const RECV_BUF: usize = 1024;
/// Most datagrams judged a wake-up; the rest wait for the next turn of the
/// loop (the socket stays readable, so `poll` returns at once), after due
/// requests, owner ticks, configuration and destroy. A flood of forged
/// replies faster than the worker can judge them then costs it the
/// schedule by one batch at most. A server sends one reply a request and
/// a request is in flight at a time, so a batch only ever fills under
/// attack (or after a long stall). 64 datagrams take some 0.3 ms to judge
/// (a receive with its timestamp, parse, validation and trace line each:
/// 5 us measured in a debug build sharing two cores with a loopback flood;
/// less in release, more with a slow trace sink): late by that, a request
/// loses nothing, while the loop's turn between batches, a few system
/// calls, stays a small part of each batch's cost. (Linux's default
/// receive buffer holds a few hundred such datagrams: a full one takes a
/// few turns.)
const RECV_BATCH: usize = 64;

pub(super) fn run(shared: Arc<Shared>, socket: UdpSocket, select: BackendSelect, owner: Arc<Owner>, trace: TraceFn) {
    let status = &shared.status;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (backend, measuring) = match select() {
            Ok(sel) => {
                let measuring = if sel.note.is_some() { Measuring::NoPermission } else { Measuring::ByChoice };
                if let Some(note) = sel.note {
                    trace_once(trace, &note);
                }
                (sel.backend, measuring)
            }
            Err(why) => {
                trace(&format!("prossntp: worker ends: {why}"));
                lock(&shared.stats).last_error = Some(LastError { errno: 0, what: why, at: Instant::now() });
                return;
            }
        };
        let epoch = owner.epoch();
        let membership = backend.steers().then(|| owner.join(backend, Some(Arc::clone(&shared.wake)), trace));
        let mut l = Loop {
            shared: &shared,
            socket: ClientSocket::new(socket),
            membership,
            measuring,
            client: Client::new(),
            epoch,
            generation: 0,
            server: None,
            trace,
            server_text: None,
            sent_at: None,
            last_reply_at: None,
            last_error: None,
            module: ModuleClock::new(),
            watch: ClockWatch::now(),
            gap_at_send: None,
            steps_at_send: 0,
            configured: None,
            nts: None,
        };
        l.run();
        l.publish();
    }));
    if result.is_err() {
        trace("prossntp: worker ends: internal error (panic)");
    }
    status.kill();
    shared.clock_changed();
}

/// Traces `line` once per process.
fn trace_once(trace: TraceFn, line: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| trace(&format!("prossntp: {line}")));
}

struct Loop<'a> {
    shared: &'a Shared,
    socket: ClientSocket,
    /// A steering client's seat at the clock's owner.
    membership: Option<Membership>,
    /// Why a client without one measures only.
    measuring: Measuring,
    client: Client<Tracker>,
    epoch: Instant,
    generation: u64,
    server: Option<SocketAddr>,
    trace: TraceFn,
    server_text: Option<Arc<str>>,
    /// When the last request went (read before `sendto`).
    sent_at: Option<NtpTimestamp>,
    last_reply_at: Option<Instant>,
    last_error: Option<LastError>,
    /// The client's own clock of its server, and the wall clock minus the
    /// raw clock next to the last request's send, ns.
    module: ModuleClock,
    /// The raw, monotonic and boot clocks at the last look: a suspend or a
    /// jump of the raw clock between two looks disrupts the own clock.
    watch: ClockWatch,
    gap_at_send: Option<(i64, i64)>,
    /// The clock owner's step count when the last request left.
    steps_at_send: u64,
    /// The server as configured (NTS may send NTP elsewhere: `server`).
    configured: Option<SocketAddr>,
    /// NTS: its key exchanges.
    nts: Option<KeyExchanges>,
}

/// The first wait after a failed key exchange; each failure doubles it, up
/// to [`KE_BACKOFF_MAX`]; a success starts again from here.
pub const KE_BACKOFF_FIRST: Duration = Duration::from_secs(2);
pub const KE_BACKOFF_MAX: Duration = Duration::from_secs(1024);

/// A result slot a key-exchange thread fills.
type KeSlot = Arc<Mutex<Option<Result<KeOutcome, String>>>>;

/// A client's NTS key exchanges: how, the one in flight, the backoff.
struct KeyExchanges {
    config: NtsConfig,
    /// The client asked for keys and has none.
    wanted: bool,
    in_flight: Option<KeSlot>,
    /// No exchange before this (monotonic), after a failure.
    not_before: Duration,
    failures: u32,
    done: u64,
    last_error: Option<String>,
}

impl KeyExchanges {
    fn new(config: NtsConfig) -> KeyExchanges {
        KeyExchanges {
            config,
            wanted: false,
            in_flight: None,
            not_before: Duration::ZERO,
            failures: 0,
            done: 0,
            last_error: None,
        }
    }

    /// When an exchange is due (None: none wanted, or one is in flight).
    fn due(&self) -> Option<Duration> {
        (self.wanted && self.in_flight.is_none()).then_some(self.not_before)
    }

    fn backoff(failures: u32) -> Duration {
        KE_BACKOFF_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(KE_BACKOFF_MAX)
    }
}

enum Flow {
    Continue,
    Exit,
}

/// A look at the raw, monotonic and boot clocks: the boot clock's lead
/// over the monotonic one as a lower and an upper bound.
#[derive(Clone, Copy, Debug)]
struct ClockWatch {
    raw: i64,
    mono: i64,
    slept: Option<(i64, i64)>,
}

/// The raw clock may run this much faster or slower than the monotonic
/// clock, s/s: the kernel's tick and frequency corrections together
/// (+-10 % and +-500 ppm) with room to spare...
const RAW_VS_MONO_RATE: f64 = 0.11;
/// ...and a jump of the raw clock against it within this, ns, is not one
/// (the two are read one after the other; a thread may be preempted between).
const RAW_JUMP_NS: i64 = 1_000_000_000;

impl ClockWatch {
    fn now() -> ClockWatch {
        let (raw, mono, upper) = (raw_ns(), mono_ns(), slept_upper_ns());
        ClockWatch { raw, mono, slept: slept_ns().zip(upper) }
    }

    /// What happened between `self` and `later` that the own clock cannot
    /// bound, if anything.
    fn disruption(&self, later: &ClockWatch) -> Option<String> {
        if let (Some((_, upper)), Some((lower, _))) = (self.slept, later.slept) {
            if lower - upper > crate::discipline::module_clock::SUSPEND_TOLERANCE_NS {
                return Some(format!("the host was suspended for {:.3} s", (lower - upper) as f64 * 1e-9));
            }
        }
        let (raw, mono) = (later.raw - self.raw, later.mono - self.mono);
        let allowed = (mono as f64 * RAW_VS_MONO_RATE) as i64 + RAW_JUMP_NS;
        ((raw - mono).abs() > allowed).then(|| {
            format!("the raw clock moved {:.3} s while the monotonic clock moved {:.3} s", raw as f64 * 1e-9, mono as f64 * 1e-9)
        })
    }
}

impl Loop<'_> {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn run(&mut self) {
        let fds = [self.shared.wake.fd(), self.socket.fd()];
        loop {
            if let Flow::Exit = self.take_commands() {
                return;
            }
            self.key_exchange();
            self.owner_news();
            let now = self.now();
            if self.client.deadline().is_some_and(|d| d <= now) {
                match random_u64() {
                    Ok(nonce) => self.client.handle_timeout(now, nonce),
                    Err(e) => self.error(errno(&e), format!("no random nonce ({e}); request skipped")),
                }
            }
            let tick = self.membership.as_ref().and_then(Membership::next_tick);
            if let (Some(m), Some(_)) = (&self.membership, tick.filter(|&d| d <= now)) {
                m.tick(now);
                self.owner_news();
            }
            if let Flow::Exit = self.drain() {
                return;
            }
            let tick = self.membership.as_ref().and_then(Membership::next_tick);
            let ke = self.nts.as_ref().and_then(KeyExchanges::due);
            let deadline = [self.client.deadline(), tick, ke].into_iter().flatten().min();
            self.publish();
            let timeout = deadline.map(|d| d.saturating_sub(self.now()));
            let ready = match poll_readable(&fds, timeout) {
                Ok(r) => r,
                Err(e) => {
                    self.error(errno(&e), format!("worker ends: poll failed: {e}"));
                    return;
                }
            };
            self.watch_clocks();
            if ready.is_ready(1) {
                if let Flow::Exit = self.receive() {
                    return;
                }
            }
        }
    }

    /// NTS: takes the result of the exchange in flight, and starts one when
    /// the client needs keys and the backoff allows.
    fn key_exchange(&mut self) {
        let now = self.now();
        let Some(ke) = self.nts.as_mut() else { return };
        let result = ke.in_flight.as_ref().and_then(|slot| lock(slot).take());
        match result {
            Some(Ok(outcome)) => {
                ke.in_flight = None;
                ke.failures = 0;
                ke.done += 1;
                ke.wanted = false;
                ke.not_before = now;
                ke.last_error = None;
                let line =
                    format!("NTS key exchange done: {} cookies, NTP to {}", outcome.session.cookies(), outcome.ntp);
                (self.trace)(&format!("prossntp: {line}"));
                if self.server != Some(outcome.ntp) {
                    self.socket.redirect(outcome.ntp);
                    self.server = Some(outcome.ntp);
                }
                self.client.set_nts_session(outcome.session, outcome.ntp, now);
            }
            Some(Err(why)) => {
                ke.in_flight = None;
                ke.failures += 1;
                let wait = KeyExchanges::backoff(ke.failures);
                ke.not_before = now + wait;
                ke.last_error = Some(why.clone());
                let what = format!("NTS key exchange failed: {why}; next in {} s", wait.as_secs());
                self.error(0, what);
            }
            None => {}
        }
        let Some(ke) = self.nts.as_mut() else { return };
        let Some(configured) = self.configured else { return };
        if ke.due().is_none_or(|t| t > now) {
            return;
        }
        let slot: KeSlot = Arc::new(Mutex::new(None));
        ke.in_flight = Some(Arc::clone(&slot));
        let exchange = Arc::clone(&ke.config.exchange);
        let addr = SocketAddr::new(configured.ip(), ke.config.port);
        let wake = Arc::clone(&self.shared.wake);
        let spawned = thread::Builder::new().name("prossntp-ke".into()).stack_size(STACK_SIZE).spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exchange(addr, configured)));
            *lock(&slot) = Some(r.unwrap_or_else(|_| Err("internal error (panic)".into())));
            wake.raise();
        });
        if let Err(e) = spawned {
            ke.in_flight = None;
            ke.failures += 1;
            ke.not_before = now + KeyExchanges::backoff(ke.failures);
            self.error(errno(&e), format!("NTS key exchange: no thread: {e}"));
        }
    }

    /// Traces `what` and keeps it as the last error.
    fn error(&mut self, errno: i32, what: String) {
        (self.trace)(&format!("prossntp: {what}"));
        self.last_error = Some(LastError { errno, what, at: Instant::now() });
    }

    /// What the clock's owner has to say: this client's role, or that the
    /// clock call was refused (which ends the worker, as for one client).
    fn owner_news(&mut self) {
        let Some(view) = self.membership.as_ref().and_then(Membership::news) else { return };
        if view.not_steering == NotSteering::Refused {
            self.client.on_steered(Steered::ClockRefused);
        }
        self.client.set_role(view.role);
    }

    /// Refreshes the statistics callers read.
    fn publish(&self) {
        let c = &self.client;
        let t = c.tracker();
        let view = self.membership.as_ref().map(Membership::view);
        // While the process steers, the owner's estimate and frequency;
        // otherwise the client's own measurement.
        let (offset, jitter, frequency_ppm) = match &view {
            Some(v) if v.steering => (v.offset, v.jitter, v.frequency_ppm),
            _ => (t.last_offset(), t.jitter(), t.frequency_error_ppm()),
        };
        *lock(&self.shared.stats) = Stats {
            // (The status board's, filled in when read.)
            state: State::Idle,
            has_sync: c.synced(),
            steering: view.as_ref().is_some_and(|v| v.steering),
            backend: view.as_ref().map_or("none", |v| v.backend),
            server: self.server_text.clone(),
            last_sample: c.last_sample().copied(),
            last_reply_at: self.last_reply_at,
            offset,
            jitter,
            frequency_ppm,
            poll_interval: c.poll_interval(),
            counters: *c.counters(),
            last_error: self.last_error.clone(),
            role: c.role(),
            own_clock_steps: self.module.steps(),
            auth: match c.auth() {
                Auth::Key(k) => Some((k.id(), k.kind())),
                _ => None,
            },
            nts: self.nts.as_ref().map(|ke| stats::NtsStats {
                state: if ke.in_flight.is_some() {
                    stats::NtsState::Exchanging
                } else if ke.failures > 0 {
                    stats::NtsState::Failed
                } else if matches!(c.auth(), Auth::Nts(Some(_))) {
                    stats::NtsState::Ready
                } else {
                    stats::NtsState::Exchanging
                },
                cookies: c.auth().cookies(),
                exchanges: ke.done,
                last_error: ke.last_error.clone(),
            }),
            clock: match &view {
                Some(v) => stats::ClockRole::Member {
                    not_steering: v.not_steering,
                    detail: v.detail.clone(),
                    owner_pid: v.owner_pid,
                    sources: v.sources,
                    truechimers: v.truechimers,
                },
                None => stats::ClockRole::Measuring(self.measuring),
            },
        };
    }

    fn take_commands(&mut self) -> Flow {
        let mut cmds = lock(&self.shared.commands);
        self.shared.wake.lower();
        if cmds.shutdown {
            return Flow::Exit;
        }
        let auth = cmds.auth.take();
        let config = cmds.config.take();
        drop(cmds);
        if let Some(change) = auth {
            let auth = match change {
                AuthChange::Plain(auth) => {
                    self.nts = None;
                    auth
                }
                AuthChange::Nts(config) => {
                    self.nts = Some(KeyExchanges::new(config));
                    Auth::Nts(None)
                }
            };
            (self.trace)(&format!("prossntp: authentication: {}", auth.describe()));
            // NTP goes to the configured server again until a key exchange says otherwise.
            if let Some(configured) = self.configured {
                self.server = Some(configured);
            }
            // The own clock's estimate, too, starts afresh under the new
            // rule (its reading runs on, as for a new server).
            self.module.reset();
            lock(&self.shared.past).line = None;
            self.client.set_auth(auth, self.now());
        }
        if let Some((cfg, generation)) = config {
            self.generation = generation;
            self.apply_config(cfg);
        }
        Flow::Continue
    }

    fn apply_config(&mut self, cfg: ServerConfig) {
        for (e, what) in self.socket.set_up(cfg.server, cfg.traffic_class) {
            self.error(errno(&e), what);
        }
        if self.configured != Some(cfg.server) {
            self.module.reset();
            lock(&self.shared.past).line = None;
            // Another server: NTS keys and cookies are its old server's.
            if let Some(ke) = self.nts.as_mut() {
                let config = ke.config.clone();
                self.nts = Some(KeyExchanges::new(config));
                self.client.set_auth(Auth::Nts(None), self.now());
            }
        }
        self.configured = Some(cfg.server);
        self.server = Some(cfg.server);
        let text: Arc<str> = cfg.server.to_string().into();
        if let Some(m) = &self.membership {
            m.reset(&text);
        }
        self.server_text = Some(text);
        let config = Config {
            server: cfg.server,
            no_reply: cfg.no_reply,
            had_reply: cfg.had_reply,
            burst: true,
            steering: self.membership.is_some(),
        };
        self.client.configure(config, self.now());
    }

    fn drain(&mut self) -> Flow {
        while let Some(out) = self.client.poll_output() {
            match out {
                Output::Send(packet) => {
                    if let Some(server) = self.server {
                        self.steps_at_send = self.membership.as_ref().map_or(0, Membership::steps);
                        let t1 = wall_now();
                        if let Err(e) = self.socket.send(&packet, server) {
                            self.error(errno(&e), format!("send to {server} failed: {e}"));
                            self.client.on_send_failed();
                            continue;
                        }
                        self.client.on_sent(t1);
                        self.sent_at = Some(t1);
                        self.gap_at_send = Some(raw_gap());
                        self.take_error_queue();
                    }
                }
                Output::Steer(sample) => {
                    let Some(m) = &self.membership else { continue };
                    let outcome = m.sample_of_request(self.now(), &sample, self.steps_at_send);
                    if let Steered::Failed(e) = outcome {
                        let what = format!("{} failed: {}", m.view().backend, io::Error::from_raw_os_error(e));
                        self.last_error = Some(LastError { errno: e, what, at: Instant::now() });
                    }
                    self.client.on_steered(outcome);
                    self.owner_news();
                }
                Output::Unreachable => {
                    if let Some(m) = &self.membership {
                        m.unreachable();
                    }
                    self.owner_news();
                }
                // Stats first: a caller woken by the event reads them at once.
                Output::SyncChanged(synced) => {
                    self.publish();
                    self.shared.status.push_sync(synced)
                }
                Output::Stopped(StopReason::Kissed(kiss)) => {
                    (self.trace)(&format!(
                        "prossntp: server sent kiss-o'-death {kiss:?}: stopped until configured again"
                    ));
                    self.publish();
                    self.shared.status.pause(self.generation);
                }
                Output::NeedKeys => {
                    if let Some(ke) = self.nts.as_mut() {
                        ke.wanted = true;
                    }
                }
                Output::Stopped(StopReason::ClockRefused) => {
                    let backend = self.membership.as_ref().map_or("none", |m| m.view().backend);
                    let what = format!("{backend} was refused permission to set the clock");
                    (self.trace)(&format!("prossntp: worker ends: {what} (EPERM)"));
                    self.last_error = Some(LastError { errno: libc::EPERM, what, at: Instant::now() });
                    return Flow::Exit;
                }
            }
        }
        Flow::Continue
    }

    /// Drains the error queue. The kernel's transmit time of the request
    /// just sent, when it has come (on loopback at once, else usually before
    /// the reply), replaces the time read before `sendto`; an ICMP error is
    /// the last error, as a failed receive would be.
    fn take_error_queue(&mut self) {
        let queue = self.socket.error_queue();
        if let Some(e) = queue.icmp_errno {
            self.icmp_error(e);
        }
        let Some(t) = queue.sent.filter(|_| self.socket.tx_timestamps()) else { return };
        // Only this socket's one request in flight left after `sent_at`.
        if let Some(t1) = self.sent_at {
            let after = t.since(t1).as_seconds();
            if (0.0..1.0).contains(&after) {
                self.client.on_sent(t);
            }
        }
    }

    /// A valid sample goes to the client's own clock, against the raw clock.
    /// One that shows the server stepped disrupts it: a burst follows.
    fn own_clock_sample(&mut self, s: &crate::proto::validate::Sample) {
        let (gap, gap_error) = raw_gap();
        let Some((gap_at_send, send_error)) = self.gap_at_send else { return };
        let (secs, nanos) = s.t4.to_unix(unix_secs_now());
        let t4_unix_ns = secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos));
        let gap_error = (gap_error + send_error) / 2;
        if let Some(floor) = self.shared.drift_floor() {
            self.module.set_drift_floor(floor);
        }
        self.module.on_sample(s, RawStamps { t4_unix_ns, gap_at_send, gap_at_receipt: gap, gap_error });
        let ctx = self.publish_context();
        let before = self.module.disruptions();
        let module = &mut self.module;
        self.shared.clock.publish(raw_ns, |from| module.publish(from, ctx));
        self.shared.clock_changed();
        {
            let mut past = lock(&self.shared.past);
            past.line = self.module.line();
            past.looks.push(super::look_now());
        }
        if self.module.disruptions() != before {
            self.resample("the server's time jumped beyond the step threshold", false);
        }
    }

    /// What a reading needs beyond the samples: the boot clock's lead, and
    /// when the next sample is overdue.
    fn publish_context(&self) -> PublishContext {
        PublishContext::new(slept_upper_ns(), self.client.poll_interval())
    }

    /// A look at the clocks: a suspend or a jump of the raw clock since the
    /// last look disrupts the own clock.
    fn watch_clocks(&mut self) {
        let now = ClockWatch::now();
        lock(&self.shared.past).looks.push(super::look_now());
        let why = self.watch.disruption(&now);
        self.watch = now;
        let Some(why) = why else { return };
        if self.module.reading_synced() {
            let ctx = self.publish_context();
            let module = &mut self.module;
            self.shared.clock.publish(raw_ns, |from| module.disrupt(from, ctx));
            self.shared.clock_changed();
            lock(&self.shared.past).line = None;
        }
        self.resample(&why, true);
    }

    /// The own clock is disrupted (`why`): sample at once (`burst`: in a burst).
    fn resample(&mut self, why: &str, burst: bool) {
        (self.trace)(&format!("prossntp: own clock disrupted: {why}; sampling at once"));
        self.client.resample(self.now(), burst);
    }

    /// The own clock, for the sample's trace line.
    fn own_clock_text(&self) -> String {
        match (self.shared.clock.read(raw_ns, slept_ns), self.module.rate()) {
            (Some(t), Some((rate, growth))) => format!(
                "; own clock bound {:.1} us, rate {:+.3} ppm, bound growth {:.3} ppm",
                t.error_bound * 1e6,
                rate * 1e6,
                growth * 1e6
            ),
            _ => String::new(),
        }
    }

    fn icmp_error(&mut self, e: i32) {
        let server = self.server.map(|s| s.to_string()).unwrap_or_default();
        let what = format!("from {server}: {}", io::Error::from_raw_os_error(e));
        self.last_error = Some(LastError { errno: e, what, at: Instant::now() });
    }

    /// Judges what the socket holds, [`RECV_BATCH`] datagrams at most: the
    /// loop goes round (deadlines, commands) before the next batch.
    fn receive(&mut self) -> Flow {
        self.take_error_queue();
        let mut buf = [0u8; RECV_BUF];
        for _ in 0..RECV_BATCH {
            match self.socket.recv(&mut buf) {
                Ok(rx) => {
                    let Some(from) = rx.from else { continue };
                    // The kernel's receive time, else as close as we can get.
                    let t4 = rx.timestamp.unwrap_or_else(wall_now);
                    if self.membership.as_ref().is_some_and(|m| m.steps() != self.steps_at_send) {
                        self.client.clock_stepped();
                    }
                    match self.client.handle_packet(from, &buf[..rx.len], t4, self.now()) {
                        Verdict::Valid(s) => {
                            self.last_reply_at = Some(Instant::now());
                            self.own_clock_sample(&s);
                            (self.trace)(&format!(
                                "prossntp: sample from {from}: offset {:+.6} s, delay {:.6} s, stratum {}{}",
                                s.offset.as_seconds(),
                                s.delay.as_seconds(),
                                s.stratum,
                                self.own_clock_text()
                            ))
                        }
                        Verdict::Rejected(why) => {
                            (self.trace)(&format!("prossntp: reply from {from} rejected: {why:?} ({})", why.text()))
                        }
                        Verdict::Kiss(_) => {}
                    }
                    if let Flow::Exit = self.drain() {
                        return Flow::Exit;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Continue,
                // ICMP errors (port unreachable and the like) mean no reply.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error().is_some_and(is_icmp_errno) => self.icmp_error(errno(&e)),
                Err(e) => {
                    self.error(errno(&e), format!("receive failed: {e}"));
                    return Flow::Continue;
                }
            }
        }
        Flow::Continue
    }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn is_icmp_errno(e: i32) -> bool {
    [libc::ECONNREFUSED, libc::EHOSTUNREACH, libc::ENETUNREACH, libc::EHOSTDOWN, libc::ENETDOWN].contains(&e)
}

#[cfg(test)]
mod tests {
    use super::ClockWatch;

    const S: i64 = 1_000_000_000;

    fn look(raw: i64, mono: i64, slept: (i64, i64)) -> ClockWatch {
        ClockWatch { raw, mono, slept: Some(slept) }
    }

    #[test]
    fn a_suspend_and_a_raw_jump_are_disruptions_a_preempted_read_is_not() {
        let a = look(100 * S, 200 * S, (5 * S, 5 * S + 50));
        // 10 s on, the boot clock's lead read 3 ms low (a read preempted
        // between its two clocks makes the lower bound lower): nothing.
        assert_eq!(a.disruption(&look(110 * S, 210 * S, (5 * S - 3_000_000, 5 * S))), None);
        // 30 s of suspend: the raw and monotonic clocks stood still.
        let why = a.disruption(&look(110 * S, 210 * S, (35 * S, 35 * S + 40))).expect("a suspend");
        assert!(why.contains("suspended for 30.000 s"), "{why}");
        // The tick at +10 %: the raw clock 1 s slower over 10 s, no jump.
        assert_eq!(a.disruption(&look(109 * S, 210 * S, (5 * S, 5 * S))), None);
        // The raw clock jumps 5 s ahead of the monotonic one.
        assert!(a.disruption(&look(115 * S, 210 * S, (5 * S, 5 * S))).is_some());
        // No boot clock: only the jump is seen.
        let none = ClockWatch { slept: None, ..a };
        assert_eq!(none.disruption(&ClockWatch { raw: 110 * S, mono: 210 * S, slept: None }), None);
    }
}
