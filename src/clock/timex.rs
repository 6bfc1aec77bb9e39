//! The `struct timex` interface shared by the `adjtimex` and `ntp_adjtime`
//! backends: frequency, kernel sync status and error bounds. The call itself
//! sits behind [`Timex`] so tests and the simulator can fake it.

use super::ClockError;
use crate::discipline::foreign::KernelState;
use crate::discipline::SyncReport;

/// `adjtimex(2)` or `ntp_adjtime(3)`: returns the clock state or the errno.
pub trait Timex: Send {
    fn call(&mut self, tx: &mut libc::timex) -> Result<i32, i32>;
    /// CLOCK_MONOTONIC and CLOCK_REALTIME - CLOCK_MONOTONIC, seconds.
    fn clocks(&mut self) -> (f64, f64) {
        crate::sys::time::clock_pair()
    }
}

/// ADJ_FREQUENCY / MOD_FREQUENCY accept at most this, ppm.
pub const MAX_KERNEL_FREQ_PPM: f64 = 500.0;
/// `timex.freq` units per ppm.
const FREQ_SCALE: f64 = 65536.0;

/// A timex syscall's return: the clock state, or errno.
pub fn syscall_result(rc: libc::c_int) -> Result<i32, i32> {
    if rc < 0 {
        Err(crate::sys::last_errno())
    } else {
        Ok(rc)
    }
}

/// A zeroed timex (every mode bit clear: a read).
pub fn blank() -> libc::timex {
    // SAFETY: timex is a plain C struct for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

pub fn call<T: Timex>(sys: &mut T, tx: &mut libc::timex) -> Result<i32, ClockError> {
    sys.call(tx).map_err(ClockError::from_errno)
}

/// Reads the kernel state.
pub fn read<T: Timex>(sys: &mut T) -> Result<libc::timex, ClockError> {
    let mut tx = blank();
    call(sys, &mut tx)?;
    Ok(tx)
}

/// The kernel's discipline as `struct timex` shows it (what every platform
/// with one has: frequency, status, error bounds), the clocks, and the
/// timex read.
pub fn observe<T: Timex>(sys: &mut T) -> (KernelState, Option<libc::timex>) {
    let (at, real_minus_mono) = sys.clocks();
    let mut state = KernelState { at, real_minus_mono: Some(real_minus_mono), ..KernelState::default() };
    let tx = read(sys).ok();
    if let Some(tx) = &tx {
        state.freq = Some(tx.freq as i64);
        state.status = Some(tx.status);
        state.maxerror = Some(tx.maxerror as i64);
        state.esterror = Some(tx.esterror as i64);
        // The TAI offset (Linux's timex has it; a leap second moves it).
        #[cfg(target_os = "linux")]
        {
            state.tai = Some(tx.tai as i32);
        }
    }
    (state, tx)
}

pub fn freq_to_ppm(freq: libc::c_long) -> f64 {
    freq as f64 / FREQ_SCALE
}

pub fn ppm_to_freq(ppm: f64) -> libc::c_long {
    (ppm.clamp(-MAX_KERNEL_FREQ_PPM, MAX_KERNEL_FREQ_PPM) * FREQ_SCALE).round() as libc::c_long
}

/// Marks the clock synchronised: STA_UNSYNC and the kernel PLL/FLL off, the
/// leap indicator mapped to STA_INS/STA_DEL, error bounds set. When updates
/// stop, the kernel grows maxerror and sets STA_UNSYNC itself.
pub fn publish<T: Timex>(sys: &mut T, report: &SyncReport) -> Result<(), ClockError> {
    let now = read(sys)?;
    let mut status = now.status & !(libc::STA_UNSYNC | libc::STA_PLL | libc::STA_FLL | libc::STA_INS | libc::STA_DEL);
    status |= match report.leap {
        1 => libc::STA_INS,
        2 => libc::STA_DEL,
        _ => 0,
    };
    let mut tx = blank();
    tx.modes = libc::MOD_STATUS | libc::MOD_MAXERROR | libc::MOD_ESTERROR;
    tx.status = status;
    tx.maxerror = report.max_error_us as libc::c_long;
    tx.esterror = report.est_error_us as libc::c_long;
    call(sys, &mut tx).map(|_| ())
}

/// A kernel stand-in that records every call, for the backends' tests.
#[cfg(test)]
pub mod fake {
    use super::*;

    #[derive(Default)]
    pub struct FakeTimex {
        pub calls: Vec<libc::timex>,
        pub deny: bool,
        pub status: i32,
        pub freq: libc::c_long,
        pub tick: libc::c_long,
        pub ss_left: libc::c_long,
    }

    impl Timex for FakeTimex {
        fn call(&mut self, tx: &mut libc::timex) -> Result<i32, i32> {
            self.calls.push(*tx);
            if tx.modes != 0 && tx.modes != libc::ADJ_OFFSET_SS_READ && self.deny {
                return Err(libc::EPERM);
            }
            if tx.modes & libc::MOD_STATUS != 0 {
                self.status = tx.status;
            }
            if tx.modes & libc::MOD_FREQUENCY != 0 {
                self.freq = tx.freq;
            }
            if tx.modes & libc::ADJ_TICK != 0 {
                self.tick = tx.tick;
            }
            if tx.modes == libc::ADJ_OFFSET_SS_READ {
                tx.offset = self.ss_left;
            }
            tx.status = self.status;
            tx.freq = self.freq;
            tx.tick = if self.tick == 0 { 10_000 } else { self.tick };
            Ok(libc::TIME_OK)
        }
    }
}
