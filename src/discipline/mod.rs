//! Clock-discipline decisions, free of I/O: from validated samples, estimate
//! the local clock's phase and frequency error and decide how to correct them.
//!
//! Samples go into a register (newest [`MAX_POINTS`]). A weighted linear fit
//! of offset against monotonic time gives the offset now and the frequency
//! error; samples whose round-trip delay exceeds the register's minimum get
//! less weight, since their offset can be off by half the excess. The
//! frequency error is corrected at once; the offset is slewed. Every stored
//! sample is re-based after each correction, so the fit always describes the
//! clock as it is now corrected.

mod fit;

use std::collections::VecDeque;
use std::time::Duration;

use crate::proto::timestamp::NtpDuration;
use crate::proto::validate::Sample;
use fit::{asymmetry, fit_line, fit_random_residuals, Point, Weighting, MEASURE_MIN_DELAY_SHARE, MIN_DELAY_SHARE};

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
pub const MAX_POINTS: usize = 16;
/// Samples kept when measuring only; the fit uses the longest recent span
/// whose residuals look random (a runs test), so a clock that someone else
/// steers is still followed.
pub const MEASURE_POINTS: usize = 64;
/// An asymmetry estimate at least this large (in size)...
const ASYMMETRY_CLEAR: f64 = 0.45;
/// ...in this many fits in a row, with one sign, is corrected for: all the
/// delay's variation is on one leg (a one-sided queue, a slow path to or
/// from the server's timestamps). Shared variation averages out anyway.
const ASYMMETRY_STREAK: u32 = 10;
/// Once corrected for, an asymmetry of the same sign stays corrected for
/// while its estimate stays at least this large (a slope near the bar must
/// not switch the correction on and off from fit to fit).
const ASYMMETRY_HOLD: f64 = 0.25;
/// The rate at which the backends' kernels slew, s/s (Linux, BSD adjtime).
pub const SLEW_RATE: f64 = 500e-6;
/// While a slew of ours runs, a sample's offset is uncertain by one second's
/// slew: Linux takes each second's 500 us off the pending amount at once.
const SLEW_CHUNK_ERROR: f64 = SLEW_RATE * 1.0;
/// What we assume of an unknown oscillator's frequency error (1 sigma), s/s:
/// crystals are within about 100 ppm.
const INITIAL_FREQ_SD: f64 = 100e-6;
/// How fast a frequency estimate ages (random walk), (s/s)^2 per second: lets
/// the estimate follow temperature and the like.
const FREQ_WANDER: f64 = 1e-16;

/// Largest frequency correction, parts per million (ADJ_FREQUENCY's range is
/// ±500 ppm; backends extend it with the tick).
pub const MAX_FREQ_PPM: f64 = 5000.0;

/// How the offset is corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    /// Jump the clock by the offset at once.
    Step,
    /// Correct the offset gradually, at the backend's slew rate.
    Slew,
}

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
    /// The offset calls for a step; waiting for agreeing samples.
    Hold,
    /// A step beyond the bounds: refused, the clock is left alone.
    Refuse(NtpDuration),
}

#[derive(Clone, Debug)]
pub struct Discipline {
    points: VecDeque<Point>,
    /// Frequency correction in force, s/s (positive: the clock runs faster).
    freq: f64,
    /// Samples above the step threshold, consecutive and agreeing.
    votes: Vec<Point>,
    stepped_or_synced: bool,
    /// RMS of the fit's residuals, seconds.
    jitter: f64,
    /// Variance of the frequency estimate, (s/s)^2, and when it was last updated.
    freq_var: f64,
    freq_var_at: f64,
    /// Until when (monotonic s) a slew we asked for is still running.
    slewing_until: f64,
    /// The offset estimated at the last sample (before correcting it), seconds.
    last_offset: f64,
    /// Measuring only: the local clock's drift from the fit, s/s, and the
    /// time of that fit (monotonic s).
    drift: Option<f64>,
    measured_at: f64,
    /// Consecutive fits whose asymmetry estimate cleared the bar (its sign
    /// the streak's), and the correction in force (0 until the streak is long).
    asymmetry_streak: i32,
    asymmetry: f64,
}

impl Default for Discipline {
    fn default() -> Self {
        Self::new(0.0)
    }
}

impl Discipline {
    /// A discipline starting from the frequency correction already in force.
    pub fn new(freq_ppm: f64) -> Self {
        Discipline {
            points: VecDeque::new(),
            freq: freq_ppm * 1e-6,
            votes: vec![],
            stepped_or_synced: false,
            jitter: 0.0,
            freq_var: INITIAL_FREQ_SD * INITIAL_FREQ_SD,
            freq_var_at: 0.0,
            slewing_until: f64::NEG_INFINITY,
            last_offset: 0.0,
            drift: None,
            measured_at: 0.0,
            asymmetry_streak: 0,
            asymmetry: 0.0,
        }
    }

