//! POSIX clock calls shared by the `ntp_adjtime` and `adjtime` backends:
//! `adjtime(2)` for slews, `clock_settime(2)` for steps, and the harmless
//! permission probe. Behind [`Posix`] so tests and the simulator can fake them.

use super::ClockError;
use crate::proto::timestamp::NtpDuration;

/// The calls, in seconds.
pub trait Posix: Send {
    /// Starts slewing `delta` (replacing any slew in progress; `None` only
    /// reads) and returns what was left of the previous one.
    fn adjtime(&mut self, delta: Option<f64>) -> Result<f64, i32>;
    /// Steps CLOCK_REALTIME by `offset`.
    fn step(&mut self, offset: NtpDuration) -> Result<(), i32>;
    /// CLOCK_MONOTONIC and CLOCK_REALTIME - CLOCK_MONOTONIC, seconds.
    fn clocks(&mut self) -> (f64, f64) {
        crate::sys::time::clock_pair()
    }
}

/// The real calls.
#[derive(Debug, Default)]
pub struct SysPosix;

fn to_timeval(s: f64) -> libc::timeval {
    let us = (s * 1e6).round() as i64;
    libc::timeval {
        tv_sec: us.div_euclid(1_000_000) as libc::time_t,
        tv_usec: us.rem_euclid(1_000_000) as libc::suseconds_t,
    }
}

fn from_timeval(tv: &libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6
}

impl Posix for SysPosix {
    fn adjtime(&mut self, delta: Option<f64>) -> Result<f64, i32> {
        let d = delta.map(to_timeval);
        let mut old = libc::timeval { tv_sec: 0, tv_usec: 0 };
        let dp = d.as_ref().map_or(std::ptr::null(), |d| d as *const libc::timeval);
        // SAFETY: `dp` is NULL or points to a live timeval; `old` is writable for the call.
        #[allow(clippy::unnecessary_cast)]
        let rc = unsafe { libc::adjtime(dp as _, &mut old) };
        if rc < 0 {
            Err(crate::sys::last_errno())
        } else {
            Ok(from_timeval(&old))
        }
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), i32> {
        // clock_settime sets the time read a moment before: a preemption in
        // between is lost from the step. CLOCK_REALTIME - CLOCK_MONOTONIC
        // tells what a step achieved; what it missed is stepped again.
        let mut left = offset.as_nanos() as i128;
        for _ in 0..STEP_TRIES {
            let before = crate::sys::time::real_minus_mono_ns();
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
            if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } < 0 {
                return Err(crate::sys::last_errno());
            }
            let ns = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128 + left;
            let new = libc::timespec {
                tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
                tv_nsec: ns.rem_euclid(1_000_000_000) as _,
            };
            // SAFETY: `new` is a valid timespec for the duration of the call.
            if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &new) } < 0 {
                return Err(crate::sys::last_errno());
            }
            left -= crate::sys::time::real_minus_mono_ns() - before;
            if left.abs() <= STEP_PRECISION_NS {
                break;
            }
        }
        Ok(())
    }
}

/// A step is retried until within this of what was asked, nanoseconds...
const STEP_PRECISION_NS: i128 = 2_000;
/// ...at most this many times.
const STEP_TRIES: usize = 3;

/// Whether this process may set the clock, asked without changing anything.
pub fn may_set_clock() -> Result<(), ClockError> {
    #[cfg(target_os = "linux")]
    {
        // A tick of 0 is rejected with EINVAL when permitted, EPERM when not.
        let mut tx = super::adjtimex::blank_timex();
        tx.modes = libc::ADJ_TICK;
        // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call.
        match unsafe { libc::adjtimex(&mut tx) } {
            rc if rc >= 0 => Ok(()),
            _ => match crate::sys::last_errno() {
                libc::EINVAL => Ok(()),
                e => Err(ClockError::from_errno(e)),
            },
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Elsewhere: only root (or a privileged process) may; try for real when needed.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            Ok(())
        } else {
            Err(ClockError::PermissionDenied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_conversion_normalises_negative_values() {
        let tv = to_timeval(-0.25);
        assert_eq!((tv.tv_sec as i64, tv.tv_usec as i64), (-1, 750_000));
        assert_eq!(from_timeval(&tv), -0.25);
        assert_eq!(from_timeval(&to_timeval(1.5)), 1.5);
    }
}
