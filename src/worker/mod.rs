//! The per-client worker: here the handle callers hold (configuration,
//! authentication, status, statistics, the own clock, shutdown) and what it
//! shares with the worker thread; the thread's event loop is in
//! `event_loop.rs`: it owns the UDP socket, drives the sans-IO client from
//! `poll()` on the socket and a wake descriptor with deadlines on the
//! monotonic clock, hands a steering client's samples to the clock's owner
//! ([`crate::owner`]) and posts status messages.

pub mod clock_board;
mod event_loop;
#[cfg(feature = "nts")]
pub mod nts_ke;
pub mod stats;
pub mod status;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::clock;
use crate::discipline::module_clock::{Status, Time, DEFAULT_DRIFT_FLOOR, MAX_DRIFT_FLOOR};
use crate::discipline::past::{Line, Look, Looks, Refused};
use crate::owner::Owner;
use crate::proto::client::Auth;
use crate::sys::lock::lock;
use crate::sys::notify::Notifier;
use crate::sys::time::{mono_real_pair, raw_ns, slept_ns, slept_upper_ns};
use clock_board::ClockBoard;
use stats::Stats;
use status::{Report, StatusBoard};

/// Worker threads need little stack; keep 1,000 clients cheap.
pub(crate) const STACK_SIZE: usize = 256 * 1024;

/// Where and how often to query, as the user configured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub server: SocketAddr,
    /// IPv4 type of service, or IPv6 traffic class.
    pub traffic_class: u8,
    pub no_reply: Duration,
    pub had_reply: Duration,
}

pub use crate::owner::TraceFn;

/// What a successful NTS key exchange gives.
pub struct KeOutcome {
    pub session: crate::proto::nts::NtsSession,
    /// Where NTP goes: the server the exchange named, else the configured one.
    pub ntp: SocketAddr,
}

/// Runs one NTS key exchange, blocking (on a thread of its own): with the
/// server at the first address, for NTP to the second unless the server
/// names another. `nts_ke::exchanger` makes the real one.
pub type KeyExchange = Arc<dyn Fn(SocketAddr, SocketAddr) -> Result<KeOutcome, String> + Send + Sync>;

/// How to run a client's NTS key exchanges (`prossntp_config_nts`).
#[derive(Clone)]
pub struct NtsConfig {
    pub exchange: KeyExchange,
    /// NTS-KE port at the configured server's address.
    pub port: u16,
}

/// A change of authentication.
enum AuthChange {
    /// Plain SNTP, or a symmetric key.
    Plain(Auth),
    Nts(NtsConfig),
}

/// The kind of authentication a client was last given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthKind {
    #[default]
    None,
    Key,
    Nts,
}

#[derive(Default)]
struct Commands {
    config: Option<(ServerConfig, u64)>,
    /// A change of authentication, to take effect at once.
    auth: Option<AuthChange>,
    /// What the last change asked for (kept).
    auth_kind: AuthKind,
    shutdown: bool,
}

struct Shared {
    status: StatusBoard,
    stats: Mutex<Stats>,
    commands: Mutex<Commands>,
    wake: Arc<Notifier>,
    /// The client's own clock, read by callers without a lock.
    clock: ClockBoard,
    /// Counts the own clock's new readings (and the worker's end), for
    /// callers waiting for good time.
    readings: Mutex<u64>,
    new_reading: Condvar,
    /// The own clock's drift floor the caller set (f64 bits; 0: the default).
    drift_floor: AtomicU64,
    /// Looks at the host's clocks and the estimate's line, for past times.
    past: Mutex<Past>,
}

/// What `prossntp_past` maps with.
#[derive(Default)]
struct Past {
    looks: Looks,
    line: Option<Line>,
}

impl Shared {
    /// A new reading is on the board (or the worker has ended): wakes waiters.
    fn clock_changed(&self) {
        *lock(&self.readings) += 1;
        self.new_reading.notify_all();
    }

    /// The drift floor the caller set, s/s, if any.
    fn drift_floor(&self) -> Option<f64> {
        let bits = self.drift_floor.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }
}

/// A look at the host's clocks now.
fn look_now() -> Look {
    let raw = raw_ns();
    let (mono, real_minus_mono, error) = mono_real_pair();
    let upper = slept_upper_ns();
    Look { raw, mono, real_minus_mono, error, slept: upper.zip(slept_ns()) }
}

/// How a wait for good time ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitOutcome {
    /// Synchronised with the bound at most as asked.
    Reached(Time),
    /// The timeout passed first: the own clock as it was then, if synced.
    TimedOut(Option<Time>),
    /// The worker ended (the client was destroyed, or failed).
    Ended,
}

/// A running client: its worker thread and what it shares with callers.
pub struct Worker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

pub use crate::sys::udp::open_socket;

#[derive(Debug)]
pub enum ConfigureError {
    /// The worker has ended; the client can only be destroyed.
    Ended,
}