    /// The frequency correction in force, ppm.
    pub fn freq_ppm(&self) -> f64 {
        self.freq * 1e6
    }

    /// RMS residual of the last fit, seconds.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The offset estimated at the last sample, seconds: what was corrected
    /// when steering, the fitted offset when measuring.
    pub fn last_offset(&self) -> f64 {
        self.last_offset
    }

    /// The local clock's frequency error, ppm (positive: it runs slow): the
    /// correction in force when steering, the fitted drift when measuring.
    pub fn frequency_error_ppm(&self) -> f64 {
        self.drift.map_or(self.freq_ppm(), |d| d * 1e6)
    }

    /// Measuring only (the clock is never corrected): adds `sample`, taken at
    /// monotonic time `now`, to the register and fits offset and drift. A
    /// sample further than the step threshold from the fit (the server or the
    /// local clock jumped) starts the register afresh.
    pub fn measure(&mut self, now: Duration, sample: &Sample) {
        let t = now.as_secs_f64();
        let point =
            Point { t, offset: sample.offset.as_seconds(), delay: sample.delay.as_seconds().max(0.0), extra: 0.0 };
        // The last fit's line, carried on to now.
        if let Some(drift) = self.drift.filter(|_| !self.points.is_empty()) {
            let predicted = self.last_offset + drift * (t - self.measured_at);
            if (point.offset - predicted).abs() > STEP_THRESHOLD_SECS {
                self.points.clear();
            }
        }
        self.push(point, MEASURE_POINTS);
        let how = self.weighting(MEASURE_MIN_DELAY_SHARE);
        let fit = fit_random_residuals(self.points.make_contiguous(), t, how);
        self.jitter = fit.rms;
        self.last_offset = fit.offset;
        self.drift = Some(fit.slope);
        self.measured_at = t;
    }

    /// Decides about `sample`, taken at monotonic time `now`, while
    /// `pending_slew` of an earlier correction has not been slewed yet.
    pub fn decide(&mut self, now: Duration, sample: &Sample, pending_slew: NtpDuration) -> Decision {
        let t = now.as_secs_f64();
        // The offset that will remain once the slew in progress completes.
        let offset = sample.offset.as_seconds() - pending_slew.as_seconds();
        let extra = if t < self.slewing_until { SLEW_CHUNK_ERROR } else { 0.0 };
        let point = Point { t, offset, delay: sample.delay.as_seconds().max(0.0), extra };
        let threshold = if self.stepped_or_synced { STEP_THRESHOLD_SECS } else { FIRST_SYNC_STEP_THRESHOLD_SECS };
        if offset.abs() > threshold {
            return self.vote_for_step(point, sample);
        }
        self.votes.clear();
        self.push(point, MAX_POINTS);
        let how = self.weighting(MIN_DELAY_SHARE);
        let fit = fit_line(self.points.make_contiguous(), t, how);
        self.jitter = fit.rms;
        // Correct the frequency error as far as the fit is sure of it, and
        // slew the fitted offset plus what is still pending (a new slew
        // replaces the old one).
        // While our slew runs, what the kernel reports as still to slew is
        // short by up to one second's chunk: the offsets read biased, not
        // just noisy. Keep the frequency; clean samples will tell it.
        let freq = if extra > 0.0 { self.freq } else { self.update_frequency(t, fit.slope, fit.slope_var) };
        // The offset now, on the line whose slope is the filtered frequency
        // error (what is left of it once the new frequency is in force).
        let offset = fit.offset_with_slope(freq - self.freq);
        self.last_offset = offset;
        self.rebase(t, freq - self.freq, offset);
        self.freq = freq;
        self.stepped_or_synced = true;
        let slew = offset + pending_slew.as_seconds();
        self.slewing_until = t + slew.abs() / SLEW_RATE + 1.0;
        let action = ClockAction {
            correction: Correction::Slew,
            offset: NtpDuration::from_seconds(slew),
            freq_ppm: self.freq_ppm(),
        };
        Decision::Apply(action, self.report(sample, fit.offset))
    }

