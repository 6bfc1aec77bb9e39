//! When requests go out. Times are monotonic (`Duration` since any fixed
//! origin). Intervals count from the previous request's *scheduled* time, so
//! late wake-ups do not accumulate.

use std::time::Duration;

/// Spacing of the initial burst (unless the user's own delays are shorter).
pub const BURST_SPACING: Duration = Duration::from_secs(2);
/// Requests in the initial burst, the first one included.
pub const BURST_REQUESTS: u32 = 4;
/// After the burst the interval starts here and doubles with each reply
/// until it reaches the user's `had_reply` delay: the frequency the burst
/// measured is only good to some ppm, and each doubled baseline halves
/// that before a longer interval could turn it into milliseconds. At most
/// log2(had_reply / 4 s) requests more than the plain schedule, none closer
/// together than the burst's.
pub const RAMP_START: Duration = Duration::from_secs(4);
/// Shortest interval between requests, whatever the caller asks (the C API
/// rejects 0 ms; the core never spins on it either).
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Largest factor a RATE kiss can stretch the intervals by.
pub const MAX_BACKOFF_SHIFT: u32 = 10;

#[derive(Clone, Debug)]
pub struct Schedule {
    no_reply: Duration,
    had_reply: Duration,
    /// Intervals are multiplied by 2^backoff after RATE kisses.
    backoff: u32,
    /// Burst requests still to be spaced at BURST_SPACING after a reply.
    burst_left: u32,
    /// After the burst, the next interval while it is below `had_reply`.
    ramp: Option<Duration>,
    /// Scheduled time of the last request.
    last: Option<Duration>,
    next: Option<Duration>,
}

impl Schedule {
    /// A schedule whose first request is due at `now`.
    pub fn new(now: Duration, no_reply: Duration, had_reply: Duration, burst: bool) -> Self {
        Schedule {
            no_reply: no_reply.max(MIN_INTERVAL),
            had_reply: had_reply.max(MIN_INTERVAL),
            backoff: 0,
            burst_left: if burst { BURST_REQUESTS - 1 } else { 0 },
            ramp: burst.then_some(RAMP_START),
            last: None,
            next: Some(now),
        }
    }

    /// When the next request is due; `None` when stopped.
    pub fn next(&self) -> Option<Duration> {
        self.next
    }

    pub fn is_due(&self, now: Duration) -> bool {
        self.next.is_some_and(|n| n <= now)
    }

    /// The request due now goes out: the next one is due after `no_reply`
    /// unless a reply comes. Returns nothing; the scheduled time is kept.
    pub fn on_sent(&mut self, now: Duration) {
        let scheduled = self.next.unwrap_or(now);
        // After a long stall (suspend, overload) start afresh from now.
        let base = if scheduled + self.scaled(self.no_reply) <= now { now } else { scheduled };
        self.last = Some(base);
        self.next = Some(base.saturating_add(self.scaled(self.no_reply)));
    }

    /// A valid reply to the last request arrived.
    pub fn on_reply(&mut self) {
        let interval = if self.burst_left > 0 {
            self.burst_left -= 1;
            BURST_SPACING.min(self.had_reply)
        } else if let Some(ramp) = self.ramp.filter(|&r| r < self.had_reply) {
            self.ramp = Some(ramp.saturating_mul(2));
            ramp
        } else {
            self.ramp = None;
            self.scaled(self.had_reply)
        };
        self.reschedule(interval);
    }

    /// A RATE kiss: double the intervals, and wait the doubled poll interval.
    pub fn on_rate_kiss(&mut self) {
        self.backoff = (self.backoff + 1).min(MAX_BACKOFF_SHIFT);
        self.burst_left = 0;
        self.ramp = None;
        self.reschedule(self.scaled(self.had_reply));
    }

    /// No more requests (DENY/RSTR), until a new schedule is made.
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// The interval from the last request to the next one; `None` when stopped
    /// or before the first request.
    pub fn interval(&self) -> Option<Duration> {
        Some(self.next?.saturating_sub(self.last?))
    }

