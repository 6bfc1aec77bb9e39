//! Every client's own clock (`prossntp_gettime`): the server's time as a
//! function of a local clock nobody steers (the raw clock: CLOCK_MONOTONIC_RAW
//! where there is one), estimated from the client's samples, whatever anybody
//! does to the host clock. What callers read is a [`Reading`]: a line that
//! never goes backwards but for a step, corrected smoothly.

use std::time::Duration;

use super::tracker::Tracker;
use super::STEP_THRESHOLD_SECS;
use crate::proto::timestamp::NtpDuration;
use crate::proto::validate::Sample;

/// Corrections of the reading are spread at most at this rate, s/s...
pub const MAX_SLEW_RATE: f64 = 500e-6;
/// ...and over at least this long, seconds.
pub const MIN_SLEW_SECS: f64 = 1.0;
/// What the error bound allows by default per second of age, beyond three
/// standard deviations of the measured rate, for a change of rate the
/// samples have not seen yet (the raw oscillator's temperature, a virtual
/// machine moved to another host, the server's own clock), s/s: the drift
/// floor. RFC 5905's PHI (15 ppm) is a tolerance for an estimate, not a
/// bound: a change of 20 ppm just after a sample broke it. 50 ppm covers a
/// change of tens of ppm, as the README's holdover section sets out; a
/// caller may set a larger floor ([`ModuleClock::set_drift_floor`]).
pub const DEFAULT_DRIFT_FLOOR: f64 = 50e-6;
/// The largest drift floor a caller may set, s/s: the raw oscillator's
/// tolerance twice over (its rate and the truth's each that far off).
pub const MAX_DRIFT_FLOOR: f64 = 2.0 * MAX_RATE_ERROR;
/// Boot time minus monotonic time may move this much between two reads of
/// it, ns, before the host counts as having been suspended in between (the
/// two clocks are read one after the other: tens of nanoseconds apart).
pub const SUSPEND_TOLERANCE_NS: i64 = 1_000_000;
/// The rate error allowed before the raw clock's rate is known (one sample),
/// and the largest rate the reading takes: the oscillator tolerance every
/// backend assumes, s/s.
pub const MAX_RATE_ERROR: f64 = 500e-6;

const NS: f64 = 1e9;
const SECOND_NS: i64 = 1_000_000_000;
const DAY_NS: i64 = 86_400 * SECOND_NS;

/// The leap second a server announced (leap indicator `leap`) in a sample
/// at Unix time `sample_ns`: the Unix time (ns, on the scale without it)
/// from which the time moves, and by how much (ns). Only at the end of the
/// last day of June or December, where leap seconds are scheduled (as
/// chronyd, which ignores the indicator on other days): an inserted second
/// repeats the day's last Unix second (the time goes back 1 s at midnight,
/// as the kernel's does); a deleted one skips it.
pub fn leap_point(leap: u8, sample_ns: i64) -> Option<(i64, i64)> {
    if leap != 1 && leap != 2 {
        return None;
    }
    let midnight = (sample_ns.div_euclid(DAY_NS) + 1).saturating_mul(DAY_NS);
    let (_, month, day) = civil_date(midnight.div_euclid(DAY_NS));
    if day != 1 || (month != 1 && month != 7) {
        return None;
    }
    Some(if leap == 1 { (midnight, -SECOND_NS) } else { (midnight - SECOND_NS, SECOND_NS) })
}

/// The proleptic Gregorian (year, month, day) of day `days` since 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // (Days from 0000-03-01, in 400-year eras of 146,097 days.)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// One sample's times against the raw clock: the kernel's receive time
/// (T4) as Unix nanoseconds, and the wall clock minus the raw clock, in
/// nanoseconds, read next to the request's send and next to the reply's
/// receipt (a step or slew of the wall clock in between shows as their
/// difference, and is taken out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawStamps {
    pub t4_unix_ns: i64,
    pub gap_at_send: i64,
    pub gap_at_receipt: i64,
    /// How far each gap read can be off, ns (half the clock reads' spread).
    pub gap_error: i64,
}

