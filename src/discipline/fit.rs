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
    /// Variance of the slope, (s/s)^2, as the points' assumed errors give
    /// it; infinite with fewer than two points.
    pub slope_var: f64,
    /// The weighted residuals' sum of squares per degree of freedom (0 with
    /// two points or fewer): above 1, the points scatter more than their
    /// assumed errors say, and `slope_var` is that much too small.
    pub chi2: f64,
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

/// The floor of a point's possible error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Floor {
    /// [`BASE_ERROR`] plus this share of the minimum delay.
    Share(f64),
    /// From the points' own scatter (measuring, where 64 samples are
    /// averaged over paths of every kind): the lower quartile of the delay
    /// excess over [`SCATTER_RATIO`], between [`BASE_ERROR`] and half the
    /// minimum delay; and points beyond the core do not count at all.
    /// Where most delays sit close to the minimum (a heavy tail, bursts of
    /// congestion) the floor is low and the slow samples count for nothing;
    /// where delays spread evenly over both legs (whose excess says little
    /// of the offset's error) it is high and all are averaged.
    Scatter,
}

/// The floor is the lower quartile of the delay excess over this. (The
/// quartile, not the median: up to three quarters of the samples may be slow,
/// in a congestion burst, without moving it.) Chosen on the accuracy
/// benchmark's raw samples of all seven conditions replayed with
/// examples/replay_samples and on the simulator's measuring table: 0.8, 1.6
/// and 3.2 gave median errors of 56, 43 and 33 us in the jitter condition,
/// 30, 33 and 30 us with 20 % loss, and the same or better elsewhere.
pub const SCATTER_RATIO: f64 = 3.2;
const QUANTILE_PERCENT: usize = 25;
/// The core of a set of points: delay excess within this many times the
/// lower quartile of the excess. Runs tests and asymmetry estimates look at
/// the core only: a burst of slow samples on one leg must neither shorten a
/// fit's window nor pass for an asymmetric path.
pub const CORE_EXCESS: f64 = 6.0;
/// Fewer points than this have no core (all count) and, with a floor from
/// the scatter, the floor [`FEW_POINTS_SHARE`] of the minimum delay.
pub const SCATTER_POINTS: usize = 12;
const FEW_POINTS_SHARE: f64 = 0.5;

/// What a set of points' weights are measured against: its minimum delay
/// and the lower quartile of its delay excess (infinite: too few points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub min_delay: f64,
    quartile: f64,
}

impl Scale {
    pub fn of(points: &[Point]) -> Scale {
        Scale::against(points, min_delay(points))
    }

    /// With the minimum delay given (that of a larger set).
    pub fn against(points: &[Point], min_delay: f64) -> Scale {
        let quartile = if points.len() < SCATTER_POINTS { f64::INFINITY } else { quartile_excess(points, min_delay) };
        Scale { min_delay, quartile }
    }

    /// The largest delay excess of the core.
    pub fn core_limit(&self) -> f64 {
        CORE_EXCESS * self.quartile
    }

    /// The core's limit as a fit with `floor` draws it: steering
    /// ([`Floor::Share`]) never draws it tighter than twice the minimum
    /// delay, so that a real move of the clock in a sample of modest delay
    /// is not cut away while a register's scatter is still estimated from
    /// few points.
    pub fn core_for(&self, floor: Floor) -> f64 {
        match floor {
            Floor::Share(_) => self.core_limit().max(2.0 * self.min_delay),
            Floor::Scatter => self.core_limit(),
        }
    }

    /// Whether `p` is in the core as a fit with `floor` draws it.
    pub fn in_core(&self, p: &Point, floor: Floor) -> bool {
        p.delay - self.min_delay <= self.core_for(floor)
    }
}

/// How a fit treats its points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weighting {
    pub floor: Floor,
    /// Offset change per second of delay above the minimum (-0.5 to 0.5):
    /// when a path's delay varies on one leg only, each point's offset is
    /// corrected to what it would read at the minimum delay.
    pub asymmetry: f64,
}

struct Weighted<'a> {
    points: &'a [Point],
    scale: Scale,
    how: Weighting,
    floor: f64,
    /// Whether points beyond the core weigh nothing (when two or more are in it).
    cut: bool,
}

