//! Weighted least-squares line through (time, offset) points.

/// One sample in the register: monotonic time, offset (re-based), delay, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub t: f64,
    pub offset: f64,
    pub delay: f64,
    /// Error known beyond what the delay says (a slew in progress), seconds.
    pub extra: f64,
}

/// The fitted line evaluated at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Offset at the evaluation time.
    pub offset: f64,
    /// Offset change per second: the frequency error (positive: clock slow).
    pub slope: f64,
    /// Weighted RMS of the residuals.
    pub rms: f64,
    /// Variance of the slope, (s/s)^2; infinite with fewer than two points.
    pub slope_var: f64,
    /// The weighted mean time of the points less the evaluation time (<= 0):
    /// where the fitted offset is known best, whatever the slope.
    pub centroid: f64,
}

impl Fit {
    /// The offset at the evaluation time had the line through the weighted
    /// centroid had slope `slope`: what the fit says once a frequency known
    /// better than this fit alone (a filtered estimate) replaces its slope.
    pub fn offset_with_slope(&self, slope: f64) -> f64 {
        self.offset + (self.slope - slope) * self.centroid
    }
}

/// Noise floor of a minimum-delay sample, seconds...
const BASE_ERROR: f64 = 1e-6;
/// ...plus this share of the minimum delay when steering (tuned in the
/// simulator: lower trusts single low-delay samples too much, higher
/// averages too little)...
pub const MIN_DELAY_SHARE: f64 = 0.10;
/// ...and when measuring, where 64 samples are averaged: on real paths part
/// of a delay's excess does not show in the offset (the accuracy benchmark's
/// raw samples, re-fitted: median error 46 -> 36 us over six runs).
pub const MEASURE_MIN_DELAY_SHARE: f64 = 0.50;

/// Fits `points` (at least one), weighting each by the inverse square of its
/// possible error: half its delay above the minimum, plus a floor of
/// `min_delay_share` times the minimum.
#[allow(clippy::suboptimal_flops)]
pub fn fit_line(points: &[Point], at: f64, min_delay_share: f64) -> Fit {
    let min_delay = points.iter().map(|p| p.delay).fold(f64::INFINITY, f64::min);
    let weight = |p: &Point| {
        let err = (p.delay - min_delay) / 2.0 + BASE_ERROR + min_delay * min_delay_share + p.extra;
        1.0 / (err * err)
    };
    let (mut sw, mut st, mut so) = (0.0, 0.0, 0.0);
    for p in points {
        let w = weight(p);
        sw += w;
        st += w * (p.t - at);
        so += w * p.offset;
    }
    let (tm, om) = (st / sw, so / sw);
    let (mut stt, mut sto) = (0.0, 0.0);
    for p in points {
        let w = weight(p);
        stt += w * (p.t - at - tm).powi(2);
        sto += w * (p.t - at - tm) * (p.offset - om);
    }
    let enough = points.len() >= 2 && stt > 0.0;
    let slope = if enough { sto / stt } else { 0.0 };
    let offset = om - slope * tm;
    let rss: f64 = points.iter().map(|p| weight(p) * (p.offset - (offset + slope * (p.t - at))).powi(2)).sum();
    // With weights 1/err^2 the slope's variance is 1/stt.
    Fit {
        offset,
        slope,
        rms: (rss / sw).sqrt(),
        slope_var: if enough { 1.0 / stt } else { f64::INFINITY },
        centroid: tm,
    }
}

/// The fewest points [`fit_random_residuals`] narrows a window to.
pub const MIN_RUNS_POINTS: usize = 8;

/// Fits the longest window of the newest points (all, then the newest half,
/// quarter, ..., down to [`MIN_RUNS_POINTS`]) whose residuals pass a runs
/// test: too few runs of equal sign mean the offset has not followed a line
/// over that span (another daemon slewed the clock, the oscillator wandered),
/// and the older points are let go. A noisy but linear history keeps them all.
pub fn fit_random_residuals(points: &[Point], at: f64, min_delay_share: f64) -> Fit {
    let mut n = points.len();
    loop {
        let window = &points[points.len() - n..];
        let fit = fit_line(window, at, min_delay_share);
        if n / 2 < MIN_RUNS_POINTS || residual_runs_are_random(window, &fit, at) {
            return fit;
        }
        n /= 2;
    }
}

