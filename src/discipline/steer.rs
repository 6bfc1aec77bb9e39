//! Steering one clock from several sources, free of I/O. Each source's
//! samples go into a register of its own; selection ([`super::select`])
//! picks the sources that agree; their estimates are combined into one
//! correction of the clock's phase (a step or a slew) and frequency.
//!
//! Every register describes the clock as it is corrected now: each
//! correction is kept in a running frame (the sums of frequency changes,
//! their times, and phases), and a source's points are brought into the
//! current frame when the source is next used, so a correction costs the
//! same with one source or a thousand. Between its samples a source's
//! estimate is carried forward flat, less the phase corrected since.
//!
//! With one source this is exactly the single-server discipline: each
//! sample refits the register, corrects the frequency as far as the fit is
//! sure of it, and slews the offset; a step needs three agreeing samples.

use std::time::Duration;

use super::fit::{fit_line, Fit, Floor, Point, Weighting, MIN_DELAY_SHARE};
use super::foreign::MAXERROR_CAP_US;
use super::register::Register;
use super::select::{select, Agreement, Interval, Selection, MIN_AGING};
use super::{
    ClockAction, Correction, Decision, KernelLimits, Role, SyncReport, DEFAULT_SLEW_RATE, FIRST_BACKWARD_LIMIT_SECS,
    FIRST_SYNC_STEP_THRESHOLD_SECS, MAX_FREQ_PPM, MAX_POINTS, PANIC_BOUND_SECS, STEP_AGREEMENT, STEP_THRESHOLD_SECS,
};
use crate::proto::timestamp::NtpDuration;
use crate::proto::validate::Sample;

/// Samples whose slew uncertainty exceeds this do not move the frequency
/// (their offsets read biased, not just noisy).
const SLEW_BIAS_LIMIT: f64 = 50e-6;
/// What we assume of an unknown oscillator's frequency error (1 sigma), s/s:
/// crystals are within about 100 ppm.
const INITIAL_FREQ_SD: f64 = 100e-6;
/// A fit's slope this many standard deviations (its own and the estimate's
/// together) from the frequency in force means the estimate was wrong, not
/// unlucky.
const FREQ_GATE: f64 = 4.0;
/// How long after a step the samples may still widen the frequency
/// estimate, seconds (votes over a congested path may be too unsure at the
/// step itself: in simulation, 10 ms round trips from a kernel left at
/// +5000 ppm synchronised in 5 to 174 s without, 5 to 28 s with).
const SUSPECT_AFTER_STEP_SECS: f64 = 60.0;
/// How fast a frequency estimate ages (random walk), (s/s)^2 per second: lets
/// the estimate follow temperature and the like. 5e-18 is a random walk of
/// about 2.2e-9/sqrt(s), an Allan deviation near 4e-8 at 1000 s: a PC
/// crystal in a quiet room. (In chrony's simulated scenario, 1e-9/sqrt(s),
/// 1e-17 read the frequency 10 % worse at 16 and 64 s polls; under a walk
/// ten times faster 5e-18 costs 10 % RMS against 1e-17, 50 % against 1e-16.
/// The span a fit uses adapts to the wander.)
const FREQ_WANDER: f64 = 5e-18;
/// The wander allowed at first, before the innovations have said anything:
/// 2e-16, a random walk of 1.4e-8/sqrt(s), six times chrony's default
/// scenario's. It falls to what the innovations show (halving every
/// [`WANDER_WINDOW`] updates while they are small) but rises only by steps
/// of ten, so a start at the floor left a fast-wandering oscillator
/// untracked for its first thousand seconds. (Chosen in simulation, 30
/// seeds: at 100 times chrony's default wander, max offset 561 / 1045 us
/// median / worst from the floor, 483 / 776 us from 2e-16 (5e-16: 473 /
/// 770, but the 64 s frequency error of chrony's default scenario 17 %
/// worse; 2e-16 costs it 7 %).)
const INITIAL_WANDER: f64 = 2e-16;
/// The most wander allowed for: a random walk of 3e-7/sqrt(s), three times
/// chrony's `007-largewander` test.
const MAX_WANDER: f64 = 1e-13;
/// Updates over which the wander is judged, and the median of chi-square
/// with one degree of freedom.
const WANDER_WINDOW: usize = 5;
const CHI2_1_MEDIAN: f64 = 0.455;
/// Two slopes in a row this many standard deviations (their own and the
/// estimate's) from the frequency in force, on the same side, mean the
/// rate changed: the estimate's doubt widens to the slope, as at a step.
/// (In simulation, three servers and the clock's rate changed by 200 ppm at
/// 3000 s: within 1 ms for good from 3787 / 3983 s, median / worst, 64 /
/// 315 s with no client synchronised, against 3228 / 3332 s and 1 / 126 s
/// with this rule; no other row of the tables moved, 0.1 s exponential
/// queueing included. At 4 sd, or one slope alone, heavy jitter stepped
/// again.)
const RATE_CHANGE_GATE: f64 = 10.0;
/// Corrections made at least this far apart (seconds) are spread over time
/// as a frequency offset instead of slewed at the backend's 500 ppm: over
/// [`SPREAD_FACTOR`] times that interval, at most [`SPREAD_MAX_SECS`]. At
/// long polls a 500 ppm slew puts the whole correction into one short
/// stretch (a 64 s average reads it as c / 64 s); spread, the clock's rate
/// stays within a small fraction of a ppm. At shorter polls the correction
/// is small against one such window and is made at once (offset first).
const SPREAD_FROM_SECS: f64 = 128.0;
const SPREAD_FACTOR: f64 = 2.0;
const SPREAD_MAX_SECS: f64 = 1024.0;
/// A spread never runs faster than this: larger slews go to the backend.
const SPREAD_MAX_RATE: f64 = 100e-6;
/// How fast the kernel lets maxerror grow, s/s (what a report re-published
/// later must add).
const MAXERROR_GROWTH: f64 = 500e-6;

