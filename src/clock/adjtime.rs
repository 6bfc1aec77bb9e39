//! `adjtime(2)` backend (Solaris, illumos, macOS; the BSDs and glibc have it
//! too): the call only slews an offset, at the kernel's rate, so a frequency
//! correction is applied as a slew of `freq x TICK` every [`TICK`], and phase
//! corrections ride along within the remaining slew rate. Steps use
//! `clock_settime`. There is no kernel sync status to publish.

use std::time::Duration;

use super::posix::Posix;
use super::{ClockBackend, ClockError, KERNEL_SLEW_RATE};
use crate::discipline::foreign::KernelState;
use crate::discipline::{ClockAction, Correction, SyncReport};
use crate::proto::timestamp::NtpDuration;

/// How often the frequency slew is renewed.
pub const TICK: Duration = Duration::from_secs(1);
/// Share of the kernel's slew rate the frequency may use; the rest is for phase.
const FREQ_SHARE: f64 = 0.9;

pub struct Adjtime<P: Posix> {
    pub(crate) posix: P,
    /// Frequency correction, s/s.
    freq: f64,
    /// Phase still to slew beyond the current tick, seconds.
    phase_left: f64,
    /// Phase included in the slew handed to the kernel at the last tick.
    phase_in_kernel: f64,
    /// Total slew handed to the kernel at the last tick.
    last_delta: f64,
    next: Option<Duration>,
}

impl<P: Posix> Adjtime<P> {
    pub fn new(posix: P) -> Self {
        Adjtime { posix, freq: 0.0, phase_left: 0.0, phase_in_kernel: 0.0, last_delta: 0.0, next: None }
    }
}

impl<P: Posix> ClockBackend for Adjtime<P> {
    fn name(&self) -> &'static str {
        "adjtime"
    }
    fn steers(&self) -> bool {
        true
    }
    fn max_frequency_ppm(&self) -> f64 {
        KERNEL_SLEW_RATE * FREQ_SHARE * 1e6
    }
    fn pending_slew(&mut self) -> NtpDuration {
        // The kernel's remainder holds frequency and phase in proportion.
        let left = self.posix.adjtime(None).unwrap_or(0.0);
        let phase_share = if self.last_delta != 0.0 { self.phase_in_kernel / self.last_delta } else { 0.0 };
        NtpDuration::from_seconds(self.phase_left + left * phase_share)
    }
    fn observe(&mut self) -> KernelState {
        let (at, real_minus_mono) = self.posix.clocks();
        let slew_left = self.posix.adjtime(None).ok();
        KernelState { at, real_minus_mono: Some(real_minus_mono), slew_left, ..KernelState::default() }
    }
    fn apply(&mut self, action: ClockAction, _report: &SyncReport, now: Duration) -> Result<(), ClockError> {
        let limit = KERNEL_SLEW_RATE * FREQ_SHARE;
        self.freq = (action.freq_ppm * 1e-6).clamp(-limit, limit);
        match action.correction {
            Correction::Step => {
                self.posix.step(action.offset).map_err(ClockError::from_errno)?;
                self.phase_left = 0.0;
            }
            Correction::Slew => self.phase_left = action.offset.as_seconds(),
        }
        // A new slew replaces the kernel's: nothing of the old one is kept.
        self.phase_in_kernel = 0.0;
        self.tick(now)
    }
    fn next_tick(&self) -> Option<Duration> {
        self.next
    }
    fn tick(&mut self, now: Duration) -> Result<(), ClockError> {
        let secs = TICK.as_secs_f64();
        let room = (KERNEL_SLEW_RATE - self.freq.abs()) * secs;
        let phase = self.phase_left.clamp(-room, room);
        let delta = self.freq * secs + phase;
        let unfinished = self.posix.adjtime(Some(delta)).map_err(ClockError::from_errno)?;
        // What the kernel did not finish of the last tick's phase is not lost.
        let share = if self.last_delta != 0.0 { self.phase_in_kernel / self.last_delta } else { 0.0 };
        self.phase_left += unfinished * share - phase;
        self.phase_in_kernel = phase;
        self.last_delta = delta;
        self.next = Some(now + TICK);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records slews and steps; reports nothing left of earlier slews.
    #[derive(Default)]
    pub struct FakePosix {
        pub slews: Vec<f64>,
        pub steps: Vec<f64>,
        pub deny: bool,
    }

    impl Posix for FakePosix {
        fn adjtime(&mut self, delta: Option<f64>) -> Result<f64, i32> {
            if self.deny && delta.is_some() {
                return Err(libc::EPERM);
            }
            self.slews.extend(delta);
            Ok(0.0)
        }
        fn step(&mut self, offset: NtpDuration) -> Result<(), i32> {
            if self.deny {
                return Err(libc::EPERM);
            }
            self.steps.push(offset.as_seconds());
            Ok(())
        }
    }

    fn report() -> SyncReport {
        SyncReport { max_error_us: 1, est_error_us: 1, leap: 0 }
    }

    #[test]
    fn frequency_becomes_a_slew_every_tick_and_phase_rides_along() {
        let mut b = Adjtime::new(FakePosix::default());
        let a = ClockAction { correction: Correction::Slew, offset: NtpDuration::from_seconds(0.001), freq_ppm: 100.0 };
        b.apply(a, &report(), Duration::ZERO).unwrap();
        assert_eq!(b.next_tick(), Some(TICK));
        for i in 1..6 {
            b.tick(TICK * i).unwrap();
        }
        // 100 ppm of frequency plus 400 ppm of phase per second until 1 ms is done.
        let expect = [500e-6, 500e-6, 100e-6 + 200e-6, 100e-6, 100e-6, 100e-6];
        for (got, want) in b.posix.slews.iter().zip(expect) {
            assert!((got - want).abs() < 1e-9, "{:?}", b.posix.slews);
        }
        assert!(b.pending_slew().as_seconds().abs() < 1e-9);
    }

    #[test]
    fn steps_use_clock_settime() {
        let mut b = Adjtime::new(FakePosix::default());
        let a = ClockAction { correction: Correction::Step, offset: NtpDuration::from_seconds(0.5), freq_ppm: 0.0 };
        b.apply(a, &report(), Duration::ZERO).unwrap();
        assert_eq!(b.posix.steps, vec![0.5]);
    }

    #[test]
    fn refusal_is_permission_denied() {
        let mut b = Adjtime::new(FakePosix { deny: true, ..Default::default() });
        let a = ClockAction { correction: Correction::Slew, offset: NtpDuration::ZERO, freq_ppm: 0.0 };
        assert_eq!(b.apply(a, &report(), Duration::ZERO), Err(ClockError::PermissionDenied));
    }
}
