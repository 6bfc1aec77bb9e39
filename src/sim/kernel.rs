//! A modelled kernel clock, reached through the same seams as the real one
//! (`Timex` for adjtimex/ntp_adjtime, `Posix` for adjtime/clock_settime):
//! an oscillator with a frequency error that random-walks, the frequency
//! correction and tick set by the backend, the one-shot slew at 500 ppm,
//! steps, and leap seconds as Linux makes them (STA_INS/STA_DEL, the TAI
//! offset). Time is true time in seconds.

use std::sync::{Arc, Mutex};

use super::rng::Rng;
use crate::clock::posix::Posix;
use crate::clock::timex::Timex;
use crate::clock::KERNEL_SLEW_RATE;
use crate::discipline::foreign::{MAXERROR_CAP_US, MAXERROR_GROWTH_US};
use crate::proto::timestamp::NtpDuration;
use crate::sys::lock::lock;

const NOMINAL_TICK: i64 = 10_000;

#[derive(Debug)]
pub struct Model {
    /// True time, seconds.
    pub now: f64,
    /// Local clock minus true time, seconds.
    pub phase: f64,
    /// Oscillator frequency error, s/s (positive: runs fast).
    pub osc: f64,
    /// Standard deviation of the oscillator's random walk per sqrt(second).
    pub walk: f64,
    /// Frequency correction set through ADJ_FREQUENCY, s/s.
    pub freq: f64,
    pub tick: i64,
    /// One-shot slew still to do, seconds (the kernel's `time_adjust`: what
    /// ADJ_OFFSET_SS_READ and adjtime() report).
    pub slew_left: f64,
    /// The chunk being slewed during the current second: as Linux does, at
    /// each second boundary up to 500 us are taken off `slew_left` at once.
    chunk: f64,
    pub status: i32,
    pub maxerror: i64,
    pub esterror: i64,
    pub steps: u32,
    /// Sum of all steps, seconds.
    pub stepped: f64,
    /// The raw clock (CLOCK_MONOTONIC_RAW) minus true time, seconds: the
    /// oscillator alone, which no correction or step moves.
    pub raw_phase: f64,
    /// A slew of the wall clock by somebody else, s/s (see [`Model::meddle`]).
    pub meddling: f64,
    /// The kernel's TAI offset (`timex.tai`, ADJ_TAI), seconds.
    pub tai: i32,
    /// The local clock's UTC (Unix) time when `local()` reads 0, seconds:
    /// where its midnights fall, for leap seconds.
    pub epoch: f64,
    /// Leap seconds the kernel made: +1 inserted, -1 deleted.
    pub leaps: i32,
    rng: Rng,
}

impl Model {
    pub fn new(phase: f64, osc: f64, walk: f64, seed: u64) -> Model {
        Model {
            now: 0.0,
            phase,
            osc,
            walk,
            freq: 0.0,
            tick: NOMINAL_TICK,
            slew_left: 0.0,
            chunk: 0.0,
            status: libc::STA_UNSYNC,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            steps: 0,
            stepped: 0.0,
            raw_phase: 0.0,
            meddling: 0.0,
            tai: 0,
            epoch: 0.0,
            leaps: 0,
            rng: Rng::new(seed ^ 0x6b65_726e),
        }
    }

    /// Another daemon sets the frequency (and, as chronyd does, the error bounds).
    pub fn foreign_frequency(&mut self, ppm: f64) {
        self.freq = ppm * 1e-6;
        self.maxerror = 100_000;
        self.esterror = 1_000;
    }

    /// Somebody else steps the wall clock by `step` seconds and from now on
    /// slews it at `slew` s/s (the raw clock does not notice).
    pub fn meddle(&mut self, step: f64, slew: f64) {
        self.phase += step;
        self.stepped += step;
        self.meddling = slew;
    }

    /// The raw clock's reading now, seconds.
    pub fn raw(&self) -> f64 {
        self.now + self.raw_phase
    }

