//! Noticing another owner of the clock, free of I/O: the kernel's clock
//! state as a backend reads it, compared with what our own corrections left
//! there. A difference we did not make (a frequency, tick, status bit, error
//! bound or slew, or a step) is a foreign change; the leap second our own
//! STA_INS/STA_DEL announced is not one.
//!
//! The rule ([`ForeignWatch::judge`]): another discipline owns the clock
//! when a change shows one that keeps acting on it — the kernel's PLL/FLL
//! (or PPS) loop switched on, or the frequency or tick rewritten (only a
//! discipline steers the clock's rate) — or when a second foreign change of
//! any kind follows the first within the quiet window (an hour by default).
//! A single change by itself (a step, a slew, a status bit, an error bound,
//! the TAI offset) is an event: it is taken as the new state and the owner
//! keeps steering.

use std::fmt;

/// The kernel status bits of the NTP interface (RFC 1589; the same values on
/// Linux and the BSDs).
pub mod sta {
    pub const PLL: i32 = 0x0001;
    pub const PPSFREQ: i32 = 0x0002;
    pub const PPSTIME: i32 = 0x0004;
    pub const FLL: i32 = 0x0008;
    pub const INS: i32 = 0x0010;
    pub const DEL: i32 = 0x0020;
    pub const UNSYNC: i32 = 0x0040;
    pub const FREQHOLD: i32 = 0x0080;
    pub const NANO: i32 = 0x2000;
    pub const MODE: i32 = 0x4000;
}

/// Status bits only a discipline sets: the kernel's own loops.
const LOOP_BITS: i32 = sta::PLL | sta::FLL | sta::PPSFREQ | sta::PPSTIME;
/// Status bits that change only when somebody writes them (UNSYNC also when
/// maxerror reaches its cap).
const WRITTEN_BITS: i32 = sta::INS | sta::DEL | sta::UNSYNC | sta::FREQHOLD | sta::NANO | sta::MODE;
/// The kernel caps maxerror at 16 s (and sets UNSYNC there), microseconds...
pub const MAXERROR_CAP_US: i64 = 16_000_000;
/// ...and adds this much to it every second, microseconds (500 ppm).
pub const MAXERROR_GROWTH_US: i64 = 500;
/// A step shows as CLOCK_REALTIME - CLOCK_MONOTONIC moving by more than this, s.
const STEP_SLACK: f64 = 1e-3;
/// Rounding of a one-shot slew's remainder (microseconds in the kernel), s.
const SLEW_SLACK: f64 = 2e-6;
/// The kernel works off a one-shot slew at most this fast, s/s.
const SLEW_RATE: f64 = 500e-6;
/// At first look, a maxerror below the cap by more than a minute's growth
/// means somebody wrote it within the last 8.9 hours.
const RECENT_SYNC_MARGIN_US: i64 = 60 * MAXERROR_GROWTH_US;

/// What a backend can read of the kernel clock's discipline; `None` where the
/// platform has no such thing (`adjtime` has only the slew and the clocks).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelState {
    /// CLOCK_MONOTONIC when read, seconds: system-wide, so comparable across
    /// processes.
    pub at: f64,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, seconds: moves only when the
    /// clock is stepped (or a leap second is inserted or deleted).
    pub real_minus_mono: Option<f64>,
    /// `timex.freq` (ppm << 16), `timex.tick` (us), `timex.status`.
    pub freq: Option<i64>,
    pub tick: Option<i64>,
    pub status: Option<i32>,
    /// `timex.maxerror`, `timex.esterror`, microseconds; `timex.tai`, s.
    pub maxerror: Option<i64>,
    pub esterror: Option<i64>,
    pub tai: Option<i32>,
    /// One-shot slew still to do (ADJ_OFFSET_SINGLESHOT, `adjtime()`), s.
    pub slew_left: Option<f64>,
}