/// A source of the steering discipline (one steering client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// Why a source has its role.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Why {
    /// Nothing to add (selected, combined, measuring by choice).
    Nothing,
    /// No valid sample yet.
    NoSample,
    /// Its newest sample disagrees with its own estimate (the server's time
    /// or its path changed): left out until its estimate has caught up.
    Inconsistent,
    /// Its offset calls for a step: this many agreeing samples of the three needed.
    AwaitingAgreement(usize),
    /// Other sources have not answered yet and could still make the majority.
    WaitingForOthers,
    /// No majority of the sources agrees.
    NoMajority,
    /// Its server stopped answering.
    Unreachable,
    /// A truechimer, but its root distance is beyond the combine limit.
    Distant,
    /// One of two sources that disagree, and not the one with the smaller
    /// root distance: `by` seconds from the one followed.
    Disagrees { by: f64 },
    /// A falseticker: `by` seconds from the offset the majority agrees on.
    OutsideMajority { by: f64 },
    /// Followed, but no correction with it has been applied yet.
    NotApplied,
}

/// A source's state as published to its client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceView {
    pub role: Role,
    pub why: Why,
    /// Its offset estimate at its last sample (what it said the clock was
    /// off by), seconds, and its jitter.
    pub offset: f64,
    pub jitter: f64,
}

/// A slew folded into the frequency: `rate` (s/s) on top of the frequency
/// until `until` (monotonic s).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spread {
    rate: f64,
    until: f64,
}

