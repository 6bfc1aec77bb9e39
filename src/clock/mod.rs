//! Clock backends behind one trait, and their selection from the
//! `PROSSNTP_CLOCK` environment variable (`auto`, `adjtimex`, `ntp_adjtime`,
//! `adjtime`, `none`). Each backend reaches the kernel through a small seam
//! trait, so tests and the simulator can stand in for the syscalls.

pub mod adjtime;
#[cfg(target_os = "linux")]
pub mod adjtimex;
#[cfg(any(all(target_os = "linux", target_env = "gnu"), target_os = "freebsd"))]
pub mod ntp_adjtime;
pub mod posix;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub mod timex;

use std::time::Duration;

use crate::discipline::foreign::KernelState;
use crate::discipline::{ClockAction, SyncReport};
use crate::proto::timestamp::NtpDuration;

/// Name of the environment variable that chooses the backend.
pub const ENV_VAR: &str = "PROSSNTP_CLOCK";
/// The kernel's one-shot slew rate (Linux, BSD `adjtime`), seconds per
/// second: a kernel fact, passed up to the discipline ([`ClockBackend::limits`]).
pub const KERNEL_SLEW_RATE: f64 = 500e-6;

/// The frequency range of a kernel's frequency call (ADJ_FREQUENCY, and
/// FreeBSD's ntp_adjtime), ppm either way: the default backend range.
pub const DEFAULT_MAX_FREQ_PPM: f64 = 500.0;

/// Why a backend could not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// The process may not set the clock (EPERM).
    PermissionDenied,
    /// Any other failure, with its errno.
    Os(i32),
}

impl ClockError {
    pub fn from_errno(e: i32) -> ClockError {
        if e == libc::EPERM {
            ClockError::PermissionDenied
        } else {
            ClockError::Os(e)
        }
    }
}

/// Something that can adjust (or only measure against) the host clock.
pub trait ClockBackend: Send {
    /// The name used in `PROSSNTP_CLOCK` and in traces.
    fn name(&self) -> &'static str;
    /// Whether this backend changes the clock (false: measure only).
    fn steers(&self) -> bool;
    /// The frequency correction already in force, ppm (the discipline's start).
    fn frequency_ppm(&mut self) -> f64 {
        0.0
    }
    /// The largest frequency correction this backend makes either way, ppm
    /// (a kernel fact the discipline must not exceed).
    fn max_frequency_ppm(&self) -> f64 {
        DEFAULT_MAX_FREQ_PPM
    }
    /// What this backend's kernel can do, for the discipline: its frequency
    /// range and the rate it slews at.
    fn limits(&self) -> crate::discipline::KernelLimits {
        crate::discipline::KernelLimits { max_freq_ppm: self.max_frequency_ppm(), slew_rate: KERNEL_SLEW_RATE }
    }
    /// Offset of earlier corrections not slewed yet.
    fn pending_slew(&mut self) -> NtpDuration {
        NtpDuration::ZERO
    }
    /// The kernel's clock discipline as this backend's calls can read it
    /// (nothing, by default), to notice another owner of the clock.
    fn observe(&mut self) -> KernelState {
        KernelState::default()
    }
    /// Applies `action` at monotonic time `now` and publishes `report` as
    /// the kernel's sync status where the platform has one.
    fn apply(&mut self, action: ClockAction, report: &SyncReport, now: Duration) -> Result<(), ClockError>;
    /// When [`ClockBackend::tick`] must run next (backends that pace slews).
    fn next_tick(&self) -> Option<Duration> {
        None
    }
    fn tick(&mut self, _now: Duration) -> Result<(), ClockError> {
        Ok(())
    }
}

/// Measure only: never touches the clock.
#[derive(Debug, Default)]
pub struct MeasureOnly;

impl ClockBackend for MeasureOnly {
    fn name(&self) -> &'static str {
        "none"
    }
    fn steers(&self) -> bool {
        false
    }
    fn apply(&mut self, _: ClockAction, _: &SyncReport, _: Duration) -> Result<(), ClockError> {
        Ok(())
    }
}

/// The user's choice of backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Steer with the platform's native call when permitted, else measure only.
    Auto,
    /// Linux `adjtimex`.
    Adjtimex,
    /// `ntp_adjtime` (FreeBSD; glibc).
    NtpAdjtime,
    /// `adjtime` (Solaris, illumos, macOS; also the BSDs and glibc).
    Adjtime,
    /// Measure only.
    None,
}

