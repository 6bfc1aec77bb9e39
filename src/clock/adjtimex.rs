//! Linux `adjtimex(2)` backend. The syscall sits behind [`Timex`] so tests
//! can check every request without touching the clock.

use super::{ClockBackend, ClockError};
use crate::discipline::{ClockAction, SyncReport};

/// Largest offset handed to the kernel's one-shot slew, microseconds.
pub const MAX_SLEW_US: i64 = 500_000;

/// The `adjtimex` call; returns the clock state or the errno.
pub trait Timex: Send {
    fn adjtimex(&mut self, tx: &mut libc::timex) -> Result<i32, i32>;
}

/// The real syscall.
#[derive(Debug, Default)]
pub struct SysTimex;

impl Timex for SysTimex {
    fn adjtimex(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
        // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call.
        let rc = unsafe { libc::adjtimex(tx) };
        if rc < 0 {
            Err(crate::sys::last_errno())
        } else {
            Ok(rc)
        }
    }
}

pub struct Adjtimex<T: Timex> {
    sys: T,
}

/// A zeroed timex (every mode bit clear: a read).
pub fn blank_timex() -> libc::timex {
    // SAFETY: timex is a plain C struct for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

fn errno_to_error(e: i32) -> ClockError {
    if e == libc::EPERM {
        ClockError::PermissionDenied
    } else {
        ClockError::Os(e)
    }
}

impl<T: Timex> Adjtimex<T> {
    pub fn new(sys: T) -> Self {
        Adjtimex { sys }
    }

    /// Asks, harmlessly, whether this process may set the clock: a tick of 0
    /// is rejected with EINVAL when permitted and EPERM when not.
    pub fn may_set_clock(&mut self) -> Result<(), ClockError> {
        let mut tx = blank_timex();
        tx.modes = libc::ADJ_TICK;
        tx.tick = 0;
        match self.sys.adjtimex(&mut tx) {
            Err(libc::EINVAL) => Ok(()),
            Err(e) => Err(errno_to_error(e)),
            // Nothing accepts tick 0; treat success as "permitted".
            Ok(_) => Ok(()),
        }
    }

    fn call(&mut self, tx: &mut libc::timex) -> Result<i32, ClockError> {
        self.sys.adjtimex(tx).map_err(errno_to_error)
    }

    /// Marks the clock synchronised: STA_UNSYNC and the kernel PLL off, the
    /// leap indicator mapped to STA_INS/STA_DEL, error bounds set.
    fn publish(&mut self, report: &SyncReport) -> Result<(), ClockError> {
        let mut tx = blank_timex();
        self.call(&mut tx)?;
        let mut status =
            tx.status & !(libc::STA_UNSYNC | libc::STA_PLL | libc::STA_FLL | libc::STA_INS | libc::STA_DEL);
        status |= match report.leap {
            1 => libc::STA_INS,
            2 => libc::STA_DEL,
            _ => 0,
        };
        let mut tx = blank_timex();
        tx.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR;
        tx.status = status;
        tx.maxerror = report.max_error_us as libc::c_long;
        tx.esterror = report.est_error_us as libc::c_long;
        self.call(&mut tx).map(|_| ())
    }
}

impl<T: Timex> ClockBackend for Adjtimex<T> {
    fn name(&self) -> &'static str {
        "adjtimex"
    }
    fn steers(&self) -> bool {
        true
    }
    fn apply(&mut self, action: ClockAction, report: &SyncReport) -> Result<(), ClockError> {
        let mut tx = blank_timex();
        match action {
            ClockAction::Step(offset) => {
                let ns = offset.as_nanos();
                tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
                tx.time.tv_sec = ns.div_euclid(1_000_000_000) as libc::time_t;
                // With ADJ_NANO the tv_usec field carries nanoseconds, in [0, 1e9).
                tx.time.tv_usec = ns.rem_euclid(1_000_000_000) as libc::suseconds_t;
            }
            ClockAction::Slew(offset) => {
                tx.modes = libc::ADJ_OFFSET_SINGLESHOT;
                tx.offset = (offset.as_nanos() / 1000).clamp(-MAX_SLEW_US, MAX_SLEW_US) as libc::c_long;
            }
        }
        self.call(&mut tx)?;
        self.publish(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::timestamp::NtpDuration;

    /// Records every request and answers like a kernel with the given errno policy.
    #[derive(Default)]
    struct FakeTimex {
        calls: Vec<(u32, i64, i64, i64, i32, i64, i64)>,
        deny: bool,
        status: i32,
    }

    #[allow(clippy::unnecessary_cast)] // timex field types vary by target
    impl Timex for FakeTimex {
        fn adjtimex(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
            self.calls.push((
                tx.modes,
                tx.offset as i64,
                tx.time.tv_sec as i64,
                tx.time.tv_usec as i64,
                tx.status,
                tx.maxerror as i64,
                tx.esterror as i64,
            ));
            if tx.modes != 0 && self.deny {
                return Err(libc::EPERM);
            }
            if tx.modes == libc::ADJ_TICK && tx.tick == 0 {
                return Err(libc::EINVAL);
            }
            if tx.modes & libc::ADJ_STATUS != 0 {
                self.status = tx.status;
            }
            tx.status = self.status;
            Ok(libc::TIME_OK)
        }
    }

    fn report() -> SyncReport {
        SyncReport { max_error_us: 1500, est_error_us: 40, leap: 0 }
    }

    #[test]
    fn probe_tells_permitted_from_refused() {
        assert_eq!(Adjtimex::new(FakeTimex::default()).may_set_clock(), Ok(()));
        let mut refused = Adjtimex::new(FakeTimex { deny: true, ..Default::default() });
        assert_eq!(refused.may_set_clock(), Err(ClockError::PermissionDenied));
    }

    #[test]
    fn step_uses_setoffset_with_nanoseconds_normalised() {
        let mut b = Adjtimex::new(FakeTimex { status: libc::STA_UNSYNC | libc::STA_PLL, ..Default::default() });
        b.apply(ClockAction::Step(NtpDuration::from_nanos(-500_000_001)), &report()).unwrap();
        let (modes, _, sec, nsec, ..) = b.sys.calls[0];
        assert_eq!(modes, libc::ADJ_SETOFFSET | libc::ADJ_NANO);
        assert_eq!((sec, nsec), (-1, 499_999_999), "-0.500000001 s = -1 s + 0.499999999 s");
        let (modes, _, _, _, status, maxerr, esterr) = *b.sys.calls.last().unwrap();
        assert_eq!(modes, libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR);
        assert_eq!(status & (libc::STA_UNSYNC | libc::STA_PLL), 0, "in sync, kernel PLL off");
        assert_eq!((maxerr, esterr), (1500, 40));
    }

    #[test]
    fn slew_uses_the_one_shot_offset_in_microseconds_clamped() {
        let mut b = Adjtimex::new(FakeTimex::default());
        b.apply(ClockAction::Slew(NtpDuration::from_nanos(20_000_000)), &report()).unwrap();
        assert_eq!(b.sys.calls[0].0, libc::ADJ_OFFSET_SINGLESHOT);
        assert_eq!(b.sys.calls[0].1, 20_000);
        b.apply(ClockAction::Slew(NtpDuration::from_seconds(-3.0)), &report()).unwrap();
        assert_eq!(b.sys.calls[3].1, -MAX_SLEW_US);
    }

    #[test]
    fn leap_indicator_maps_to_status_bits() {
        for (leap, bit) in [(1u8, libc::STA_INS), (2, libc::STA_DEL), (0, 0)] {
            let mut b = Adjtimex::new(FakeTimex::default());
            b.apply(ClockAction::Slew(NtpDuration::ZERO), &SyncReport { leap, ..report() }).unwrap();
            assert_eq!(b.sys.status & (libc::STA_INS | libc::STA_DEL), bit);
        }
    }

    #[test]
    fn refusal_is_permission_denied() {
        let mut b = Adjtimex::new(FakeTimex { deny: true, ..Default::default() });
        assert_eq!(b.apply(ClockAction::Slew(NtpDuration::ZERO), &report()), Err(ClockError::PermissionDenied));
    }
}