impl Spread {
    /// What is still to be corrected at `t`, seconds.
    fn left(&self, t: f64) -> f64 {
        self.rate * (self.until - t).max(0.0)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Frame {
    /// Sum of frequency changes (s/s), of each change times its time, and
    /// of the phases corrected (s).
    f: f64,
    g: f64,
    p: f64,
}

impl Frame {
    fn apply(&mut self, t: f64, dfreq: f64, phase: f64) {
        self.f += dfreq;
        self.g += dfreq * t;
        self.p += phase;
    }

    /// How much the offset of a point taken at `t`, stored in frame `old`,
    /// moves to describe the clock as this frame has it: as if every later
    /// frequency had always been in force and every later phase corrected.
    fn shift_since(&self, old: &Frame, t: f64) -> f64 {
        (self.g - old.g) - (self.f - old.f) * t - (self.p - old.p)
    }
}

#[derive(Clone, Copy, Debug)]
struct Estimate {
    /// The offset at `t` (carried forward flat, less phases corrected since
    /// the frame's `p` was `p`).
    offset: f64,
    p: f64,
    /// The fit it came from, evaluated at the sample's time.
    fit: Fit,
    /// From step votes (offset above the step threshold).
    step: bool,
    /// Taken while our slew ran: how far off that may have read it, seconds
    /// (0 when below [`SLEW_BIAS_LIMIT`]).
    slewing: f64,
    /// The frame's frequency sum when the fit was made: its slope less
    /// what the frequency has changed since is its frequency error now.
    f: f64,
    /// When (monotonic s).
    t: f64,
}

#[derive(Clone, Copy, Debug)]
struct Last {
    sample: Sample,
    t: f64,
    /// The sample's root distance (its own delay / 2 included), seconds.
    root_distance: f64,
    /// The same for the estimate: the server's part, plus half the lowest
    /// delay of the samples it rests on (the fit weighs those most). Steady
    /// where a single sample's delay is not, so preference does not flap.
    distance: f64,
    /// Seconds since the source's sample before (0 for its first): about
    /// how long the clock runs on this sample's correction.
    interval: f64,
}

#[derive(Clone, Debug)]
struct Source {
    register: Register,
    /// Samples above the step threshold, consecutive and agreeing.
    votes: Vec<Point>,
    /// The frame `register` and `votes` are in.
    frame: Frame,
    reachable: bool,
    /// Its newest sample agrees with its estimate before it.
    consistent: bool,
    estimate: Option<Estimate>,
    last: Option<Last>,
    jitter: f64,
    /// Its offset estimate at its last sample, for its client's statistics.
    offset: f64,
    role: Role,
    why: Why,
    /// In the combined set of the last correction, and whether that
    /// correction was applied (the clock follows it).
    combined: bool,
    applied: bool,
}

impl Source {
    fn new() -> Source {
        Source {
            register: Register::new(MAX_POINTS),
            votes: vec![],
            frame: Frame::default(),
            reachable: true,
            consistent: true,
            estimate: None,
            last: None,
            jitter: 0.0,
            offset: 0.0,
            role: Role::Candidate,
            why: Why::NoSample,
            combined: false,
            applied: false,
        }
    }

    /// Brings the register and votes into `frame`.
    fn sync(&mut self, frame: &Frame) {
        if self.frame != *frame {
            let old = self.frame;
            self.register.shift(|t| frame.shift_since(&old, t));
            for v in &mut self.votes {
                v.offset += frame.shift_since(&old, v.t);
            }
            self.frame = *frame;
        }
    }

    /// Its estimate now, if it has a usable one, its distance grown by
    /// `aging` (s/s) since the sample.
    fn interval(&self, frame: &Frame, t: f64, aging: f64) -> Option<Interval> {
        let (e, last) = (self.estimate.as_ref()?, self.last.as_ref()?);
        (self.reachable).then(|| Interval {
            offset: e.offset - (frame.p - e.p),
            distance: last.distance + aging * (t - last.t).max(0.0),
            jitter: self.jitter,
            was_combined: self.combined,
        })
    }
}

/// The steering discipline of one clock.
#[derive(Clone, Debug)]
pub struct Steering {
    sources: Vec<Option<Source>>,
    free: Vec<u32>,
    frame: Frame,
    /// Frequency correction in force, s/s (positive: the clock runs faster).
    freq: f64,
    /// The largest frequency correction the backend can make, s/s.
    max_freq: f64,
    /// The rate at which the backend's kernel slews, s/s.
    slew_rate: f64,
    /// Variance of the frequency estimate, (s/s)^2, and when it was last updated.
    freq_var: f64,
    freq_var_at: f64,
    /// The oscillator's wander the estimate allows for, (s/s)^2 per second
    /// (from [`INITIAL_WANDER`], between [`FREQ_WANDER`] and [`MAX_WANDER`]
    /// as the innovations show), and the recent
    /// normalised innovations.
    wander: f64,
    innovations: Vec<f64>,
    /// The sign of the last update's slope when it lay beyond
    /// [`RATE_CHANGE_GATE`], else 0.
    far_side: f64,
    stepped_or_synced: bool,
    /// Until when (monotonic s) a slew we asked for is still running, and
    /// the most a sample can read off meanwhile (the largest chunk).
    slewing_until: f64,
    slewing_error: f64,
    /// The slew running as a frequency offset, if any.
    spread: Option<Spread>,
    /// The last report published and when (monotonic s).
    last_report: Option<(SyncReport, f64)>,
    /// The combined offset of the last correction, seconds.
    last_offset: f64,
    /// When the last correction was made (monotonic s).
    last_correction_at: f64,
    /// When the last step was made (monotonic s).
    last_step_at: f64,
    selected: Option<SourceId>,
    /// The combined set may differ from the last correction's (a source
    /// left, became unreachable or was reset).
    set_changed: bool,
    truechimers: usize,
}

impl Default for Steering {
    fn default() -> Self {
        Steering::new(0.0)
    }
}

impl Steering {
    /// A discipline starting from the frequency correction already in force.
    pub fn new(freq_ppm: f64) -> Steering {
        Steering {
            sources: vec![],
            free: vec![],
            frame: Frame::default(),
            freq: freq_ppm * 1e-6,
            max_freq: MAX_FREQ_PPM * 1e-6,
            slew_rate: DEFAULT_SLEW_RATE,
            freq_var: INITIAL_FREQ_SD * INITIAL_FREQ_SD,
            freq_var_at: 0.0,
            wander: INITIAL_WANDER,
            innovations: vec![],
            far_side: 0.0,
            stepped_or_synced: false,
            slewing_until: f64::NEG_INFINITY,
            slewing_error: 0.0,
            spread: None,
            last_report: None,
            last_offset: 0.0,
            last_correction_at: f64::NEG_INFINITY,
            last_step_at: f64::NEG_INFINITY,
            selected: None,
            set_changed: false,
            truechimers: 0,
        }
    }

    /// A discipline starting from the frequency correction in force, within
    /// what the backend's kernel can do.
    pub fn with_limits(freq_ppm: f64, limits: KernelLimits) -> Steering {
        let max_freq = limits.max_freq_ppm.abs() * 1e-6;
        let freq = (freq_ppm * 1e-6).clamp(-max_freq, max_freq);
        // A frequency in force far beyond what oscillators need was left by
        // somebody (a crashed daemon, an administrator): it is doubted as
        // much as it is large, so the first slopes set the rate. (In a
        // guest under load, from a kernel left at +5000 ppm, the step votes
        // were too unsure to move 100 ppm of doubt; each source's estimate
        // then ran off at 5 ms/s, no majority agreed, and nothing corrected
        // the clock for 20 s. In simulation, three servers over 0.4 ms +
        // exponential 5 ms paths, kernel at ±5000 ppm: more than 1 ms off
        // 40 s after start in 31 and 28 seeds of 100, 6 and 6 with this.)
        let doubt = (INITIAL_FREQ_SD * INITIAL_FREQ_SD).max(freq * freq);
        Steering { max_freq, slew_rate: limits.slew_rate, freq, freq_var: doubt, ..Steering::new(0.0) }
    }

    /// Forgets everything learnt (samples, frequency estimate, sync), keeping
    /// the sources: for a clock this discipline has not been steering.
    pub fn restart(&mut self, freq_ppm: f64, limits: KernelLimits) {
        let sources = std::mem::take(&mut self.sources);
        let free = std::mem::take(&mut self.free);
        *self = Steering::with_limits(freq_ppm, limits);
        self.sources = sources.into_iter().map(|s| s.map(|_| Source::new())).collect();
        self.free = free;
    }

    pub fn add_source(&mut self) -> SourceId {
        match self.free.pop() {
            Some(i) => {
                self.sources[i as usize] = Some(Source::new());
                SourceId(i)
            }
            None => {
                self.sources.push(Some(Source::new()));
                SourceId(self.sources.len() as u32 - 1)
            }
        }
    }

    pub fn remove_source(&mut self, id: SourceId) {
        if let Some(slot) = self.sources.get_mut(id.0 as usize) {
            if slot.take().is_some_and(|s| s.combined) {
                self.set_changed = true;
            }
            self.free.push(id.0);
        }
        if self.selected == Some(id) {
            self.selected = None;
        }
    }

    /// Forgets a source's samples (its client was configured again).
    pub fn reset_source(&mut self, id: SourceId) {
        if let Some(s) = self.source_mut(id) {
            let was = s.combined;
            *s = Source::new();
            self.set_changed |= was;
        }
    }

    /// Its server stopped answering: out of selection until its next sample.
    pub fn set_unreachable(&mut self, id: SourceId) {
        if let Some(s) = self.source_mut(id) {
            s.reachable = false;
            let was = s.combined;
            (s.role, s.why, s.combined, s.applied) = (Role::Candidate, Why::Unreachable, false, false);
            self.set_changed |= was;
        }
    }

    fn source_mut(&mut self, id: SourceId) -> Option<&mut Source> {
        self.sources.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    fn source(&self, id: SourceId) -> Option<&Source> {
        self.sources.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// A source's role and estimate; `None` for an unknown id.
    pub fn view(&self, id: SourceId) -> Option<SourceView> {
        let s = self.source(id)?;
        let (role, why) =
            if s.role.follows() && !s.applied { (Role::Candidate, Why::NotApplied) } else { (s.role, s.why) };
        Some(SourceView { role, why, offset: s.offset, jitter: s.jitter })
    }

    /// The frequency correction in force, ppm (a running spread's rate
    /// not included: that is a phase correction).
    pub fn freq_ppm(&self) -> f64 {
        self.freq * 1e6
    }

    /// What the running spread has still to correct at `now`, seconds (0
    /// without one): with the backend's pending slew, what a sample's
    /// offset is read against.
    pub fn spread_left(&self, now: Duration) -> f64 {
        self.spread.map_or(0.0, |s| s.left(now.as_secs_f64()))
    }

    /// When the running spread ends ([`Steering::end_spread`] is due).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.spread.map(|s| Duration::from_secs_f64(s.until.max(0.0)))
    }

    /// At or after the running spread's end: the action that ends it (the
    /// frequency alone again; what it ran over its time, if it ended late,
    /// taken back with the backend's slew along with `pending`, what that
    /// slew still had to do) and the last report, its maxerror grown as the
    /// kernel grows it.
    pub fn end_spread(&mut self, now: Duration, pending: NtpDuration) -> Option<(ClockAction, SyncReport)> {
        let t = now.as_secs_f64();
        // (Compared as the deadline was given: rounded to nanoseconds.)
        let s = self.spread.filter(|_| self.next_deadline().is_some_and(|d| now >= d))?;
        self.spread = None;
        let overrun = s.rate * (t - s.until).max(0.0);
        let action = ClockAction {
            correction: Correction::Slew,
            offset: NtpDuration::from_seconds(pending.as_seconds() - overrun),
            freq_ppm: self.freq_ppm(),
        };
        let report =
            self.last_report.map_or(SyncReport { max_error_us: 16_000_000, est_error_us: 0, leap: 0 }, |(r, at)| {
                let grown = r.max_error_us.saturating_add(((t - at) * MAXERROR_GROWTH * 1e6).ceil() as i64);
                SyncReport { max_error_us: grown.min(MAXERROR_CAP_US), ..r }
            });
        Some((action, report))
    }

    /// The combined offset of the last correction, seconds.
    pub fn last_offset(&self) -> f64 {
        self.last_offset
    }

    /// Sources (reachable or not) and, at the last selection, truechimers.
    pub fn counts(&self) -> (usize, usize) {
        (self.sources.iter().flatten().count(), self.truechimers)
    }

    /// The last correction was applied: the clock now follows the sources it
    /// combined.
    pub fn confirm(&mut self) {
        for s in self.sources.iter_mut().flatten() {
            s.applied = s.combined;
        }
    }

    /// Decides about `sample` from source `id`, taken at monotonic time
    /// `now`, while `pending_slew` of an earlier correction has not been
    /// slewed yet.
    pub fn sample(&mut self, id: SourceId, now: Duration, sample: &Sample, pending_slew: NtpDuration) -> Decision {
        let t = now.as_secs_f64();
        // What earlier corrections have still to do: the backend's slew and our spread.
        let pending = pending_slew.as_seconds() + self.spread_left(now);
        let frame = self.frame;
        let threshold = if self.stepped_or_synced { STEP_THRESHOLD_SECS } else { FIRST_SYNC_STEP_THRESHOLD_SECS };
        let extra = if t < self.slewing_until { self.slewing_error } else { 0.0 };
        let slewing = if extra > SLEW_BIAS_LIMIT { extra } else { 0.0 };
        let aging = self.aging();
        // How fast a clock can drift from its servers with the frequency in
        // force: anywhere in the backend's range the oscillator may need.
        let max_drift = self.max_freq + self.freq.abs();
        let Some(src) = self.source_mut(id) else { return Decision::Hold };
        src.sync(&frame);
        // The offset that will remain once the slew in progress completes.
        let offset = sample.offset.as_seconds() - pending;
        let point = Point { t, offset, delay: sample.delay.as_seconds().max(0.0), extra };
        let root_distance = sample.root_distance().as_seconds().max(0.0);
        let server_part = (root_distance - point.delay / 2.0).max(0.0);
        // A step vote: beyond the threshold by more than half the delay's
        // excess over the register's lowest (a sample slow on one leg can
        // read that far off without the clock or the server having moved),
        // that allowance at most the threshold again.
        let lowest = src.register.points().iter().map(|p| p.delay).fold(point.delay, f64::min);
        let vote = offset.abs() - ((point.delay - lowest) / 2.0).min(threshold) > threshold;
        // Both the sample's interval and the estimate's before it contain the
        // true offset of a server that keeps its time: they must overlap.
        if let Some(before) = src.interval(&frame, t, aging).filter(|_| !vote) {
            src.consistent = (offset - before.offset).abs() <= root_distance + before.half_width();
        }
        src.reachable = true;
        if vote {
            // Keep only the votes this one agrees with.
            src.votes.retain(|v| agree(v, &point, max_drift));
            src.votes.push(point);
            keep_linear(&mut src.votes);
            // Until the votes agree, a source the clock follows keeps its
            // estimate and its role: one outlier never drops it.
            if src.votes.len() < STEP_AGREEMENT && src.estimate.is_some_and(|e| !e.step) {
                return Decision::Hold;
            }
        }
        let interval = src.last.map_or(0.0, |l| t - l.t);
        src.last = Some(Last { sample: *sample, t, root_distance, distance: root_distance, interval });
        src.estimate = if vote {
            (src.votes.len() >= STEP_AGREEMENT).then(|| {
                let plain = Weighting { floor: Floor::Share(MIN_DELAY_SHARE), asymmetry: 0.0 };
                estimate(fit_line(&src.votes, t, plain), &frame, t, true, 0.0)
            })
        } else {
            src.votes.clear();
            let plain = Weighting { floor: Floor::Share(MIN_DELAY_SHARE), asymmetry: src.register.asymmetry() };
            src.register.score_spans(&point, plain);
            src.register.push(point);
            let how = src.register.weighting(Floor::Share(MIN_DELAY_SHARE));
            let fit = src.register.fit_best_span(t, how);
            src.jitter = fit.rms;
            Some(estimate(fit, &frame, t, false, slewing))
        };
        if let Some(e) = src.estimate {
            src.offset = e.fit.offset;
            let lowest = if e.step { &src.votes[..] } else { src.register.points() };
            let min_delay = lowest.iter().map(|p| p.delay).fold(point.delay, f64::min);
            if let Some(l) = src.last.as_mut() {
                l.distance = server_part + min_delay / 2.0;
            }
        }
        let decision = self.decide(id, t, pending, threshold);
        if let Decision::Apply(_, report) = decision {
            self.last_report = Some((report, t));
        }
        decision
    }

    /// Selection, then the correction, after a sample from `id`.
    fn decide(&mut self, id: SourceId, t: f64, pending: f64, threshold: f64) -> Decision {
        let (ids, intervals): (Vec<SourceId>, Vec<Interval>) = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((SourceId(i as u32), s.as_ref()?.interval(&self.frame, t, self.aging())?)))
            .unzip();
        let possible = self.sources.iter().flatten().filter(|s| s.reachable).count();
        // A source disagreeing with itself counts only when it is alone, or
        // when most sources do: then it is the clock that moved (its rate
        // changed, or somebody stepped it), not every server's time, and
        // selection among them decides.
        let consistent = ids.iter().filter(|sid| self.source(**sid).is_some_and(|s| s.consistent)).count();
        let clock_moved = 2 * (ids.len() - consistent) > ids.len();
        let (ids, intervals): (Vec<SourceId>, Vec<Interval>) = ids
            .into_iter()
            .zip(intervals)
            .filter(|(sid, _)| possible == 1 || clock_moved || self.source(*sid).is_some_and(|s| s.consistent))
            .unzip();
        // Per slot: its index among the intervals, and whether it is combined.
        let mut index = Index { at: vec![usize::MAX; self.sources.len()], combined: vec![false; self.sources.len()] };
        for (k, sid) in ids.iter().enumerate() {
            index.at[sid.0 as usize] = k;
        }
        let current = self.selected.map(|c| index.at[c.0 as usize]).filter(|&k| k != usize::MAX);
        let sel = select(&intervals, possible, current);
        if sel.agreement != Agreement::Waiting {
            self.selected = sel.selected.map(|i| ids[i]);
        }
        // (While waiting, assign_roles keeps the followed ones' selection.)
        self.truechimers = sel.truechimer.iter().filter(|&&x| x).count();
        let combined: Vec<(SourceId, f64)> = sel.combined.iter().map(|&(i, w)| (ids[i], w)).collect();
        for &(sid, _) in &combined {
            index.combined[sid.0 as usize] = true;
        }
        self.assign_roles(&ids, &intervals, &sel, &combined, &index);

        let same_set = !self.set_changed
            && self.sources.iter().enumerate().all(|(i, s)| s.as_ref().is_none_or(|s| s.combined == index.combined[i]));
        let sampled_in = index.combined[id.0 as usize];
        if combined.is_empty() || (!sampled_in && same_set) {
            return Decision::Hold;
        }
        for (i, slot) in self.sources.iter_mut().enumerate() {
            if let Some(s) = slot {
                s.combined = index.combined[i];
            }
        }
        self.set_changed = false;

        // A step only when a combined source voted for one and the combined
        // offset is above the threshold; otherwise every correction is a slew.
        let voted = combined.iter().any(|c| self.estimate(c.0).is_some_and(|e| e.step));
        let (c0, _, _) = self.combine(&combined, id, 0.0);
        if voted && c0.abs() > threshold {
            let (_, _, jitter) = self.combine(&combined, id, 0.0);
            return self.step(id, t, c0, jitter, &combined, &index);
        }
        // The sampled source's fit corrects the frequency as far as it is sure of it.
        let freq = match self.estimate(id) {
            Some(e) if sampled_in && !e.step => {
                // A sample read while our slew ran may be off by up to a
                // chunk of it, and so may the one before: that much more
                // uncertainty in the slope, spread over the fit's span.
                // (With several sources at short polls nearly every sample
                // is read during some slew: a frequency far off must still
                // be corrected, as far as the samples are sure of it.)
                let bias = (2.0 * e.slewing / e.fit.centroid.abs().max(1.0)).powi(2);
                let var = e.fit.slope_var * e.fit.chi2.max(1.0) + bias;
                // A source whose frequency error disagrees wildly with the
                // other combined sources' does not set the clock's rate.
                let others = self.others_slope(id, &combined, t);
                if others.is_some_and(|(m, v)| (e.fit.slope - m).powi(2) > FREQ_GATE * FREQ_GATE * (var + v)) {
                    self.freq
                } else {
                    // (Nor surer than the fit's residuals over its span
                    // say: under heavy queueing the delays' weights can
                    // make a fit's own variance far too small.)
                    let scatter = (e.fit.rms / (2.0 * e.fit.centroid.abs()).max(1.0)).powi(2);
                    // Shortly after a step the frequency in force is still
                    // suspect: a slope far beyond what the fit and its
                    // points' delays (half the mean delay over the span)
                    // leave open may widen the estimate, as at the step.
                    let by_delay = self.source(id).map_or(f64::INFINITY, |s| {
                        (s.register.mean_delay() / 2.0 / (2.0 * e.fit.centroid.abs()).max(1.0)).powi(2)
                    });
                    let suspect = t < self.last_step_at + SUSPECT_AFTER_STEP_SECS && e.fit.chi2 > 0.0;
                    let ev = suspect.then_some((var + scatter).max(by_delay));
                    self.update_frequency(t, e.fit.slope, e.fit.slope_var + bias + scatter, ev)
                }
            }
            _ => self.freq,
        };
        let dfreq = freq - self.freq;
        let (c, c_raw, jitter) = self.combine(&combined, id, dfreq);
        if let Some(s) = self.source_mut(id) {
            if let Some(e) = s.estimate.as_mut().filter(|e| sampled_in && !e.step) {
                e.offset = e.fit.offset_with_slope(dfreq);
                s.offset = e.offset;
            }
        }
        self.frame.apply(t, dfreq, c);
        self.freq = freq;
        self.last_offset = c;
        self.stepped_or_synced = true;
        // A new slew replaces the old one: it must include what is pending.
        let slew = c + pending;
        // Spread over about the time until this source's next sample.
        // Spread over twice the time since the last correction (about two
        // of the next), when that is long.
        let since = if self.last_correction_at.is_finite() { (t - self.last_correction_at).max(0.0) } else { 0.0 };
        self.last_correction_at = t;
        let over = if since >= SPREAD_FROM_SECS { (SPREAD_FACTOR * since).min(SPREAD_MAX_SECS) } else { 0.0 };
        // (Never beyond the backend's range: the rest goes to its slew.)
        let room = self.max_freq - self.freq.abs();
        self.spread = (over > 0.0 && slew.abs() <= SPREAD_MAX_RATE.min(room) * over)
            .then(|| Spread { rate: slew / over, until: t + over });
        let (backend_slew, rate) = match self.spread {
            // The backend's own slew is cancelled: its rest is in `slew`.
            Some(s) => {
                self.slewing_until = f64::NEG_INFINITY;
                (0.0, s.rate)
            }
            None => {
                let earlier = if t < self.slewing_until { self.slewing_error } else { 0.0 };
                self.slewing_until = t + slew.abs() / self.slew_rate + 1.0;
                // While a slew of ours runs, a sample's offset is uncertain
                // by what the kernel slews in a second, at most: Linux takes
                // each second's chunk (up to 500 us, or the whole of a
                // smaller slew) off the pending amount at once.
                self.slewing_error = earlier.max(slew.abs().min(self.slew_rate * 1.0));
                (slew, 0.0)
            }
        };
        let action = ClockAction {
            correction: Correction::Slew,
            offset: NtpDuration::from_seconds(backend_slew),
            freq_ppm: (self.freq + rate) * 1e6,
        };
        Decision::Apply(action, self.report(&combined, t, c_raw, jitter, slew))
    }

    fn estimate(&self, id: SourceId) -> Option<Estimate> {
        self.source(id)?.estimate
    }

    /// The other combined sources' frequency errors now (their fits' slopes
    /// less the frequency changed since), averaged by their variances (aged
    /// by the wander allowed), and the variance of that mean; None without
    /// any.
    fn others_slope(&self, id: SourceId, combined: &[(SourceId, f64)], t: f64) -> Option<(f64, f64)> {
        let (mut inv, mut sum) = (0.0, 0.0);
        for &(sid, _) in combined.iter().filter(|c| c.0 != id) {
            let Some(e) = self.estimate(sid).filter(|e| !e.step && e.fit.slope_var.is_finite()) else { continue };
            let var = e.fit.slope_var * e.fit.chi2.max(1.0) + self.wander * (t - e.t).max(0.0);
            if var > 0.0 {
                inv += 1.0 / var;
                sum += (e.fit.slope - (self.frame.f - e.f)) / var;
            }
        }
        (inv > 0.0).then(|| (sum / inv, 1.0 / inv))
    }

    /// The combined offset now, the same of the raw fits (the offset before
    /// any correction), and the combined jitter (each source's, plus its
    /// spread about the combination), with the frequency about to change by
    /// `dfreq`: the sampled source `id` is read off its fit pivoted to the
    /// new frequency, the others carried forward.
    fn combine(&self, combined: &[(SourceId, f64)], id: SourceId, dfreq: f64) -> (f64, f64, f64) {
        let frame = self.frame;
        let offsets = |sid: SourceId| -> (f64, f64) {
            let e = self.estimate(sid).expect("combined sources have estimates");
            match (sid == id, e.step) {
                (true, false) => (e.fit.offset_with_slope(dfreq), e.fit.offset),
                (true, true) => (e.fit.offset, e.fit.offset),
                _ => {
                    let now = e.offset - (frame.p - e.p);
                    (now, now)
                }
            }
        };
        let (mut sw, mut so, mut sr) = (0.0, 0.0, 0.0);
        for &(sid, w) in combined {
            let (o, raw) = offsets(sid);
            (sw, so, sr) = (sw + w, so + w * o, sr + w * raw);
        }
        let c = so / sw;
        let spread: f64 = combined
            .iter()
            .map(|&(sid, w)| w * (self.source(sid).map_or(0.0, |s| s.jitter).powi(2) + (offsets(sid).0 - c).powi(2)))
            .sum();
        (c, sr / sw, (spread / sw).sqrt())
    }

    /// Steps by the combined offset `step`, unless beyond the bounds.
    fn step(
        &mut self,
        id: SourceId,
        t: f64,
        step: f64,
        jitter: f64,
        combined: &[(SourceId, f64)],
        index: &Index,
    ) -> Decision {
        let refused =
            if self.stepped_or_synced { step.abs() > PANIC_BOUND_SECS } else { step < -FIRST_BACKWARD_LIMIT_SECS };
        if refused {
            for &(sid, _) in combined {
                if let Some(s) = self.source_mut(sid) {
                    s.votes.clear();
                    s.estimate = s.estimate.filter(|e| !e.step);
                }
            }
            return Decision::Refuse(NtpDuration::from_seconds(step));
        }
        // The votes' slopes, combined by their variances, tell the frequency.
        // How sure the votes are of their slope, for the gate: their fit's
        // variance scaled by their scatter, and at least what their delays
        // allow (each offset may be off by half its delay, one way or the
        // other, over the votes' span): a few votes over a congested path
        // can lie on a line by chance.
        let (mut inv, mut weighted, mut evidence) = (0.0, 0.0, 0.0f64);
        for &(sid, _) in combined {
            let Some(src) = self.source(sid) else { continue };
            if let Some(f) = src.estimate.filter(|e| e.step && e.fit.slope_var.is_finite()).map(|e| e.fit) {
                inv += 1.0 / f.slope_var;
                weighted += f.slope / f.slope_var;
                let span = src.votes.last().zip(src.votes.first()).map_or(0.0, |(l, f)| l.t - f.t);
                let half_delay = src.votes.iter().map(|v| v.delay / 2.0).sum::<f64>() / src.votes.len().max(1) as f64;
                let by_delay = if span > 0.0 { (half_delay / span).powi(2) } else { f64::INFINITY };
                evidence = evidence.max((f.slope_var * f.chi2.max(1.0)).max(by_delay));
            }
        }
        // (The gain too counts the slope as no surer than that.)
        let freq = if inv > 0.0 {
            self.update_frequency(t, weighted / inv, (1.0 / inv).max(evidence), Some(evidence))
        } else {
            self.freq
        };
        let dfreq = freq - self.freq;
        // Every register into the current frame; then the step and the new
        // frequency as if they had always been in force, and a fresh frame
        // (a step can be large: keep the running sums small).
        let frame = self.frame;
        let report = self.report(combined, t, 0.0, jitter, 0.0);
        for (i, s) in self.sources.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            s.sync(&frame);
            if index.combined[i] && s.estimate.is_some_and(|e| e.step) {
                // Samples before the step describe another clock (or another
                // server time): start afresh from the votes.
                s.register.replace(std::mem::take(&mut s.votes));
            }
            let shift = |pt: f64| dfreq * (t - pt) - step;
            s.register.shift(shift);
            for v in &mut s.votes {
                v.offset += shift(v.t);
            }
            if let Some(e) = s.estimate.as_mut() {
                e.offset = e.offset - (frame.p - e.p) - step;
                e.p = 0.0;
                // (Its frequency error now, against the fresh frame.)
                e.f = -(frame.f - e.f) - dfreq;
                e.step = false;
            }
            s.frame = Frame::default();
        }
        self.frame = Frame::default();
        self.freq = freq;
        self.last_offset = step;
        self.last_correction_at = t;
        self.last_step_at = t;
        self.slewing_until = f64::NEG_INFINITY;
        self.spread = None;
        self.stepped_or_synced = true;
        let action = ClockAction {
            correction: Correction::Step,
            offset: NtpDuration::from_seconds(step),
            freq_ppm: self.freq_ppm(),
        };
        if let Some(s) = self.source_mut(id) {
            s.offset = step;
        }
        Decision::Apply(action, report)
    }

    /// Roles after a selection over the sources `ids` (with `intervals`).
    fn assign_roles(
        &mut self,
        ids: &[SourceId],
        intervals: &[Interval],
        sel: &Selection,
        combined: &[(SourceId, f64)],
        index: &Index,
    ) {
        let position = |sid: SourceId| Some(index.at[sid.0 as usize]).filter(|&k| k != usize::MAX);
        let agreed = {
            let (sw, so) = combined.iter().fold((0.0, 0.0), |(sw, so), &(sid, w)| {
                let i = position(sid).expect("listed");
                (sw + w, so + w * intervals[i].offset)
            });
            (sw > 0.0).then(|| so / sw)
        };
        // While waiting, the clock still follows the last correction's
        // sources that have estimates (the nearest of them selected).
        let (followed, selected): (Vec<bool>, Option<SourceId>) = if sel.agreement == Agreement::Waiting {
            let kept: Vec<bool> = self.sources.iter().map(|s| s.as_ref().is_some_and(|s| s.combined)).collect();
            let is_kept = |sid: &SourceId| kept[sid.0 as usize] && position(*sid).is_some();
            let nearest = ids.iter().copied().filter(is_kept).min_by(|&a, &b| {
                intervals[position(a).expect("listed")]
                    .distance
                    .total_cmp(&intervals[position(b).expect("listed")].distance)
            });
            let selected = self.selected.filter(is_kept).or(nearest);
            self.selected = selected;
            (kept, selected)
        } else {
            (index.combined.clone(), self.selected)
        };
        for (i, slot) in self.sources.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            let sid = SourceId(i as u32);
            let (role, why) = match position(sid) {
                None if !s.reachable => (Role::Candidate, Why::Unreachable),
                None if s.last.is_none() => (Role::Candidate, Why::NoSample),
                None if !s.consistent && s.estimate.is_some() => (Role::Candidate, Why::Inconsistent),
                None => (Role::Candidate, Why::AwaitingAgreement(s.votes.len())),
                Some(_) if selected == Some(sid) => (Role::Selected, Why::Nothing),
                Some(_) if followed[i] => (Role::Combined, Why::Nothing),
                Some(k) => match sel.agreement {
                    Agreement::Waiting => (Role::Candidate, Why::WaitingForOthers),
                    Agreement::NoMajority => (Role::Candidate, Why::NoMajority),
                    Agreement::TwoDisagree => {
                        (Role::Candidate, Why::Disagrees { by: intervals[k].offset - agreed.unwrap_or(0.0) })
                    }
                    _ if sel.truechimer[k] => (Role::Candidate, Why::Distant),
                    _ => (Role::Falseticker, Why::OutsideMajority { by: intervals[k].offset - agreed.unwrap_or(0.0) }),
                },
            };
            if !role.follows() {
                s.applied = false;
            }
            (s.role, s.why) = (role, why);
        }
    }

