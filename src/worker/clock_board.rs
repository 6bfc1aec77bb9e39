//! A client's own-clock reading, published by its worker and read by any
//! thread without a lock: two slots, each under a sequence count, and the
//! index of the current one.
//!
//! A new reading starts at a raw time `c` a little ahead. The worker first
//! marks the current slot as ending (pending), reads the raw clock, works
//! out the new reading, marks the slot as ending at `c` with the lower of
//! the two readings' rates there, fills the other slot, waits until the raw
//! clock has passed `c`, and only then makes it current. A reader past the
//! mark runs the old reading on from `c` at that lower rate, so it never
//! gets ahead of the new one. A reader takes the mark before and after its
//! raw read, and checks that its slot is still the current one: unchanged
//! and unmarked, its raw read came before the worker's, so before `c`. So
//! no two calls ever see time go backwards, across threads too, and none
//! sees it stand still. Readers wait only while the worker is between its
//! two marks, as a sequence lock's readers wait out a write.
//!
//! Neither side busy-waits on a clock. The worker reads the raw clock a few
//! times ([`SPIN_READS`]) for the mark, then sleeps for what remains and
//! reads again. On a real kernel that is one sleep of under 20 us (some
//! 90 us with the kernel's timer slack, for less CPU than spinning through
//! the 20 us; readers go on meanwhile, past the mark at the lower rate, so
//! its length is the worker's business only). Under a simulator whose time
//! moves only in sleeps and polls (chrony's clknetsim) the sleep is what
//! moves time past the mark at all. The sleep is a parameter
//! ([`ClockBoard::publish_with`]) so that a test can fake it.

