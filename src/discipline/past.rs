//! Past host timestamps (`prossntp_past`): a CLOCK_REALTIME time from the
//! recent past (a packet's `SO_TIMESTAMPNS`, a log record's) mapped to the
//! server's time with a bound, from the looks at the host's clocks the worker
//! keeps and the client's estimate against the raw clock.
//!
//! The mapping goes host time -> monotonic time -> raw time -> server time:
//! - realtime minus monotonic time moves only when somebody steps the host
//!   clock: between two looks where it is the same, a host time maps to
//!   monotonic time exactly (a step in between: refused);
//! - the monotonic clock runs at the raw clock's rate times the kernel's
//!   correction (tick, frequency, slew): between two looks the mapping
//!   follows their chord, and may be off by [`RATE_WANDER`] times the time to
//!   the nearer look (the kernel's slew of 500 ppm and a change of frequency
//!   of as much again within the span);
//! - a suspend between two looks (boot minus monotonic time grown) breaks
//!   the raw clock's count: refused;
//! - the raw time maps to the server's time by the estimate's line, valid
//!   from the first sample of the estimate on (before it, the server may have
//!   stepped, or been another), with the estimate's bound grown by its rate
//!   at the distance from the last sample.

use std::collections::VecDeque;

use super::module_clock::SUSPEND_TOLERANCE_NS;

/// How far the monotonic clock's rate against the raw clock may stray from
/// the chord between two looks, s/s.
pub const RATE_WANDER: f64 = 1000e-6;
/// How many looks are kept: at one a poll interval at least, more than a
/// day at a 64 s poll; the worker looks at each wake-up.
pub const LOOKS: usize = 4096;
/// Realtime minus monotonic time may differ by this between two looks
/// without counting as a step, ns (each is read in a closest pair).
const STEP_TOLERANCE_NS: i64 = 100_000;

/// One look at the clocks, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub raw: i64,
    pub mono: i64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, and how far that can be off.
    pub real_minus_mono: i64,
    pub error: i64,
    /// Boot minus monotonic time as an upper bound, and as a lower one
    /// (None: no boot clock).
    pub slept: Option<(i64, i64)>,
}

impl Look {
    fn real(&self) -> i64 {
        self.mono.saturating_add(self.real_minus_mono)
    }
}

/// The estimate's line: the server's time at raw time `raw` is `raw +
/// offset_ns + rate * (raw - at)` within `bound + bound_rate * |raw - at|`
/// seconds, from raw time `valid_from` on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub at: i64,
    pub offset_ns: i64,
    pub rate: f64,
    pub bound: f64,
    pub bound_rate: f64,
    pub valid_from: i64,
}

/// Why a past time cannot be bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No estimate yet (no valid sample, or one since a disruption).
    NoEstimate,
    /// Older than the looks kept, or than the estimate.
    TooOld,
    /// Later than now.
    Future,
    /// The host clock was stepped, or the host suspended, in between.
    Broken,
}

/// The looks kept, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Looks {
    looks: VecDeque<Look>,
}

impl Looks {
    pub fn push(&mut self, look: Look) {
        if self.looks.back().is_some_and(|l| l.raw >= look.raw) {
            return;
        }
        if self.looks.len() == LOOKS {
            self.looks.pop_front();
        }
        self.looks.push_back(look);
    }

    /// Host time `t` (Unix ns) as the server's time and its bound (s), with
    /// `now` the look taken at the call (the latest); `line` the estimate.
    pub fn map(&self, t: i64, now: &Look, line: Option<Line>) -> Result<(i64, f64), Refused> {
        let line = line.ok_or(Refused::NoEstimate)?;
        if t > now.real() + now.error {
            return Err(Refused::Future);
        }
        // The looks around t: the last one at or before it, and the next
        // (the call's own look last of all).
        let all: Vec<&Look> = self.looks.iter().chain(std::iter::once(now)).collect();
        let k = all.partition_point(|l| l.real() <= t);
        let (a, b) = match (k.checked_sub(1).and_then(|i| all.get(i)), all.get(k)) {
            (Some(a), Some(b)) => (*a, *b),
            (Some(a), None) => (*a, *a),
            _ => return Err(Refused::TooOld),
        };
        // Nothing between a and now may have broken the count.
        for pair in all[k.saturating_sub(1)..].windows(2) {
            let (x, y) = (pair[0], pair[1]);
            if (y.real_minus_mono - x.real_minus_mono).abs() > STEP_TOLERANCE_NS + x.error + y.error {
                return Err(Refused::Broken);
            }
            if let (Some((upper, _)), Some((_, lower))) = (x.slept, y.slept) {
                if lower - upper > SUSPEND_TOLERANCE_NS {
                    return Err(Refused::Broken);
                }
            }
        }
        // Host time to monotonic time (exact between steps), then along the
        // chord to raw time.
        let mono = t - a.real_minus_mono;
        let (raw, wander_ns) = if b.mono == a.mono {
            (a.raw + (mono - a.mono), 0.0)
        } else {
            let f = (mono - a.mono) as f64 / (b.mono - a.mono) as f64;
            let raw = a.raw as f64 + f * (b.raw - a.raw) as f64;
            let nearer = (mono - a.mono).min(b.mono - mono).max(0) as f64;
            (raw.round() as i64, RATE_WANDER * nearer)
        };
        if raw < line.valid_from {
            return Err(Refused::TooOld);
        }
        let dt = (raw - line.at) as f64;
        let server = raw.saturating_add(line.offset_ns).saturating_add((line.rate * dt).round() as i64);
        let bound = line.bound + line.bound_rate * dt.abs() / 1e9 + (wander_ns + (a.error + b.error) as f64) / 1e9;
        Ok((server, bound))
    }

