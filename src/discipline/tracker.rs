//! Measuring only: the server's offset and the local clock's drift, from a
//! clock that is never corrected (or that somebody else corrects).

use std::time::Duration;

use super::fit::{fit_random_residuals, min_delay, Floor, Point, Scale};
use super::register::Register;
use super::{MEASURE_POINTS, STEP_THRESHOLD_SECS};
use crate::proto::client::Estimator;
use crate::proto::validate::Sample;

/// A rise of the delay is another route once this many samples in a row
/// show it (a burst of congestion is shorter).
const ROUTE_POINTS: usize = 24;

/// Every client's own estimate: the register holds the last
/// [`MEASURE_POINTS`] samples and the fit uses the longest recent span whose
/// residuals look random (a runs test), so a noisy but steady clock is
/// averaged over all of them while one that somebody else steers is still
/// followed.
#[derive(Clone, Debug)]
pub struct Tracker {
    register: Register,
    /// RMS of the fit's residuals, seconds.
    jitter: f64,
    /// The fitted offset at the last sample, seconds.
    last_offset: f64,
    /// The local clock's drift from the fit, s/s, and the time of that fit
    /// (monotonic s).
    drift: Option<f64>,
    /// Variance of `drift`, (s/s)^2 (infinite with one point).
    drift_var: f64,
    measured_at: f64,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            register: Register::new(MEASURE_POINTS),
            jitter: 0.0,
            last_offset: 0.0,
            drift: None,
            drift_var: f64::INFINITY,
            measured_at: 0.0,
        }
    }
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Adds `sample`, taken at monotonic time `now`, and fits offset and
    /// drift. A sample further than the step threshold from the fit (the
    /// server or the local clock jumped) starts the register afresh; a
    /// lasting rise of the delay (another route) lets the points before it go.
    pub fn measure(&mut self, now: Duration, sample: &Sample) {
        let t = now.as_secs_f64();
        let point =
            Point { t, offset: sample.offset.as_seconds(), delay: sample.delay.as_seconds().max(0.0), extra: 0.0 };
        // The last fit's line, carried on to now.
        if let Some(drift) = self.drift.filter(|_| !self.register.is_empty()) {
            let predicted = self.last_offset + drift * (t - self.measured_at);
            if (point.offset - predicted).abs() > STEP_THRESHOLD_SECS {
                self.register.clear();
            }
        }
        self.register.push(point);
        // The path changed (its delay rose for good): when none of the newer
        // half of the points is in the core, the older half describes
        // another path and goes. (A burst of slow samples is shorter.)
        let points = self.register.points();
        let n = points.len();
        if n >= 2 * ROUTE_POINTS {
            let scale = Scale::of(points);
            if min_delay(&points[n / 2..]) - scale.min_delay > scale.core_limit() {
                self.register.drop_oldest(n / 2);
            }
        }
        let how = self.register.weighting(Floor::Scatter);
        let fit = fit_random_residuals(self.register.points(), t, how);
        self.jitter = fit.rms;
        self.last_offset = fit.offset;
        self.drift = Some(fit.slope);
        // As the residuals say, when they scatter more than assumed.
        self.drift_var = fit.slope_var * fit.chi2.max(1.0);
        self.measured_at = t;
    }

    /// RMS residual of the last fit, seconds.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The fitted offset at the last sample, seconds.
    pub fn last_offset(&self) -> f64 {
        self.last_offset
    }

    /// The local clock's frequency error, ppm (positive: it runs slow); 0
    /// before two samples.
    pub fn frequency_error_ppm(&self) -> f64 {
        self.drift.unwrap_or(0.0) * 1e6
    }

    /// Standard deviation of the drift, s/s (infinite before two samples),
    /// from the points' assumed errors or their real scatter, the larger.
    pub fn drift_sd(&self) -> f64 {
        self.drift_var.sqrt()
    }

    #[cfg(any(test, feature = "__internal-api"))]
    /// The asymmetry correction in force (see `fit::Weighting`).
    pub fn asymmetry(&self) -> f64 {
        self.register.asymmetry()
    }
}

impl Estimator for Tracker {
    fn measure(&mut self, now: Duration, sample: &Sample) {
        Tracker::measure(self, now, sample);
    }
}