/// What a caller reads: from raw time `raw0` (ns) the server's time is
/// `time0` (Unix ns) advancing at `1 + rate + slew` for `slew_ns`, then at
/// `1 + rate`. The error bound is `bound0` at `raw0`, growing `bound_rate`
/// per second, plus the part of the correction still to run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    /// Whether a valid sample has been taken; before, nothing else counts.
    pub synced: bool,
    /// Something happened that the estimate cannot bound (the host was
    /// suspended, the raw clock jumped, the server stepped): the bound is
    /// infinite until a valid sample anchors the clock again.
    pub disrupted: bool,
    /// The server's leap indicator at the last sample.
    pub leap: u8,
    /// The last valid sample: its midpoint on the raw clock (ns) and the
    /// server's time then (Unix ns).
    pub sample_raw: i64,
    pub sample_time: i64,
    /// From this raw time (ns) on without a newer reading, the client is in
    /// holdover: its samples are overdue and the bound grows unchecked.
    pub holdover_raw: i64,
    /// The point (Unix ns) of the last inserted leap second the estimate
    /// has taken in (0: none): the second before it was repeated, so a
    /// time read in it lies after the leap (for TAI - UTC).
    pub leap_repeated: i64,
    /// Boot time minus monotonic time when the reading was made, ns, at
    /// most (None: no boot clock here): a reader who finds it grown (read
    /// as a lower bound) knows that the host was suspended since, and the
    /// raw clock with it.
    pub slept_ns: Option<i64>,
    pub raw0: i64,
    pub time0: i64,
    pub rate: f64,
    pub slew: f64,
    pub slew_ns: i64,
    pub bound0: f64,
    pub bound_rate: f64,
}

/// The reading evaluated at one raw time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Time {
    /// The server's time, Unix nanoseconds.
    pub unix_ns: i64,
    /// Seconds: |unix_ns - the server's true time| is at most this
    /// (infinite while the status is [`Status::Disrupted`]).
    pub error_bound: f64,
    /// The server's leap indicator.
    pub leap: u8,
    pub status: Status,
    /// The server's time at the last valid sample (Unix ns), and how long
    /// ago that was on the raw clock, ns.
    pub sample_time: i64,
    pub sample_age_ns: i64,
    /// The leap second the server announced, applied: `unix_ns` less this
    /// is the time on the scale without it (ns: -1 s after an inserted
    /// second, and in the repeated second after one the estimate has taken
    /// in; +1 s after a deleted one; 0 otherwise). For TAI - UTC.
    pub leap_shift_ns: i64,
    /// The read found the host suspended since the reading was made (the
    /// worker has yet to see it).
    pub suspended: bool,
}

/// What a reading can promise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// No valid sample yet: nothing is known.
    #[default]
    Unsynchronised,
    /// Samples come as scheduled; the bound holds.
    Synchronised,
    /// Samples are overdue: the bound holds, growing with their age.
    Holdover,
    /// Something happened that the reading cannot bound (suspend, a jump
    /// of the raw clock, the server stepped): the bound is infinite until a
    /// valid sample anchors the clock again.
    Disrupted,
}

impl Time {
    /// The same time, with nothing known about it.
    pub fn unbounded(self) -> Time {
        Time { error_bound: f64::INFINITY, status: Status::Disrupted, ..self }
    }
}

impl Reading {
    /// The server's time at raw time `raw` (ns). Non-decreasing in `raw`;
    /// a raw time before `raw0` reads as `raw0`.
    pub fn at(&self, raw: i64) -> Time {
        let dt = raw.saturating_sub(self.raw0).max(0);
        let during = dt.min(self.slew_ns.max(0));
        let after = dt - during;
        // Each term is non-decreasing in dt: |rate|, |rate + slew| < 1.
        let gained = (during as f64 * (self.rate + self.slew)).floor() + (after as f64 * self.rate).floor();
        let unix_ns = self.time0.saturating_add(dt).saturating_add(gained as i64);
        let to_run = (self.slew_ns - during) as f64 * self.slew.abs();
        self.time(raw, unix_ns, self.bound0 + self.bound_rate * dt as f64 / NS + to_run / NS)
    }

    /// `unix_ns` with `error_bound` at raw time `raw`, as this reading's status
    /// has it.
    fn time(&self, raw: i64, unix_ns: i64, error_bound: f64) -> Time {
        // An announced leap second, applied at its point; within the bound
        // of it, the truth may lie on either side, a second apart.
        let (leap_shift_ns, error_bound) = match leap_point(self.leap, self.sample_time) {
            // (Not twice: a server may announce it into the repeated second.)
            Some((at, shift)) if self.synced && at != self.leap_repeated => {
                let near = (unix_ns.saturating_sub(at).abs() as f64) <= error_bound * NS;
                (if unix_ns >= at { shift } else { 0 }, error_bound + if near { 1.0 } else { 0.0 })
            }
            _ => (0, error_bound),
        };
        let unix_ns = unix_ns.saturating_add(leap_shift_ns);
        // In the repeated second after an inserted leap second taken in.
        let repeated = self.leap_repeated;
        let leap_shift_ns = if leap_shift_ns == 0 && repeated > 0 && (repeated - SECOND_NS..repeated).contains(&unix_ns) {
            -SECOND_NS
        } else {
            leap_shift_ns
        };
        let status = if !self.synced {
            Status::Unsynchronised
        } else if self.disrupted {
            Status::Disrupted
        } else if raw >= self.holdover_raw {
            Status::Holdover
        } else {
            Status::Synchronised
        };
        let time = Time {
            unix_ns,
            error_bound,
            leap: self.leap,
            status,
            sample_time: self.sample_time,
            sample_age_ns: raw.saturating_sub(self.sample_raw).max(0),
            leap_shift_ns,
            suspended: false,
        };
        if matches!(status, Status::Disrupted) {
            time.unbounded()
        } else {
            time
        }
    }