    /// How fast an estimate's uncertainty grows with its age, s/s: three
    /// standard deviations of the frequency (a bound, as a root distance is),
    /// at least [`MIN_AGING`].
    fn aging(&self) -> f64 {
        (3.0 * self.freq_var.sqrt()).max(MIN_AGING)
    }

    /// The new frequency after a fit measured `slope` with variance
    /// `slope_var`: a Kalman-style update, so a slope from a few noisy or
    /// close-together samples moves the frequency only as far as it is sure.
    ///
    /// When the slope is far beyond both its own uncertainty and what the
    /// estimate allowed (the frequency in force was left far off by someone,
    /// or the oscillator is far from nominal), the estimate's uncertainty
    /// grows to the slope: the samples, not the old belief, set the rate,
    /// still only as far as they are sure of it. The result stays within
    /// the backend's range.
    fn update_frequency(&mut self, t: f64, slope: f64, slope_var: f64, step_evidence: Option<f64>) -> f64 {
        self.freq_var += self.wander * (t - self.freq_var_at).max(0.0);
        self.freq_var_at = t;
        if !slope_var.is_finite() {
            return self.freq;
        }
        let innovation = slope * slope;
        if step_evidence.is_none() {
            let nis = innovation / (self.freq_var + slope_var);
            self.adapt_wander(nis);
            // The rate changed (the oscillator, or somebody's frequency
            // change): two slopes in a row beyond RATE_CHANGE_GATE sd, on
            // the same side. One such slope is what heavy-tailed delays give.
            let far = nis > RATE_CHANGE_GATE * RATE_CHANGE_GATE;
            if far && self.far_side == slope.signum() {
                self.freq_var = self.freq_var.max(innovation.min(4.0 * self.max_freq * self.max_freq));
                self.far_side = 0.0;
            } else {
                self.far_side = if far { slope.signum() } else { 0.0 };
            }
        }
        // At a step only (the clock is off its sources beyond the threshold:
        // the frequency in force is suspect), against what the votes are
        // sure of (see `step`). Elsewhere a slope several sd out is what
        // heavy-tailed delays often give.
        if step_evidence.is_some_and(|ev| innovation > FREQ_GATE * FREQ_GATE * (self.freq_var + ev)) {
            // (No wider than the backend's whole range could need.)
            self.freq_var = self.freq_var.max(innovation.min(4.0 * self.max_freq * self.max_freq));
        }
        let gain = self.freq_var / (self.freq_var + slope_var);
        self.freq_var *= 1.0 - gain;
        (self.freq + gain * slope).clamp(-self.max_freq, self.max_freq)
    }

