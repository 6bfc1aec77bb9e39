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
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::Socket;

use crate::clock;
use crate::discipline::module_clock::Time;
use crate::owner::Owner;
use crate::proto::client::Auth;
use crate::sys::lock::lock;
use crate::sys::notify::Notifier;
use crate::sys::time::raw_ns;
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
        self.shared.clock.read(raw_ns)
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