    /// Whether boot minus monotonic time `slept_ns`, read now, shows a
    /// suspend since the reading was made: the raw clock stood still
    /// meanwhile, the truth did not, and the time is unbounded.
    pub fn suspended_since(&self, slept_ns: Option<i64>) -> bool {
        match (self.slept_ns, slept_ns) {
            (Some(then), Some(now)) => now.saturating_sub(then) > SUSPEND_TOLERANCE_NS,
            _ => false,
        }
    }
}

impl Reading {
    /// The reading's rate of advance at `raw`, less 1.
    pub fn rate_at(&self, raw: i64) -> f64 {
        if raw.saturating_sub(self.raw0) < self.slew_ns {
            self.rate + self.slew
        } else {
            self.rate
        }
    }

    /// The reading at `from`, run on to `raw` at `rate` (less 1) instead of
    /// its own: its bound grows by the difference as well.
    pub fn run_on(&self, from: i64, raw: i64, rate: f64) -> Time {
        let start = self.at(from);
        let dt = raw.saturating_sub(from).max(0);
        let unix_ns = start.unix_ns.saturating_add(dt).saturating_add((dt as f64 * rate).floor() as i64);
        let drift = (self.rate_at(from) - rate).abs() + self.bound_rate;
        self.time(raw, unix_ns, start.error_bound + drift * dt as f64 / NS)
    }
}

/// The estimator behind a client's own clock and the rule that moves its
/// reading: a correction up to the step threshold is spread over
/// max([`MIN_SLEW_SECS`], |correction| / [`MAX_SLEW_RATE`]); a larger one (the
/// server stepped, or another server) is a step, counted.
#[derive(Clone, Debug, Default)]
pub struct ModuleClock {
    tracker: Tracker,
    /// Server time minus raw time at the first sample, ns: offsets are
    /// estimated relative to it (and times relative to `raw_base`), so the
    /// fit works on small numbers.
    base: Option<(i64, i64)>,
    /// The estimate at the last sample: raw time (ns), the server's time
    /// minus the raw time less `base` (s), the rate, the error bound of that
    /// estimate (s) and how it grows (s/s).
    estimate: Option<Estimate>,
    leap: u8,
    reading: Reading,
    steps: u64,
    /// The raw clock's rate against the server's at the last fit of two or
    /// more points, s/s.
    rate: Option<f64>,
    /// The bound's growth allowed beyond the measured rate's doubt, s/s
    /// (None: [`DEFAULT_DRIFT_FLOOR`]).
    floor: Option<f64>,
    /// The last valid sample: raw time and the server's time (ns).
    sample: Option<(i64, i64)>,
    /// Disruptions: the reading cannot be bounded until the next sample.
    disruptions: u64,
    /// The point of the last inserted leap second taken in (0: none).
    leap_repeated: i64,
    /// The raw time from which the estimate's line holds: its fit's first
    /// sample (the fit starts afresh after a server step), or the last
    /// leap second taken in.
    line_from: i64,
}

impl PublishContext {
    /// The context of a client polling every `poll_interval` (None: not
    /// polling; 64 s assumed): a sample is overdue twice the interval and a
    /// second after the last (one lost reply is not holdover).
    pub fn new(slept_ns: Option<i64>, poll_interval: Option<Duration>) -> PublishContext {
        let interval = poll_interval.unwrap_or(Duration::from_secs(64));
        let overdue = interval.saturating_mul(2).saturating_add(Duration::from_secs(1));
        PublishContext { slept_ns, overdue_after_ns: overdue.as_nanos().min(i64::MAX as u128) as i64 }
    }
}

/// What the worker knows at a publish beyond the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishContext {
    /// Boot time minus monotonic time now, ns, an upper bound (None: no
    /// boot clock).
    pub slept_ns: Option<i64>,
    /// How long after the last sample the next one is overdue, ns: the
    /// reading says holdover from then on.
    pub overdue_after_ns: i64,
}

#[derive(Clone, Copy, Debug)]
struct Estimate {
    raw: i64,
    offset: f64,
    rate: f64,
    bound: f64,
    bound_rate: f64,
}

impl Estimate {
    /// The server's time minus the raw time at `raw`, less the base, ns.
    fn offset_ns_at(&self, raw: i64) -> f64 {
        (self.offset + self.rate * (raw - self.raw) as f64 / NS) * NS
    }
}