impl Worker {
    /// Starts the worker for `socket`; on its thread, `select` picks the clock
    /// backend (an error ends the worker, traced). A steering backend goes to
    /// `owner`, which steers the clock for all its clients.
    pub fn spawn(socket: Socket, select: BackendSelect, owner: Arc<Owner>, trace: TraceFn) -> io::Result<Worker> {
        let shared = Arc::new(Shared {
            status: StatusBoard::new()?,
            stats: Mutex::new(Stats::default()),
            commands: Mutex::new(Commands::default()),
            wake: Arc::new(Notifier::new()?),
            clock: ClockBoard::new(),
            readings: Mutex::new(0),
            new_reading: Condvar::new(),
            drift_floor: AtomicU64::new(0),
            past: Mutex::new(Past::default()),
        });
        let sh = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("prossntp".into())
            .stack_size(STACK_SIZE)
            .spawn(move || event_loop::run(sh, socket.into(), select, owner, trace))?;
        Ok(Worker { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Hands a new configuration to the worker; it takes effect at once.
    pub fn configure(&self, config: ServerConfig) -> Result<(), ConfigureError> {
        let mut cmds = lock(&self.shared.commands);
        let generation = self.shared.status.configure().ok_or(ConfigureError::Ended)?;
        cmds.config = Some((config, generation));
        self.shared.wake.raise();
        Ok(())
    }

    /// Authenticates the server with `auth` from now on ([`Auth::None`]:
    /// no more); it takes effect at once, configured or not.
    pub fn set_auth(&self, auth: Auth) -> Result<(), ConfigureError> {
        let kind = match auth {
            Auth::None => AuthKind::None,
            Auth::Key(_) => AuthKind::Key,
            Auth::Nts(_) => AuthKind::Nts,
        };
        self.change_auth(AuthChange::Plain(auth), kind)
    }

    /// Authenticates the server with NTS from now on: key exchanges as
    /// `config` says, NTP only with their keys and cookies.
    pub fn set_nts(&self, config: NtsConfig) -> Result<(), ConfigureError> {
        self.change_auth(AuthChange::Nts(config), AuthKind::Nts)
    }

    fn change_auth(&self, change: AuthChange, kind: AuthKind) -> Result<(), ConfigureError> {
        let mut cmds = lock(&self.shared.commands);
        if self.shared.status.is_dead() {
            return Err(ConfigureError::Ended);
        }
        cmds.auth = Some(change);
        cmds.auth_kind = kind;
        self.shared.wake.raise();
        Ok(())
    }

    /// The kind of authentication the client was last given.
    pub fn auth_kind(&self) -> AuthKind {
        lock(&self.shared.commands).auth_kind
    }

    pub fn status(&self) -> Report {
        self.shared.status.take()
    }

    /// The client's own clock now: its server's time and error bound
    /// (None before the first valid sample). Lock-free; any thread.
    pub fn own_time(&self) -> Option<Time> {
        let t = self.shared.clock.read(raw_ns, slept_ns);
        // The host was suspended and the worker, asleep, has not seen it:
        // wake it, to sample at once.
        if t.is_some_and(|t| t.suspended) {
            self.shared.wake.raise();
        }
        t
    }

    /// Host time `t` (CLOCK_REALTIME, Unix ns) from the recent past as the
    /// server's time (Unix ns) and its bound (s), by the looks at the clocks
    /// the worker keeps and the estimate's line; and how far back the looks
    /// reach (ns).
    pub fn past(&self, t: i64) -> (Result<(i64, f64), Refused>, i64) {
        let now = look_now();
        let past = lock(&self.shared.past);
        (past.looks.map(t, &now, past.line), past.looks.reach(&now))
    }

    /// Sets the own clock's drift floor, s/s (clamped to
    /// [`DEFAULT_DRIFT_FLOOR`, `MAX_DRIFT_FLOOR`]), from the next sample on.
    pub fn set_drift_floor(&self, floor: f64) {
        let floor = floor.clamp(DEFAULT_DRIFT_FLOOR, MAX_DRIFT_FLOOR);
        self.shared.drift_floor.store(floor.to_bits(), Ordering::Relaxed);
    }

    /// Waits until the own clock is synchronised (not in holdover) with an
    /// error bound at most `max_bound` seconds, for `timeout` at most. It
    /// looks again at each new reading: between two the bound only grows.
    pub fn wait_for_bound(&self, max_bound: f64, timeout: Duration) -> WaitOutcome {
        let deadline = Instant::now().checked_add(timeout);
        let mut seen = lock(&self.shared.readings);
        loop {
            let now = self.own_time();
            if let Some(t) = now.filter(|t| t.status == Status::Synchronised && t.error_bound <= max_bound) {
                return WaitOutcome::Reached(t);
            }
            if self.shared.status.is_dead() {
                return WaitOutcome::Ended;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return WaitOutcome::TimedOut(now);
            }
            let before = *seen;
            while *seen == before {
                let (guard, waited) =
                    self.shared.new_reading.wait_timeout(seen, left).unwrap_or_else(|e| e.into_inner());
                seen = guard;
                if waited.timed_out() {
                    break;
                }
            }
        }
    }

    pub fn event_fd(&self) -> i32 {
        self.shared.status.event_fd()
    }

    /// The worker's latest statistics, in the state the status board holds.
    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.shared.stats).clone();
        stats.state = self.shared.status.state();
        stats
    }

    /// Stops the worker and waits for it (idempotent).
    pub fn shutdown(&self) {
        lock(&self.shared.commands).shutdown = true;
        self.shared.wake.raise();
        self.shared.clock_changed();
        if let Some(t) = lock(&self.thread).take() {
            // A trace sink that destroys its own client runs on the worker: do not join itself.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Chooses the clock backend, on the worker's thread.
pub type BackendSelect = Box<dyn FnOnce() -> Result<clock::Selection, String> + Send>;

/// The backend `PROSSNTP_CLOCK` asks for.
pub fn backend_from_env() -> BackendSelect {
    let choice = clock::Choice::from_env();
    Box::new(move || choice.and_then(clock::select))
}