/// The lower quartile of the delay excess of `points` over `min_delay`.
fn quartile_excess(points: &[Point], min_delay: f64) -> f64 {
    let mut excess: Vec<f64> = points.iter().map(|p| (p.delay - min_delay).max(0.0)).collect();
    if excess.is_empty() {
        return 0.0;
    }
    let k = excess.len() * QUANTILE_PERCENT / 100;
    *excess.select_nth_unstable_by(k, f64::total_cmp).1
}

impl Weighted<'_> {
    fn new(points: &[Point], how: Weighting) -> Weighted<'_> {
        Weighted::scaled(points, how, Scale::of(points))
    }

    fn against(points: &[Point], how: Weighting, min_delay: f64) -> Weighted<'_> {
        Weighted::scaled(points, how, Scale::against(points, min_delay))
    }

    fn scaled(points: &[Point], how: Weighting, scale: Scale) -> Weighted<'_> {
        let min_delay = scale.min_delay;
        let floor = match how.floor {
            Floor::Share(share) => BASE_ERROR + min_delay * share,
            Floor::Scatter if scale.quartile.is_infinite() => BASE_ERROR + min_delay * FEW_POINTS_SHARE,
            Floor::Scatter => (scale.quartile / SCATTER_RATIO).clamp(BASE_ERROR, (min_delay / 2.0).max(BASE_ERROR)),
        };
        // One core point alone would be a line with no slope through it.
        let cut = points.iter().filter(|p| scale.in_core(p, how.floor)).count() >= 2;
        Weighted { points, scale, how, floor, cut }
    }

    fn min_delay(&self) -> f64 {
        self.scale.min_delay
    }

    fn in_core(&self, p: &Point) -> bool {
        self.scale.in_core(p, self.how.floor)
    }

    /// Weight: the inverse square of the point's possible error, half its
    /// delay above the minimum plus the floor; 0 beyond the core (a point
    /// caught in congestion), unless fewer than two points are in it.
    fn weight(&self, p: &Point) -> f64 {
        if self.cut && !self.in_core(p) {
            return 0.0;
        }
        let err = (p.delay - self.min_delay()) / 2.0 + self.floor + p.extra;
        1.0 / (err * err)
    }

    /// The core points (see [`CORE_EXCESS`]).
    fn core(&self) -> impl Iterator<Item = &Point> + '_ {
        self.points.iter().filter(|p| self.in_core(p))
    }

    fn offset(&self, p: &Point) -> f64 {
        p.offset - self.how.asymmetry * (p.delay - self.min_delay())
    }

    /// Weighted means of (t - at, offset, delay - min delay) and the weight sum.
    fn means(&self, at: f64) -> (f64, f64, f64, f64) {
        let (mut sw, mut st, mut so, mut sd) = (0.0, 0.0, 0.0, 0.0);
        for p in self.points {
            let w = self.weight(p);
            sw += w;
            st += w * (p.t - at);
            so += w * self.offset(p);
            sd += w * (p.delay - self.min_delay());
        }
        (st / sw, so / sw, sd / sw, sw)
    }
}

/// How many noise floors (and fit residual RMS) beyond what its delay
/// explains make the newest point's deviation from the fit its clock's, not
/// its path's.
const UNEXPLAINED: f64 = 3.0;

/// As [`fit_line_scaled`], but when the newest point lies further from the
/// line than half its delay's excess (all a delay can explain) plus
/// [`UNEXPLAINED`] noise floors and residual RMS, it is not weighed down for
/// its delay: the clock moved (a frequency error), and down-weighting it
/// would ignore that. A point beyond the core is left as it is.
pub fn fit_line_explained(points: &[Point], at: f64, how: Weighting, scale: Scale) -> Fit {
    let min_delay = scale.min_delay;
    let fit = fit_line_scaled(points, at, how, scale);
    let Some(newest) = points.last().filter(|p| p.delay > min_delay) else { return fit };
    let wp = Weighted::scaled(points, how, scale);
    // Beyond the core the point is caught in congestion: it tells nothing
    // of the clock, whichever way it lies.
    if wp.cut && !wp.in_core(newest) {
        return fit;
    }
    let floor = wp.floor;
    let miss = newest.offset - how.asymmetry * (newest.delay - min_delay) - (fit.offset + fit.slope * (newest.t - at));
    if miss.abs() <= (newest.delay - min_delay) / 2.0 + UNEXPLAINED * (floor + fit.rms) {
        return fit;
    }
    let mut adjusted = points.to_vec();
    if let Some(p) = adjusted.last_mut() {
        p.delay = min_delay;
    }
    fit_line_scaled(&adjusted, at, how, scale)
}