    /// Sets the kernel's frequency correction to `ppm`, as the adjtimex
    /// backend would: ADJ_FREQUENCY up to 500 ppm, whole tick steps beyond.
    pub fn set_kernel_freq(&mut self, ppm: f64) {
        let ticks = if ppm.abs() > 500.0 { (ppm / 100.0).round() as i64 } else { 0 };
        self.tick = NOMINAL_TICK + ticks;
        self.freq = (ppm - ticks as f64 * 100.0) * 1e-6;
    }

    /// The kernel's frequency correction, tick included, s/s.
    pub fn kernel_freq(&self) -> f64 {
        self.freq + (self.tick - NOMINAL_TICK) as f64 / NOMINAL_TICK as f64
    }

    /// Total frequency error of the local clock, s/s (slews excluded). The
    /// kernel's frequency and tick scale the oscillator's rate, so the two
    /// multiply: an oscillator 0.5 % slow needs +5025 ppm, not +5000.
    pub fn freq_error(&self) -> f64 {
        (1.0 + self.osc) * (1.0 + self.kernel_freq()) - 1.0
    }

    /// The local clock's reading now, seconds of true-time scale.
    pub fn local(&self) -> f64 {
        self.now + self.phase
    }

    /// The local clock's UTC (Unix) time now, seconds.
    pub fn utc(&self) -> f64 {
        self.epoch + self.local()
    }

    /// With STA_INS (STA_DEL) set: the UTC time at which the kernel makes
    /// the leap second, the next midnight (the second before it).
    fn leap_point(&self) -> Option<f64> {
        let (ins, del) = (self.status & libc::STA_INS != 0, self.status & libc::STA_DEL != 0);
        if ins == del {
            return None;
        }
        let ahead = if ins { 0.0 } else { 1.0 };
        // (Less 10 ms: a step toward it may end a little beyond.)
        let midnight = ((self.utc() + ahead - 0.01) / 86_400.0).floor() * 86_400.0 + 86_400.0;
        Some(midnight - ahead)
    }

    /// As Linux does at the leap point: an inserted second is repeated (the
    /// clock steps back 1 s, the TAI offset grows by 1), a deleted one
    /// skipped; the kernel clears STA_INS/STA_DEL.
    fn leap(&mut self) {
        let by = if self.status & libc::STA_INS != 0 { -1.0 } else { 1.0 };
        self.phase += by;
        self.stepped += by;
        self.tai -= by as i32;
        self.leaps -= by as i32;
        self.status &= !(libc::STA_INS | libc::STA_DEL);
    }

    /// Advances true time to `t`, stopping at every second boundary, where
    /// the next chunk of the one-shot slew is taken, and at a leap point.
    pub fn advance_to(&mut self, t: f64) {
        while self.now < t {
            let boundary = self.now.floor() + 1.0;
            let mut end = t.min(boundary);
            // The local clock runs within 0.1 % of true time: stop where it
            // reaches the leap point (within a microsecond).
            let leap_at = self.leap_point().map(|p| self.now + (p - self.utc()));
            if let Some(at) = leap_at {
                if at <= self.now + 1e-6 {
                    self.leap();
                    continue;
                }
                end = end.min(at);
            }
            let dt = end - self.now;
            self.phase += (self.freq_error() + self.chunk + self.meddling) * dt;
            self.raw_phase += self.osc * dt;
            if self.walk > 0.0 {
                self.osc += self.rng.normal() * self.walk * dt.sqrt();
            }
            self.now = end;
            if end == boundary {
                self.chunk = self.slew_left.clamp(-KERNEL_SLEW_RATE, KERNEL_SLEW_RATE);
                self.slew_left -= self.chunk;
                // As Linux does each second: maxerror grows, capped, UNSYNC at the cap.
                self.maxerror = (self.maxerror + MAXERROR_GROWTH_US).min(MAXERROR_CAP_US);
                if self.maxerror >= MAXERROR_CAP_US {
                    self.status |= libc::STA_UNSYNC;
                }
            }
        }
    }
}

/// Shared handle to the model, for the backends' seams.
#[derive(Clone)]
pub struct SimKernel(pub Arc<Mutex<Model>>);