impl ModuleClock {
    pub fn new() -> ModuleClock {
        ModuleClock::default()
    }

    /// A valid sample of the server, with its times against the raw clock.
    pub fn on_sample(&mut self, sample: &Sample, stamps: RawStamps) {
        let offset_ns =
            sample.offset.as_nanos() as i128 + (stamps.gap_at_send as i128 + stamps.gap_at_receipt as i128) / 2;
        let delay_ns = (sample.delay.as_nanos() - (stamps.gap_at_receipt - stamps.gap_at_send)).max(0);
        // The midpoint of the exchange on the raw clock (the server's
        // processing time, microseconds, is left in: at most a nanosecond
        // of error at the raw clock's rate error).
        let raw = stamps.t4_unix_ns - stamps.gap_at_receipt - delay_ns / 2;
        let offset_ns = offset_ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let server_ns = raw.saturating_add(offset_ns);
        // The leap second announced has come: the server's time moved by it,
        // the estimate's base moves with it (the fit sees no jump).
        let last = self.sample.map_or(0, |(_, t)| t);
        if let (Some((at, shift)), Some(base)) = (leap_point(self.leap, last), self.base.as_mut()) {
            if server_ns.saturating_sub(shift) >= at && at != self.leap_repeated {
                base.0 = base.0.saturating_add(shift);
                self.leap = 0;
                self.line_from = raw;
                if shift < 0 {
                    self.leap_repeated = at;
                }
            }
        }
        self.sample = Some((raw, server_ns));
        let (base_offset, base_raw) = *self.base.get_or_insert((offset_ns, raw));
        let relative = Sample {
            offset: NtpDuration::from_nanos(offset_ns - base_offset),
            delay: NtpDuration::from_nanos(delay_ns),
            ..*sample
        };
        let t = Duration::from_nanos(raw.saturating_sub(base_raw).max(0) as u64);
        self.tracker.measure(t, &relative);
        let sd = self.tracker.drift_sd();
        if !sd.is_finite() {
            // One point: a fresh fit, whose line holds from here on.
            self.line_from = raw;
        }
        // With one point (the start, a server step, another server) the
        // fit has no rate: the raw oscillator's last one still holds, but
        // the bound takes it as unknown.
        let rate = if sd.is_finite() { self.tracker.frequency_error_ppm() * 1e-6 } else { self.rate.unwrap_or(0.0) };
        let rate = rate.clamp(-MAX_RATE_ERROR, MAX_RATE_ERROR);
        if sd.is_finite() {
            self.rate = Some(rate);
        }
        // A rate in use may be off by up to twice the tolerance (it and the
        // truth each up to MAX_RATE_ERROR off).
        let rate_error = if sd.is_finite() { (3.0 * sd).min(2.0 * MAX_RATE_ERROR) } else { MAX_RATE_ERROR };
        self.estimate = Some(Estimate {
            raw,
            offset: self.tracker.last_offset(),
            rate,
            // The server's time lies within the last sample's root distance
            // of what that sample read, and the estimate is this far from it.
            bound: relative.root_distance().as_seconds().max(0.0)
                + (relative.offset.as_seconds() - self.tracker.last_offset()).abs()
                + stamps.gap_error as f64 / NS,
            bound_rate: self.drift_floor() + rate_error,
        });
        self.leap = sample.leap;
    }

    /// Another server: the estimate starts afresh; the reading runs on
    /// from where it is (its bound growing) until the new server's first
    /// sample corrects it.
    pub fn reset(&mut self) {
        self.tracker = Tracker::new();
        self.estimate = None;
        self.base = None;
    }

    /// The bound's growth allowed beyond the measured rate's doubt, s/s.
    pub fn drift_floor(&self) -> f64 {
        self.floor.unwrap_or(DEFAULT_DRIFT_FLOOR)
    }

    /// Sets the drift floor, s/s, from the next sample on (clamped to
    /// [`DEFAULT_DRIFT_FLOOR`, `MAX_DRIFT_FLOOR`]: a smaller one is not a bound).
    pub fn set_drift_floor(&mut self, floor: f64) {
        self.floor = Some(floor.clamp(DEFAULT_DRIFT_FLOOR, MAX_DRIFT_FLOOR));
    }

    /// Something the estimate cannot bound happened at raw time `raw_now`
    /// (the host was suspended, the raw clock jumped): the estimate starts
    /// afresh and the reading runs on unbounded until the next sample.
    /// Returns the reading to publish.
    pub fn disrupt(&mut self, raw_now: i64, ctx: PublishContext) -> Reading {
        self.reset();
        if self.reading.synced && !self.reading.disrupted {
            self.disruptions += 1;
        }
        let at = self.reading.at(raw_now);
        self.reading = Reading {
            raw0: raw_now,
            time0: at.unix_ns,
            slew: 0.0,
            slew_ns: 0,
            bound0: 0.0,
            disrupted: true,
            slept_ns: ctx.slept_ns,
            ..self.reading
        };
        self.reading
    }

