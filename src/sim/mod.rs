//! A deterministic simulator: the real sans-IO client, discipline and clock
//! backends against a modelled oscillator, network and kernel, in simulated
//! time. Hours of simulated time take milliseconds. Figures follow chrony's
//! test suite: the true clock error sampled every second, sync time, RMS and
//! maximum offset and RMS frequency error from 210 s on.

pub mod kernel;
pub mod rng;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{self, ClockBackend};
use crate::discipline::module_clock::{ModuleClock, PublishContext, RawStamps, Status};
use crate::discipline::Tracker;
use crate::owner::hostlock::Solo;
use crate::owner::{Membership, Options, Owner, TraceFn};
use crate::proto::client::{Client, Config, Output, Steered};
use crate::proto::packet::Packet;
use crate::proto::timestamp::{NtpDuration, NtpTimestamp};
use crate::proto::validate::Verdict;
use crate::sys::lock::lock;
use kernel::{Model, SimKernel};
use rng::Rng;

/// Which backend's code steers the modelled clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Adjtimex,
    NtpAdjtime,
    Adjtime,
}

/// The benchmark's hard networks (bench/relay.py), for the simulator. Each
/// part draws from the random stream only when it is set, so the other
/// scenarios keep their figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HardNet {
    /// Heavy-tailed queueing both ways: each leg also waits
    /// `scale * (U^(-1/shape) - 1)` (Lomax), capped at 100 x scale.
    pub tail: Option<(f64, f64)>,
    /// One-sided congestion (`every`, `window`, `extra`, `share`): from
    /// `window / 2` into each `every` seconds, for `window` seconds, a share
    /// of requests wait `extra * (0.5 + U / 2)` more on the way up.
    pub bursts: Option<(f64, f64, f64, f64)>,
    /// A symmetric route change: from this true time both legs take this much longer.
    pub route: Option<(f64, f64)>,
}

impl HardNet {
    /// The extra delay of a leg that leaves at true time `t` (`up`: client to server).
    fn extra(&self, rng: &mut Rng, t: f64, up: bool) -> f64 {
        let mut wait = 0.0;
        if let Some((scale, shape)) = self.tail {
            wait += (scale * ((1.0 - rng.uniform()).powf(-1.0 / shape) - 1.0)).min(100.0 * scale);
        }
        if let (Some((every, window, extra, share)), true) = (self.bursts, up) {
            let u = rng.uniform();
            let phase = t % every;
            if (window / 2.0..1.5 * window).contains(&phase) && u < share {
                wait += extra * (0.5 + 0.5 * u / share);
            }
        }
        if let Some((at, extra)) = self.route {
            if t >= at {
                wait += extra;
            }
        }
        wait
    }
}

/// One server of a scenario, and the path to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerModel {
    /// The server's clock minus true time, seconds (a falseticker's error).
    pub offset: f64,
    /// From this true time on, the server is off by this much instead.
    pub turns: Option<(f64, f64)>,
    /// The server's clock changes rate: from each true time on, it gains
    /// this much per second (s/s) until the next entry (in order).
    pub drift: Vec<(f64, f64)>,
    /// The server stops answering at this true time.
    pub gone_at: Option<f64>,
    /// One-way delay: a fixed part plus an exponential with this mean, each direction.
    pub delay_base: f64,
    pub delay_exp_mean: f64,
    /// Extra uniform jitter in [0, x) each way.
    pub jitter: f64,
    /// The exponential part of the delay on the way back only (a one-sided
    /// queue): offsets then vary with the delay, by -1/2 of its excess.
    pub queue_on_return: bool,
    /// Extra delay client-to-server only.
    pub asymmetry: f64,
    /// Probability a request or its reply is lost.
    pub loss: f64,
    pub hard: HardNet,
    /// An intermittent link (`period`, `window`, `start`): packets pass,
    /// both ways, only from `start` for `window` seconds in every `period`
    /// seconds of true time; any other request or reply is lost.
    pub up: Option<(f64, f64, f64)>,
}

impl ServerModel {
    /// A true server on chrony's default path.
    pub fn chrony() -> ServerModel {
        ServerModel {
            offset: 0.0,
            turns: None,
            drift: vec![],
            gone_at: None,
            delay_base: 100e-6,
            delay_exp_mean: 100e-6,
            jitter: 0.0,
            queue_on_return: false,
            asymmetry: 0.0,
            loss: 0.0,
            hard: HardNet::default(),
            up: None,
        }
    }

    /// Whether the link passes a packet at true time `t` (no random draw).
    fn link_up(&self, t: f64) -> bool {
        self.up.is_none_or(|(period, window, start)| (t - start).rem_euclid(period) < window)
    }

    fn offset_at(&self, t: f64) -> f64 {
        let base = match self.turns {
            Some((at, off)) if t >= at => off,
            _ => self.offset,
        };
        // What the rate changes have gained by `t`.
        let ends = self.drift.iter().skip(1).map(|d| d.0).chain([f64::INFINITY]);
        let gained: f64 =
            self.drift.iter().zip(ends).map(|(&(from, rate), to)| rate * (t.min(to) - from).max(0.0)).sum();
        base + gained
    }
}

/// Another time daemon in the simulated host: from `start` on, every
/// `period` seconds it sets the kernel frequency (as chronyd does).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForeignDaemon {
    pub start: f64,
    pub period: f64,
    /// The frequency it sets, ppm (it cancels the oscillator's error).
    pub freq_ppm: f64,
}