impl Choice {
    /// Parses a `PROSSNTP_CLOCK` value; unset or empty means `auto`.
    pub fn parse(value: Option<&str>) -> Result<Choice, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "auto" => Ok(Choice::Auto),
            "adjtimex" => Ok(Choice::Adjtimex),
            "ntp_adjtime" => Ok(Choice::NtpAdjtime),
            "adjtime" => Ok(Choice::Adjtime),
            "none" => Ok(Choice::None),
            other => Err(format!("{ENV_VAR}={other:?} is not one of auto, adjtimex, ntp_adjtime, adjtime, none")),
        }
    }

    pub fn from_env() -> Result<Choice, String> {
        Choice::parse(std::env::var(ENV_VAR).ok().as_deref())
    }

    /// The steering backend `auto` uses on this platform.
    pub fn native() -> Choice {
        if cfg!(target_os = "linux") {
            Choice::Adjtimex
        } else if cfg!(target_os = "freebsd") {
            Choice::NtpAdjtime
        } else {
            Choice::Adjtime
        }
    }
}

/// The backend a choice resolved to, and a note worth tracing.
pub struct Selection {
    pub backend: Box<dyn ClockBackend>,
    pub note: Option<String>,
}

/// Resolves `choice`. An explicitly chosen steering backend that may not set
/// the clock, or does not exist here, is an error; `auto` falls back to
/// measuring only, with a note.
pub fn select(choice: Choice) -> Result<Selection, String> {
    match choice {
        Choice::None => Ok(Selection { backend: Box::new(MeasureOnly), note: None }),
        Choice::Auto => match open(Choice::native()) {
            Ok(backend) => Ok(Selection { backend, note: None }),
            Err(why) => Ok(Selection {
                backend: Box::new(MeasureOnly),
                note: Some(format!("clock backend auto: {why}; measuring only, the clock is not adjusted")),
            }),
        },
        explicit => open(explicit).map(|backend| Selection { backend, note: None }),
    }
}

fn refused(name: &str, e: ClockError) -> String {
    match e {
        ClockError::PermissionDenied => {
            format!("{name}: no permission to set the clock (EPERM; CAP_SYS_TIME is needed)")
        }
        ClockError::Os(e) => format!("{name}: probe failed with errno {e}"),
    }
}

/// Opens a steering backend after checking, harmlessly, that it may act.
fn open(choice: Choice) -> Result<Box<dyn ClockBackend>, String> {
    let probe = posix::may_set_clock();
    match choice {
        #[cfg(target_os = "linux")]
        Choice::Adjtimex => {
            let b = adjtimex::Adjtimex::new(adjtimex::SysAdjtimex).map_err(|e| refused("adjtimex", e))?;
            probe.map_err(|e| refused("adjtimex", e))?;
            Ok(Box::new(b))
        }
        #[cfg(any(all(target_os = "linux", target_env = "gnu"), target_os = "freebsd"))]
        Choice::NtpAdjtime => {
            probe.map_err(|e| refused("ntp_adjtime", e))?;
            Ok(Box::new(ntp_adjtime::NtpAdjtime::new(ntp_adjtime::SysNtpAdjtime, posix::SysPosix)))
        }
        Choice::Adjtime => {
            probe.map_err(|e| refused("adjtime", e))?;
            Ok(Box::new(adjtime::Adjtime::new(posix::SysPosix)))
        }
        other => Err(format!("clock backend {other:?} does not exist on this platform")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_choices() {
        assert_eq!(Choice::parse(None), Ok(Choice::Auto));
        assert_eq!(Choice::parse(Some("")), Ok(Choice::Auto));
        assert_eq!(Choice::parse(Some("adjtimex")), Ok(Choice::Adjtimex));
        assert_eq!(Choice::parse(Some("ntp_adjtime")), Ok(Choice::NtpAdjtime));
        assert_eq!(Choice::parse(Some("adjtime")), Ok(Choice::Adjtime));
        assert_eq!(Choice::parse(Some(" none ")), Ok(Choice::None));
        assert!(Choice::parse(Some("ntpd")).is_err());
    }

    #[test]
    fn measure_only_never_steers() {
        let s = select(Choice::None).unwrap();
        assert!(!s.backend.steers());
        assert_eq!(s.backend.name(), "none");
    }
}