/// The weight `p` would have among `points` (its own delay counts toward
/// their minimum), as a fit weighs it.
pub fn point_weight(points: &[Point], p: &Point, how: Weighting) -> f64 {
    Weighted::against(points, how, min_delay(points).min(p.delay)).weight(p)
}

/// The lowest delay of `points`.
pub fn min_delay(points: &[Point]) -> f64 {
    points.iter().map(|p| p.delay).fold(f64::INFINITY, f64::min)
}

/// Fits `points` (at least one) as `how` says.
pub fn fit_line(points: &[Point], at: f64, how: Weighting) -> Fit {
    fit_line_against(points, at, how, min_delay(points))
}

/// Fits `points` as `how` says, their delays' excess counted from
/// `min_delay` (a span of a register is weighed against the whole register's
/// minimum, not its own).
pub fn fit_line_against(points: &[Point], at: f64, how: Weighting, min_delay: f64) -> Fit {
    fit_line_scaled(points, at, how, Scale::against(points, min_delay))
}

/// Fits `points` as `how` says, weighed against `scale` (a window of a
/// register against the whole register's).
#[allow(clippy::suboptimal_flops)]
pub fn fit_line_scaled(points: &[Point], at: f64, how: Weighting, scale: Scale) -> Fit {
    let wp = Weighted::scaled(points, how, scale);
    let (tm, om, _, sw) = wp.means(at);
    let (mut stt, mut sto) = (0.0, 0.0);
    for p in points {
        let w = wp.weight(p);
        stt += w * (p.t - at - tm).powi(2);
        sto += w * (p.t - at - tm) * (wp.offset(p) - om);
    }
    let enough = points.len() >= 2 && stt > 0.0;
    let slope = if enough { sto / stt } else { 0.0 };
    let offset = om - slope * tm;
    let rss: f64 = points.iter().map(|p| wp.weight(p) * (wp.offset(p) - (offset + slope * (p.t - at))).powi(2)).sum();
    // With weights 1/err^2 the slope's variance is 1/stt.
    Fit {
        offset,
        slope,
        rms: (rss / sw).sqrt(),
        slope_var: if enough { 1.0 / stt } else { f64::INFINITY },
        chi2: if points.len() > 2 { rss / (points.len() - 2) as f64 } else { 0.0 },
        centroid: tm,
    }
}

/// Points an asymmetry estimate needs.
pub const MIN_ASYMMETRY_POINTS: usize = 8;

/// How much the offsets of `points` move per second of delay above the
/// minimum, with time as the other regressor (weighted as `how` says,
/// without any asymmetry correction): about -0.5 when all the variation of
/// the delay is on the way back (a late reply reads the server early),
/// +0.5 when it is on the way out, 0 when it is shared. None with too few
/// points or no spread in delay.
#[allow(clippy::suboptimal_flops)]
pub fn asymmetry(points: &[Point], how: Weighting) -> Option<f64> {
    if points.len() < MIN_ASYMMETRY_POINTS {
        return None;
    }
    let all = Weighted::new(points, Weighting { asymmetry: 0.0, ..how });
    // The core only: see [`CORE_EXCESS`].
    let core: Vec<Point> = all.core().copied().collect();
    if core.len() < MIN_ASYMMETRY_POINTS {
        return None;
    }
    let wp = Weighted::against(&core, Weighting { asymmetry: 0.0, ..how }, all.min_delay());
    let at = points[points.len() - 1].t;
    let (tm, om, dm, _) = wp.means(at);
    let (mut stt, mut std, mut sdd, mut sto, mut sdo) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &core {
        let w = wp.weight(p);
        let (t, d, o) = (p.t - at - tm, p.delay - wp.min_delay() - dm, p.offset - om);
        stt += w * t * t;
        std += w * t * d;
        sdd += w * d * d;
        sto += w * t * o;
        sdo += w * d * o;
    }
    let det = stt * sdd - std * std;
    if det.is_nan() || det <= 1e-9 * stt * sdd {
        return None;
    }
    Some((stt * sdo - std * sto) / det)
}

