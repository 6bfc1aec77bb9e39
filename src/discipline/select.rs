//! Source selection and combining, free of I/O: which sources agree (the
//! intersection of their correctness intervals, as in RFC 5905 and chrony),
//! which are falsetickers, which one is preferred and the weights that
//! combine the agreeing ones.
//!
//! Rules:
//! - a source's correctness interval is its offset +- its root distance
//!   plus its jitter; the root distance is the server's root delay / 2 and
//!   root dispersion plus half the lowest delay of the samples the estimate
//!   rests on, grown since the sample by the frequency's uncertainty (three
//!   standard deviations, at least [`MIN_AGING`]);
//! - the largest set of intervals sharing a point, if it is a strict
//!   majority of the sources that could answer (reachable ones, whether or
//!   not they have spoken yet), are the truechimers; the rest falsetickers;
//! - two sources that do not agree: the one with the smaller root distance
//!   is followed alone, the other is not used (their disagreement reported);
//! - while sources that have not spoken yet could still make a majority,
//!   selection waits; when no majority can form, nothing is followed;
//! - the selected source (the one whose leap indicator and error bounds the
//!   kernel gets) is the truechimer with the smallest root distance; the
//!   current one stays unless another is smaller by [`RESELECT_DISTANCE`];
//! - truechimers within [`COMBINE_LIMIT`] times the selected one's root
//!   distance ([`COMBINE_HOLD`] times for one combined last time) are combined, each weighted by the inverse square of its
//!   interval's half-width (as an inverse variance; chrony weighs by the
//!   inverse root distance), so equal sources count equally and a noisy or
//!   distant one counts less.

/// The least a sample's root distance grows with its age, s/s (chrony's
/// `maxclockerror`; RFC 5905's fixed 15 ppm would make a 64 s old estimate
/// look 1 ms worse than a fresh one of the same quality).
pub const MIN_AGING: f64 = 1e-6;
/// Truechimers further than this many times the selected one's root distance
/// are not combined (chrony's `combinelimit`)...
pub const COMBINE_LIMIT: f64 = 3.0;
/// ...and one combined last time stays combined up to this many times (a
/// distance near the limit must not switch it in and out at every sample).
pub const COMBINE_HOLD: f64 = 3.75;
/// Another truechimer replaces the selected one only when its root distance
/// is smaller by this much, seconds (chrony's `reselectdist`).
pub const RESELECT_DISTANCE: f64 = 100e-6;

/// A source with an estimate, as selection sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The source's offset estimate now, seconds.
    pub offset: f64,
    /// Root distance now, seconds.
    pub distance: f64,
    /// The estimate's jitter (RMS residual), seconds.
    pub jitter: f64,
    /// It was combined in the last correction.
    pub was_combined: bool,
}

impl Interval {
    pub fn half_width(&self) -> f64 {
        self.distance + self.jitter
    }
    fn lo(&self) -> f64 {
        self.offset - self.half_width()
    }
    fn hi(&self) -> f64 {
        self.offset + self.half_width()
    }
}

/// How the sources stand with each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// A strict majority of the sources that could answer agree.
    Majority,
    /// Two sources that do not agree: the selected one is followed alone.
    TwoDisagree,
    /// Sources that have not spoken yet could still make a majority.
    Waiting,
    /// No majority can form: nothing is followed.
    NoMajority,
}

/// The outcome: indexes into the intervals given.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub agreement: Agreement,
    /// Per interval: inside the majority's intersection.
    pub truechimer: Vec<bool>,
    pub selected: Option<usize>,
    /// The sources followed and their weights (the selected one included).
    pub combined: Vec<(usize, f64)>,
}

