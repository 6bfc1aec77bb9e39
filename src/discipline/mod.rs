//! Clock-discipline decisions, free of I/O: from validated samples, estimate
//! the local clock's phase and frequency error and decide how to correct them.
//!
//! - [`steer`]: the one clock steered from several sources (each steering
//!   client is one): a register per source, selection and combining
//!   ([`select`]), then one correction: a step or a slew, and a frequency.
//! - [`tracker`]: measuring only, each client's own estimate of its server.
//! - [`leap_list`]: TAI - UTC from the system's leap-second list.
//! - [`past`]: past host timestamps mapped to the server's time.
//! - [`module_clock`]: each client's own clock of its server (`prossntp_gettime`).
//! - [`foreign`]: noticing another discipline in the kernel's clock state.
//!
//! A source's samples go into a register (newest [`MAX_POINTS`]). A weighted
//! linear fit of offset against monotonic time gives the offset now and the
//! frequency error; samples whose round-trip delay exceeds the register's
//! minimum get less weight, since their offset can be off by half the
//! excess. The frequency error is corrected at once; the offset is slewed.
//! Every register is re-based after each correction, so its fit always
//! describes the clock as it is now corrected.
#![forbid(unsafe_code)]

mod fit;
pub mod foreign;
pub mod leap_list;
pub mod module_clock;
pub mod past;
mod register;
pub mod select;
pub mod steer;
pub mod tracker;

pub use steer::{SourceId, Steering, Why};
pub use tracker::Tracker;

pub use crate::proto::client::{Correction, Role};
use crate::proto::timestamp::NtpDuration;

/// Offsets larger than this are stepped; smaller ones are slewed.
pub const STEP_THRESHOLD_SECS: f64 = 0.128;
/// Before the first sync, offsets that would take longer than a minute to
/// slew at the kernel's 500 ppm are stepped: above 30 ms.
pub const FIRST_SYNC_STEP_THRESHOLD_SECS: f64 = 0.030;
/// Consecutive agreeing samples a step needs.
pub const STEP_AGREEMENT: usize = 3;
/// After the first sync, steps larger than this are refused and reported.
pub const PANIC_BOUND_SECS: f64 = 1000.0;
/// The first sync may step forward any distance, backward at most this far.
pub const FIRST_BACKWARD_LIMIT_SECS: f64 = 3600.0;
/// Samples kept for the fit when steering.
pub const MAX_POINTS: usize = 32;
/// Samples kept when measuring only; the fit uses the longest recent span
/// whose residuals look random (a runs test), so a clock that someone else
/// steers is still followed.
pub const MEASURE_POINTS: usize = 64;
/// The rate at which a discipline made without a backend's limits
/// ([`Steering::new`]: tests, fuzzing, benches) takes the kernel to slew,
/// s/s. A steering owner takes it from its backend ([`KernelLimits`]).
pub const DEFAULT_SLEW_RATE: f64 = 500e-6;

/// What the backend's kernel can do, passed up from the backend (kernel
/// facts belong to the platform): the discipline keeps within them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelLimits {
    /// The largest frequency correction either way, ppm.
    pub max_freq_ppm: f64,
    /// The rate at which the kernel works off a one-shot slew, s/s.
    pub slew_rate: f64,
}

/// The largest frequency correction of a discipline made without a backend's
/// range ([`Steering::new`]: tests, fuzzing, benches), ppm. A steering owner
/// takes the range from its backend ([`Steering::with_limits`]); no backend
/// exceeds this.
pub const MAX_FREQ_PPM: f64 = 5000.0;

/// What to do to the local clock: correct `offset` (server minus local) and
/// run the oscillator `freq_ppm` faster than nominal from now on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockAction {
    pub correction: Correction,
    pub offset: NtpDuration,
    pub freq_ppm: f64,
}

/// The sync status to publish to the kernel along with an adjustment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncReport {
    /// Upper bound on the clock error, microseconds.
    pub max_error_us: i64,
    /// Estimated clock error, microseconds.
    pub est_error_us: i64,
    /// Leap indicator from the server (0 none, 1 insert, 2 delete).
    pub leap: u8,
}

/// The discipline's answer to a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Apply(ClockAction, SyncReport),
    /// Nothing to correct now: the offset calls for a step and agreeing
    /// samples are awaited, other sources are awaited, or the sample's
    /// source is not followed.
    Hold,
    /// A step beyond the bounds: refused, the clock is left alone.
    Refuse(NtpDuration),
}

#[cfg(test)]
mod tests;
