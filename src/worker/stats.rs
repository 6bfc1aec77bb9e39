//! What a worker publishes for `prossntp_get_stats`: a snapshot it refreshes
//! each time it wakes, read under a short lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::discipline::Role;
use crate::owner::NotSteering;
use crate::proto::client::Counters;
use crate::proto::validate::Sample;

/// Where a client is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// Created, not configured yet.
    #[default]
    Idle,
    /// Configured and querying.
    Running,
    /// Stopped by a DENY or RSTR kiss until configured again.
    Stopped,
    /// The worker has ended.
    Ended,
}

/// The last error a worker met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    /// errno, or 0 when the error had none.
    pub errno: i32,
    pub what: String,
    pub at: Instant,
}

/// Why a client without a steering backend measures only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Measuring {
    /// `PROSSNTP_CLOCK=none` (or a backend that never steers).
    #[default]
    ByChoice,
    /// `auto`, and the process may not set the clock.
    NoPermission,
}

/// How a client stands with the clock.
#[derive(Clone, Debug, PartialEq)]
pub enum ClockRole {
    /// It measures only, never steering.
    Measuring(Measuring),
    /// It feeds the clock's owner, which says whether the process steers.
    Member { not_steering: NotSteering, detail: String, owner_pid: Option<u32>, sources: u32, truechimers: u32 },
}

impl Default for ClockRole {
    fn default() -> Self {
        ClockRole::Measuring(Measuring::ByChoice)
    }
}

/// A worker's statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub state: State,
    pub has_sync: bool,
    pub steering: bool,
    /// The clock backend's name; empty until the worker chose one.
    pub backend: &'static str,
    /// The configured server as text (formatted once, at config).
    pub server: Option<Arc<str>>,
    /// The last valid reply.
    pub last_sample: Option<Sample>,
    /// When it arrived.
    pub last_reply_at: Option<Instant>,
    /// The discipline's offset estimate at the last sample, s.
    pub offset: f64,
    pub jitter: f64,
    /// Frequency error of the local clock, ppm.
    pub frequency_ppm: f64,
    pub poll_interval: Option<Duration>,
    pub counters: Counters,
    pub last_error: Option<LastError>,
    /// What its server is to the clock.
    pub role: Role,
    pub clock: ClockRole,
    /// Corrections of the client's own clock made at once (`prossntp_gettime`).
    pub own_clock_steps: u64,
    /// The symmetric key its server's replies must carry a MAC of, if any.
    pub auth: Option<(u32, crate::proto::auth::KeyType)>,
    /// With NTS: its key exchanges.
    pub nts: Option<NtsStats>,
}

/// Where a client's NTS stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtsState {
    /// A key exchange is due or in flight (nothing goes over NTP yet).
    Exchanging,
    /// Keys held: NTP with them.
    Ready,
    /// The last key exchange failed; another after the backoff.
    Failed,
}

/// A client's NTS key exchanges.
#[derive(Clone, Debug)]
pub struct NtsStats {
    pub state: NtsState,
    pub cookies: usize,
    /// Key exchanges that succeeded.
    pub exchanges: u64,
    /// Why the last one failed (None after a success).
    pub last_error: Option<String>,
}