/// Wald-Wolfowitz runs test on the residuals' signs: false when there are
/// fewer runs than random signs would give, by more than two sigma.
fn residual_runs_are_random(points: &[Point], fit: &Fit, at: f64) -> bool {
    let positive = |p: &Point| p.offset > fit.offset + fit.slope * (p.t - at);
    let pos = points.iter().filter(|p| positive(p)).count() as f64;
    let n = points.len() as f64;
    let neg = n - pos;
    if pos == 0.0 || neg == 0.0 {
        return n < 3.0;
    }
    let runs = 1 + points.windows(2).filter(|w| positive(&w[0]) != positive(&w[1])).count();
    let mean = 2.0 * pos * neg / n + 1.0;
    let var = (mean - 1.0) * (mean - 2.0) / (n - 1.0);
    runs as f64 >= mean - 2.0 * var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line() {
        let pts: Vec<_> = (0..5)
            .map(|i| Point { t: i as f64 * 10.0, offset: 0.001 + 2e-6 * i as f64 * 10.0, delay: 1e-4, extra: 0.0 })
            .collect();
        let f = fit_line(&pts, 40.0, MIN_DELAY_SHARE);
        assert!((f.slope - 2e-6).abs() < 1e-12);
        assert!((f.offset - 0.00108).abs() < 1e-12);
        assert!(f.rms < 1e-12);
    }

    #[test]
    fn one_point_has_no_slope() {
        let f = fit_line(&[Point { t: 3.0, offset: 0.5, delay: 0.01, extra: 0.0 }], 10.0, MIN_DELAY_SHARE);
        assert_eq!((f.offset, f.slope), (0.5, 0.0));
        assert!(f.slope_var.is_infinite());
    }

    #[test]
    fn a_bend_in_the_history_lets_the_old_points_go() {
        // 64 points with alternating noise on a flat line: all kept.
        let noisy = |i: usize| if i % 2 == 0 { 1e-5 } else { -1e-5 };
        let flat: Vec<_> = (0..64).map(|i| Point { t: i as f64, offset: noisy(i), delay: 1e-4, extra: 0.0 }).collect();
        let f = fit_random_residuals(&flat, 63.0, MIN_DELAY_SHARE);
        assert_eq!(f.centroid, fit_line(&flat, 63.0, MIN_DELAY_SHARE).centroid);
        // The same, but the last 16 points ramp away (someone slews the clock).
        let bent: Vec<_> = (0..64)
            .map(|i| {
                let ramp = if i >= 48 { (i - 47) as f64 * 1e-4 } else { 0.0 };
                Point { t: i as f64, offset: noisy(i) + ramp, delay: 1e-4, extra: 0.0 }
            })
            .collect();
        let all = fit_line(&bent, 63.0, MIN_DELAY_SHARE);
        let f = fit_random_residuals(&bent, 63.0, MIN_DELAY_SHARE);
        assert!(f.centroid > all.centroid, "a shorter window");
        assert!((f.offset - 16e-4).abs() < (all.offset - 16e-4).abs() / 4.0, "{} vs {}", f.offset, all.offset);
    }

    #[test]
    fn another_slope_pivots_on_the_centroid() {
        let pts: Vec<_> =
            (0..5).map(|i| Point { t: i as f64 * 10.0, offset: 1e-6 * i as f64, delay: 1e-4, extra: 0.0 }).collect();
        let f = fit_line(&pts, 40.0, MIN_DELAY_SHARE);
        assert!((f.centroid + 20.0).abs() < 1e-9);
        assert!((f.offset_with_slope(f.slope) - f.offset).abs() < 1e-15);
        // Slope 0: the mean offset, 2 us.
        assert!((f.offset_with_slope(0.0) - 2e-6).abs() < 1e-12);
    }

    #[test]
    fn high_delay_samples_count_for_little() {
        let mut pts: Vec<_> = (0..6).map(|i| Point { t: i as f64, offset: 0.0, delay: 2e-4, extra: 0.0 }).collect();
        pts.push(Point { t: 6.0, offset: 0.010, delay: 0.040, extra: 0.0 });
        assert!(fit_line(&pts, 6.0, MIN_DELAY_SHARE).offset.abs() < 5e-6);
    }
}
