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
/// What the error bound allows per second of age for the raw oscillator's
/// wander, beyond three standard deviations of its measured rate: RFC 5905's
/// PHI, the frequency tolerance of a clock, s/s.
pub const PHI: f64 = 15e-6;
/// The rate error allowed before the raw clock's rate is known (one sample),
/// and the largest rate the reading takes: the oscillator tolerance every
/// backend assumes, s/s.
pub const MAX_RATE_ERROR: f64 = 500e-6;

const NS: f64 = 1e9;

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
    /// The server's leap indicator at the last sample.
    pub leap: u8,
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
    /// Seconds: |unix_ns - the server's true time| is at most this.
    pub error_bound: f64,
    /// The server's leap indicator.
    pub leap: u8,
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
        Time { unix_ns, error_bound: self.bound0 + self.bound_rate * dt as f64 / NS + to_run / NS, leap: self.leap }
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
        Time { unix_ns, error_bound: start.error_bound + drift * dt as f64 / NS, leap: self.leap }
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
        let (base_offset, base_raw) = *self.base.get_or_insert((offset_ns, raw));
        let relative = Sample {
            offset: NtpDuration::from_nanos(offset_ns - base_offset),
            delay: NtpDuration::from_nanos(delay_ns),
            ..*sample
        };
        let t = Duration::from_nanos(raw.saturating_sub(base_raw).max(0) as u64);
        self.tracker.measure(t, &relative);
        let sd = self.tracker.drift_sd();
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
            bound_rate: PHI + rate_error,
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

    /// The reading to publish from raw time `raw_now` (ns) on, with the
    /// last estimate applied: continuous with the previous reading (a
    /// nanosecond ahead of it, so that a caller who read the old one a
    /// moment late never sees time go back as the rate changes), but for a
    /// step.
    pub fn publish(&mut self, raw_now: i64) -> Reading {
        let Some(e) = self.estimate else { return self.reading };
        let Some((base_offset, _)) = self.base else { return self.reading };
        // In integers: Unix nanoseconds need all of an i64's 63 bits.
        let target = raw_now.saturating_add(base_offset).saturating_add(e.offset_ns_at(raw_now).round() as i64);
        let age = (raw_now - e.raw).max(0) as f64 / NS;
        let bound0 = e.bound + e.bound_rate * age;
        let old = self.reading;
        let mut next = Reading {
            synced: true,
            leap: self.leap,
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
            c.publish(self.raw(t4))
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
        // Beyond the step threshold: at once, counted.
        let far = Host { raw_ppm: -200.0, server_ahead: 1.0 };
        far.feed(&mut c, 22.0, 0);
        assert_eq!(c.steps(), 1);
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
    fn a_reading_before_its_start_reads_as_its_start_and_never_overflows() {
        let r = Reading { synced: true, raw0: 1_000, time0: WALL0, rate: 1e-4, ..Reading::default() };
        assert_eq!(r.at(0).unix_ns, WALL0);
        assert_eq!(r.at(i64::MIN).unix_ns, WALL0);
        assert!(r.at(i64::MAX).unix_ns >= WALL0);
    }
}