/// Selects among `intervals` when `possible` sources (at least as many) could
/// answer; `current` is the selected index of the last selection, if it is
/// among them.
pub fn select(intervals: &[Interval], possible: usize, current: Option<usize>) -> Selection {
    let m = intervals.len();
    let possible = possible.max(m);
    let (depth, region) = deepest(intervals);
    let agreement = if m > 0 && 2 * depth > possible {
        Agreement::Majority
    } else if m == 2 && possible == 2 {
        Agreement::TwoDisagree
    } else if 2 * (depth + possible - m) > possible {
        Agreement::Waiting
    } else {
        Agreement::NoMajority
    };
    let mut truechimer = vec![false; m];
    match (agreement, region) {
        (Agreement::Majority, Some((lo, hi))) => {
            for (i, iv) in intervals.iter().enumerate() {
                truechimer[i] = iv.lo() <= lo && iv.hi() >= hi;
            }
        }
        (Agreement::TwoDisagree, _) => truechimer.iter_mut().for_each(|t| *t = true),
        _ => {}
    }
    let selected = prefer(intervals, &truechimer, current);
    let combined = match (agreement, selected) {
        (Agreement::Majority, Some(s)) => {
            let limit =
                |i: usize| if intervals[i].was_combined { COMBINE_HOLD } else { COMBINE_LIMIT } * intervals[s].distance;
            (0..m)
                .filter(|&i| truechimer[i] && (i == s || intervals[i].distance <= limit(i)))
                .map(|i| (i, 1.0 / intervals[i].half_width().max(1e-9).powi(2)))
                .collect()
        }
        (Agreement::TwoDisagree, Some(s)) => vec![(s, 1.0)],
        _ => vec![],
    };
    if agreement == Agreement::TwoDisagree {
        // Only the preferred one is "true" as far as anyone can tell.
        truechimer.iter_mut().enumerate().for_each(|(i, t)| *t = Some(i) == selected);
    }
    Selection { agreement, truechimer, selected, combined }
}