/// A sign that somebody else disciplines the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Finding {
    /// The kernel's own PLL/FLL (or PPS) loop is on: systemd-timesyncd, ntpd.
    KernelLoop {
        status: i32,
    },
    /// At first look: maxerror, written (by someone else) at most `ago` seconds ago.
    RecentSync {
        maxerror: i64,
        ago: f64,
    },
    Frequency {
        from: i64,
        to: i64,
    },
    Tick {
        from: i64,
        to: i64,
    },
    /// Status bits changed that only a writer changes.
    Status {
        changed: i32,
    },
    MaxError {
        expected_at_least: i64,
        seen: i64,
    },
    EstError {
        from: i64,
        to: i64,
    },
    Tai {
        from: i32,
        to: i32,
    },
    /// A one-shot slew that is not ours (or ours replaced), seconds.
    Slew {
        ours: f64,
        seen: f64,
    },
    /// The clock was stepped by this much, seconds.
    Step {
        by: f64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Finding::KernelLoop { status } => {
                write!(f, "the kernel's PLL/FLL is on (status {status:#x}): a daemon such as systemd-timesyncd or ntpd")
            }
            Finding::RecentSync { maxerror, ago } => write!(
                f,
                "another program keeps the kernel's error bound (maxerror {maxerror} us, written within the last \
                 {ago:.0} s): a time daemon"
            ),
            Finding::Frequency { from, to } => write!(
                f,
                "the kernel frequency changed from {:+.3} to {:+.3} ppm, not by us",
                from as f64 / 65536.0,
                to as f64 / 65536.0
            ),
            Finding::Tick { from, to } => write!(f, "the kernel tick changed from {from} to {to} us, not by us"),
            Finding::Status { changed } => write!(f, "kernel status bits {changed:#x} changed, not by us"),
            Finding::MaxError { expected_at_least, seen } => {
                write!(
                    f,
                    "the kernel's maxerror was rewritten ({seen} us, ours would be {expected_at_least} us or more)"
                )
            }
            Finding::EstError { from, to } => {
                write!(f, "the kernel's esterror changed from {from} to {to} us, not by us")
            }
            Finding::Tai { from, to } => write!(f, "the kernel's TAI offset changed from {from} to {to} s"),
            Finding::Slew { ours, seen } => {
                write!(f, "a slew we did not start is running ({seen:+.6} s left, ours {ours:+.6} s)")
            }
            Finding::Step { by } => write!(f, "the clock was stepped by {by:+.6} s, not by us"),
        }
    }
}

impl Finding {
    /// Whether this change alone shows a discipline that keeps acting on
    /// the clock: its loop in the kernel on, a daemon's error bound at first
    /// look, or the frequency or tick rewritten. Anything else may be a
    /// one-off event (somebody ran `date`, a leap second we did not announce).
    pub fn is_discipline(&self) -> bool {
        matches!(
            self,
            Finding::KernelLoop { .. } | Finding::RecentSync { .. } | Finding::Frequency { .. } | Finding::Tick { .. }
        )
    }
}

/// What [`ForeignWatch::judge`] makes of the kernel state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Nothing our own actions do not explain.
    Quiet,
    /// A foreign change, the first within the window: an event, taken as
    /// the new state.
    OneOff(Finding),
    /// Another discipline: a change only a discipline makes, or a second
    /// foreign change `after` seconds after the `earlier` one.
    Discipline { finding: Finding, earlier: Option<(f64, Finding)> },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Quiet => write!(f, "no foreign change"),
            Verdict::OneOff(finding) => write!(f, "{finding}"),
            Verdict::Discipline { finding, earlier: None } => write!(f, "{finding}"),
            Verdict::Discipline { finding, earlier: Some((after, first)) } => {
                write!(f, "{finding}, {after:.0} s after another change not ours ({first})")
            }
        }
    }
}

/// Watches the kernel state between our own corrections.
#[derive(Clone, Debug, Default)]
pub struct ForeignWatch {
    /// The state as our last action (or the last look) left it.
    base: Option<KernelState>,
    /// The last one-off foreign change: when (CLOCK_MONOTONIC, s) and what.
    last_event: Option<(f64, Finding)>,
}

impl ForeignWatch {
    pub fn new() -> ForeignWatch {
        ForeignWatch::default()
    }