/// A simulated run. Defaults: chrony's default test scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub duration: f64,
    pub no_reply: f64,
    pub poll: f64,
    pub burst: bool,
    /// Local clock minus true time at the start, seconds.
    pub initial_phase: f64,
    /// Oscillator frequency error at the start, s/s (positive: fast).
    pub initial_freq: f64,
    /// Frequency random walk per sqrt(second).
    pub freq_walk: f64,
    /// The kernel's frequency correction at the start, ppm, as an earlier
    /// owner of the clock left it: ADJ_FREQUENCY up to 500 ppm, the tick
    /// for the rest (as the adjtimex backend sets it).
    pub kernel_freq_ppm: f64,
    /// The path to the one server when `servers` is empty (see [`ServerModel`]).
    pub delay_base: f64,
    pub delay_exp_mean: f64,
    pub jitter: f64,
    pub queue_on_return: bool,
    pub asymmetry: f64,
    pub loss: f64,
    pub hard: HardNet,
    /// The one server's link is intermittent (see [`ServerModel::up`]).
    pub up: Option<(f64, f64, f64)>,
    /// At this true time the one server's clock jumps by this much (figures
    /// are then taken against the server's clock).
    pub server_step: Option<(f64, f64)>,
    /// Several servers, a steering client each, one clock owner: figures
    /// are then taken against true time.
    pub servers: Vec<ServerModel>,
    /// Another daemon disciplining the clock.
    pub foreign: Option<ForeignDaemon>,
    /// Seconds another discipline must be quiet before the owner steers again.
    pub foreign_quiet: f64,
    pub backend: Backend,
    /// False: measure only (the clock is never touched); the figures of
    /// interest are then the estimate's errors.
    pub steering: bool,
    /// Figures are taken from this time on, seconds.
    pub figures_from: f64,
    /// Print every clock action to stderr.
    pub trace: bool,
    /// Seconds between a reply's arrival (its receive stamp) and the
    /// client's handling of it, as on a loaded host.
    pub late_handling: f64,
    /// At true time `.0` somebody else steps the wall clock by `.1` seconds
    /// and from then on slews it at `.2` s/s (the clients' own clocks must
    /// not notice).
    pub meddle: Option<(f64, f64, f64)>,
    /// The servers' UTC (Unix) time at true time 0, seconds.
    pub unix_start: i64,
    /// A leap second at the first UTC midnight of the run: +1 inserted, -1
    /// deleted, 0 none. The servers announce it (leap indicator 1 or 2)
    /// during the day before and their UTC repeats (skips) a second; the
    /// figures then measure the clock against UTC.
    pub leap_second: i8,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 1,
            duration: 10_000.0,
            no_reply: 1.0,
            poll: 64.0,
            burst: true,
            initial_phase: 0.1,
            initial_freq: 100e-6,
            freq_walk: 1e-9,
            kernel_freq_ppm: 0.0,
            delay_base: 100e-6,
            delay_exp_mean: 100e-6,
            jitter: 0.0,
            queue_on_return: false,
            asymmetry: 0.0,
            loss: 0.0,
            hard: HardNet::default(),
            up: None,
            server_step: None,
            servers: vec![],
            foreign: None,
            foreign_quiet: crate::owner::FOREIGN_QUIET_SECS,
            backend: Backend::Adjtimex,
            steering: true,
            figures_from: 210.0,
            trace: false,
            late_handling: 0.0,
            meddle: None,
            unix_start: UNIX_BASE,
            leap_second: 0,
        }
    }
}

impl Scenario {
    /// The accuracy benchmark's set-up (scripts/bench-accuracy.sh), measure
    /// only: a clock 0.037 s off and 100 ppm fast that is never touched,
    /// 2 s polls, 1 ms each way (add `jitter`, `asymmetry`), 200 s, figures
    /// from 20 s.
    pub fn benchmark_measuring() -> Scenario {
        Scenario {
            steering: false,
            duration: 200.0,
            figures_from: 20.0,
            poll: 2.0,
            initial_phase: 0.037,
            delay_base: 1e-3,
            delay_exp_mean: 0.0,
            ..Scenario::default()
        }
    }

    /// The accuracy benchmark's hard networks (scripts/bench-accuracy.sh,
    /// conditions 4 to 7), on `base`'s path: heavy-tailed queueing both ways,
    /// one-sided congestion bursts of 2.5-5 ms for `window` seconds in every
    /// 2 x `window`, a symmetric route change 3 ms longer at `route_at`, and
    /// 20 % loss each way.
    pub fn hard_networks(base: &Scenario, window: f64, route_at: f64) -> Vec<(&'static str, Scenario)> {
        let hard = |hard: HardNet| Scenario { hard, ..base.clone() };
        vec![
            (
                "heavy tail, Lomax(0.2 ms, 1.5) each way",
                hard(HardNet { tail: Some((0.2e-3, 1.5)), ..HardNet::default() }),
            ),
            (
                "bursts: 80 % of requests 2.5-5 ms slower, half the time",
                hard(HardNet { bursts: Some((2.0 * window, window, 5e-3, 0.8)), ..HardNet::default() }),
            ),
            (
                "route change: both ways 3 ms longer",
                hard(HardNet { route: Some((route_at, 3e-3)), ..HardNet::default() }),
            ),
            ("20 % loss each way", Scenario { loss: 0.2, ..base.clone() }),
        ]
    }

