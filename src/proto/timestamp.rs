//! NTP fixed-point time: 64-bit timestamps (32.32, era-ambiguous), signed
//! 32.32 durations, and 16.16 short values. Differences of timestamps are taken
//! modulo 2^64 and read as signed (RFC 5905), so they are right across the 2036
//! era boundary as long as the two times are within 68 years of each other.

#[cfg(any(test, feature = "__internal-api"))]
use std::time::Duration;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const UNIX_OFFSET: u64 = 2_208_988_800;
const FRAC: f64 = 4_294_967_296.0;

/// A 64-bit NTP timestamp: seconds since 1900 modulo 2^32, and a 32-bit fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    #[cfg(any(test, feature = "__internal-api"))]
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// From seconds and nanoseconds since the Unix epoch (negative seconds allowed).
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        let ntp_secs = (secs as i128 + UNIX_OFFSET as i128).rem_euclid(1 << 32) as u64;
        let frac = ((nanos as u64) << 32) / 1_000_000_000;
        NtpTimestamp((ntp_secs << 32) | frac)
    }

    /// Seconds and nanoseconds since the Unix epoch, resolving the era with
    /// `pivot` (any Unix time within 68 years of the true one).
    pub fn to_unix(self, pivot_unix_secs: i64) -> (i64, u32) {
        let pivot = NtpTimestamp::from_unix(pivot_unix_secs, 0);
        let d = self.since(pivot);
        let nanos_total = pivot_unix_secs as i128 * 1_000_000_000 + d.as_nanos() as i128;
        (nanos_total.div_euclid(1_000_000_000) as i64, nanos_total.rem_euclid(1_000_000_000) as u32)
    }

    /// `self - earlier`, taken modulo 2^64 and read as a signed duration.
    pub fn since(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(earlier.0) as i64)
    }

    #[cfg(any(test, feature = "__internal-api"))]
    /// `self + d`, modulo 2^64.
    pub fn plus(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// A signed duration in units of 2^-32 s (about ±68 years).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpDuration(pub i64);

impl NtpDuration {
    pub const ZERO: NtpDuration = NtpDuration(0);

    pub fn from_seconds(s: f64) -> Self {
        NtpDuration((s * FRAC) as i64)
    }
    /// From nanoseconds, rounded to the nearest unit.
    pub fn from_nanos(n: i64) -> Self {
        NtpDuration(div_round(n as i128 * (1i128 << 32), 1_000_000_000) as i64)
    }
    pub fn as_seconds(self) -> f64 {
        self.0 as f64 / FRAC
    }
    /// Nanoseconds, rounded to the nearest.
    pub fn as_nanos(self) -> i64 {
        div_round(self.0 as i128 * 1_000_000_000, 1i128 << 32) as i64
    }
    #[cfg(any(test, feature = "__internal-api"))]
    pub fn abs(self) -> NtpDuration {
        NtpDuration(self.0.saturating_abs())
    }
    /// The mean of two durations, exact and free of overflow.
    pub fn midpoint(a: NtpDuration, b: NtpDuration) -> NtpDuration {
        NtpDuration(((a.0 as i128 + b.0 as i128) / 2) as i64)
    }
    /// `a - b`, saturating.
    pub fn saturating_sub(a: NtpDuration, b: NtpDuration) -> NtpDuration {
        NtpDuration(a.0.saturating_sub(b.0))
    }
    #[cfg(any(test, feature = "__internal-api"))]
    pub fn from_duration(d: Duration) -> Self {
        NtpDuration::from_nanos(d.as_nanos().min(i64::MAX as u128) as i64)
    }
}

/// `a / b` rounded to the nearest, halves away from zero (`b > 0`).
fn div_round(a: i128, b: i128) -> i128 {
    if a >= 0 {
        (a + b / 2) / b
    } else {
        (a - b / 2) / b
    }
}

/// A 32-bit NTP short value: unsigned 16.16 seconds (root delay and dispersion).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtpShort(pub u32);

impl NtpShort {
    pub fn as_seconds(self) -> f64 {
        self.0 as f64 / 65536.0
    }
    pub fn to_duration(self) -> NtpDuration {
        NtpDuration((self.0 as i64) << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_maps_to_ntp_seconds() {
        assert_eq!(NtpTimestamp::from_unix(0, 0).0 >> 32, UNIX_OFFSET);
        assert_eq!(NtpTimestamp::from_unix(0, 500_000_000).0 & 0xffff_ffff, 1 << 31);
    }

    #[test]
    fn differences_are_right_across_the_2036_era_boundary() {
        // Era 0 ends at 2036-02-07T06:28:16Z = Unix 2085978496.
        let end = 2_085_978_496i64;
        let before = NtpTimestamp::from_unix(end - 1, 0);
        let after = NtpTimestamp::from_unix(end + 1, 250_000_000);
        assert_eq!(after.0 >> 32, 1, "wraps into era 1");
        assert_eq!(after.since(before).as_nanos(), 2_250_000_000);
        assert_eq!(before.since(after).as_nanos(), -2_250_000_000);
        assert_eq!(after.to_unix(end - 86_400), (end + 1, 250_000_000));
        assert_eq!(before.to_unix(end + 86_400), (end - 1, 0));
    }

    #[test]
    fn to_unix_roundtrips_with_nanosecond_precision() {
        for &(s, n) in &[(0i64, 0u32), (1_700_000_000, 123_456_789), (-1, 999_999_999), (4_000_000_000, 1)] {
            let (s2, n2) = NtpTimestamp::from_unix(s, n).to_unix(s + 1000);
            assert_eq!(s2, s);
            assert!((n2 as i64 - n as i64).abs() <= 1, "{n} vs {n2}");
        }
    }

    #[test]
    fn midpoint_does_not_overflow() {
        let big = NtpDuration(i64::MAX);
        assert_eq!(NtpDuration::midpoint(big, big), big);
        assert_eq!(NtpDuration::midpoint(NtpDuration(i64::MIN), NtpDuration(i64::MAX)).0, 0);
    }

    #[test]
    fn conversions() {
        for n in [1i64, -1, 20_000_000, -500_000_001, 999_999_999] {
            assert_eq!(NtpDuration::from_nanos(n).as_nanos(), n);
        }
        assert_eq!(NtpDuration::from_seconds(1.5).as_nanos(), 1_500_000_000);
        assert_eq!(NtpDuration::from_nanos(-250_000_000).as_seconds(), -0.25);
        assert_eq!(NtpShort(0x0001_8000).as_seconds(), 1.5);
        assert_eq!(NtpShort(0x0001_8000).to_duration().as_seconds(), 1.5);
    }
}