    /// How far back the looks reach, from `now`, ns.
    pub fn reach(&self, now: &Look) -> i64 {
        self.looks.front().map_or(0, |l| now.raw - l.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const REAL0: i64 = 1_800_000_000 * S;

    /// A host whose monotonic clock runs `ppm` fast against the raw clock.
    fn look(raw: i64, ppm: f64, step: i64) -> Look {
        let mono = raw + (raw as f64 * ppm * 1e-6) as i64;
        Look { raw, mono, real_minus_mono: REAL0 + step, error: 1_000, slept: Some((0, 0)) }
    }

    fn line() -> Line {
        // The server is 0.25 s ahead of raw + REAL0, its rate equal.
        Line { at: 100 * S, offset_ns: REAL0 + S / 4, rate: 0.0, bound: 1e-4, bound_rate: 60e-6, valid_from: 0 }
    }

    #[test]
    fn a_recent_host_time_maps_to_the_servers_within_the_bound() {
        let mut looks = Looks::default();
        for k in 0..10 {
            looks.push(look(k * 10 * S, 200.0, 0));
        }
        let now = look(95 * S, 200.0, 0);
        // A host time 0.1 s ago: the monotonic clock runs 200 ppm fast.
        let t = now.real() - S / 10;
        let (server, bound) = looks.map(t, &now, Some(line())).expect("bounded");
        let raw_truth = ((t - REAL0) as f64 / (1.0 + 200e-6)).round() as i64;
        let truth = raw_truth + REAL0 + S / 4;
        let err = (server - truth).abs() as f64 / 1e9;
        assert!(err <= bound, "error {err} over bound {bound}");
        assert!(bound < 1e-3, "0.1 s back, 5 s from a look: {bound}");
    }

    #[test]
    fn steps_suspends_the_future_and_the_too_old_are_refused() {
        let mut looks = Looks::default();
        looks.push(look(10 * S, 0.0, 0));
        looks.push(look(20 * S, 0.0, 0));
        let now = look(30 * S, 0.0, 0);
        assert_eq!(looks.map(now.real() + S, &now, Some(line())), Err(Refused::Future));
        assert_eq!(looks.map(REAL0, &now, Some(line())), Err(Refused::TooOld));
        assert_eq!(looks.map(now.real() - S, &now, None), Err(Refused::NoEstimate));
        let young = Line { valid_from: 25 * S, ..line() };
        assert_eq!(looks.map(look(15 * S, 0.0, 0).real(), &now, Some(young)), Err(Refused::TooOld));
        // The host clock stepped 1 s between the second look and now.
        let stepped = look(30 * S, 0.0, S);
        assert_eq!(looks.map(look(15 * S, 0.0, 0).real(), &stepped, Some(line())), Err(Refused::Broken));
        // The host suspended since the second look.
        let woke = Look { slept: Some((5 * S, 5 * S)), ..now };
        assert_eq!(looks.map(look(25 * S, 0.0, 0).real(), &woke, Some(line())), Err(Refused::Broken));
        // Ring: only the last LOOKS kept.
        let mut many = Looks::default();
        for k in 1..=(LOOKS as i64 + 10) {
            many.push(look(k * S, 0.0, 0));
        }
        assert_eq!(many.reach(&look((LOOKS as i64 + 10) * S, 0.0, 0)), (LOOKS as i64 - 1) * S);
    }
}