    /// The recovery scenarios (the clock never runs away), by name: what
    /// the simulation table's recovery rows and the tests run.
    pub fn recovery() -> Vec<(&'static str, Scenario)> {
        let c = ServerModel::chrony();
        let path = |base: f64| ServerModel { delay_base: base, delay_exp_mean: 1e-3, ..c.clone() };
        let three = |late: f64| Scenario {
            servers: vec![path(1e-3), path(2e-3), path(3e-3)],
            late_handling: late,
            poll: 2.0,
            duration: 300.0,
            figures_from: 60.0,
            ..Scenario::default()
        };
        let wide = ServerModel { delay_base: 2e-3, delay_exp_mean: 3e-3, ..c.clone() };
        let d = Scenario::default();
        let midnight = 1_798_761_600; // 2027-01-01: leap seconds end June or December
        vec![
            ("3 servers, replies handled 20 ms late across the first step", three(0.02)),
            (
                "3 servers, kernel left at -5000 ppm",
                Scenario { kernel_freq_ppm: -5000.0, initial_freq: 0.0, ..three(0.0) },
            ),
            (
                "3 servers, kernel left at +5000 ppm",
                Scenario { kernel_freq_ppm: 5000.0, initial_freq: 0.0, ..three(0.0) },
            ),
            (
                "3 servers, kernel left at tick 9000 (-10 %)",
                Scenario { kernel_freq_ppm: -100_000.0, initial_freq: 0.0, ..three(0.0) },
            ),
            (
                "3 servers, kernel left at tick 11000 (+10 %)",
                Scenario { kernel_freq_ppm: 100_000.0, initial_freq: 0.0, ..three(0.0) },
            ),
            (
                "3 servers on 10 ms paths, kernel left at +5000 ppm",
                Scenario {
                    servers: vec![wide.clone(), wide.clone(), wide.clone()],
                    kernel_freq_ppm: 5000.0,
                    initial_freq: 0.0,
                    ..three(0.005)
                },
            ),
            ("oscillator +0.5 %", Scenario { initial_freq: 5000e-6, ..d.clone() }),
            ("oscillator -0.5 %", Scenario { initial_freq: -5000e-6, ..d.clone() }),
            ("oscillator +5 %", Scenario { initial_freq: 0.05, ..d.clone() }),
            ("oscillator -5 %", Scenario { initial_freq: -0.05, ..d.clone() }),
            ("wander 1e-8 (10x)", Scenario { freq_walk: 1e-8, ..d.clone() }),
            ("wander 1e-7 (100x)", Scenario { freq_walk: 1e-7, ..d.clone() }),
            (
                "3 servers, the clock's rate changes 200 ppm at 3000 s",
                Scenario {
                    servers: vec![c.clone(), c.clone(), c.clone()],
                    meddle: Some((3000.0, 0.0, 200e-6)),
                    ..d.clone()
                },
            ),
            ("somebody steps the clock +100 s at 150 s", Scenario { meddle: Some((150.0, 100.0, 0.0)), ..d.clone() }),
            ("somebody steps the clock -100 s at 150 s", Scenario { meddle: Some((150.0, -100.0, 0.0)), ..d.clone() }),
            ("leap second inserted at 3000 s", Scenario { unix_start: midnight - 3000, leap_second: 1, ..d.clone() }),
            ("leap second deleted at 3000 s", Scenario { unix_start: midnight - 3000, leap_second: -1, ..d.clone() }),
            ("0.1 s exponential queueing each way", Scenario { delay_exp_mean: 0.1, ..d.clone() }),
            ("link up 2000 to 3200 s only", Scenario { up: Some((10_000.0, 1200.0, 2000.0)), ..d.clone() }),
        ]
    }

    /// The interval read's scenarios (`prossntp_now`): the truth must lie in
    /// [earliest, latest] every second of every seed, holdover included.
    pub fn interval() -> Vec<(&'static str, Scenario)> {
        let d = Scenario::default();
        let c = ServerModel::chrony();
        // The server runs 10 ppm fast, then from 5000 s on 10 ppm slow (or
        // 40 ppm slow) and falls silent: holdover over a rate change.
        let changes =
            |to: f64| ServerModel { drift: vec![(0.0, 10e-6), (5000.0, to)], gone_at: Some(5000.0), ..c.clone() };
        let midnight = 1_798_761_600; // 2027-01-01: leap seconds end June or December
        vec![
            ("chrony default", d.clone()),
            ("poll 1024 s, 100,000 s", Scenario { poll: 1024.0, duration: 100_000.0, ..d.clone() }),
            ("+1 ms uniform jitter", Scenario { jitter: 1e-3, ..d.clone() }),
            ("oscillator wander 1e-7 (100x)", Scenario { freq_walk: 1e-7, ..d.clone() }),
            ("server +10 ppm, silent from 5000 s at -10 ppm", Scenario { servers: vec![changes(-10e-6)], ..d.clone() }),
            ("server +10 ppm, silent from 5000 s at -40 ppm", Scenario { servers: vec![changes(-40e-6)], ..d.clone() }),
            ("server steps 1 s at 5000 s", Scenario { server_step: Some((5000.0, 1.0)), ..d.clone() }),
            ("leap second inserted at 3000 s", Scenario { unix_start: midnight - 3000, leap_second: 1, ..d.clone() }),
            ("leap second deleted at 3000 s", Scenario { unix_start: midnight - 3000, leap_second: -1, ..d.clone() }),
        ]
    }

    /// One of [`Scenario::recovery`], by name.
    pub fn recovery_named(name: &str) -> Scenario {
        Scenario::recovery().into_iter().find(|(n, _)| *n == name).map(|(_, s)| s).expect("a recovery scenario")
    }

