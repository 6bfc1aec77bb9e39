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

/// CLOCK_MONOTONIC, and CLOCK_REALTIME minus CLOCK_MONOTONIC, in seconds,
/// read back to back: the second moves only when the clock is stepped.
pub fn clock_pair() -> (f64, f64) {
    fn read(id: libc::clockid_t) -> f64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
    let mono = read(libc::CLOCK_MONOTONIC);
    let real = read(libc::CLOCK_REALTIME);
    (mono, real - mono)
}