    /// Current factor by which intervals are stretched.
    pub fn backoff_factor(&self) -> u32 {
        1 << self.backoff
    }

    fn reschedule(&mut self, interval: Duration) {
        if let Some(last) = self.last {
            self.next = Some(last.saturating_add(interval));
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.saturating_mul(1 << self.backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_reply_then_reply_intervals_count_from_the_scheduled_time() {
        let mut s = Schedule::new(ms(1000), ms(500), ms(3000), false);
        assert!(s.is_due(ms(1000)));
        s.on_sent(ms(1003)); // woke 3 ms late
        assert_eq!(s.next(), Some(ms(1500)));
        s.on_sent(ms(1501));
        assert_eq!(s.next(), Some(ms(2000)));
        s.on_reply();
        assert_eq!(s.next(), Some(ms(4500)), "had_reply after the previous request");
        s.on_sent(ms(4507));
        s.on_reply();
        assert_eq!(s.next(), Some(ms(7500)), "lateness does not accumulate");
    }

    #[test]
    fn burst_spaces_the_first_requests_two_seconds_apart_then_the_intervals_double() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(64_000), true);
        let mut times = vec![];
        for _ in 0..10 {
            let t = s.next().unwrap();
            times.push(t.as_millis() / 1000);
            s.on_sent(t);
            s.on_reply();
        }
        // Burst at 2 s; then 4, 8, 16, 32 s; then had_reply (64 s).
        assert_eq!(times, vec![0, 2, 4, 6, 10, 18, 34, 66, 130, 194]);
        // A had_reply below the ramp's start: nothing but the burst.
        let mut s = Schedule::new(ms(0), ms(1000), ms(3000), true);
        let mut times = vec![];
        for _ in 0..6 {
            let t = s.next().unwrap();
            times.push(t.as_millis());
            s.on_sent(t);
            s.on_reply();
        }
        assert_eq!(times, vec![0, 2000, 4000, 6000, 9000, 12_000]);
    }

    #[test]
    fn burst_never_spaces_closer_than_the_user_asked() {
        let mut s = Schedule::new(ms(0), ms(100), ms(500), true);
        s.on_sent(ms(0));
        s.on_reply();
        assert_eq!(s.next(), Some(ms(500)));
    }

    #[test]
    fn rate_kiss_doubles_the_intervals_and_keeps_doubling_to_a_cap() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(10_000), false);
        s.on_sent(ms(0));
        s.on_rate_kiss();
        assert_eq!(s.next(), Some(ms(20_000)));
        s.on_sent(ms(20_000));
        assert_eq!(s.next(), Some(ms(22_000)), "no-reply interval doubled too");
        s.on_rate_kiss();
        assert_eq!(s.next(), Some(ms(60_000)));
        for _ in 0..20 {
            s.on_rate_kiss();
        }
        assert_eq!(s.backoff_factor(), 1 << MAX_BACKOFF_SHIFT);
    }

    #[test]
    fn after_a_long_stall_the_schedule_restarts_from_now() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(10_000), false);
        s.on_sent(ms(0));
        s.on_sent(ms(50_000));
        assert_eq!(s.next(), Some(ms(51_000)));
    }

    #[test]
    fn huge_delays_saturate_instead_of_overflowing() {
        let huge = Duration::from_millis(u64::MAX);
        let mut s = Schedule::new(ms(5), huge, huge, true);
        s.on_sent(ms(5));
        s.on_rate_kiss();
        assert!(s.next().unwrap() >= huge);
    }

    #[test]
    fn zero_delays_are_raised_to_the_minimum_interval() {
        let mut s = Schedule::new(ms(0), ms(0), ms(0), true);
        s.on_sent(ms(0));
        assert_eq!(s.next(), Some(MIN_INTERVAL));
        s.on_reply();
        assert_eq!(s.next(), Some(MIN_INTERVAL));
    }

    #[test]
    fn stop_clears_the_deadline() {
        let mut s = Schedule::new(ms(0), ms(1), ms(1), false);
        s.stop();
        assert_eq!(s.next(), None);
        assert!(!s.is_due(ms(1_000_000)));
    }
}
