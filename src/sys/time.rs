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