/// The fewest points [`fit_random_residuals`] narrows a window to.
pub const MIN_RUNS_POINTS: usize = 8;

/// Fits the longest window of the newest points (all, then the newest half,
/// quarter, ..., down to [`MIN_RUNS_POINTS`]) whose residuals pass a runs
/// test: too few runs of equal sign mean the offset has not followed a line
/// over that span (another daemon slewed the clock, the oscillator wandered),
/// and the older points are let go. A noisy but linear history keeps them all.
///
/// Every window is weighed against the whole set's [`Scale`]: a window that
/// a burst of slow samples fills is not judged by those samples alone.
pub fn fit_random_residuals(points: &[Point], at: f64, how: Weighting) -> Fit {
    let scale = Scale::of(points);
    let mut n = points.len();
    loop {
        let window = &points[points.len() - n..];
        let fit = fit_line_scaled(window, at, how, scale);
        if n / 2 < MIN_RUNS_POINTS || residual_runs_are_random(window, &fit, at, how, scale) {
            return fit;
        }
        n /= 2;
    }
}

/// Wald-Wolfowitz runs test on the residuals' signs: false when there are
/// fewer runs than random signs would give, by more than two sigma.
fn residual_runs_are_random(points: &[Point], fit: &Fit, at: f64, how: Weighting, scale: Scale) -> bool {
    let wp = Weighted::scaled(points, how, scale);
    let positive = |p: &Point| wp.offset(p) > fit.offset + fit.slope * (p.t - at);
    let signs: Vec<bool> = wp.core().map(positive).collect();
    let pos = signs.iter().filter(|&&s| s).count() as f64;
    let n = signs.len() as f64;
    let neg = n - pos;
    if pos == 0.0 || neg == 0.0 {
        return n < 3.0;
    }
    let runs = 1 + signs.windows(2).filter(|w| w[0] != w[1]).count();
    let mean = 2.0 * pos * neg / n + 1.0;
    let var = (mean - 1.0) * (mean - 2.0) / (n - 1.0);
    runs as f64 >= mean - 2.0 * var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steering, no asymmetry correction.
    const PLAIN: Weighting = Weighting { floor: Floor::Share(MIN_DELAY_SHARE), asymmetry: 0.0 };

    #[test]
    fn exact_line() {
        let pts: Vec<_> = (0..5)
            .map(|i| Point { t: i as f64 * 10.0, offset: 0.001 + 2e-6 * i as f64 * 10.0, delay: 1e-4, extra: 0.0 })
            .collect();
        let f = fit_line(&pts, 40.0, PLAIN);
        assert!((f.slope - 2e-6).abs() < 1e-12);
        assert!((f.offset - 0.00108).abs() < 1e-12);
        assert!(f.rms < 1e-12);
    }

    #[test]
    fn one_point_has_no_slope() {
        let f = fit_line(&[Point { t: 3.0, offset: 0.5, delay: 0.01, extra: 0.0 }], 10.0, PLAIN);
        assert_eq!((f.offset, f.slope), (0.5, 0.0));
        assert!(f.slope_var.is_infinite());
    }

    #[test]
    fn a_bend_in_the_history_lets_the_old_points_go() {
        // 64 points with alternating noise on a flat line: all kept.
        let noisy = |i: usize| if i % 2 == 0 { 1e-5 } else { -1e-5 };
        let flat: Vec<_> = (0..64).map(|i| Point { t: i as f64, offset: noisy(i), delay: 1e-4, extra: 0.0 }).collect();
        let f = fit_random_residuals(&flat, 63.0, PLAIN);
        assert_eq!(f.centroid, fit_line(&flat, 63.0, PLAIN).centroid);
        // The same, but the last 16 points ramp away (someone slews the clock).
        let bent: Vec<_> = (0..64)
            .map(|i| {
                let ramp = if i >= 48 { (i - 47) as f64 * 1e-4 } else { 0.0 };
                Point { t: i as f64, offset: noisy(i) + ramp, delay: 1e-4, extra: 0.0 }
            })
            .collect();
        let all = fit_line(&bent, 63.0, PLAIN);
        let f = fit_random_residuals(&bent, 63.0, PLAIN);
        assert!(f.centroid > all.centroid, "a shorter window");
        assert!((f.offset - 16e-4).abs() < (all.offset - 16e-4).abs() / 4.0, "{} vs {}", f.offset, all.offset);
    }

    #[test]
    fn asymmetry_is_read_from_how_offsets_follow_delays() {
        let delays = [1e-3, 1.4e-3, 1.1e-3, 2e-3, 1.2e-3, 1.7e-3, 1.05e-3, 1.3e-3, 2.5e-3, 1.15e-3];
        // All the excess on the way back: a sample reads -excess/2.
        let back: Vec<_> = (0..10)
            .map(|i| Point {
                t: i as f64,
                offset: 5e-6 * i as f64 - (delays[i] - 1e-3) / 2.0,
                delay: delays[i],
                extra: 0.0,
            })
            .collect();
        let a = asymmetry(&back, PLAIN).unwrap();
        assert!((a + 0.5).abs() < 1e-9, "{a}");
        // Corrected, the offsets lie on the line again (drift 5 us/s).
        let f = fit_line(&back, 9.0, Weighting { asymmetry: a, ..PLAIN });
        assert!((f.offset - 45e-6).abs() < 1e-9 && (f.slope - 5e-6).abs() < 1e-12, "{f:?}");
        assert!(f.rms < 1e-9);
        // Offsets that do not follow the delay: no asymmetry.
        let shared: Vec<_> = back.iter().map(|p| Point { offset: 5e-6 * p.t, ..*p }).collect();
        assert!(asymmetry(&shared, PLAIN).unwrap().abs() < 1e-9);
        // Too few points, or no spread in delay: no estimate.
        assert_eq!(asymmetry(&back[..MIN_ASYMMETRY_POINTS - 1], PLAIN), None);
        let flat: Vec<_> = back.iter().map(|p| Point { delay: 1e-3, ..*p }).collect();
        assert_eq!(asymmetry(&flat, PLAIN), None);
    }

    #[test]
    fn another_slope_pivots_on_the_centroid() {
        let pts: Vec<_> =
            (0..5).map(|i| Point { t: i as f64 * 10.0, offset: 1e-6 * i as f64, delay: 1e-4, extra: 0.0 }).collect();
        let f = fit_line(&pts, 40.0, PLAIN);
        assert!((f.centroid + 20.0).abs() < 1e-9);
        assert!((f.offset_with_slope(f.slope) - f.offset).abs() < 1e-15);
        // Slope 0: the mean offset, 2 us.
        assert!((f.offset_with_slope(0.0) - 2e-6).abs() < 1e-12);
    }

    #[test]
    fn a_deviation_its_delay_cannot_explain_is_not_weighed_down() {
        // 15 samples on a flat line at a 200 us delay; the newest, 207 us
        // slower, reads 1.64 ms off: at most 104 us of that is its delay's.
        let mut pts: Vec<_> =
            (0..15).map(|i| Point { t: i as f64 * 64.0, offset: 0.0, delay: 2e-4, extra: 0.0 }).collect();
        pts.push(Point { t: 960.0, offset: 1.64e-3, delay: 4.07e-4, extra: 0.0 });
        let weighed_down = fit_line(&pts, 960.0, PLAIN);
        let explained = fit_line_explained(&pts, 960.0, PLAIN, Scale::against(&pts, 2e-4));
        assert!(weighed_down.offset < 0.2e-3, "{}", weighed_down.offset);
        assert!(explained.offset > 3.0 * weighed_down.offset, "{} vs {}", explained.offset, weighed_down.offset);
        // A deviation its delay does explain stays weighed down.
        pts[15].offset = 0.9e-4;
        assert_eq!(fit_line_explained(&pts, 960.0, PLAIN, Scale::against(&pts, 2e-4)), fit_line(&pts, 960.0, PLAIN));
    }

    #[test]
    fn high_delay_samples_count_for_little() {
        let mut pts: Vec<_> = (0..6).map(|i| Point { t: i as f64, offset: 0.0, delay: 2e-4, extra: 0.0 }).collect();
        pts.push(Point { t: 6.0, offset: 0.010, delay: 0.040, extra: 0.0 });
        assert!(fit_line(&pts, 6.0, PLAIN).offset.abs() < 5e-6);
    }
}