    /// Before the first correction: whether the clock already has another
    /// owner. `ours` is the state a previous owner of this library recorded
    /// (the host lock's record), `in_flight` whether it was applying a
    /// correction then: its writes explain any difference but the kernel loop.
    pub fn first_look(now: &KernelState, ours: Option<&KernelState>, in_flight: bool) -> Option<Finding> {
        if let Some(status) = now.status.filter(|s| s & LOOP_BITS != 0) {
            return Some(Finding::KernelLoop { status });
        }
        if let Some(rec) = ours {
            // Its record explains the state, but for at most a one-off event.
            let since = (ForeignWatch { base: Some(*rec), last_event: None }).check(now);
            if in_flight || since.is_none_or(|f| !f.is_discipline()) {
                return None;
            }
        }
        match now.maxerror {
            Some(m) if m < MAXERROR_CAP_US - RECENT_SYNC_MARGIN_US => {
                Some(Finding::RecentSync { maxerror: m, ago: (MAXERROR_CAP_US - m) as f64 / MAXERROR_GROWTH_US as f64 })
            }
            _ => None,
        }
    }

    /// The rule (see the module's text): `now` judged against our own
    /// actions and the last one-off change within `window` seconds. A
    /// one-off change becomes the new base.
    pub fn judge(&mut self, now: &KernelState, window: f64) -> Verdict {
        let Some(finding) = self.check(now) else { return Verdict::Quiet };
        if finding.is_discipline() {
            return Verdict::Discipline { finding, earlier: None };
        }
        if let Some((at, first)) = self.last_event.filter(|e| now.at - e.0 < window) {
            return Verdict::Discipline { finding, earlier: Some(((now.at - at).max(0.0), first)) };
        }
        self.last_event = Some((now.at, finding));
        self.rebase(*now);
        Verdict::OneOff(finding)
    }

    /// What in `now` our own actions since the last [`ForeignWatch::rebase`]
    /// do not explain; `None` before the first rebase.
    pub fn check(&self, now: &KernelState) -> Option<Finding> {
        let base = &leap_explained(self.base.as_ref()?, now);
        if let Some(status) = now.status.filter(|s| s & LOOP_BITS != 0) {
            return Some(Finding::KernelLoop { status });
        }
        let dt = (now.at - base.at).max(0.0);
        // Values the kernel never changes by itself.
        fn moved<T: PartialEq + Copy>(from: Option<T>, to: Option<T>) -> Option<(T, T)> {
            from.zip(to).filter(|(a, b)| a != b)
        }
        let written = moved(base.freq, now.freq)
            .map(|(from, to)| Finding::Frequency { from, to })
            .or_else(|| moved(base.tick, now.tick).map(|(from, to)| Finding::Tick { from, to }))
            .or_else(|| moved(base.esterror, now.esterror).map(|(from, to)| Finding::EstError { from, to }))
            .or_else(|| moved(base.tai, now.tai).map(|(from, to)| Finding::Tai { from, to }));
        if written.is_some() {
            return written;
        }
        if let (Some(m0), Some(m)) = (base.maxerror, now.maxerror) {
            // The kernel adds 500 us at each second boundary, up to its cap.
            let lo = (m0 + MAXERROR_GROWTH_US * (dt.floor() as i64 - 1).max(0)).min(MAXERROR_CAP_US.max(m0));
            let hi = m0 + MAXERROR_GROWTH_US * (dt.ceil() as i64 + 1);
            if m < lo || m > hi {
                return Some(Finding::MaxError { expected_at_least: lo, seen: m });
            }
        }
        if let (Some(s0), Some(s)) = (base.status, now.status) {
            let mut changed = (s0 ^ s) & WRITTEN_BITS;
            // The kernel sets UNSYNC itself when maxerror reaches its cap.
            if now.maxerror.is_none_or(|m| m >= MAXERROR_CAP_US) && s & sta::UNSYNC != 0 {
                changed &= !sta::UNSYNC;
            }
            if changed != 0 {
                return Some(Finding::Status { changed });
            }
        }
        if let (Some(ours), Some(seen)) = (base.slew_left, now.slew_left) {
            // Ours only shrinks toward zero, and no faster than the kernel slews.
            let grew = seen.abs() > ours.abs() + SLEW_SLACK;
            let turned = seen.abs() > SLEW_SLACK && seen.signum() != ours.signum() && ours.abs() > SLEW_SLACK;
            let began = ours.abs() <= SLEW_SLACK && seen.abs() > SLEW_SLACK;
            let vanished = seen.abs() + SLEW_RATE * (dt.ceil() + 1.0) + SLEW_SLACK < ours.abs();
            if grew || turned || began || vanished {
                return Some(Finding::Slew { ours, seen });
            }
        }
        if let (Some(d0), Some(d)) = (base.real_minus_mono, now.real_minus_mono) {
            let by = d - d0;
            if by.abs() > STEP_SLACK {
                return Some(Finding::Step { by });
            }
        }
        None
    }