    /// The several-server scenarios of the simulation table (chrony's default
    /// otherwise: each server on its own path, a client each, one clock).
    pub fn several_servers() -> Vec<(&'static str, Scenario)> {
        let c = ServerModel::chrony();
        let off = |offset: f64| ServerModel { offset, ..c.clone() };
        let paths = vec![
            c.clone(),
            ServerModel { delay_base: 300e-6, delay_exp_mean: 300e-6, ..c.clone() },
            ServerModel { delay_base: 1e-3, delay_exp_mean: 1e-3, jitter: 0.5e-3, ..c.clone() },
        ];
        let with = |servers: Vec<ServerModel>| Scenario { servers, ..Scenario::default() };
        let mut gone = paths.clone();
        gone[0].gone_at = Some(5000.0);
        vec![
            ("1 server (the single-server row)", Scenario::default()),
            ("3 equal servers", with(vec![c.clone(), c.clone(), c.clone()])),
            ("3 servers, paths of 0.1, 0.3 and 1 ms + 0.5 ms jitter", with(paths.clone())),
            ("1 of 3 false by 200 ms", with(vec![c.clone(), off(0.2), c.clone()])),
            ("1 of 3 false by 5 ms", with(vec![c.clone(), off(0.005), c.clone()])),
            ("2 of 5 false, by 200 ms and 5 ms", with(vec![c.clone(), off(0.2), c.clone(), off(0.005), c.clone()])),
            ("2 of 5 false by 5 ms, agreeing", with(vec![c.clone(), off(0.005), c.clone(), off(0.005), c.clone()])),
            (
                "1 of 3 turns false (+5 ms) after 1 h",
                with(vec![c.clone(), ServerModel { turns: Some((3600.0, 0.005)), ..c.clone() }, c.clone()]),
            ),
            ("3 paths, the best server goes away at 5000 s", with(gone)),
        ]
    }

    /// The leap second: the true time at which the servers' UTC repeats
    /// (skips) a second, and its sign.
    pub fn leap_at(&self) -> Option<(f64, i8)> {
        if self.leap_second == 0 {
            return None;
        }
        let midnight = (self.unix_start.div_euclid(86_400) + 1) * 86_400;
        // A deleted second is 23:59:59: UTC goes from 23:59:58 to 00:00:00.
        let point = midnight - if self.leap_second > 0 { 0 } else { 1 };
        Some(((point - self.unix_start) as f64, self.leap_second))
    }

    /// UTC minus the servers' uniform time scale at true time `t`, seconds:
    /// -1 after an inserted leap second, +1 after a deleted one.
    fn utc_shift(&self, t: f64) -> f64 {
        match self.leap_at() {
            Some((at, sign)) if t >= at => -f64::from(sign),
            _ => 0.0,
        }
    }

    /// The leap indicator the servers send at true time `t`.
    fn leap_indicator(&self, t: f64) -> u8 {
        match self.leap_at() {
            Some((at, sign)) if t < at && t >= at - 86_400.0 => {
                if sign > 0 {
                    1
                } else {
                    2
                }
            }
            _ => 0,
        }
    }

