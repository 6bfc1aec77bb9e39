//! When requests go out. Times are monotonic (`Duration` since any fixed
//! origin). Intervals count from the previous request's *scheduled* time, so
//! late wake-ups do not accumulate.
//!
//! Without a reply the next request goes `no_reply` after the last one, as
//! the Prosody API says, for the first [`UNANSWERED_BEFORE_BACKOFF`]
//! requests in a row; each further unanswered request doubles the wait,
//! up to `had_reply` (RFC 4330, section 10: back off from a server that
//! does not answer). Any valid reply returns to the normal schedule.

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
/// Requests in a row left unanswered that are each followed `no_reply`
/// later by the next; from then on the wait doubles with each further
/// one. The same count as the client's loss of sync
/// ([`super::client::MAX_MISSES`]): the request that finds the server
/// unreachable still goes on the plain schedule, the ones after it back off.
pub const UNANSWERED_BEFORE_BACKOFF: u32 = super::client::MAX_MISSES;

/// A disruption's burst comes at most once in this many poll intervals
/// (`had_reply`): a raw clock the own clock cannot follow, or a server
/// whose time keeps jumping, would otherwise keep the client in bursts.
pub const RESAMPLE_EVERY_POLLS: u32 = 8;

#[derive(Clone, Debug)]
pub struct Schedule {
    /// When the last disruption's burst began.
    resampled: Option<Duration>,
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
    /// Current factor by which intervals are stretched.
    #[cfg(test)]
    pub fn backoff_factor(&self) -> u32 {
        1 << self.backoff
    }