    /// Whether a reading has been made from a valid sample.
    pub fn reading_synced(&self) -> bool {
        self.reading.synced
    }

    /// Disruptions so far (suspends, jumps of the raw clock, server steps).
    pub fn disruptions(&self) -> u64 {
        self.disruptions
    }

    /// The reading to publish from raw time `raw_now` (ns) on, with the
    /// last estimate applied: continuous with the previous reading (a
    /// nanosecond ahead of it, so that a caller who read the old one a
    /// moment late never sees time go back as the rate changes), but for a
    /// step.
    ///
    /// A correction beyond the step threshold of a reading that was not
    /// disrupted means the server stepped (or its last sample is wrong):
    /// the reading is disrupted (unbounded) until the next sample, which
    /// the worker takes at once, confirms one or the other.
    pub fn publish(&mut self, raw_now: i64, ctx: PublishContext) -> Reading {
        let Some(e) = self.estimate else { return self.reading };
        let Some((base_offset, _)) = self.base else { return self.reading };
        let (sample_raw, sample_time) = self.sample.unwrap_or((raw_now, 0));
        // In integers: Unix nanoseconds need all of an i64's 63 bits.
        let target = raw_now.saturating_add(base_offset).saturating_add(e.offset_ns_at(raw_now).round() as i64);
        let age = (raw_now - e.raw).max(0) as f64 / NS;
        let bound0 = e.bound + e.bound_rate * age;
        let old = self.reading;
        let mut next = Reading {
            synced: true,
            disrupted: false,
            leap: self.leap,
            sample_raw,
            sample_time,
            holdover_raw: sample_raw.saturating_add(ctx.overdue_after_ns),
            leap_repeated: self.leap_repeated,
            slept_ns: ctx.slept_ns,
            raw0: raw_now,
            time0: target,
            rate: e.rate,
            slew: 0.0,
            slew_ns: 0,
            bound0,
            bound_rate: e.bound_rate,
        };
        if old.synced {
            let now = old.at(raw_now).unix_ns;
            let miss = target - now;
            if (miss as f64).abs() > STEP_THRESHOLD_SECS * NS {
                if !old.disrupted {
                    // The server stepped, or this sample is wrong: unbounded
                    // until the next one says which.
                    self.disruptions += 1;
                    self.reading = Reading { disrupted: true, slept_ns: ctx.slept_ns, ..next };
                    let at = old.at(raw_now);
                    self.reading.time0 = at.unix_ns;
                    self.reading.rate = old.rate_at(raw_now);
                    return self.reading;
                }
                self.steps += 1;
            } else {
                let secs = ((miss as f64).abs() / NS / MAX_SLEW_RATE).max(MIN_SLEW_SECS);
                next.time0 = now + 1;
                next.slew_ns = (secs * NS) as i64;
                next.slew = (target - next.time0) as f64 / next.slew_ns as f64;
            }
        }
        self.reading = next;
        next
    }

    #[cfg(any(test, feature = "__internal-api"))]
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// The estimate's rate (the server's time against the raw clock, less
    /// 1) and its bound's growth, s/s, for the trace.
    pub fn rate(&self) -> Option<(f64, f64)> {
        self.estimate.map(|e| (e.rate, e.bound_rate))
    }

    /// The estimate's line for past times (None: no estimate).
    pub fn line(&self) -> Option<super::past::Line> {
        let (e, (base_offset, _)) = (self.estimate?, self.base?);
        Some(super::past::Line {
            at: e.raw,
            offset_ns: base_offset.saturating_add((e.offset * NS).round() as i64),
            rate: e.rate,
            bound: e.bound,
            bound_rate: e.bound_rate,
            valid_from: self.line_from,
        })
    }

    /// Corrections of the reading made at once (beyond the step threshold).
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::timestamp::NtpTimestamp;

    const WALL0: i64 = 1_800_000_000_000_000_000;

    /// A host whose raw clock runs `raw_ppm` fast, and a server
    /// `server_ahead` seconds ahead of true time.
    struct Host {
        raw_ppm: f64,
        server_ahead: f64,
    }

