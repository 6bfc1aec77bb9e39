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
}

/// Noise floor of a minimum-delay sample, seconds...
const BASE_ERROR: f64 = 1e-6;
/// ...plus this share of the minimum delay (tuned in the simulator: lower
/// trusts single low-delay samples too much, higher averages too little).
const MIN_DELAY_SHARE: f64 = 0.10;

/// Fits `points` (at least one), weighting each by the inverse square of its
/// possible error: half its delay above the minimum, plus a floor.
#[allow(clippy::suboptimal_flops)]
pub fn fit_line(points: &[Point], at: f64) -> Fit {
    let min_delay = points.iter().map(|p| p.delay).fold(f64::INFINITY, f64::min);
    let weight = |p: &Point| {
        let err = (p.delay - min_delay) / 2.0 + BASE_ERROR + min_delay * MIN_DELAY_SHARE + p.extra;
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
    Fit { offset, slope, rms: (rss / sw).sqrt(), slope_var: if enough { 1.0 / stt } else { f64::INFINITY } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line() {
        let pts: Vec<_> = (0..5)
            .map(|i| Point { t: i as f64 * 10.0, offset: 0.001 + 2e-6 * i as f64 * 10.0, delay: 1e-4, extra: 0.0 })
            .collect();
        let f = fit_line(&pts, 40.0);
        assert!((f.slope - 2e-6).abs() < 1e-12);
        assert!((f.offset - 0.00108).abs() < 1e-12);
        assert!(f.rms < 1e-12);
    }

    #[test]
    fn one_point_has_no_slope() {
        let f = fit_line(&[Point { t: 3.0, offset: 0.5, delay: 0.01, extra: 0.0 }], 10.0);
        assert_eq!((f.offset, f.slope), (0.5, 0.0));
        assert!(f.slope_var.is_infinite());
    }

    #[test]
    fn high_delay_samples_count_for_little() {
        let mut pts: Vec<_> = (0..6).map(|i| Point { t: i as f64, offset: 0.0, delay: 2e-4, extra: 0.0 }).collect();
        pts.push(Point { t: 6.0, offset: 0.010, delay: 0.040, extra: 0.0 });
        assert!(fit_line(&pts, 6.0).offset.abs() < 5e-6);
    }
}