    /// The state as our own action (or an accepted look) left it.
    pub fn rebase(&mut self, now: KernelState) {
        self.base = Some(now);
    }

}

/// `base` with what the leap second it announced does to the kernel state
/// once made: when STA_INS (STA_DEL) was set and the clock has since reached
/// the next UTC midnight (23:59:59), the kernel repeats (skips) a second:
/// CLOCK_REALTIME - CLOCK_MONOTONIC moves by -1 s (+1 s), the TAI offset by
/// +1 (-1), and the bit may be cleared (Linux clears it). Each of these is
/// allowed, not required (a kernel without a TAI offset, a look in the last
/// second before the leap).
fn leap_explained(base: &KernelState, now: &KernelState) -> KernelState {
    let mut b = *base;
    let Some(status) = base.status else { return b };
    let by = match (status & sta::INS != 0, status & sta::DEL != 0) {
        (true, false) => -1.0,
        (false, true) => 1.0,
        _ => return b,
    };
    let (Some(d0), Some(d)) = (base.real_minus_mono, now.real_minus_mono) else { return b };
    // CLOCK_REALTIME then, and now as if the second had not been repeated
    // (skipped): past the leap point once it is reached.
    let (then, continued) = (base.at + d0, now.at + d - by);
    let ahead = if by < 0.0 { 0.0 } else { 1.0 };
    let point = ((then + ahead) / 86_400.0).floor() * 86_400.0 + 86_400.0 - ahead;
    if continued < point - STEP_SLACK {
        return b;
    }
    if (d - d0 - by).abs() <= STEP_SLACK {
        b.real_minus_mono = Some(d0 + by);
    }
    if let (Some(t0), Some(t)) = (base.tai, now.tai) {
        if t == t0 - by as i32 {
            b.tai = Some(t);
        }
    }
    if let Some(s) = now.status {
        b.status = Some(status & !(sta::INS | sta::DEL) | s & status & (sta::INS | sta::DEL));
    }
    b
}

/// What the host lock's file says of the library's last owner of the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OwnerRecord {
    pub pid: u32,
    pub phase: RecordPhase,
    /// The kernel state after its last action (or before the one in flight).
    pub state: KernelState,
    /// Standing down: CLOCK_MONOTONIC of the last foreign change seen, s.
    pub last_foreign_change: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordPhase {
    /// The state is what its last correction left.
    Done,
    /// A correction was being applied: the kernel may show its writes.
    Applying,
    /// It had found another discipline and was measuring only.
    StandingDown,
    /// It held the lock but had not corrected anything yet.
    Watching,
}

impl RecordPhase {
    fn name(self) -> &'static str {
        match self {
            RecordPhase::Done => "done",
            RecordPhase::Applying => "applying",
            RecordPhase::StandingDown => "standing-down",
            RecordPhase::Watching => "watching",
        }
    }
}