    /// Follows the oscillator's wander: over [`WANDER_WINDOW`] updates the
    /// median normalised innovation (slope^2 over its predicted variance;
    /// the median of chi-square with one degree of freedom is 0.455 when
    /// the model is right, and a median is deaf to a heavy tail's outliers)
    /// twice too high multiplies the wander allowed by ten, twice too low
    /// halves it, between [`FREQ_WANDER`] and [`MAX_WANDER`]. (Chosen in
    /// simulation: at 100 times chrony's default wander RMS 125 against
    /// 365 us for the fixed wander, windows of 9 and factors of 4 gave
    /// 166 us; chrony's default scenario and the hard networks moved by
    /// at most a few percent.)
    fn adapt_wander(&mut self, nis: f64) {
        self.innovations.push(nis);
        if self.innovations.len() < WANDER_WINDOW {
            return;
        }
        self.innovations.sort_by(f64::total_cmp);
        let median = self.innovations[WANDER_WINDOW / 2];
        self.innovations.clear();
        if median > 2.0 * CHI2_1_MEDIAN {
            self.wander = (self.wander * 10.0).min(MAX_WANDER);
        } else if median < 0.5 * CHI2_1_MEDIAN {
            self.wander = (self.wander / 2.0).max(FREQ_WANDER);
        }
    }