/// The model's CLOCK_MONOTONIC (the local clock less its steps: slews and
/// frequency move it, as on Linux) and REALTIME - MONOTONIC (the epoch and
/// the steps, leap seconds included).
fn clocks(m: &Model) -> (f64, f64) {
    (m.now + m.phase - m.stepped, m.epoch + m.stepped)
}

impl Timex for SimKernel {
    fn clocks(&mut self) -> (f64, f64) {
        clocks(&lock(&self.0))
    }
    fn call(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
        let mut m = lock(&self.0);
        let modes = tx.modes;
        // As Linux: a tick outside 900000 / USER_HZ to 1100000 / USER_HZ is refused.
        if modes & libc::ADJ_TICK != 0 && !(9_000..=11_000).contains(&tx.tick) {
            return Err(libc::EINVAL);
        }
        if modes == libc::ADJ_OFFSET_SINGLESHOT {
            m.slew_left = tx.offset as f64 * 1e-6;
        } else if modes == libc::ADJ_OFFSET_SS_READ {
            tx.offset = (m.slew_left * 1e6).round() as libc::c_long;
            return Ok(libc::TIME_OK);
        } else {
            if modes & libc::ADJ_SETOFFSET != 0 {
                let scale = if modes & libc::ADJ_NANO != 0 { 1e-9 } else { 1e-6 };
                let by = tx.time.tv_sec as f64 + tx.time.tv_usec as f64 * scale;
                m.phase += by;
                m.stepped += by;
                m.steps += 1;
            }
            if modes & libc::ADJ_FREQUENCY != 0 {
                m.freq = tx.freq as f64 / 65536.0 * 1e-6;
            }
            if modes & libc::ADJ_TICK != 0 {
                m.tick = tx.tick as i64;
            }
            if modes & libc::ADJ_STATUS != 0 {
                m.status = tx.status;
            }
            if modes & libc::ADJ_MAXERROR != 0 {
                m.maxerror = tx.maxerror as i64;
            }
            if modes & libc::ADJ_ESTERROR != 0 {
                m.esterror = tx.esterror as i64;
            }
            if modes & libc::ADJ_TAI != 0 {
                m.tai = tx.constant as i32;
            }
        }
        tx.freq = (m.freq * 1e6 * 65536.0).round() as libc::c_long;
        tx.tick = m.tick as libc::c_long;
        tx.status = m.status;
        tx.maxerror = m.maxerror as libc::c_long;
        tx.esterror = m.esterror as libc::c_long;
        tx.tai = m.tai as _;
        Ok(libc::TIME_OK)
    }
}

impl Posix for SimKernel {
    fn clocks(&mut self) -> (f64, f64) {
        clocks(&lock(&self.0))
    }
    fn adjtime(&mut self, delta: Option<f64>) -> Result<f64, i32> {
        let mut m = lock(&self.0);
        let old = m.slew_left;
        if let Some(d) = delta {
            m.slew_left = d;
        }
        Ok(old)
    }
    fn step(&mut self, offset: NtpDuration) -> Result<(), i32> {
        let mut m = lock(&self.0);
        m.phase += offset.as_seconds();
        m.stepped += offset.as_seconds();
        m.steps += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slew_runs_in_chunks_at_the_kernel_rate_and_frequency_adds_up() {
        let mut m = Model::new(0.0, 100e-6, 0.0, 1);
        m.slew_left = 0.001;
        m.advance_to(1.0); // the first chunk is taken at the boundary...
        assert!((m.phase - 100e-6).abs() < 1e-12);
        assert!((m.slew_left - 500e-6).abs() < 1e-12, "...and no longer counts as left");
        m.advance_to(1.5);
        assert!((m.phase - (150e-6 + 250e-6)).abs() < 1e-12);
        m.advance_to(4.0);
        assert!((m.phase - (400e-6 + 1e-3)).abs() < 1e-12, "{}", m.phase);
        assert_eq!(m.slew_left, 0.0);
    }
}