use std::sync::atomic::{fence, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::discipline::module_clock::{Reading, Time};

/// How far ahead of the raw clock a new reading starts, ns: time for the
/// worker to fill the other slot before then.
const AHEAD_NS: i64 = 20_000;
/// How many times the worker reads the raw clock for the mark before it
/// sleeps: enough to catch a mark a microsecond or so away (a vDSO read
/// takes some 20-50 ns), too few to spin for long where the clock does not
/// move between reads.
pub const SPIN_READS: u32 = 32;
/// How many times a reader retries a slot the worker is writing before it
/// yields its CPU (to the worker, if that is what it waits for).
const READ_SPINS: u32 = 64;
/// `ends` while the worker is about to set it.
const PENDING: i64 = i64::MAX - 1;
const WORDS: usize = 13;

#[derive(Default)]
struct Slot {
    /// Even: stable; odd: being written. Counts writes.
    seq: AtomicU64,
    words: [AtomicU64; WORDS],
    /// Raw time (ns) at which the next reading takes over from this one...
    ends: AtomicI64,
    /// ...and the rate (less 1, f64 bits) this one runs at past it.
    rate_after: AtomicU64,
}

pub struct ClockBoard {
    slots: [Slot; 2],
    current: AtomicUsize,
}

impl Default for ClockBoard {
    fn default() -> Self {
        let board = ClockBoard { slots: Default::default(), current: AtomicUsize::new(0) };
        for s in &board.slots {
            s.ends.store(i64::MAX, Ordering::Relaxed);
        }
        board
    }
}

fn encode(r: &Reading) -> [u64; WORDS] {
    [
        u64::from(r.synced) | u64::from(r.disrupted) << 1 | u64::from(r.slept_ns.is_some()) << 2 | u64::from(r.leap) << 8,
        r.raw0 as u64,
        r.time0 as u64,
        r.rate.to_bits(),
        r.slew.to_bits(),
        r.slew_ns as u64,
        r.bound0.to_bits(),
        r.bound_rate.to_bits(),
        r.sample_raw as u64,
        r.sample_time as u64,
        r.holdover_raw as u64,
        r.slept_ns.unwrap_or(0) as u64,
        r.leap_repeated as u64,
    ]
}

fn decode(w: &[u64; WORDS]) -> Reading {
    Reading {
        synced: w[0] & 1 != 0,
        disrupted: w[0] & 2 != 0,
        leap: (w[0] >> 8) as u8,
        sample_raw: w[8] as i64,
        sample_time: w[9] as i64,
        holdover_raw: w[10] as i64,
        slept_ns: (w[0] & 4 != 0).then_some(w[11] as i64),
        leap_repeated: w[12] as i64,
        raw0: w[1] as i64,
        time0: w[2] as i64,
        rate: f64::from_bits(w[3]),
        slew: f64::from_bits(w[4]),
        slew_ns: w[5] as i64,
        bound0: f64::from_bits(w[6]),
        bound_rate: f64::from_bits(w[7]),
    }
}

impl ClockBoard {
    pub fn new() -> ClockBoard {
        ClockBoard::default()
    }

    /// Publishes `make(c)`, a reading from raw time `c` on (continuous there
    /// with the current one). Only the worker calls this (one writer).
    /// `raw` reads the raw clock, ns; the call returns once it has passed
    /// `c`, 20 us on, sleeping for most of that (longer with timer slack).
    pub fn publish(&self, raw: impl Fn() -> i64, make: impl FnOnce(i64) -> Reading) {
        self.publish_with(raw, std::thread::sleep, make);
    }

    /// [`publish`](Self::publish), sleeping with `sleep` while the raw clock
    /// has not passed the mark: `sleep` must let the raw clock move (a real
    /// sleep does; a test's fake clock may move only there).
    pub fn publish_with(&self, raw: impl Fn() -> i64, sleep: impl Fn(Duration), make: impl FnOnce(i64) -> Reading) {
        let old = &self.slots[self.current.load(Ordering::Acquire)];
        old.ends.store(PENDING, Ordering::SeqCst);
        let ends = raw().saturating_add(AHEAD_NS);
        let next = make(ends);
        let was = decode(&std::array::from_fn(|k| old.words[k].load(Ordering::Relaxed)));
        // (The new reading's slower rate, during its correction or after it.)
        let after = was.rate_at(ends).min(next.rate).min(next.rate + next.slew);
        old.rate_after.store(after.to_bits(), Ordering::SeqCst);
        old.ends.store(ends, Ordering::SeqCst);
        let i = 1 - self.current.load(Ordering::Acquire);
        let slot = &self.slots[i];
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, v) in slot.words.iter().zip(encode(&next)) {
            w.store(v, Ordering::Relaxed);
        }
        slot.ends.store(i64::MAX, Ordering::Relaxed);
        slot.seq.store(seq + 2, Ordering::Release);
        // Readers of the new slot must all read a raw time past `ends`.
        wait_past(ends, raw, sleep);
        self.current.store(i, Ordering::SeqCst);
    }

    /// The reading, evaluated at the raw clock now: the server's time and
    /// its error bound (None before the first sync). `slept` reads boot
    /// minus monotonic time (None: no boot clock): grown since the reading
    /// was made, the host was suspended and the time is unbounded.
    pub fn read(&self, raw: impl Fn() -> i64, slept: impl Fn() -> Option<i64>) -> Option<Time> {
        let mut tries = 0u32;
        loop {
            // (Not a wait on the clock: on the worker, between its marks.)
            if tries > 0 {
                if tries % READ_SPINS == 0 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            tries = tries.wrapping_add(1);
            let current = self.current.load(Ordering::SeqCst);
            let slot = &self.slots[current];
            let seq = slot.seq.load(Ordering::Acquire);
            if seq & 1 == 1 {
                continue;
            }
            let mut w = [0u64; WORDS];
            for (v, a) in w.iter_mut().zip(&slot.words) {
                *v = a.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            let ends = slot.ends.load(Ordering::SeqCst);
            if slot.seq.load(Ordering::Relaxed) != seq || ends == PENDING {
                continue;
            }
            let now = raw();
            let slept_now = slept();
            // Still the current slot, unmarked or marked as before: a slot
            // filled while this call was away must not be taken for it.
            if slot.ends.load(Ordering::SeqCst) != ends
                || slot.seq.load(Ordering::SeqCst) != seq
                || self.current.load(Ordering::SeqCst) != current
            {
                continue;
            }
            let r = decode(&w);
            if !r.synced {
                return None;
            }
            // Past the end mark the next reading is on its way: this one
            // runs on at the lower of the two rates.
            let t = if now > ends {
                let rate_after = f64::from_bits(slot.rate_after.load(Ordering::SeqCst));
                r.run_on(ends, now, rate_after)
            } else {
                r.at(now)
            };
            return Some(if r.suspended_since(slept_now) { Time { suspended: true, ..t.unbounded() } } else { t });
        }
    }
}

/// Returns once `raw` reads past `mark`: [`SPIN_READS`] reads at most, then
/// a sleep for what remains before each read after. Returns how many reads
/// it took.
fn wait_past(mark: i64, raw: impl Fn() -> i64, sleep: impl Fn(Duration)) -> u32 {
    let mut reads = 0u32;
    loop {
        let now = raw();
        reads = reads.saturating_add(1);
        if now >= mark {
            return reads;
        }
        if reads < SPIN_READS {
            std::hint::spin_loop();
        } else {
            // At least 1 ns: a zero sleep may not sleep (nor move time) at all.
            sleep(Duration::from_nanos(mark.saturating_sub(now) as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Arc;

    #[test]
    fn a_reading_round_trips_through_the_words() {
        let r = Reading {
            synced: true,
            disrupted: true,
            leap: 2,
            sample_raw: 99,
            sample_time: 1_800_000_000_000_000_000,
            holdover_raw: 1_000_000,
            slept_ns: Some(-5),
            leap_repeated: 1_798_761_600_000_000_000,
            raw0: 123,
            time0: -456,
            rate: -1e-4,
            slew: 5e-4,
            slew_ns: 7,
            bound0: 1e-3,
            bound_rate: 15e-6,
        };
        assert_eq!(decode(&encode(&r)), r);
    }

    /// A raw clock that stands still but in the fake sleep, which moves it
    /// on by `step` ns (by the time asked for if `step` is 0); it counts its
    /// reads and sleeps, and fails a test that spins on it.
    struct StillClock {
        now: Cell<i64>,
        reads: Cell<u32>,
        sleeps: Cell<u32>,
        step: i64,
    }

    impl StillClock {
        fn new(step: i64) -> StillClock {
            StillClock { now: Cell::new(1_000_000_000), reads: Cell::new(0), sleeps: Cell::new(0), step }
        }
        fn raw(&self) -> i64 {
            self.reads.set(self.reads.get() + 1);
            assert!(self.reads.get() < 100_000, "spun on a raw clock that moves only in sleeps");
            self.now.get()
        }
        fn sleep(&self, d: Duration) {
            assert!(d > Duration::ZERO, "a zero sleep need not move the clock");
            self.sleeps.set(self.sleeps.get() + 1);
            let step = if self.step > 0 { self.step } else { d.as_nanos() as i64 };
            self.now.set(self.now.get() + step);
        }
    }

    fn reading_from(c: i64, time0: i64) -> Reading {
        Reading { synced: true, raw0: c, time0, ..Reading::default() }
    }

    #[test]
    fn publish_returns_on_a_raw_clock_that_moves_only_while_it_sleeps() {
        let clock = StillClock::new(0);
        let board = ClockBoard::new();
        let mut marks = vec![];
        for k in 0..3 {
            let before = clock.reads.get();
            board.publish_with(
                || clock.raw(),
                |d| clock.sleep(d),
                |c| {
                    marks.push(c);
                    reading_from(c, 5_000_000_000 + k)
                },
            );
            let reads = clock.reads.get() - before;
            eprintln!("publish {k}: {reads} raw reads, {} sleeps so far", clock.sleeps.get());
            // One read for the mark, SPIN_READS before the sleep, one after it.
            assert_eq!(reads, 1 + SPIN_READS + 1);
            // The new reading is current, and the clock stands past its mark.
            let t = board.read(|| clock.raw(), || None).expect("synced");
            assert_eq!(t.unix_ns, 5_000_000_000 + k);
            assert_eq!(clock.now.get(), marks[k as usize]);
        }
        assert_eq!(clock.sleeps.get(), 3, "one sleep a publish");
    }

    #[test]
    fn publish_sleeps_again_while_a_sleep_falls_short_of_the_mark() {
        // Each sleep moves the clock 1 us, whatever it asked for.
        let clock = StillClock::new(1_000);
        let board = ClockBoard::new();
        board.publish_with(|| clock.raw(), |d| clock.sleep(d), |c| reading_from(c, 7_000_000_000));
        let (reads, sleeps) = (clock.reads.get(), clock.sleeps.get());
        eprintln!("{reads} raw reads, {sleeps} sleeps");
        assert_eq!(sleeps as i64, AHEAD_NS / 1_000);
        assert_eq!(reads, 1 + SPIN_READS + sleeps);
        assert_eq!(board.read(|| clock.raw(), || None).map(|t| t.unix_ns), Some(7_000_000_000));
    }

    #[test]
    fn publish_does_not_sleep_once_the_mark_has_passed() {
        // A raw clock 1 us on at every read: the mark passes within the spin.
        let now = Cell::new(0i64);
        let raw = || {
            now.set(now.get() + 1_000);
            now.get()
        };
        let board = ClockBoard::new();
        board.publish_with(raw, |_| panic!("slept"), |c| reading_from(c, 1));
        assert!(now.get() / 1_000 <= 1 + AHEAD_NS / 1_000);
    }

    #[test]
    fn readers_on_other_threads_never_see_time_go_back_across_publishes() {
        // The raw clock: real monotonic time.
        let start = std::time::Instant::now();
        let raw = move || 1_000_000_000 + start.elapsed().as_nanos() as i64;
        let board = Arc::new(ClockBoard::new());
        assert_eq!(board.read(raw, || None), None);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (b, raw, done) = (board.clone(), raw, done.clone());
                std::thread::spawn(move || {
                    let (mut last, mut reads) = (i64::MIN, 0u64);
                    while !done.load(Ordering::SeqCst) {
                        if let Some(t) = b.read(raw, || None) {
                            assert!(t.unix_ns >= last, "back by {} ns", last - t.unix_ns);
                            last = t.unix_ns;
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        // Alternate fast and slow rates: each new reading continuous at its start.
        let mut reading = Reading::default();
        for k in 0..2000 {
            board.publish(raw, |c| {
                let time0 = if reading.synced { reading.at(c).unix_ns + 1 } else { 5_000_000_000 };
                let rate = if k % 2 == 0 { 1e-3 } else { -1e-3 };
                reading = Reading { synced: true, raw0: c, time0, rate, ..Reading::default() };
                reading
            });
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }
}
