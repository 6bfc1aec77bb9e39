//! Clock-discipline decisions, free of I/O: given a validated sample, what the
//! clock backend should do. Thresholds are documented in the README.

use crate::proto::timestamp::NtpDuration;
use crate::proto::validate::Sample;

/// Offsets larger than this are stepped; smaller ones are slewed.
pub const STEP_THRESHOLD_SECS: f64 = 0.128;

/// What to do to the local clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockAction {
    /// Jump the clock by this offset at once.
    Step(NtpDuration),
    /// Correct this offset gradually.
    Slew(NtpDuration),
}

/// The sync status to publish to the kernel along with an adjustment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncReport {
    /// Upper bound on the clock error, microseconds.
    pub max_error_us: i64,
    /// Estimated clock error, microseconds.
    pub est_error_us: i64,
    /// Leap indicator from the server (0 none, 1 insert, 2 delete).
    pub leap: u8,
}

#[derive(Clone, Debug, Default)]
pub struct Discipline {}

impl Discipline {
    pub fn new() -> Self {
        Discipline {}
    }

    /// Decides what to do about `sample`.
    pub fn decide(&mut self, sample: &Sample) -> (ClockAction, SyncReport) {
        let action = if sample.offset.abs().as_seconds() > STEP_THRESHOLD_SECS {
            ClockAction::Step(sample.offset)
        } else {
            ClockAction::Slew(sample.offset)
        };
        // An upper bound rounds up.
        let distance_us = (sample.root_distance().as_nanos() + 999).div_euclid(1000);
        let report = SyncReport {
            max_error_us: distance_us.max(0),
            est_error_us: ((sample.delay.as_nanos() / 2 + 500) / 1000).max(0),
            leap: sample.leap,
        };
        (action, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::timestamp::NtpTimestamp;

    fn sample(offset: f64) -> Sample {
        Sample {
            offset: NtpDuration::from_seconds(offset),
            delay: NtpDuration::from_seconds(0.002),
            stratum: 2,
            leap: 0,
            reference_id: [0; 4],
            root_delay: NtpDuration::from_seconds(0.010),
            root_dispersion: NtpDuration::from_seconds(0.001),
            t4: NtpTimestamp(1),
        }
    }

    #[test]
    fn large_offsets_step_small_ones_slew() {
        let mut d = Discipline::new();
        assert!(matches!(d.decide(&sample(0.5)).0, ClockAction::Step(_)));
        assert!(matches!(d.decide(&sample(-0.2)).0, ClockAction::Step(_)));
        assert!(matches!(d.decide(&sample(0.02)).0, ClockAction::Slew(_)));
        assert!(matches!(d.decide(&sample(-0.128)).0, ClockAction::Slew(_)));
    }

    #[test]
    fn error_bounds_come_from_root_distance_and_delay() {
        let (_, r) = Discipline::new().decide(&sample(0.0));
        assert_eq!(r.max_error_us, 7000); // 10/2 + 1 + 2/2 ms
        assert_eq!(r.est_error_us, 1000);
    }
}