    impl Host {
        fn raw(&self, t: f64) -> i64 {
            (t * (1.0 + self.raw_ppm * 1e-6) * NS) as i64
        }
        fn server(&self, t: f64) -> i64 {
            WALL0 + ((t + self.server_ahead) * NS) as i64
        }
        /// A sample over a path of `delay` s each way around true time `t`,
        /// the wall clock `gaps` ahead of the raw clock at the send and at
        /// the receipt; then the reading published at the receipt.
        fn exchange(&self, c: &mut ModuleClock, t: f64, delay: f64, gaps: (i64, i64)) -> Reading {
            let (t1, t4) = (t - delay, t + delay);
            let wall1 = self.raw(t1) + gaps.0;
            let wall4 = self.raw(t4) + gaps.1;
            let server = self.server(t) as i128;
            // offset = ((T2 - T1) + (T3 - T4)) / 2, delay = T4 - T1 (T2 = T3).
            let offset = ((server - wall1 as i128) + (server - wall4 as i128)) / 2;
            let sample = Sample {
                offset: NtpDuration::from_nanos(offset as i64),
                delay: NtpDuration::from_nanos(wall4 - wall1),
                stratum: 1,
                leap: 0,
                reference_id: *b"TEST",
                root_delay: NtpDuration::ZERO,
                root_dispersion: NtpDuration::ZERO,
                t4: NtpTimestamp::ZERO,
            };
            c.on_sample(
                &sample,
                RawStamps { t4_unix_ns: wall4, gap_at_send: gaps.0, gap_at_receipt: gaps.1, gap_error: 0 },
            );
            c.publish(self.raw(t4), PublishContext::new(None, None))
        }
        fn feed(&self, c: &mut ModuleClock, t: f64, gap: i64) -> Reading {
            self.exchange(c, t, 0.0, (gap, gap))
        }
        fn error_ns(&self, r: &Reading, t: f64) -> i64 {
            r.at(self.raw(t)).unix_ns - self.server(t)
        }
    }

    #[test]
    fn the_reading_follows_the_server_whatever_the_wall_clock_does() {
        let host = Host { raw_ppm: 100.0, server_ahead: 0.5 };
        let mut c = ModuleClock::new();
        let mut gap = WALL0 - 3_000_000_000;
        for k in 0..200 {
            let t = k as f64 * 16.0;
            // Somebody steps the wall clock by a second at 1600 s and slews
            // it at 500 ppm from then on: the reading must not care.
            if k == 100 {
                gap += 1_000_000_000;
            }
            if k > 100 {
                gap += (16.0 * 500e-6 * NS) as i64;
            }
            let r = host.feed(&mut c, t, gap);
            if k >= 3 {
                let err = host.error_ns(&r, t + 8.0).abs();
                assert!(err < 1_000, "at {t} s: {err} ns off");
            }
        }
        assert_eq!(c.steps(), 0);
    }

    #[test]
    fn a_wall_clock_step_during_an_exchange_is_taken_out() {
        let host = Host { raw_ppm: -50.0, server_ahead: 0.2 };
        let mut c = ModuleClock::new();
        let gap = WALL0;
        for k in 0..10 {
            let t = k as f64 * 2.0;
            // The third exchange: the wall clock steps by a second between
            // the send and the receipt (its wall delay reads a second).
            let gaps = if k == 2 { (gap, gap + 1_000_000_000) } else { (gap, gap) };
            let r = host.exchange(&mut c, t, 0.001, gaps);
            if k >= 3 {
                assert!(host.error_ns(&r, t + 1.0).abs() < 1_000, "at {t} s");
            }
        }
        assert_eq!(c.steps(), 0);
    }

    #[test]
    fn readings_never_go_back_and_corrections_are_spread() {
        let host = Host { raw_ppm: -200.0, server_ahead: 0.0 };
        let mut c = ModuleClock::new();
        for k in 0..10 {
            host.feed(&mut c, k as f64 * 2.0, 0);
        }
        // The server moves 50 ms back: slewed (at most 500 ppm off the
        // estimate's rate), not stepped.
        let moved = Host { raw_ppm: -200.0, server_ahead: -0.050 };
        let before = c.reading().at(moved.raw(20.0)).unix_ns;
        let r = moved.feed(&mut c, 20.0, 0);
        assert_eq!(c.steps(), 0);
        assert!(r.slew < 0.0 && r.slew >= -MAX_SLEW_RATE * 1.001, "{}", r.slew);
        assert!(r.rate.abs() <= MAX_RATE_ERROR, "the rate is clamped: {}", r.rate);
        let mut last = before;
        for ms in 0..200_000 {
            let now = r.at(moved.raw(20.0) + ms * 1_000_000).unix_ns;
            assert!(now >= last, "went back at {ms} ms");
            assert!(ms == 0 || (now - last - 1_000_000).abs() <= 2_000, "jumped at {ms} ms");
            last = now;
        }
        // Beyond the step threshold: unbounded at once (the server stepped,
        // or the sample is wrong), then stepped at the next sample, counted.
        let far = Host { raw_ppm: -200.0, server_ahead: 1.0 };
        let r = far.feed(&mut c, 22.0, 0);
        assert!(r.disrupted && c.steps() == 0 && c.disruptions() == 1);
        let at = r.at(far.raw(22.5));
        assert!(at.status == Status::Disrupted && at.error_bound.is_infinite());
        let r = far.feed(&mut c, 24.0, 0);
        assert!(!r.disrupted && c.steps() == 1 && c.disruptions() == 1);
        assert!(far.error_ns(&r, 24.5).abs() < 1_000_000, "{} ns", far.error_ns(&r, 24.5));
    }