    /// The servers: `servers`, or the one the scenario's own path fields describe.
    fn server_models(&self) -> Vec<ServerModel> {
        if !self.servers.is_empty() {
            return self.servers.clone();
        }
        vec![ServerModel {
            offset: 0.0,
            turns: self.server_step,
            drift: vec![],
            gone_at: None,
            delay_base: self.delay_base,
            delay_exp_mean: self.delay_exp_mean,
            jitter: self.jitter,
            queue_on_return: self.queue_on_return,
            asymmetry: self.asymmetry,
            loss: self.loss,
            hard: self.hard.clone(),
            up: self.up,
        }]
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// First second after which |offset| <= 1 ms and |freq| <= 500 ppm hold to the end.
    pub sync_time: Option<f64>,
    /// From 210 s to the end, seconds.
    pub rms_offset: f64,
    pub max_offset: f64,
    /// When the largest offset was seen, seconds.
    pub max_offset_at: f64,
    /// From 210 s to the end, ppm: the clock's rate error over each second,
    /// phase slews and steps excluded (for `adjtime`, whose frequency is itself
    /// a slew, the rate over each second with steps excluded).
    pub rms_freq: f64,
    /// Mean offset (the bias an asymmetric path causes), seconds.
    pub mean_offset: f64,
    pub steps: u32,
    /// Clock corrections applied (steps and slews), all clients together.
    pub corrections: u64,
    pub requests: u64,
    /// |the client's offset estimate - the true offset| at each valid reply
    /// from `figures_from` on, seconds: median, 95th percentile and largest.
    pub estimate_median: f64,
    pub estimate_p95: f64,
    pub estimate_max: f64,
    /// Per server: each client's role and has_sync at the end, seconds it
    /// had has_sync = 1 while its server was off by more than 1 ms, and
    /// its role changes.
    pub roles: Vec<crate::discipline::Role>,
    pub synced: Vec<bool>,
    /// Per server: seconds its client had has_sync = 1.
    pub synced_secs: Vec<f64>,
    pub synced_while_false: Vec<f64>,
    pub role_changes: Vec<u64>,
    /// Per server: times its client was called a falseticker.
    pub false_marks: Vec<u64>,
    /// The clock's largest |offset| from `figures_from` on toward (the sign
    /// of) the first falseticker's error, seconds (0 without one).
    pub toward_false: f64,
    /// Start-up: the largest |offset| from 10 s to `figures_from`, seconds.
    pub startup_max: f64,
    /// The RMS, over consecutive 64 s windows from `figures_from` on, of the
    /// clock's mean rate error in each (slews included, steps excluded), ppm.
    pub freq_64s: f64,
    /// Seconds in which a client had `has_sync = 1` and the true error
    /// exceeded the kernel's maxerror (the bound the library publishes), and
    /// its esterror (the estimate it publishes).
    pub over_bound_secs: u32,
    pub over_esterror_secs: u32,
    /// Steady state, the second half of the run: RMS and largest |offset|,
    /// seconds, and the RMS over back-to-back windows of one poll interval
    /// of the clock's mean rate error in each (slews included), ppm.
    pub steady_rms: f64,
    pub steady_max: f64,
    pub steady_freq: f64,
    /// The clients' own clocks (`prossntp_gettime`), read every second from
    /// `figures_from` on: |time - the server's true time|, seconds, median,
    /// 95th percentile and largest; the median error bound; and, from the
    /// first sync on, the seconds where the error exceeded the bound.
    pub own_median: f64,
    pub own_p95: f64,
    pub own_max: f64,
    pub own_bound_median: f64,
    pub own_over_bound_secs: u32,
    /// Seconds (all clients, from the first sync on) the own clock read
    /// holdover, and disrupted (unbounded).
    pub own_holdover_secs: u32,
    pub own_disrupted_secs: u32,
    /// Corrections of the own clocks made at once, all clients.
    pub own_steps: u64,
    /// The kernel's frequency correction (tick included), ppm: the largest
    /// |value| in the run, and the largest change from one second to the next.
    pub max_kernel_freq: f64,
    pub max_freq_change: f64,
    /// Seconds from `figures_from` on in which no client had `has_sync = 1`.
    pub unsynced_secs: u32,
    /// The clock's offset at the end, seconds.
    pub final_offset: f64,
    /// Times the owner began standing down for another discipline, and the
    /// seconds it stood down.
    pub stand_downs: u32,
    pub foreign_secs: u32,
    /// Seconds in which a client that had had `has_sync = 1` lacked it.
    pub sync_lost_secs: u32,
    /// Leap seconds the kernel made (+1 inserted, -1 deleted).
    pub leaps: i32,
}

const UNIX_BASE: i64 = 1_800_000_000;

/// The NTP timestamp of `t` seconds after Unix time `base`.
fn ntp(base: i64, t: f64) -> NtpTimestamp {
    NtpTimestamp::from_unix(base, 0).plus(NtpDuration::from_seconds(t))
}

fn backend(kind: Backend, kernel: &SimKernel) -> Box<dyn ClockBackend> {
    match kind {
        Backend::Adjtimex => Box::new(clock::adjtimex::Adjtimex::new(kernel.clone()).expect("model answers")),
        Backend::NtpAdjtime => Box::new(clock::ntp_adjtime::NtpAdjtime::new(kernel.clone(), kernel.clone())),
        Backend::Adjtime => Box::new(clock::adjtime::Adjtime::new(kernel.clone())),
    }
}

fn trace_stderr(line: &str) {
    eprintln!("{line}");
}

/// A reply's receive time as the kernel stamped it: local (NTP and Unix
/// ns) and the wall minus the raw clock then, ns.
#[derive(Clone, Copy, Debug)]
struct Stamped {
    t4: NtpTimestamp,
    unix_ns: i64,
    gap: i64,
}

/// One simulated client and its server.
struct Node {
    server: ServerModel,
    addr: SocketAddr,
    client: Client<Tracker>,
    membership: Option<Membership>,
    /// Replies in flight: (true arrival time, or the time the client gets
    /// to a reply already stamped; the datagram; its receive stamps).
    in_flight: Vec<(f64, [u8; 48], Option<Stamped>)>,
    role: crate::discipline::Role,
    role_changes: u64,
    /// Times the owner called its server a falseticker.
    false_marks: u64,
    synced_secs: f64,
    synced_while_false: f64,
    /// The client's own clock, and the wall minus the raw clock (ns) at its
    /// last request.
    module: ModuleClock,
    gap_at_send: i64,
    /// The owner's step count when the last request left.
    steps_at_send: u64,
    /// It has had has_sync = 1.
    ever_synced: bool,
}

/// The modelled wall clock, Unix ns (its epoch is a whole second).
fn wall_ns(m: &Model) -> i64 {
    m.epoch as i64 * 1_000_000_000 + (m.local() * 1e9).round() as i64
}

/// The modelled raw clock, ns (the host has been up an hour).
fn raw_ns(m: &Model) -> i64 {
    3_600_000_000_000 + (m.raw() * 1e9).round() as i64
}

/// A server's UTC at true time `t`, Unix ns.
fn server_ns(s: &Scenario, server: &ServerModel, t: f64) -> i64 {
    s.unix_start * 1_000_000_000 + ((t + server.offset_at(t) + s.utc_shift(t)) * 1e9).round() as i64
}

/// Runs `s` and measures it.
pub fn run(s: &Scenario) -> Figures {
    let model = Arc::new(Mutex::new(Model::new(s.initial_phase, s.initial_freq, s.freq_walk, s.seed)));
    lock(&model).set_kernel_freq(s.kernel_freq_ppm);
    lock(&model).epoch = s.unix_start as f64;
    let kernel = SimKernel(model.clone());
    let mut rng = Rng::new(s.seed);
    let options = Options { override_foreign: false, quiet: s.foreign_quiet, pid: 1 };
    let owner = Arc::new(Owner::new(Box::new(Solo::default()), options));
    let trace: TraceFn = if s.trace { trace_stderr } else { |_| {} };
    let mut nodes: Vec<Node> = s
        .server_models()
        .into_iter()
        .enumerate()
        .map(|(i, server)| {
            let addr = SocketAddr::from(([192, 0, 2, 100 + i as u8], 123));
            let mut client = Client::new();
            let membership = s.steering.then(|| owner.join(backend(s.backend, &kernel), None, trace));
            if let Some(m) = &membership {
                m.reset(&format!("server {i}"));
            }
            if let Some(v) = membership.as_ref().and_then(Membership::news) {
                client.set_role(v.role);
            }
            let config = Config {
                server: addr,
                no_reply: Duration::from_secs_f64(s.no_reply),
                had_reply: Duration::from_secs_f64(s.poll),
                burst: s.burst,
                steering: s.steering,
            };
            client.configure(config, Duration::ZERO);
            Node {
                server,
                addr,
                client,
                membership,
                in_flight: vec![],
                role: crate::discipline::Role::Measuring,
                role_changes: 0,
                false_marks: 0,
                synced_secs: 0.0,
                synced_while_false: 0.0,
                module: ModuleClock::new(),
                gap_at_send: 0,
                steps_at_send: 0,
                ever_synced: false,
            }
        })
        .collect();
    let single = s.servers.is_empty();
    // The clock's error against what it follows: the one server's clock, or
    // true time; UTC in either case.
    let truth = |t: f64| (if single { nodes_offset_single(s, t) } else { 0.0 }) + s.utc_shift(t);
    let first_false = s.servers.iter().map(|m| m.turns.map_or(m.offset, |t| t.1)).find(|o| o.abs() > 1e-3);
    let mut offsets = vec![];
    let mut estimate_errors = vec![];
    let mut freqs = vec![];
    let mut unstepped_phase = vec![];
    let (mut over_bound, mut over_est) = (0, 0);
    let mut toward_false: f64 = 0.0;
    let mut next_sample = 0.0;
    let mut next_foreign = s.foreign.map_or(f64::INFINITY, |f| f.start);
    let mut next_meddle = s.meddle.map_or(f64::INFINITY, |m| m.0);
    let (mut own_errors, mut own_bounds, mut own_over) = (vec![], vec![], 0);
    let (mut own_holdover, mut own_disrupted) = (0, 0);
    let (mut max_kernel_freq, mut max_freq_change, mut unsynced_secs) = (0.0f64, 0.0f64, 0u32);
    let mut last_kernel_freq = lock(&model).kernel_freq();
    let (mut stand_downs, mut foreign_secs, mut sync_lost_secs, mut standing) = (0, 0, 0, false);
    // Phase less steps at the last sample, for the adjtime rate.
    let mut last_unstepped = None;
    loop {
        let next_client =
            nodes.iter().filter_map(|n| n.client.deadline()).map(|d| d.as_secs_f64()).fold(f64::INFINITY, f64::min);
        let next_tick = nodes
            .iter()
            .filter_map(|n| n.membership.as_ref()?.next_tick())
            .map(|d| d.as_secs_f64())
            .fold(f64::INFINITY, f64::min);
        let next_arrival = nodes.iter().flat_map(|n| n.in_flight.iter().map(|p| p.0)).fold(f64::INFINITY, f64::min);
        let t = next_client.min(next_tick).min(next_arrival).min(next_sample).min(next_foreign).min(next_meddle);
        if t > s.duration {
            break;
        }
        lock(&model).advance_to(t);
        let now = Duration::from_secs_f64(t);
        if t == next_sample {
            let m = lock(&model);
            let mut err = m.phase - truth(t);
            // At the leap point itself the clock (at its UTC midnight) and
            // UTC (at true midnight) leap microseconds apart: a reading
            // between them is off by the whole second.
            if s.leap_at().is_some_and(|(at, _)| (t - at).abs() < 1e-3) {
                let apart = f64::from(m.leaps) + s.utc_shift(t);
                err += if (err + apart).abs() < err.abs() { apart } else { 0.0 };
            }
            offsets.push(err);
            if let Some(f) = first_false.filter(|_| t >= s.figures_from) {
                toward_false = toward_false.max(err * f.signum());
            }
            let unstepped = m.phase - m.stepped;
            freqs.push(match (s.backend, last_unstepped) {
                (Backend::Adjtime, Some(last)) => unstepped - last,
                _ => m.freq_error(),
            });
            last_unstepped = Some(unstepped);
            unstepped_phase.push(unstepped);
            let (bound, est) = (m.maxerror as f64 * 1e-6, m.esterror as f64 * 1e-6);
            let kernel_freq = m.kernel_freq() * 1e6;
            drop(m);
            max_kernel_freq = max_kernel_freq.max(kernel_freq.abs());
            max_freq_change = max_freq_change.max((kernel_freq - last_kernel_freq * 1e6).abs());
            last_kernel_freq = kernel_freq * 1e-6;
            if t >= s.figures_from && !nodes.iter().any(|n| n.client.synced()) {
                unsynced_secs += 1;
            }
            if s.steering && nodes.iter().any(|n| n.client.synced()) {
                over_bound += (err.abs() > bound) as u32;
                over_est += (err.abs() > est) as u32;
            }
            let foreign = nodes
                .iter()
                .filter_map(|n| n.membership.as_ref())
                .any(|m| m.view().not_steering == crate::owner::NotSteering::Foreign);
            stand_downs += (foreign && !standing) as u32;
            foreign_secs += foreign as u32;
            standing = foreign;
            for n in &mut nodes {
                n.ever_synced |= n.client.synced();
                sync_lost_secs += (n.ever_synced && !n.client.synced()) as u32;
            }
            let raw = raw_ns(&lock(&model));
            for n in &mut nodes {
                if n.client.synced() {
                    n.synced_secs += 1.0;
                }
                if n.client.synced() && n.server.offset_at(t).abs() > 1e-3 {
                    n.synced_while_false += 1.0;
                }
                if n.module.reading().synced {
                    let own = n.module.reading().at(raw);
                    let err = (own.unix_ns - server_ns(s, &n.server, t)).abs() as f64 * 1e-9;
                    own_over += (err > own.error_bound) as u32;
                    own_holdover += u32::from(own.status == Status::Holdover);
                    own_disrupted += u32::from(own.status == Status::Disrupted);
                    if t >= s.figures_from && own.error_bound.is_finite() {
                        own_errors.push(err);
                        own_bounds.push(own.error_bound);
                    }
                }
            }
            next_sample += 1.0;
            continue;
        }
        if t == next_meddle {
            let (_, step, slew) = s.meddle.expect("scheduled");
            lock(&model).meddle(step, slew);
            next_meddle = f64::INFINITY;
            continue;
        }
        if t == next_foreign {
            let f = s.foreign.expect("scheduled");
            lock(&model).foreign_frequency(f.freq_ppm);
            next_foreign += f.period;
            continue;
        }
        if t == next_tick {
            for n in &nodes {
                if let Some(m) = n.membership.as_ref().filter(|m| m.next_tick().is_some_and(|d| d <= now)) {
                    m.tick(now);
                }
            }
        }
        for k in 0..nodes.len() {
            let n = &mut nodes[k];
            if let Some(i) = n.in_flight.iter().position(|p| p.0 == t) {
                let (_, data, stamped) = n.in_flight.swap_remove(i);
                let was_stamped = stamped.is_some();
                let (stamped, raw) = {
                    let m = lock(&model);
                    let (wall, raw) = (wall_ns(&m), raw_ns(&m));
                    (
                        stamped.unwrap_or(Stamped { t4: ntp(s.unix_start, m.local()), unix_ns: wall, gap: wall - raw }),
                        raw,
                    )
                };
                let Stamped { t4, unix_ns: t4_unix_ns, gap } = stamped;
                let replies = n.client.counters().valid_replies;
                if n.membership.as_ref().is_some_and(|m| m.steps() != n.steps_at_send) {
                    n.client.clock_stepped();
                }
                if s.late_handling > 0.0 && !was_stamped {
                    // Stamped on arrival; the worker gets to it later.
                    n.in_flight.push((t + s.late_handling, data, Some(stamped)));
                } else if let Verdict::Valid(sample) = n.client.handle_packet(n.addr, &data, t4, now) {
                    let stamps =
                        RawStamps { t4_unix_ns, gap_at_send: n.gap_at_send, gap_at_receipt: gap, gap_error: 0 };
                    n.module.on_sample(&sample, stamps);
                    let disruptions = n.module.disruptions();
                    n.module.publish(raw, PublishContext::new(None, n.client.poll_interval()));
                    if n.module.disruptions() != disruptions {
                        n.client.resample(now, false);
                    }
                }
                if n.client.counters().valid_replies > replies && t >= s.figures_from {
                    let m = lock(&model);
                    let target = if single { truth(t) } else { n.server.offset_at(t) + s.utc_shift(t) };
                    estimate_errors.push((n.client.tracker().last_offset() + m.phase - target).abs());
                }
            }
            if n.client.deadline().is_some_and(|d| d.as_secs_f64() == t) {
                n.client.handle_timeout(now, rng.next_u64());
            }
            drain(s, &mut nodes, k, t, now, &model, &mut rng);
        }
    }
    let (steps, leaps) = {
        let m = lock(&model);
        (m.steps, m.leaps)
    };
    let mut f = figures(&offsets, &freqs, s.figures_from as usize);
    (f.steps, f.leaps) = (steps, leaps);
    (f.stand_downs, f.foreign_secs, f.sync_lost_secs) = (stand_downs, foreign_secs, sync_lost_secs);
    (f.over_bound_secs, f.over_esterror_secs) = (over_bound, over_est);
    let from = (s.figures_from as usize).min(offsets.len());
    f.startup_max = offsets[10.min(from)..from].iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    f.freq_64s = rms_rate(&unstepped_phase, from, 64);
    let half = offsets.len() / 2;
    let steady = figures(&offsets, &freqs, half);
    (f.steady_rms, f.steady_max) = (steady.rms_offset, steady.max_offset);
    f.steady_freq = rms_rate(&unstepped_phase, half, 64);
    f.toward_false = toward_false;
    for n in &nodes {
        let c = n.client.counters();
        f.requests += c.requests;
        f.corrections += c.steps + c.slews;
        f.roles.push(n.client.role());
        f.synced.push(n.client.synced());
        f.synced_secs.push(n.synced_secs);
        f.synced_while_false.push(n.synced_while_false);
        f.role_changes.push(n.role_changes);
        f.false_marks.push(n.false_marks);
    }
    own_errors.sort_by(f64::total_cmp);
    own_bounds.sort_by(f64::total_cmp);
    if let (Some(&max), k) = (own_errors.last(), own_errors.len()) {
        (f.own_median, f.own_p95, f.own_max) = (own_errors[k / 2], own_errors[k * 95 / 100], max);
        f.own_bound_median = own_bounds[k / 2];
    }
    f.own_over_bound_secs = own_over;
    f.own_holdover_secs = own_holdover;
    f.own_disrupted_secs = own_disrupted;
    (f.max_kernel_freq, f.max_freq_change, f.unsynced_secs) = (max_kernel_freq, max_freq_change, unsynced_secs);
    f.final_offset = offsets.last().copied().unwrap_or(0.0);
    f.own_steps = nodes.iter().map(|n| n.module.steps()).sum();
    estimate_errors.sort_by(|a, b| a.total_cmp(b));
    let n = estimate_errors.len();
    if n > 0 {
        (f.estimate_median, f.estimate_p95) = (estimate_errors[n / 2], estimate_errors[n * 95 / 100]);
        f.estimate_max = estimate_errors[n - 1];
    }
    f
}

/// The one server's clock minus true time (a server step).
fn nodes_offset_single(s: &Scenario, t: f64) -> f64 {
    s.server_step.map_or(0.0, |(at, by)| if t >= at { by } else { 0.0 })
}

/// Carries out node `k`'s outputs at true time `t`; role news goes to every node.
fn drain(s: &Scenario, nodes: &mut [Node], k: usize, t: f64, now: Duration, model: &Arc<Mutex<Model>>, rng: &mut Rng) {
    while let Some(out) = nodes[k].client.poll_output() {
        let n = &mut nodes[k];
        match out {
            Output::Send(request) => {
                n.steps_at_send = n.membership.as_ref().map_or(0, Membership::steps);
                {
                    let m = lock(model);
                    n.client.on_sent(ntp(s.unix_start, m.local()));
                    n.gap_at_send = wall_ns(&m) - raw_ns(&m);
                }
                let srv = &n.server;
                if srv.gone_at.is_some_and(|g| t >= g) || !srv.link_up(t) || rng.uniform() < srv.loss {
                    continue;
                }
                let one_way = |rng: &mut Rng, queued: bool, leaves: f64, up: bool| {
                    srv.delay_base
                        + if queued { rng.exponential(srv.delay_exp_mean) } else { 0.0 }
                        + srv.jitter * rng.uniform()
                        + srv.hard.extra(rng, leaves, up)
                };
                let arrive_server = t + one_way(rng, !srv.queue_on_return, t, true) + srv.asymmetry;
                let req = Packet::parse(&request).unwrap();
                let stamp =
                    ntp(s.unix_start, arrive_server + srv.offset_at(arrive_server) + s.utc_shift(arrive_server));
                let reply = Packet {
                    leap: s.leap_indicator(arrive_server),
                    poll: 6,
                    reference_id: *b"SIM\0",
                    ..Packet::reply(req.transmit_ts, stamp, stamp)
                };
                if rng.uniform() >= srv.loss && srv.link_up(arrive_server) {
                    n.in_flight.push((arrive_server + one_way(rng, true, arrive_server, false), reply.encode(), None));
                }
            }
            Output::Steer(sample) => {
                let outcome = n
                    .membership
                    .as_ref()
                    .map_or(Steered::NotSteering, |m| m.sample_of_request(now, &sample, n.steps_at_send));
                n.client.on_steered(outcome);
                for other in nodes.iter_mut() {
                    other.take_news();
                }
            }
            Output::Unreachable => {
                if let Some(m) = &n.membership {
                    m.unreachable();
                }
                for other in nodes.iter_mut() {
                    other.take_news();
                }
            }
            _ => {}
        }
    }
}

impl Node {
    fn take_news(&mut self) {
        if let Some(v) = self.membership.as_ref().and_then(Membership::news) {
            if v.role != self.role {
                self.role_changes += 1;
                self.false_marks += u64::from(v.role == crate::discipline::Role::Falseticker);
                self.role = v.role;
            }
            self.client.set_role(v.role);
        }
    }
}

/// The RMS, over back-to-back windows of `window` seconds from `from` on,
/// of the mean rate of `phase` (one value a second) in each, ppm.
fn rms_rate(phase: &[f64], from: usize, window: usize) -> f64 {
    let rates: Vec<f64> = (from..phase.len().saturating_sub(window))
        .step_by(window)
        .map(|i| (phase[i + window] - phase[i]) / window as f64)
        .collect();
    (rates.iter().map(|r| r * r).sum::<f64>() / rates.len().max(1) as f64).sqrt() * 1e6
}

fn figures(offsets: &[f64], freqs: &[f64], from: usize) -> Figures {
    let good = |i: usize| offsets[i].abs() <= 1e-3 && freqs[i].abs() <= 500e-6;
    let mut sync_time = None;
    for i in (0..offsets.len()).rev() {
        if !good(i) {
            break;
        }
        sync_time = Some(i as f64);
    }
    let from = from.min(offsets.len());
    let tail = &offsets[from..];
    let n = tail.len().max(1) as f64;
    Figures {
        sync_time,
        rms_offset: (tail.iter().map(|x| x * x).sum::<f64>() / n).sqrt(),
        max_offset: tail.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
        max_offset_at: (from
            + tail
                .iter()
                .enumerate()
                .fold((0, 0.0), |(bi, bm), (i, x)| if x.abs() > bm { (i, x.abs()) } else { (bi, bm) })
                .0) as f64,
        rms_freq: (freqs[from..].iter().map(|f| f * f).sum::<f64>() / n).sqrt() * 1e6,
        mean_offset: tail.iter().sum::<f64>() / n,
        ..Figures::default()
    }
}

/// Median, 90th percentile and worst of a figure over several runs.
pub fn median_p90_worst(values: &mut [f64]) -> (f64, f64, f64) {
    let (median, worst) = median_and_worst(values);
    let n = values.len();
    (median, values[((n * 9).div_ceil(10)).clamp(1, n) - 1], worst)
}

/// Median and worst of a figure over several runs.
pub fn median_and_worst(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (median, values[n - 1])
}