    /// A schedule whose first request is due at `now`.
    pub fn new(now: Duration, no_reply: Duration, had_reply: Duration, burst: bool) -> Self {
        Schedule {
            resampled: None,
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

    /// The request due now goes out, after `unanswered` requests in a row
    /// that got no valid reply: the next one is due after the no-reply wait
    /// (see [`Schedule::no_reply_wait`]) unless a reply comes. The
    /// scheduled time is kept.
    pub fn on_sent(&mut self, now: Duration, unanswered: u32) {
        let wait = self.scaled(self.no_reply_wait(unanswered));
        let scheduled = self.next.unwrap_or(now);
        // After a long stall (suspend, overload) start afresh from now.
        let base = if scheduled.saturating_add(wait) <= now { now } else { scheduled };
        self.last = Some(base);
        self.next = Some(base.saturating_add(wait));
    }

    /// How long a request sent after `unanswered` unanswered ones in a row
    /// waits for its reply before the next goes (before a RATE kiss's
    /// stretch): `no_reply` for the first [`UNANSWERED_BEFORE_BACKOFF`]
    /// in a row, then twice as long for each further one, never longer
    /// than `had_reply` (nor shorter than `no_reply`).
    pub fn no_reply_wait(&self, unanswered: u32) -> Duration {
        let doublings = unanswered.saturating_add(1).saturating_sub(UNANSWERED_BEFORE_BACKOFF).min(31);
        self.no_reply.saturating_mul(1 << doublings).min(self.had_reply).max(self.no_reply)
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

    /// The client's time was disrupted: with `burst` a burst from now, else
    /// one request a burst's spacing on; unless one is in flight
    /// (`in_flight`: its reply, or its wait, comes first). Not within
    /// [`RESAMPLE_EVERY_POLLS`] poll intervals of the last such request.
    pub fn resample(&mut self, now: Duration, in_flight: bool, burst: bool) {
        let gap = self.had_reply.saturating_mul(RESAMPLE_EVERY_POLLS);
        if self.resampled.is_some_and(|last| now.saturating_sub(last) < gap) {
            return;
        }
        self.resampled = Some(now);
        // A burst starts now; a lone request waits the burst's spacing (it
        // and the sample that disrupted give the rate over that baseline,
        // not over the milliseconds between two replies).
        let at = if burst {
            self.burst_left = BURST_REQUESTS - 1;
            self.ramp = Some(RAMP_START);
            now
        } else {
            now.saturating_add(BURST_SPACING.min(self.had_reply))
        };
        if !in_flight {
            self.next = Some(self.next.map_or(at, |n| n.min(at)));
        }
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
    fn a_disruption_samples_at_once_in_a_burst_but_not_again_soon() {
        let secs = Duration::from_secs;
        let mut s = Schedule::new(secs(0), secs(1), secs(64), false);
        s.on_sent(secs(0), 0);
        s.on_reply();
        assert_eq!(s.next(), Some(secs(64)));
        s.resample(secs(10), false, true);
        assert_eq!(s.next(), Some(secs(10)), "at once");
        s.on_sent(secs(10), 0);
        s.on_reply();
        assert_eq!(s.next(), Some(secs(10) + BURST_SPACING), "then the burst's spacing");
        // A request in flight: its reply (or its wait) comes first.
        let mut t = Schedule::new(secs(0), secs(1), secs(64), false);
        t.on_sent(secs(0), 0);
        t.resample(secs(0), true, true);
        assert_eq!(t.next(), Some(secs(1)));
        // Another disruption within 8 polls: no second burst.
        let before = s.next();
        s.resample(secs(100), false, true);
        assert_eq!(s.next(), before);
        let later = secs(10 + 8 * 64);
        s.resample(later, false, true);
        assert!(s.is_due(later));
        s.on_sent(later, 0);
        s.on_reply();
        assert_eq!(s.next(), Some(later + BURST_SPACING), "a burst again");
    }

    #[test]
    fn no_reply_then_reply_intervals_count_from_the_scheduled_time() {
        let mut s = Schedule::new(ms(1000), ms(500), ms(3000), false);
        assert!(s.is_due(ms(1000)));
        s.on_sent(ms(1003), 0); // woke 3 ms late
        assert_eq!(s.next(), Some(ms(1500)));
        s.on_sent(ms(1501), 1);
        assert_eq!(s.next(), Some(ms(2000)));
        s.on_reply();
        assert_eq!(s.next(), Some(ms(4500)), "had_reply after the previous request");
        s.on_sent(ms(4507), 0);
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
            s.on_sent(t, 0);
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
            s.on_sent(t, 0);
            s.on_reply();
        }
        assert_eq!(times, vec![0, 2000, 4000, 6000, 9000, 12_000]);
    }

    #[test]
    fn burst_never_spaces_closer_than_the_user_asked() {
        let mut s = Schedule::new(ms(0), ms(100), ms(500), true);
        s.on_sent(ms(0), 0);
        s.on_reply();
        assert_eq!(s.next(), Some(ms(500)));
    }

    /// Sends every request as it falls due, none answered, from a fresh
    /// schedule; the send times in ms.
    fn unanswered_times(s: &mut Schedule, count: u32) -> Vec<u128> {
        (0..count)
            .map(|unanswered| {
                let t = s.next().unwrap();
                s.on_sent(t, unanswered);
                t.as_millis()
            })
            .collect()
    }

    #[test]
    fn unanswered_requests_keep_no_reply_for_four_then_double_up_to_had_reply() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(64_000), true);
        let times: Vec<_> = unanswered_times(&mut s, 13).iter().map(|t| t / 1000).collect();
        // Intervals 1, 1, 1, 1 s, then 2, 4, ... 32 s, then 64 s (had_reply).
        assert_eq!(times, vec![0, 1, 2, 3, 4, 6, 10, 18, 34, 66, 130, 194, 258]);
        assert_eq!(s.interval(), Some(ms(64_000)), "bounded by had_reply");
        // A had_reply that is no power-of-two multiple of no_reply is the bound itself.
        let mut s = Schedule::new(ms(0), ms(1000), ms(5000), false);
        let times = unanswered_times(&mut s, 9);
        assert_eq!(times, vec![0, 1000, 2000, 3000, 4000, 6000, 10_000, 15_000, 20_000]);
        // no_reply == had_reply: nothing to back off to.
        let mut s = Schedule::new(ms(0), ms(700), ms(700), false);
        assert_eq!(unanswered_times(&mut s, 7), vec![0, 700, 1400, 2100, 2800, 3500, 4200]);
    }

    #[test]
    fn no_reply_wait_is_never_shorter_than_no_reply_nor_longer_than_had_reply() {
        let s = Schedule::new(ms(0), ms(300), ms(600), false);
        let waits: Vec<_> = [0, 3, 4, 5, 100, u32::MAX].iter().map(|&n| s.no_reply_wait(n).as_millis()).collect();
        assert_eq!(waits, vec![300, 300, 600, 600, 600, 600]);
        // (Caller's delays the other way round: no_reply wins.)
        let s = Schedule::new(ms(0), ms(2000), ms(1000), false);
        assert_eq!(s.no_reply_wait(10), ms(2000));
        let huge = Duration::from_millis(u64::MAX);
        let s = Schedule::new(ms(0), ms(1), huge, false);
        assert_eq!(s.no_reply_wait(u32::MAX), ms(1 << 31));
    }

    #[test]
    fn a_reply_after_a_backed_off_run_returns_to_the_normal_schedule() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(64_000), false);
        let times = unanswered_times(&mut s, 7);
        assert_eq!(times.last(), Some(&10_000));
        assert_eq!(s.next(), Some(ms(18_000)), "waiting 8 s for this one");
        s.on_reply();
        assert_eq!(s.next(), Some(ms(74_000)), "had_reply after the answered request");
        // A new run of silence starts at no_reply again (the client's count restarts).
        s.on_sent(ms(74_000), 0);
        assert_eq!(s.next(), Some(ms(75_000)));
    }

    #[test]
    fn a_rate_kiss_stretches_the_backed_off_wait_too() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(10_000), false);
        s.on_sent(ms(0), 0);
        s.on_rate_kiss();
        assert_eq!(s.next(), Some(ms(20_000)));
        // Kissed requests count as unanswered: the fifth waits 2 s x 2.
        s.on_sent(ms(20_000), 4);
        assert_eq!(s.next(), Some(ms(24_000)));
        s.on_sent(ms(24_000), 20);
        assert_eq!(s.next(), Some(ms(44_000)), "bounded by the stretched had_reply");
        s.on_rate_kiss();
        assert_eq!(s.next(), Some(ms(64_000)), "the kiss reschedules at 4 x had_reply");
    }

    #[test]
    fn rate_kiss_doubles_the_intervals_and_keeps_doubling_to_a_cap() {
        let mut s = Schedule::new(ms(0), ms(1000), ms(10_000), false);
        s.on_sent(ms(0), 0);
        s.on_rate_kiss();
        assert_eq!(s.next(), Some(ms(20_000)));
        s.on_sent(ms(20_000), 0);
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
        s.on_sent(ms(0), 0);
        s.on_sent(ms(50_000), 0);
        assert_eq!(s.next(), Some(ms(51_000)));
    }

    #[test]
    fn huge_delays_saturate_instead_of_overflowing() {
        let huge = Duration::from_millis(u64::MAX);
        let mut s = Schedule::new(ms(5), huge, huge, true);
        s.on_sent(ms(5), 0);
        s.on_rate_kiss();
        assert!(s.next().unwrap() >= huge);
    }

    #[test]
    fn zero_delays_are_raised_to_the_minimum_interval() {
        let mut s = Schedule::new(ms(0), ms(0), ms(0), true);
        s.on_sent(ms(0), 0);
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
