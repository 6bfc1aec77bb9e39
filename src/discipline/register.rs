//! A source's sample register: its newest points, and the weighting its next
//! fit uses (whether the delay's variation sits on one leg of the path).

use std::collections::VecDeque;

use super::fit::{asymmetry, fit_line_explained, fit_line_scaled, point_weight, Fit, Floor, Point, Scale, Weighting};

/// An asymmetry estimate at least this large (in size)...
const ASYMMETRY_CLEAR: f64 = 0.45;
/// ...in this many fits in a row, with one sign, is corrected for: all the
/// delay's variation is on one leg (a one-sided queue, a slow path to or
/// from the server's timestamps). Shared variation averages out anyway.
pub(super) const ASYMMETRY_STREAK: u32 = 10;
/// Once corrected for, an asymmetry of the same sign stays corrected for
/// while its estimate stays at least this large (a slope near the bar must
/// not switch the correction on and off from fit to fit).
const ASYMMETRY_HOLD: f64 = 0.25;
/// The spans (newest points) a steering fit chooses from. Noise favours long
/// spans, a wandering oscillator (or a long poll interval) short ones: each
/// new sample scores how well each span of the points before it predicted
/// it, and the fit uses the span that has predicted best lately.
pub(super) const SPANS: [usize; 7] = [4, 6, 8, 12, 16, 24, 32];
/// How fast a span's old prediction errors fade, per sample.
const SPAN_MEMORY: f64 = 0.9;

#[derive(Clone, Debug)]
pub(super) struct Register {
    points: VecDeque<Point>,
    capacity: usize,
    /// Consecutive fits whose asymmetry estimate cleared the bar (its sign
    /// the streak's), and the correction in force (0 until the streak is long).
    asymmetry_streak: i32,
    asymmetry: f64,
    /// Per span of [`SPANS`]: its recent weighted squared prediction error,
    /// and the fading sum of the weights (0: nothing scored yet).
    span_errors: [f64; SPANS.len()],
    span_weights: f64,
}

impl Register {
    pub(super) fn new(capacity: usize) -> Register {
        Register {
            points: VecDeque::with_capacity(capacity),
            capacity,
            asymmetry_streak: 0,
            asymmetry: 0.0,
            span_errors: [0.0; SPANS.len()],
            span_weights: 0.0,
        }
    }

    /// Adds `p`, dropping the oldest point when full.
    pub(super) fn push(&mut self, p: Point) {
        while self.points.len() >= self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(p);
    }

    /// Lets the oldest `n` points go.
    pub(super) fn drop_oldest(&mut self, n: usize) {
        self.points.drain(..n.min(self.points.len()));
    }

    pub(super) fn clear(&mut self) {
        self.points.clear();
        self.span_errors = [0.0; SPANS.len()];
        self.span_weights = 0.0;
    }

    /// Before `p` joins the register: scores how well each span of the
    /// newest points, fitted as `how` says, would have predicted it.
    pub(super) fn score_spans(&mut self, p: &Point, how: Weighting) {
        let points = self.points.make_contiguous();
        if points.len() < 2 {
            return;
        }
        let w = point_weight(points, p, how);
        let scale = Scale::of(points);
        for (k, &span) in SPANS.iter().enumerate() {
            let window = &points[points.len() - span.min(points.len())..];
            let miss = p.offset - fit_line_scaled(window, p.t, how, scale).offset;
            self.span_errors[k] = SPAN_MEMORY * self.span_errors[k] + w * miss * miss;
        }
        self.span_weights = SPAN_MEMORY * self.span_weights + w;
    }

    /// The fit at `t` over the span that has predicted best lately among
    /// those holding at least two points of the core (all the register,
    /// until spans have been scored or when none does): a short span inside
    /// a burst of congestion would follow the congestion.
    pub(super) fn fit_best_span(&mut self, t: f64, how: Weighting) -> Fit {
        let points = self.points.make_contiguous();
        let scale = Scale::of(points);
        let window = |span: usize| &points[points.len() - span.min(points.len())..];
        let core_points = |span: usize| window(span).iter().filter(|p| scale.in_core(p, how.floor)).count();
        let mut ranked: Vec<usize> = (0..SPANS.len()).collect();
        ranked.sort_by(|&a, &b| self.span_errors[a].total_cmp(&self.span_errors[b]));
        let span = ranked
            .into_iter()
            .map(|k| SPANS[k])
            .find(|&span| self.span_weights > 0.0 && core_points(span) >= 2)
            .unwrap_or(self.capacity);
        fit_line_explained(window(span), t, how, scale)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Starts afresh from `points` (a step's votes).
    pub(super) fn replace(&mut self, points: impl IntoIterator<Item = Point>) {
        self.points.clear();
        points.into_iter().for_each(|p| self.push(p));
    }

    /// The mean delay of the points, seconds (0 without any).
    pub(super) fn mean_delay(&self) -> f64 {
        self.points.iter().map(|p| p.delay).sum::<f64>() / self.points.len().max(1) as f64
    }

    pub(super) fn points(&mut self) -> &mut [Point] {
        self.points.make_contiguous()
    }

    /// Moves every point's offset by `shift(point time)`: re-bases the
    /// register after corrections of the clock.
    pub(super) fn shift(&mut self, shift: impl Fn(f64) -> f64) {
        for p in self.points.iter_mut() {
            p.offset += shift(p.t);
        }
    }

    /// The weighting for the register's next fit: updates the asymmetry
    /// streak from the register as it is now.
    pub(super) fn weighting(&mut self, floor: Floor) -> Weighting {
        let plain = Weighting { floor, asymmetry: 0.0 };
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
    pub(super) fn asymmetry(&self) -> f64 {
        self.asymmetry
    }
}