impl OwnerRecord {
    /// One line of `key=value` words (`-` for a value the platform lacks).
    pub fn to_line(self) -> String {
        fn opt<T: fmt::Display>(v: Option<T>) -> String {
            v.map_or_else(|| "-".into(), |v| v.to_string())
        }
        let s = &self.state;
        format!(
            "prossntp-clock-owner 1 pid={} phase={} at={:.9} real_minus_mono={} freq={} tick={} status={} maxerror={} \
             esterror={} tai={} slew_left={} last_foreign_change={:.9}\n",
            self.pid,
            self.phase.name(),
            s.at,
            opt(s.real_minus_mono.map(|v| format!("{v:.9}"))),
            opt(s.freq),
            opt(s.tick),
            opt(s.status),
            opt(s.maxerror),
            opt(s.esterror),
            opt(s.tai),
            opt(s.slew_left.map(|v| format!("{v:.9}"))),
            self.last_foreign_change,
        )
    }

    /// Parses [`OwnerRecord::to_line`]'s output; `None` for anything else.
    pub fn parse(text: &str) -> Option<OwnerRecord> {
        let line = text.lines().next()?;
        let mut words = line.split_ascii_whitespace();
        if words.next()? != "prossntp-clock-owner" || words.next()? != "1" {
            return None;
        }
        let mut rec =
            OwnerRecord { pid: 0, phase: RecordPhase::Done, state: KernelState::default(), last_foreign_change: 0.0 };
        fn num<T: std::str::FromStr>(v: &str) -> Option<Option<T>> {
            if v == "-" {
                Some(None)
            } else {
                v.parse().ok().map(Some)
            }
        }
        for w in words {
            let (k, v) = w.split_once('=')?;
            let s = &mut rec.state;
            match k {
                "pid" => rec.pid = v.parse().ok()?,
                "phase" => {
                    rec.phase = match v {
                        "done" => RecordPhase::Done,
                        "applying" => RecordPhase::Applying,
                        "standing-down" => RecordPhase::StandingDown,
                        "watching" => RecordPhase::Watching,
                        _ => return None,
                    }
                }
                "at" => s.at = v.parse().ok()?,
                "real_minus_mono" => s.real_minus_mono = num(v)?,
                "freq" => s.freq = num(v)?,
                "tick" => s.tick = num(v)?,
                "status" => s.status = num(v)?,
                "maxerror" => s.maxerror = num(v)?,
                "esterror" => s.esterror = num(v)?,
                "tai" => s.tai = num(v)?,
                "slew_left" => s.slew_left = num(v)?,
                "last_foreign_change" => rec.last_foreign_change = v.parse().ok()?,
                _ => {}
            }
        }
        (rec.pid != 0).then_some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet Linux kernel clock after one of our corrections.
    fn ours() -> KernelState {
        KernelState {
            at: 1000.0,
            real_minus_mono: Some(1.7e9),
            freq: Some(-100 << 16),
            tick: Some(10_000),
            status: Some(sta::NANO),
            maxerror: Some(1500),
            esterror: Some(40),
            tai: Some(37),
            slew_left: Some(0.002),
        }
    }

    fn watch() -> ForeignWatch {
        let mut w = ForeignWatch::new();
        w.rebase(ours());
        w
    }

    #[test]
    fn the_kernel_left_to_itself_shows_nothing_foreign() {
        // 10 s later: maxerror grew 5 ms, the slew is 2 ms further along (done).
        let later = KernelState { at: 1010.2, maxerror: Some(1500 + 10 * 500), slew_left: Some(0.0), ..ours() };
        assert_eq!(watch().check(&later), None);
        // At the cap the kernel sets UNSYNC itself.
        let capped = KernelState {
            at: 100_000.0,
            maxerror: Some(MAXERROR_CAP_US),
            status: Some(sta::NANO | sta::UNSYNC),
            slew_left: Some(0.0),
            ..ours()
        };
        assert_eq!(watch().check(&capped), None);
        assert_eq!(ForeignWatch::new().check(&later), None, "nothing to compare with yet");
    }

    #[test]
    fn every_kind_of_foreign_write_is_seen() {
        let w = watch();
        let at = KernelState { at: 1004.5, maxerror: Some(1500 + 4 * 500), slew_left: Some(0.0), ..ours() };
        assert!(w.check(&at).is_none());
        let cases = [
            (KernelState { status: Some(sta::PLL | sta::NANO), ..at }, "pll"),
            (KernelState { freq: Some(12 << 16), ..at }, "freq"),
            (KernelState { tick: Some(10_001), ..at }, "tick"),
            (KernelState { maxerror: Some(100), ..at }, "maxerror lowered"),
            (KernelState { esterror: Some(2000), ..at }, "esterror"),
            (KernelState { status: Some(sta::NANO | sta::UNSYNC), ..at }, "unsync while maxerror is low"),
            (KernelState { tai: Some(36), ..at }, "tai"),
            (KernelState { slew_left: Some(0.010), ..at }, "a bigger slew"),
            (KernelState { slew_left: Some(-0.001), ..at }, "a slew the other way"),
            (KernelState { real_minus_mono: Some(1.7e9 + 0.1), ..at }, "a step"),
        ];
        for (state, what) in cases {
            assert!(w.check(&state).is_some(), "{what} not seen");
        }
    }

    #[test]
    fn a_slew_replaced_by_a_smaller_one_or_vanished_is_seen() {
        let w = watch();
        // 0.1 s later our 2 ms slew cannot be gone: the kernel takes 0.5 ms a second.
        let gone = KernelState { at: 1000.1, maxerror: Some(1500), slew_left: Some(0.0), ..ours() };
        assert!(matches!(w.check(&gone), Some(Finding::Slew { .. })));
        let after_one_s = KernelState { at: 1001.0, maxerror: Some(2000), slew_left: Some(0.0015), ..ours() };
        assert_eq!(w.check(&after_one_s), None);
    }

    /// Our state 30 s before a UTC midnight, STA_INS (STA_DEL) announced.
    fn before_midnight(bit: i32) -> KernelState {
        KernelState { real_minus_mono: Some(1_700_006_400.0 - 1030.0), status: Some(sta::NANO | bit), ..ours() }
    }

    #[test]
    fn the_leap_second_we_announced_is_no_foreign_change() {
        for (bit, by) in [(sta::INS, -1.0), (sta::DEL, 1.0)] {
            let mut w = ForeignWatch::new();
            let base = before_midnight(bit);
            w.rebase(base);
            // 40 s on: the second repeated (skipped), TAI moved, the bit cleared.
            let after = KernelState {
                at: 1040.0,
                real_minus_mono: Some(base.real_minus_mono.unwrap() + by),
                tai: Some(37 - by as i32),
                status: Some(sta::NANO),
                maxerror: Some(1500 + 40 * 500),
                slew_left: Some(0.0),
                ..base
            };
            assert_eq!(w.check(&after), None, "{bit:#x}");
            // Linux may leave the bit set; a kernel without a TAI offset.
            assert_eq!(w.check(&KernelState { status: base.status, tai: Some(37), ..after }), None);
            // Not at midnight it is a step, and the TAI offset somebody's write.
            let early = KernelState { at: 1010.0, maxerror: Some(1500 + 10 * 500), ..after };
            assert!(w.check(&early).is_some(), "{bit:#x}: a leap 20 s before midnight");
            let unannounced = KernelState { status: Some(sta::NANO), ..base };
            w.rebase(unannounced);
            assert!(w.check(&after).is_some(), "{bit:#x}: a leap we did not announce");
            // Two seconds at once are not a leap second.
            w.rebase(base);
            let two = KernelState { real_minus_mono: Some(base.real_minus_mono.unwrap() + 2.0 * by), ..after };
            assert!(matches!(w.check(&two), Some(Finding::Step { .. })));
        }
    }

    #[test]
    fn one_foreign_change_is_an_event_a_second_within_the_window_a_discipline() {
        let mut w = watch();
        let at = |t: f64| KernelState {
            at: t,
            maxerror: Some(1500 + (t - 1000.0) as i64 * 500),
            slew_left: Some(0.0),
            ..ours()
        };
        assert_eq!(w.judge(&at(1004.0), 3600.0), Verdict::Quiet);
        let stepped = KernelState { real_minus_mono: Some(1.7e9 + 100.0), ..at(1010.0) };
        assert!(matches!(w.judge(&stepped, 3600.0), Verdict::OneOff(Finding::Step { .. })));
        assert_eq!(
            w.check(&KernelState { at: 1020.0, maxerror: Some(1500 + 20 * 500), ..stepped }),
            None,
            "the new base"
        );
        // A second step within the hour: somebody keeps at it.
        let again = KernelState {
            at: 2000.0,
            real_minus_mono: Some(1.7e9 + 99.0),
            maxerror: Some(1500 + 1000 * 500),
            ..stepped
        };
        let v = w.judge(&again, 3600.0);
        assert!(
            matches!(
                v,
                Verdict::Discipline { finding: Finding::Step { .. }, earlier: Some((_, Finding::Step { .. })) }
            ),
            "{v:?}"
        );
        assert!(v.to_string().contains("990 s after another change not ours"), "{v}");
        // More than the window later it is one-off again.
        let mut w = watch();
        assert!(matches!(w.judge(&stepped, 100.0), Verdict::OneOff(_)));
        let later = KernelState { at: 1200.0, maxerror: Some(1500 + 200 * 500), esterror: Some(9), ..stepped };
        assert!(matches!(w.judge(&later, 100.0), Verdict::OneOff(Finding::EstError { .. })));
        // Only a discipline sets the frequency or the tick, or turns its loop on.
        for state in [
            KernelState { freq: Some(5 << 16), ..at(1004.0) },
            KernelState { tick: Some(10_001), ..at(1004.0) },
            KernelState { status: Some(sta::NANO | sta::PLL), ..at(1004.0) },
        ] {
            assert!(matches!(watch().judge(&state, 3600.0), Verdict::Discipline { earlier: None, .. }), "{state:?}");
        }
    }

    #[test]
    fn first_look_finds_a_running_or_recent_daemon_and_knows_our_own_state() {
        let fresh = KernelState { maxerror: Some(MAXERROR_CAP_US), status: Some(sta::UNSYNC), ..ours() };
        assert_eq!(ForeignWatch::first_look(&fresh, None, false), None, "a clock nobody disciplines");
        let pll = KernelState { status: Some(sta::PLL), ..fresh };
        assert!(matches!(ForeignWatch::first_look(&pll, None, false), Some(Finding::KernelLoop { .. })));
        let chronyd = KernelState { maxerror: Some(200_000), status: Some(sta::UNSYNC), ..ours() };
        let Some(Finding::RecentSync { ago, .. }) = ForeignWatch::first_look(&chronyd, None, false) else { panic!() };
        assert!((ago - 31_600.0).abs() < 1.0, "{ago}");
        // What a previous owner of this library recorded explains it.
        let rec = KernelState { at: 990.0, maxerror: Some(200_000 - 5000), ..chronyd };
        assert_eq!(ForeignWatch::first_look(&chronyd, Some(&rec), false), None);
        let moved = KernelState { freq: Some(0), ..chronyd };
        assert!(ForeignWatch::first_look(&moved, Some(&rec), false).is_some());
        assert_eq!(ForeignWatch::first_look(&moved, Some(&rec), true), None, "its correction in flight");
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let rec = OwnerRecord { pid: 4242, phase: RecordPhase::Applying, state: ours(), last_foreign_change: 12.5 };
        assert_eq!(OwnerRecord::parse(&rec.to_line()), Some(rec));
        let bare = OwnerRecord {
            pid: 7,
            phase: RecordPhase::StandingDown,
            state: KernelState { at: 3.0, slew_left: Some(0.25), ..KernelState::default() },
            last_foreign_change: 0.0,
        };
        assert_eq!(OwnerRecord::parse(&bare.to_line()), Some(bare));
        for junk in
            ["", "hello", "prossntp-clock-owner 2 pid=1", "prossntp-clock-owner 1 pid=x", "prossntp-clock-owner 1"]
        {
            assert_eq!(OwnerRecord::parse(junk), None, "{junk:?}");
        }
    }
}
