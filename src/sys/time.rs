//! Reading the wall clock as an NTP timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::timestamp::NtpTimestamp;

/// The current wall-clock time (CLOCK_REALTIME).
pub fn wall_now() -> NtpTimestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                NtpTimestamp::from_unix(-s, 0)
            } else {
                NtpTimestamp::from_unix(-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

/// Seconds since the Unix epoch, for resolving NTP eras.
pub fn unix_secs_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn read_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, nanoseconds: it moves only when the
/// clock is stepped.
pub fn real_minus_mono_ns() -> i128 {
    closest_pair(libc::CLOCK_MONOTONIC).1
}

/// CLOCK_MONOTONIC now, CLOCK_REALTIME minus it, and how far that can be
/// off (half the closest pair's width), ns.
pub fn mono_real_pair() -> (i64, i64, i64) {
    let (mono, gap, width) = closest_pair(libc::CLOCK_MONOTONIC);
    (mono as i64, gap as i64, (width / 2 + 1) as i64)
}

/// `id` read twice around CLOCK_REALTIME: their midpoint, REALTIME minus
/// it, and the two reads' distance (the pair's uncertainty), ns; the
/// closest pair of a few tries (a preempted read would be off by the time
/// it was away).
fn closest_pair(id: libc::clockid_t) -> (i128, i128, i128) {
    let mut best = (i128::MAX, 0, 0);
    for _ in 0..8 {
        let m1 = read_ns(id);
        let r = read_ns(libc::CLOCK_REALTIME);
        let m2 = read_ns(id);
        if m2 - m1 < best.0 {
            best = (m2 - m1, (m1 + m2) / 2, r - (m1 + m2) / 2);
        }
        if best.0 < 20_000 {
            break;
        }
    }
    (best.1, best.2, best.0)
}

/// The raw clock, which nobody steers or slews: CLOCK_MONOTONIC_RAW where
/// the kernel has one; elsewhere CLOCK_MONOTONIC, which only the frequency
/// correction moves.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios"))]
const RAW: libc::clockid_t = libc::CLOCK_MONOTONIC_RAW;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios")))]
const RAW: libc::clockid_t = libc::CLOCK_MONOTONIC;

/// The raw clock now, ns.
pub fn raw_ns() -> i64 {
    read_ns(RAW) as i64
}

/// CLOCK_MONOTONIC now, ns.
pub fn mono_ns() -> i64 {
    read_ns(libc::CLOCK_MONOTONIC) as i64
}

/// Boot time minus monotonic time, ns: how long the host has been
/// suspended since it booted (CLOCK_BOOTTIME runs on in a suspend; the
/// monotonic and raw clocks stand still), read as a lower bound (boot time
/// first: a read delayed in between makes it smaller, never larger). None
/// where there is no boot clock.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn slept_ns() -> Option<i64> {
    let boot = read_ns(libc::CLOCK_BOOTTIME);
    let mono = read_ns(libc::CLOCK_MONOTONIC);
    Some((boot - mono) as i64)
}

/// [`slept_ns`] as an upper bound (monotonic time first).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn slept_upper_ns() -> Option<i64> {
    let mono = read_ns(libc::CLOCK_MONOTONIC);
    let boot = read_ns(libc::CLOCK_BOOTTIME);
    Some((boot - mono) as i64)
}

/// Boot time minus monotonic time: not known here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn slept_upper_ns() -> Option<i64> {
    None
}

/// Boot time minus monotonic time: not known here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn slept_ns() -> Option<i64> {
    None
}

/// CLOCK_REALTIME minus the raw clock now, and how far that can be off
/// (half the pair's width), ns.
pub fn raw_gap() -> (i64, i64) {
    let (_, gap, width) = closest_pair(RAW);
    (gap as i64, (width / 2) as i64)
}

/// CLOCK_REALTIME, Unix ns.
pub fn realtime_ns() -> i64 {
    read_ns(libc::CLOCK_REALTIME) as i64
}

/// CLOCK_MONOTONIC, and CLOCK_REALTIME minus CLOCK_MONOTONIC, in seconds.
pub fn clock_pair() -> (f64, f64) {
    let mono = read_ns(libc::CLOCK_MONOTONIC);
    (mono as f64 * 1e-9, real_minus_mono_ns() as f64 * 1e-9)
}

/// The system's leap-second list, read once: `PROSSNTP_LEAP_SECONDS_LIST`
/// names it, else Debian's tzdata path. None if unreadable or broken.
pub fn leap_list() -> Option<&'static crate::discipline::leap_list::LeapList> {
    static LIST: std::sync::OnceLock<Option<crate::discipline::leap_list::LeapList>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let path = std::env::var_os("PROSSNTP_LEAP_SECONDS_LIST")
            .unwrap_or_else(|| "/usr/share/zoneinfo/leap-seconds.list".into());
        let text = std::fs::read_to_string(path).ok()?;
        crate::discipline::leap_list::LeapList::parse(&text)
    })
    .as_ref()
}