    #[test]
    fn a_lone_wrong_sample_disrupts_and_the_next_good_one_restores() {
        let host = Host { raw_ppm: 30.0, server_ahead: 0.0 };
        let mut c = ModuleClock::new();
        for k in 0..10 {
            host.feed(&mut c, k as f64 * 2.0, 0);
        }
        let wrong = Host { raw_ppm: 30.0, server_ahead: -5.0 };
        assert!(wrong.feed(&mut c, 20.0, 0).disrupted);
        let r = host.feed(&mut c, 22.0, 0);
        assert!(!r.disrupted && c.steps() == 0, "no step back and forth");
        let t = r.at(host.raw(23.0));
        assert_eq!(t.status, Status::Synchronised);
        let err = (t.unix_ns - host.server(23.0)).abs() as f64 / NS;
        assert!(err <= t.error_bound, "error {err} over bound {}", t.error_bound);
    }

    #[test]
    fn holdover_comes_when_samples_are_overdue_and_the_bound_covers_a_rate_change() {
        // The server (or the oscillator) changes rate by 40 ppm just after
        // the last sample: the default floor covers it, PHI would not.
        let host = Host { raw_ppm: 10.0, server_ahead: 0.0 };
        let mut c = ModuleClock::new();
        let poll = Duration::from_secs(16);
        let mut r = Reading::default();
        for k in 0..40 {
            let t = k as f64 * 16.0;
            host.exchange(&mut c, t, 0.0, (0, 0));
            r = c.publish(host.raw(t), PublishContext::new(None, Some(poll)));
        }
        let last = 39.0 * 16.0;
        let changed = |t: f64| host.server(t) as f64 + 40e-6 * (t - last) * NS;
        for dt in [1.0, 16.0, 32.0, 33.5, 100.0, 1000.0, 10_000.0] {
            let got = r.at(host.raw(last + dt));
            let expect = if dt < 33.0 { Status::Synchronised } else { Status::Holdover };
            assert_eq!(got.status, expect, "at {dt} s");
            let err = (got.unix_ns as f64 - changed(last + dt)).abs() / NS;
            assert!(err <= got.error_bound, "at {dt} s: error {err} over bound {}", got.error_bound);
        }
        // A suspend since the reading: unbounded.
        let r = Reading { slept_ns: Some(0), ..r };
        assert!(r.suspended_since(Some(2_000_000)) && !r.suspended_since(Some(1_000)) && !r.suspended_since(None));
    }

    #[test]
    fn the_bound_covers_the_error_as_the_server_moves() {
        let host = Host { raw_ppm: 300.0, server_ahead: 0.0 };
        let moved = Host { raw_ppm: 300.0, server_ahead: 0.080 };
        let mut c = ModuleClock::new();
        for k in 0..40 {
            let t = k as f64 * 4.0;
            let h = if k < 20 { &host } else { &moved };
            let r = h.feed(&mut c, t, 0);
            for dt in [0.5, 2.0, 3.9] {
                let got = r.at(h.raw(t + dt));
                let err = (got.unix_ns - h.server(t + dt)).abs() as f64 / NS;
                // The moment the server moves (k = 20) is the one thing the
                // clock cannot know before a sample says so.
                assert!(err <= got.error_bound, "at {t} + {dt} s: error {err} over bound {}", got.error_bound);
            }
        }
    }

    #[test]
    fn the_bound_grows_with_age_and_covers_an_unknown_rate() {
        let host = Host { raw_ppm: 400.0, server_ahead: 0.0 };
        let mut c = ModuleClock::new();
        let r = host.feed(&mut c, 0.0, 0);
        assert!(r.synced);
        // One sample: the raw clock's rate is unknown, the bound allows it.
        for t in [1.0, 10.0, 100.0] {
            let got = r.at(host.raw(t));
            let err = (got.unix_ns - host.server(t)).abs() as f64 / NS;
            assert!(err <= got.error_bound, "at {t} s: error {err} over bound {}", got.error_bound);
        }
        assert!(r.at(host.raw(10.0)).error_bound > r.at(host.raw(1.0)).error_bound);
    }