/// The most intervals that share a point, and the first region where they do.
fn deepest(intervals: &[Interval]) -> (usize, Option<(f64, f64)>) {
    // Edges: (value, +1 opening, -1 closing); at equal values openings first
    // (closed intervals that touch agree).
    let mut edges: Vec<(f64, i32)> = intervals
        .iter()
        .filter(|iv| iv.lo().is_finite() && iv.hi().is_finite())
        .flat_map(|iv| [(iv.lo(), 1), (iv.hi(), -1)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut depth, mut best, mut region) = (0i32, 0i32, None);
    for (i, &(x, kind)) in edges.iter().enumerate() {
        depth += kind;
        if kind == 1 && depth > best {
            best = depth;
            region = Some((x, edges.get(i + 1).map_or(x, |e| e.0)));
        }
    }
    (best as usize, region)
}

/// The truechimer with the smallest root distance; `current` stays unless
/// another is smaller by [`RESELECT_DISTANCE`].
fn prefer(intervals: &[Interval], truechimer: &[bool], current: Option<usize>) -> Option<usize> {
    let best = (0..intervals.len())
        .filter(|&i| truechimer[i])
        .min_by(|&a, &b| intervals[a].distance.total_cmp(&intervals[b].distance).then(a.cmp(&b)))?;
    match current.filter(|&c| c < intervals.len() && truechimer[c]) {
        Some(c) if intervals[c].distance <= intervals[best].distance + RESELECT_DISTANCE => Some(c),
        _ => Some(best),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(offset: f64, distance: f64) -> Interval {
        Interval { offset, distance, jitter: 0.0, was_combined: false }
    }

    #[test]
    fn one_source_is_its_own_majority() {
        let s = select(&[iv(0.1, 0.001)], 1, None);
        assert_eq!(s.agreement, Agreement::Majority);
        assert_eq!((s.selected, s.combined.len()), (Some(0), 1));
    }

    #[test]
    fn a_falseticker_is_outvoted() {
        let s = select(&[iv(0.100, 0.001), iv(0.3, 0.001), iv(0.1004, 0.0012)], 3, None);
        assert_eq!(s.agreement, Agreement::Majority);
        assert_eq!(s.truechimer, vec![true, false, true]);
        assert_eq!(s.selected, Some(0));
        let ids: Vec<_> = s.combined.iter().map(|c| c.0).collect();
        assert_eq!(ids, vec![0, 2]);
        assert!(s.combined[0].1 > s.combined[1].1, "the narrower interval weighs more");
    }

    #[test]
    fn two_of_five_falsetickers_that_agree_with_each_other_lose() {
        let s =
            select(&[iv(0.0, 1e-3), iv(5e-3, 1e-3), iv(0.2e-3, 1e-3), iv(5.1e-3, 1e-3), iv(-0.3e-3, 1e-3)], 5, None);
        assert_eq!(s.agreement, Agreement::Majority);
        assert_eq!(s.truechimer, vec![true, false, true, false, true]);
    }

    #[test]
    fn two_that_disagree_follow_the_smaller_root_distance_alone() {
        let s = select(&[iv(0.0, 0.002), iv(0.2, 0.001)], 2, None);
        assert_eq!(s.agreement, Agreement::TwoDisagree);
        assert_eq!(s.selected, Some(1));
        assert_eq!(s.combined, vec![(1, 1.0)]);
        assert_eq!(s.truechimer, vec![false, true]);
        // Two that agree are combined.
        let s = select(&[iv(0.0, 0.002), iv(0.001, 0.001)], 2, None);
        assert_eq!((s.agreement, s.combined.len()), (Agreement::Majority, 2));
    }

    #[test]
    fn waiting_while_silent_sources_could_still_decide() {
        // One of three has spoken: the other two could outvote it.
        assert_eq!(select(&[iv(0.1, 1e-3)], 3, None).agreement, Agreement::Waiting);
        // Two disagree, a third has not spoken: it will decide.
        assert_eq!(select(&[iv(0.1, 1e-3), iv(0.3, 1e-3)], 3, None).agreement, Agreement::Waiting);
        // Two agree out of three: a majority whatever the third says.
        assert_eq!(select(&[iv(0.1, 1e-3), iv(0.1, 1e-3)], 3, None).agreement, Agreement::Majority);
        // Four of five spoke, all disagreeing: the fifth cannot make a majority.
        let apart: Vec<_> = (0..4).map(|i| iv(i as f64, 1e-3)).collect();
        let s = select(&apart, 5, None);
        assert_eq!(s.agreement, Agreement::NoMajority);
        assert!(s.combined.is_empty() && s.selected.is_none());
        assert_eq!(select(&[], 0, None).agreement, Agreement::NoMajority);
    }

    #[test]
    fn the_selected_source_does_not_flap_between_near_equals() {
        let a = [iv(0.0, 1.00e-3), iv(0.0, 0.95e-3)];
        assert_eq!(select(&a, 2, Some(0)).selected, Some(0), "within the reselect distance");
        assert_eq!(select(&a, 2, None).selected, Some(1));
        let b = [iv(0.0, 1.00e-3), iv(0.0, 0.5e-3)];
        assert_eq!(select(&b, 2, Some(0)).selected, Some(1), "clearly better");
    }

    #[test]
    fn distant_truechimers_are_not_combined() {
        let s = select(&[iv(0.0, 1e-3), iv(0.0, 10e-3), iv(0.0, 2e-3)], 3, None);
        assert_eq!(s.truechimer, vec![true, true, true]);
        let ids: Vec<_> = s.combined.iter().map(|c| c.0).collect();
        assert_eq!(ids, vec![0, 2]);
        // Near the limit, the one combined last time stays in; a newcomer does not.
        let near = [iv(0.0, 1e-3), iv(0.0, 3.2e-3)];
        assert_eq!(select(&near, 2, Some(0)).combined.len(), 1);
        let held = [iv(0.0, 1e-3), Interval { was_combined: true, ..iv(0.0, 3.2e-3) }];
        assert_eq!(select(&held, 2, Some(0)).combined.len(), 2);
    }

    #[test]
    fn intervals_that_only_touch_agree() {
        let s = select(&[iv(0.0, 1.0), iv(2.0, 1.0), iv(4.0, 1.0)], 3, None);
        assert_eq!(s.agreement, Agreement::Majority);
        assert_eq!(s.truechimer, vec![true, true, false]);
    }
}