    /// The kernel's error bounds and leap indicator after a correction with
    /// `combined` that left `residual` (the offset before it) and `jitter`:
    /// maxerror is the root distance, the residual and the jitter (the
    /// kernel adds 500 us each second after); esterror three times the
    /// jitter with the drift until the next correction, plus half the delay,
    /// plus the `slewing` still to do.
    fn report(&self, combined: &[(SourceId, f64)], t: f64, residual: f64, jitter: f64, slewing: f64) -> SyncReport {
        let sel = self.selected.filter(|s| combined.iter().any(|c| c.0 == *s)).or(combined.first().map(|c| c.0));
        let last = sel.and_then(|s| self.source(s)?.last);
        let root_distance = last.map_or(0.0, |l| l.root_distance + self.aging() * (t - l.t).max(0.0));
        let delay = last.map_or(0.0, |l| l.sample.delay.as_seconds());
        // Until the next correction the clock drifts by the frequency's
        // uncertainty (as selection ages estimates) for about a poll
        // interval; half the delay is what an asymmetric path could hide.
        let drift = self.aging() * last.map_or(0.0, |l| l.interval);
        let est = ((3.0 * jitter).powi(2) + drift.powi(2)).sqrt() + delay / 2.0 + slewing.abs();
        // The leap indicator most of the combined sources announce.
        let votes = |leap: u8| {
            combined
                .iter()
                .filter(|c| self.source(c.0).and_then(|s| s.last).is_some_and(|l| l.sample.leap == leap))
                .count()
        };
        let leap = [1u8, 2].into_iter().find(|&l| 2 * votes(l) > combined.len()).unwrap_or(0);
        SyncReport {
            // (The kernel holds at most 16 s: beyond that it says unsynchronised.)
            max_error_us: ((root_distance + residual.abs() + jitter) * 1e6).ceil().min(MAXERROR_CAP_US as f64) as i64,
            est_error_us: (est * 1e6).round().min(MAXERROR_CAP_US as f64) as i64,
            leap,
        }
    }
}

