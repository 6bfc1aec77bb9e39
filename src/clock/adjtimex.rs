//! Linux `adjtimex(2)` backend: frequency through ADJ_FREQUENCY (and ADJ_TICK
//! beyond its ±500 ppm), slews through ADJ_OFFSET_SINGLESHOT (the kernel slews
//! at 500 ppm), steps through ADJ_SETOFFSET with ADJ_NANO.

use std::time::Duration;

use super::timex::{self, Timex};
use super::{ClockBackend, ClockError};
use crate::discipline::foreign::KernelState;
use crate::discipline::{ClockAction, Correction, SyncReport};
use crate::proto::timestamp::NtpDuration;

pub use super::timex::blank as blank_timex;

/// Largest offset handed to the one-shot slew, microseconds.
pub const MAX_SLEW_US: i64 = 500_000;

/// The real syscall.
#[derive(Debug, Default)]
pub struct SysAdjtimex;

impl Timex for SysAdjtimex {
    fn call(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
        // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call.
        timex::syscall_result(unsafe { libc::adjtimex(tx) })
    }
}

/// The nominal tick, microseconds: Linux counts it in USER_HZ ticks, and
/// USER_HZ is 100 on every architecture (the kernel accepts 9000 to 11000).
pub const NOMINAL_TICK: libc::c_long = 10_000;
/// How far the kernel lets the tick move from nominal, microseconds (it
/// accepts 900000 / USER_HZ to 1100000 / USER_HZ).
pub const MAX_TICK_DELTA: libc::c_long = 1_000;
/// Our range: ADJ_FREQUENCY's ±500 ppm plus the tick moved as far as the
/// kernel lets it (±10 %), ±100,500 ppm in all, as chronyd's: any tick a
/// kernel accepts is a frequency we can read and own, an oscillator 0.5 %
/// slow (it needs +5025 ppm: the corrections multiply) is well within it,
/// and so is one 5 % off (chrony's `003-largefreqoffset`).
pub const MAX_FREQ_PPM: f64 = timex::MAX_KERNEL_FREQ_PPM + MAX_TICK_DELTA as f64 * 100.0;

pub struct Adjtimex<T: Timex> {
    pub(crate) sys: T,
    /// The nominal tick; we move the tick from it only beyond ±500 ppm.
    base_tick: libc::c_long,
    /// How far the tick is from `base_tick`.
    tick_delta: libc::c_long,
}

impl<T: Timex> Adjtimex<T> {
    /// Reads the kernel state (tick, frequency); fails only if adjtimex does.
    /// A tick somebody left off nominal is part of the frequency in force.
    pub fn new(mut sys: T) -> Result<Self, ClockError> {
        let tx = timex::read(&mut sys)?;
        Ok(Adjtimex { sys, base_tick: NOMINAL_TICK, tick_delta: tx.tick - NOMINAL_TICK })
    }

    /// ppm that one microsecond of tick is worth.
    fn ppm_per_tick(&self) -> f64 {
        1e6 / self.base_tick.max(1) as f64
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        let ppm = ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        let tick_delta = if ppm.abs() > timex::MAX_KERNEL_FREQ_PPM {
            ((ppm / self.ppm_per_tick()).round() as libc::c_long).clamp(-MAX_TICK_DELTA, MAX_TICK_DELTA)
        } else {
            0
        };
        let mut tx = timex::blank();
        tx.modes = libc::ADJ_FREQUENCY;
        tx.freq = timex::ppm_to_freq(ppm - tick_delta as f64 * self.ppm_per_tick());
        if tick_delta != self.tick_delta {
            tx.modes |= libc::ADJ_TICK;
            tx.tick = self.base_tick + tick_delta;
        }
        timex::call(&mut self.sys, &mut tx)?;
        self.tick_delta = tick_delta;
        Ok(())
    }
}