    fn vote_for_step(&mut self, point: Point, sample: &Sample) -> Decision {
        // Keep only the votes this one agrees with.
        self.votes.retain(|v| agree(v, &point));
        self.votes.push(point);
        if self.votes.len() < STEP_AGREEMENT {
            return Decision::Hold;
        }
        let fit = fit_line(&self.votes, point.t, Weighting { min_delay_share: MIN_DELAY_SHARE, asymmetry: 0.0 });
        let step = fit.offset;
        let refused =
            if self.stepped_or_synced { step.abs() > PANIC_BOUND_SECS } else { step < -FIRST_BACKWARD_LIMIT_SECS };
        self.votes.clear();
        if refused {
            return Decision::Refuse(NtpDuration::from_seconds(step));
        }
        // Samples before the step describe another clock (or another server
        // time): start afresh from the votes, re-based as if the step and the
        // frequency they agree on had always been in force.
        let freq = self.update_frequency(point.t, fit.slope, fit.slope_var);
        self.last_offset = step;
        self.points = std::mem::take(&mut self.votes).into();
        self.rebase(point.t, freq - self.freq, step);
        self.freq = freq;
        self.slewing_until = f64::NEG_INFINITY;
        self.stepped_or_synced = true;
        let action = ClockAction {
            correction: Correction::Step,
            offset: NtpDuration::from_seconds(step),
            freq_ppm: self.freq_ppm(),
        };
        Decision::Apply(action, self.report(sample, 0.0))
    }

    /// The new frequency after a fit measured `slope` with variance
    /// `slope_var`: a Kalman-style update, so a slope from a few noisy or
    /// close-together samples moves the frequency only as far as it is sure.
    fn update_frequency(&mut self, t: f64, slope: f64, slope_var: f64) -> f64 {
        let gain = self.frequency_gain(t, slope_var);
        (self.freq + gain * slope).clamp(-MAX_FREQ_PPM * 1e-6, MAX_FREQ_PPM * 1e-6)
    }

    /// How far a fit's slope with variance `slope_var`, at time `t`, moves the
    /// frequency estimate (0 to 1); updates the estimate's variance.
    fn frequency_gain(&mut self, t: f64, slope_var: f64) -> f64 {
        self.freq_var += FREQ_WANDER * (t - self.freq_var_at).max(0.0);
        self.freq_var_at = t;
        if !slope_var.is_finite() {
            return 0.0;
        }
        let gain = self.freq_var / (self.freq_var + slope_var);
        self.freq_var *= 1.0 - gain;
        gain
    }

    /// The weighting for the register's next fit: updates the asymmetry
    /// streak from the register as it is now.
    fn weighting(&mut self, min_delay_share: f64) -> Weighting {
        let plain = Weighting { min_delay_share, asymmetry: 0.0 };
        let estimate = asymmetry(self.points.make_contiguous(), plain).unwrap_or(0.0);
        let held = self.asymmetry != 0.0 && estimate.signum() == self.asymmetry.signum();
        let bar = if held { ASYMMETRY_HOLD } else { ASYMMETRY_CLEAR };
        let sign = if estimate.abs() < bar { 0 } else { estimate.signum() as i32 };
        self.asymmetry_streak = if sign != 0 && sign == self.asymmetry_streak.signum() {
            self.asymmetry_streak.saturating_add(sign)
        } else {
            sign
        };
        self.asymmetry =
            if self.asymmetry_streak.unsigned_abs() >= ASYMMETRY_STREAK { estimate.clamp(-0.5, 0.5) } else { 0.0 };
        Weighting { asymmetry: self.asymmetry, ..plain }
    }

    /// The asymmetry correction in force: offset per second of delay above
    /// the register's minimum (0 when none is).
    pub fn asymmetry(&self) -> f64 {
        self.asymmetry
    }

    fn push(&mut self, p: Point, capacity: usize) {
        while self.points.len() >= capacity {
            self.points.pop_front();
        }
        self.points.push_back(p);
    }

    /// Re-bases stored samples after the frequency rises by `dfreq` at time
    /// `t` and the clock is moved forward by `phase`.
    fn rebase(&mut self, t: f64, dfreq: f64, phase: f64) {
        for p in self.points.iter_mut() {
            p.offset += dfreq * (t - p.t) - phase;
        }
    }

    fn report(&self, sample: &Sample, residual: f64) -> SyncReport {
        let root_distance = sample.root_distance().as_seconds();
        let est = (self.jitter.powi(2) + residual.powi(2)).sqrt() + sample.delay.as_seconds() / 2.0;
        SyncReport {
            max_error_us: ((root_distance + residual.abs() + self.jitter) * 1e6).ceil() as i64,
            est_error_us: (est * 1e6).round() as i64,
            leap: sample.leap,
        }
    }
}

/// Whether two step votes describe the same clock: within their delays plus
/// what a 500 ppm frequency error could add between them, plus 1 ms.
fn agree(a: &Point, b: &Point) -> bool {
    (a.offset - b.offset).abs() <= (a.delay + b.delay) / 2.0 + 500e-6 * (b.t - a.t).abs() + 1e-3
}

#[cfg(test)]
mod tests;