/// Where each source slot stands in one decision.
struct Index {
    /// Its index among the selection's intervals (`usize::MAX`: none).
    at: Vec<usize>,
    /// Whether it is combined.
    combined: Vec<bool>,
}

fn estimate(fit: Fit, frame: &Frame, t: f64, step: bool, slewing: f64) -> Estimate {
    Estimate { offset: fit.offset, p: frame.p, fit, step, slewing, f: frame.f, t }
}

/// Whether two step votes can describe the same clock: within their delays
/// plus what a frequency error of up to `max_drift` (s/s) could add between
/// them, plus 1 ms. (A clock whose frequency is far off drifts between
/// samples; [`keep_linear`] then asks the votes to lie on one line.)
fn agree(a: &Point, b: &Point, max_drift: f64) -> bool {
    (a.offset - b.offset).abs() <= (a.delay + b.delay) / 2.0 + max_drift * (b.t - a.t).abs() + 1e-3
}

/// Drops the oldest votes until the rest lie on one line (each within its
/// half delay plus 1 ms): one clock running at one rate.
fn keep_linear(votes: &mut Vec<Point>) {
    while votes.len() >= STEP_AGREEMENT {
        let plain = Weighting { floor: Floor::Share(MIN_DELAY_SHARE), asymmetry: 0.0 };
        let now = votes.last().map_or(0.0, |v| v.t);
        let fit = fit_line(votes, now, plain);
        if votes.iter().all(|v| (fit.offset + fit.slope * (v.t - now) - v.offset).abs() <= v.delay / 2.0 + 1e-3) {
            return;
        }
        votes.remove(0);
    }
}