impl<T: Timex> ClockBackend for Adjtimex<T> {
    fn name(&self) -> &'static str {
        "adjtimex"
    }
    fn steers(&self) -> bool {
        true
    }
    /// ADJ_FREQUENCY's part and the tick's (whoever set them).
    fn frequency_ppm(&mut self) -> f64 {
        timex::read(&mut self.sys).map_or(0.0, |tx| {
            self.tick_delta = tx.tick - self.base_tick;
            timex::freq_to_ppm(tx.freq) + self.tick_delta as f64 * self.ppm_per_tick()
        })
    }
    fn max_frequency_ppm(&self) -> f64 {
        MAX_FREQ_PPM
    }
    fn pending_slew(&mut self) -> NtpDuration {
        let mut tx = timex::blank();
        tx.modes = libc::ADJ_OFFSET_SS_READ;
        match self.sys.call(&mut tx) {
            Ok(_) => NtpDuration::from_nanos(tx.offset as i64 * 1000),
            Err(_) => NtpDuration::ZERO,
        }
    }
    fn observe(&mut self) -> KernelState {
        let (mut state, tx) = timex::observe(&mut self.sys);
        if let Some(tx) = tx {
            state.tick = Some(tx.tick as i64);
            state.tai = Some(tx.tai as i32);
        }
        state.slew_left = Some(self.pending_slew().as_seconds());
        state
    }
    fn apply(&mut self, action: ClockAction, report: &SyncReport, _now: Duration) -> Result<(), ClockError> {
        let mut tx = timex::blank();
        match action.correction {
            Correction::Step => {
                let ns = action.offset.as_nanos();
                tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
                tx.time.tv_sec = ns.div_euclid(1_000_000_000) as libc::time_t;
                // With ADJ_NANO the tv_usec field carries nanoseconds, in [0, 1e9).
                tx.time.tv_usec = ns.rem_euclid(1_000_000_000) as libc::suseconds_t;
            }
            Correction::Slew => {
                tx.modes = libc::ADJ_OFFSET_SINGLESHOT;
                tx.offset = (action.offset.as_nanos() / 1000).clamp(-MAX_SLEW_US, MAX_SLEW_US) as libc::c_long;
            }
        }
        timex::call(&mut self.sys, &mut tx)?;
        self.set_frequency(action.freq_ppm)?;
        timex::publish(&mut self.sys, report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::timex::fake::FakeTimex;
    use super::*;

    fn report() -> SyncReport {
        SyncReport { max_error_us: 1500, est_error_us: 40, leap: 0 }
    }

    fn action(correction: Correction, offset: f64, freq_ppm: f64) -> ClockAction {
        ClockAction { correction, offset: NtpDuration::from_seconds(offset), freq_ppm }
    }

    fn backend(fake: FakeTimex) -> Adjtimex<FakeTimex> {
        let mut b = Adjtimex::new(fake).unwrap();
        b.sys.calls.clear();
        b
    }

    #[test]
    fn step_uses_setoffset_with_nanoseconds_normalised() {
        let mut b = backend(FakeTimex { status: libc::STA_UNSYNC | libc::STA_PLL, ..Default::default() });
        let a =
            ClockAction { correction: Correction::Step, offset: NtpDuration::from_nanos(-500_000_001), freq_ppm: 0.0 };
        b.apply(a, &report(), Duration::ZERO).unwrap();
        let tx = b.sys.calls[0];
        assert_eq!(tx.modes, libc::ADJ_SETOFFSET | libc::ADJ_NANO);
        assert_eq!((tx.time.tv_sec, tx.time.tv_usec), (-1, 499_999_999), "-0.500000001 s = -1 s + 0.499999999 s");
        let last = *b.sys.calls.last().unwrap();
        assert_eq!(last.modes, libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR);
        assert_eq!(last.status & (libc::STA_UNSYNC | libc::STA_PLL), 0, "in sync, kernel PLL off");
        assert_eq!((last.maxerror, last.esterror), (1500, 40));
    }

    #[test]
    fn slew_uses_the_one_shot_offset_in_microseconds_clamped() {
        let mut b = backend(FakeTimex::default());
        b.apply(action(Correction::Slew, 0.020, 0.0), &report(), Duration::ZERO).unwrap();
        assert_eq!(b.sys.calls[0].modes, libc::ADJ_OFFSET_SINGLESHOT);
        assert_eq!(b.sys.calls[0].offset, 20_000);
        b.sys.calls.clear();
        b.apply(action(Correction::Slew, -3.0, 0.0), &report(), Duration::ZERO).unwrap();
        assert_eq!(b.sys.calls[0].offset, -MAX_SLEW_US as libc::c_long);
    }

    #[test]
    fn frequency_uses_adj_frequency_and_the_tick_only_beyond_its_range() {
        let mut b = backend(FakeTimex { tick: 10_001, ..Default::default() });
        // A tick somebody left 1 us long is 100 ppm of the frequency in force.
        assert!((b.frequency_ppm() - 100.0).abs() < 1e-9, "{}", b.frequency_ppm());
        b.apply(action(Correction::Slew, 0.0, -100.0), &report(), Duration::ZERO).unwrap();
        assert_eq!(b.sys.freq, -100 * 65536);
        assert_eq!(b.sys.tick, 10_000, "within ADJ_FREQUENCY's range the tick is nominal");
        b.apply(action(Correction::Slew, 0.0, 1234.0), &report(), Duration::ZERO).unwrap();
        assert_eq!(b.sys.tick, 10_012, "12 us of tick ~ 1200 ppm");
        assert_eq!(b.sys.freq, (34.0 * 65536.0_f64).round() as libc::c_long);
        assert!((b.frequency_ppm() - 1234.0).abs() < 1e-3, "{}", b.frequency_ppm());
        b.apply(action(Correction::Slew, 0.0, -9000.0), &report(), Duration::ZERO).unwrap();
        assert_eq!((b.sys.tick, b.sys.freq), (10_000 - 90, 0), "90 us of tick");
        b.apply(action(Correction::Slew, 0.0, -200_000.0), &report(), Duration::ZERO).unwrap();
        assert_eq!((b.sys.tick, b.sys.freq), (9_000, -500 * 65536), "the range ends at 100,500 ppm");
        assert!((b.frequency_ppm() + MAX_FREQ_PPM).abs() < 1e-3, "{}", b.frequency_ppm());
        b.apply(action(Correction::Slew, 0.0, 10.0), &report(), Duration::ZERO).unwrap();
        assert_eq!(b.sys.tick, 10_000, "back to the nominal tick");
    }

    #[test]
    fn a_frequency_left_far_off_is_read_in_full() {
        // -5000 ppm as this backend leaves it: the tick 50 us short.
        let mut b = backend(FakeTimex { tick: 9_950, ..Default::default() });
        assert!((b.frequency_ppm() + 5000.0).abs() < 1e-9, "{}", b.frequency_ppm());
        assert_eq!(b.max_frequency_ppm(), 100_500.0);
    }

    #[test]
    fn pending_slew_reads_the_one_shot_remainder() {
        let mut b = backend(FakeTimex { ss_left: -2500, ..Default::default() });
        assert_eq!(b.pending_slew().as_nanos(), -2_500_000);
    }

    #[test]
    fn leap_indicator_maps_to_status_bits() {
        for (leap, bit) in [(1u8, libc::STA_INS), (2, libc::STA_DEL), (0, 0)] {
            let mut b = backend(FakeTimex::default());
            b.apply(action(Correction::Slew, 0.0, 0.0), &SyncReport { leap, ..report() }, Duration::ZERO).unwrap();
            assert_eq!(b.sys.status & (libc::STA_INS | libc::STA_DEL), bit);
        }
    }

    #[test]
    fn refusal_is_permission_denied() {
        let mut b = backend(FakeTimex { deny: true, ..Default::default() });
        assert_eq!(
            b.apply(action(Correction::Slew, 0.0, 0.0), &report(), Duration::ZERO),
            Err(ClockError::PermissionDenied)
        );
    }
}
