//! `ntp_adjtime(3)` backend (FreeBSD's interface; glibc has it on Linux too):
//! frequency and kernel sync status through MOD_FREQUENCY, MOD_STATUS,
//! MOD_MAXERROR and MOD_ESTERROR; slews through `adjtime(2)` (the MOD_* set has
//! no one-shot offset without the kernel PLL); steps through `clock_settime`.

use std::time::Duration;

use super::posix::Posix;
use super::timex::{self, Timex};
use super::{ClockBackend, ClockError};
use crate::discipline::foreign::KernelState;
use crate::discipline::{ClockAction, Correction, SyncReport};
use crate::proto::timestamp::NtpDuration;

/// Largest offset handed to one `adjtime` slew, seconds.
pub const MAX_SLEW_SECS: f64 = 0.5;

/// The real call.
#[derive(Debug, Default)]
pub struct SysNtpAdjtime;

impl Timex for SysNtpAdjtime {
    fn call(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
        // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call.
        timex::syscall_result(unsafe { libc::ntp_adjtime(tx) })
    }
}

pub struct NtpAdjtime<T: Timex, P: Posix> {
    pub(crate) timex: T,
    pub(crate) posix: P,
}

impl<T: Timex, P: Posix> NtpAdjtime<T, P> {
    pub fn new(timex: T, posix: P) -> Self {
        NtpAdjtime { timex, posix }
    }
}

impl<T: Timex, P: Posix> ClockBackend for NtpAdjtime<T, P> {
    fn name(&self) -> &'static str {
        "ntp_adjtime"
    }
    fn steers(&self) -> bool {
        true
    }
    fn frequency_ppm(&mut self) -> f64 {
        timex::read(&mut self.timex).map_or(0.0, |tx| timex::freq_to_ppm(tx.freq))
    }
    fn pending_slew(&mut self) -> NtpDuration {
        self.posix.adjtime(None).map_or(NtpDuration::ZERO, NtpDuration::from_seconds)
    }
    fn observe(&mut self) -> KernelState {
        KernelState { slew_left: self.posix.adjtime(None).ok(), ..timex::observe(&mut self.timex).0 }
    }
    fn apply(&mut self, action: ClockAction, report: &SyncReport, _now: Duration) -> Result<(), ClockError> {
        match action.correction {
            Correction::Step => self.posix.step(action.offset),
            Correction::Slew => {
                self.posix.adjtime(Some(action.offset.as_seconds().clamp(-MAX_SLEW_SECS, MAX_SLEW_SECS))).map(|_| ())
            }
        }
        .map_err(ClockError::from_errno)?;
        let mut tx = timex::blank();
        tx.modes = libc::MOD_FREQUENCY;
        tx.freq = timex::ppm_to_freq(action.freq_ppm);
        timex::call(&mut self.timex, &mut tx)?;
        timex::publish(&mut self.timex, report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::adjtime::tests::FakePosix;
    use super::super::timex::fake::FakeTimex;
    use super::*;

    #[test]
    fn slews_with_adjtime_sets_frequency_and_status_with_mod_names() {
        let mut b = NtpAdjtime::new(FakeTimex { status: libc::STA_UNSYNC, ..Default::default() }, FakePosix::default());
        let a = ClockAction { correction: Correction::Slew, offset: NtpDuration::from_seconds(0.02), freq_ppm: -100.0 };
        b.apply(a, &SyncReport { max_error_us: 900, est_error_us: 30, leap: 1 }, Duration::ZERO).unwrap();
        assert!(b.posix.slews.len() == 1 && (b.posix.slews[0] - 0.02).abs() < 1e-9);
        assert_eq!(b.timex.freq, -100 * 65536);
        assert_eq!(b.timex.status & (libc::STA_UNSYNC | libc::STA_INS), libc::STA_INS);
        let last = b.timex.calls.last().unwrap();
        assert_eq!((last.maxerror, last.esterror), (900, 30));
    }

    #[test]
    fn steps_with_clock_settime_and_clamps_frequency() {
        let mut b = NtpAdjtime::new(FakeTimex::default(), FakePosix::default());
        let a = ClockAction { correction: Correction::Step, offset: NtpDuration::from_seconds(-0.5), freq_ppm: 900.0 };
        b.apply(a, &SyncReport { max_error_us: 1, est_error_us: 1, leap: 0 }, Duration::ZERO).unwrap();
        assert_eq!(b.posix.steps, vec![-0.5]);
        assert_eq!(b.timex.freq, 500 * 65536);
    }
}