    #[test]
    fn another_server_keeps_the_oscillators_rate() {
        let host = Host { raw_ppm: 250.0, server_ahead: 0.0 };
        let mut c = ModuleClock::new();
        for k in 0..10 {
            host.feed(&mut c, k as f64 * 2.0, 0);
        }
        c.reset();
        let other = Host { raw_ppm: 250.0, server_ahead: 0.010 };
        let r = other.feed(&mut c, 20.0, 0);
        // One sample of the new server: the rate is still the oscillator's.
        assert!(other.error_ns(&r, 60.0).abs() < 100_000, "{} ns", other.error_ns(&r, 60.0));
    }

    #[test]
    fn leap_seconds_only_at_the_end_of_june_and_december() {
        let at = |y: i64| (y - 1970) * 365 * DAY_NS; // (near enough to pick a day)
        let new_year_2027 = 1_798_761_600 * SECOND_NS;
        assert_eq!(civil_date(new_year_2027 / DAY_NS), (2027, 1, 1));
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(leap_point(1, new_year_2027 - 10 * SECOND_NS), Some((new_year_2027, -SECOND_NS)));
        assert_eq!(leap_point(2, new_year_2027 - 1), Some((new_year_2027 - SECOND_NS, SECOND_NS)));
        assert_eq!(leap_point(0, new_year_2027 - 1), None);
        assert_eq!(leap_point(3, new_year_2027 - 1), None);
        assert_eq!(leap_point(1, new_year_2027 - DAY_NS - 1), None, "30 December: not announced for this day");
        assert_eq!(leap_point(1, at(2027) + 100 * DAY_NS), None);
    }

    #[test]
    fn an_announced_leap_second_is_applied_at_midnight_and_the_estimate_goes_on() {
        // Samples every 16 s over midnight of 2027-01-01; the server
        // announces an inserted second and repeats 23:59:59.
        let midnight = 1_798_761_600 * SECOND_NS;
        let start = midnight - 600 * SECOND_NS;
        let mut c = ModuleClock::new();
        let server = |t: f64| {
            let u = start + (t * NS) as i64;
            if u >= midnight {
                u - SECOND_NS
            } else {
                u
            }
        };
        let raw = |t: f64| (t * NS) as i64 + 5 * SECOND_NS;
        let mut r = Reading::default();
        let mut times: Vec<f64> = (0..60).map(|k| k as f64 * 16.0).collect();
        // One sample in the repeated second.
        times.insert(38, 600.4);
        for t in times {
            let sample = Sample {
                offset: NtpDuration::from_nanos(server(t) - (start + (t * NS) as i64)),
                delay: NtpDuration::ZERO,
                stratum: 1,
                // (Announced into the repeated second, as some servers do.)
                leap: if start + ((t * NS) as i64) < midnight + SECOND_NS { 1 } else { 0 },
                reference_id: *b"TEST",
                root_delay: NtpDuration::ZERO,
                root_dispersion: NtpDuration::ZERO,
                t4: NtpTimestamp::ZERO,
            };
            let gap = start - 5 * SECOND_NS;
            c.on_sample(&sample, RawStamps { t4_unix_ns: raw(t) + gap, gap_at_send: gap, gap_at_receipt: gap, gap_error: 0 });
            r = c.publish(raw(t), PublishContext::new(None, Some(Duration::from_secs(16))));
            if t == 600.4 {
                // Read in the repeated second: on the scale without the
                // leap, a second on (the new TAI - UTC holds).
                let got = r.at(raw(t + 0.1));
                assert_eq!(got.unix_ns / SECOND_NS, midnight / SECOND_NS - 1);
                assert_eq!(got.leap_shift_ns, -SECOND_NS);
                continue;
            }
            for dt in [1.0, 8.0, 15.9] {
                let got = r.at(raw(t + dt));
                let err = (got.unix_ns - server(t + dt)).abs() as f64 / NS;
                assert!(err <= got.error_bound, "at {} s: error {err} over bound {}", t + dt, got.error_bound);
                assert_eq!(got.status, Status::Synchronised, "at {} s", t + dt);
            }
        }
        assert_eq!((c.steps(), c.disruptions()), (0, 0));
        assert!(r.rate.abs() < 1e-6, "the rate was kept: {}", r.rate);

    }

    #[test]
    fn a_reading_before_its_start_reads_as_its_start_and_never_overflows() {
        let r = Reading { synced: true, raw0: 1_000, time0: WALL0, rate: 1e-4, ..Reading::default() };
        assert_eq!(r.at(0).unix_ns, WALL0);
        assert_eq!(r.at(i64::MIN).unix_ns, WALL0);
        assert!(r.at(i64::MAX).unix_ns >= WALL0);
    }
}
