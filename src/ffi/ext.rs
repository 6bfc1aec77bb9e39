//! The library's own calls, beyond Aculab's API (`prossntp_ext.h`): the
//! statistics of a client, its own clock of the server, its authentication
//! (symmetric keys), the version, and texts for error codes and rejection
//! reasons. Same rules as the `sm_` calls (`ffi_entry!`): pointers and
//! handles validated, only input members read and output members written,
//! a panic boundary, traced.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_uint};
use std::ptr;
use std::time::Instant;

use super::api::{handle_key, live};
use super::entry::{ffi_entry, refused};
use super::error::SmError;
use super::ext_types::*;
use super::registry;
use super::types::*;
use crate::discipline::module_clock::{Status, Time, DEFAULT_DRIFT_FLOOR, MAX_DRIFT_FLOOR};
use crate::discipline::Role;
use crate::owner::NotSteering;
use crate::proto::auth::{find_chrony_key, KeyType, SymmetricKey, MAX_HASH_KEY_LEN};
use crate::proto::client::Auth;
use crate::proto::timestamp::NtpTimestamp;
use crate::proto::validate::Reject;
use crate::sys::time::{leap_list, realtime_ns};
use crate::worker::stats::{ClockRole, Measuring, NtsState, State, Stats};
use crate::discipline::past::Refused;
use crate::worker::{AuthKind, WaitOutcome};

/// The version as text, from Cargo.toml (the header's PROSSNTP_VERSION_* must
/// agree: tests/stats.rs).
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Copies `text` into a C char array, truncated and NUL-terminated.
fn put_text(dst: &mut [c_char], text: &str) {
    let n = text.len().min(dst.len().saturating_sub(1));
    for (d, s) in dst.iter_mut().zip(text.as_bytes()[..n].iter()) {
        *d = *s as c_char;
    }
    if let Some(d) = dst.get_mut(n) {
        *d = 0;
    }
}

fn age(at: Option<Instant>) -> f64 {
    at.map_or(-1.0, |t| t.elapsed().as_secs_f64())
}

/// The C struct for `s`.
fn to_c(s: &Stats) -> prossntp_stats {
    let sample = s.last_sample;
    let secs = |f: fn(&crate::proto::validate::Sample) -> f64| sample.as_ref().map_or(0.0, f);
    let mut rejected = [0u64; PROSSNTP_REJECT_SLOTS];
    rejected[..s.counters.rejected.len()].copy_from_slice(&s.counters.rejected);
    let mut c = prossntp_stats {
        size: size_of::<prossntp_stats>() as u32,
        state: match s.state {
            State::Idle => PROSSNTP_STATE_IDLE,
            State::Running => PROSSNTP_STATE_RUNNING,
            State::Stopped => PROSSNTP_STATE_STOPPED,
            State::Ended => PROSSNTP_STATE_ENDED,
        },
        has_sync: s.has_sync as i32,
        steering: s.steering as i32,
        backend: [0; 16],
        server: [0; 64],
        stratum: sample.map_or(0, |x| x.stratum as i32),
        leap: sample.map_or(0, |x| x.leap as i32),
        reference_id: sample.map_or([0; 4], |x| x.reference_id),
        reserved: 0,
        poll_interval: s.poll_interval.map_or(0.0, |d| d.as_secs_f64()),
        offset: if sample.is_some() { s.offset } else { 0.0 },
        sample_offset: secs(|x| x.offset.as_seconds()),
        delay: secs(|x| x.delay.as_seconds()),
        jitter: s.jitter,
        root_delay: secs(|x| x.root_delay.as_seconds()),
        root_dispersion: secs(|x| x.root_dispersion.as_seconds()),
        frequency: s.frequency_ppm,
        last_reply_age: age(s.last_reply_at),
        requests: s.counters.requests,
        replies: s.counters.valid_replies,
        rejected_total: s.counters.rejected_total(),
        rejected,
        kod_received: s.counters.kisses,
        steps: s.counters.steps,
        slews: s.counters.slews,
        steps_refused: s.counters.steps_refused,
        last_errno: s.last_error.as_ref().map_or(0, |e| e.errno),
        last_error: [0; 124],
        last_error_age: age(s.last_error.as_ref().map(|e| e.at)),
        role: match s.role {
            Role::Candidate => PROSSNTP_ROLE_CANDIDATE,
            Role::Selected => PROSSNTP_ROLE_SELECTED,
            Role::Combined => PROSSNTP_ROLE_COMBINED,
            Role::Falseticker => PROSSNTP_ROLE_FALSETICKER,
            Role::Measuring => PROSSNTP_ROLE_MEASURING,
            Role::StandingDown => PROSSNTP_ROLE_STANDING_DOWN,
        },
        not_steering: match &s.clock {
            ClockRole::Measuring(Measuring::ByChoice) => PROSSNTP_STEER_NOT_CHOSEN,
            ClockRole::Measuring(Measuring::NoPermission) => PROSSNTP_STEER_NO_PERMISSION,
            ClockRole::Member { not_steering, .. } => match not_steering {
                NotSteering::No => PROSSNTP_STEER_YES,
                NotSteering::OtherProcess => PROSSNTP_STEER_OTHER_PROCESS,
                NotSteering::Foreign => PROSSNTP_STEER_FOREIGN,
                NotSteering::NoLock => PROSSNTP_STEER_NO_LOCK,
                NotSteering::Refused => PROSSNTP_STEER_REFUSED,
            },
        },
        clock_owner_pid: match &s.clock {
            ClockRole::Member { owner_pid: Some(p), .. } => i32::try_from(*p).unwrap_or(0),
            _ => 0,
        },
        sources: match &s.clock {
            ClockRole::Member { sources, .. } => *sources as i32,
            _ => 0,
        },
        truechimers: match &s.clock {
            ClockRole::Member { truechimers, .. } => *truechimers as i32,
            _ => 0,
        },
        reserved2: 0,
        role_detail: [0; 128],
        own_clock_steps: s.own_clock_steps,
        auth: match (&s.auth, &s.nts) {
            (Some(_), _) => PROSSNTP_AUTH_KEY,
            (None, Some(_)) => PROSSNTP_AUTH_NTS,
            (None, None) => PROSSNTP_AUTH_NONE,
        },
        key_id: s.auth.map_or(0, |(id, _)| id),
        key_type: [0; 8],
        nts_state: match s.nts.as_ref().map(|n| n.state) {
            None => PROSSNTP_NTS_NONE,
            Some(NtsState::Exchanging) => PROSSNTP_NTS_EXCHANGING,
            Some(NtsState::Ready) => PROSSNTP_NTS_READY,
            Some(NtsState::Failed) => PROSSNTP_NTS_FAILED,
        },
        nts_cookies: s.nts.as_ref().map_or(0, |n| n.cookies as i32),
        nts_key_exchanges: s.nts.as_ref().map_or(0, |n| n.exchanges),
        nts_error: [0; 120],
    };
    put_text(&mut c.key_type, s.auth.map_or("", |(_, kind)| kind.name()));
    put_text(&mut c.nts_error, s.nts.as_ref().and_then(|n| n.last_error.as_deref()).unwrap_or(""));
    put_text(&mut c.backend, s.backend);
    put_text(&mut c.server, s.server.as_deref().unwrap_or(""));
    put_text(&mut c.last_error, s.last_error.as_ref().map_or("", |e| &e.what));
    put_text(
        &mut c.role_detail,
        match &s.clock {
            ClockRole::Member { detail, .. } => detail,
            ClockRole::Measuring(_) => "",
        },
    );
    c
}

/// The size protocol's write: the first `n` bytes of `value` (`n` at most
/// its size) to `dst`, so that a caller built against an older, shorter
/// struct gets only what it has room for.
///
/// # Safety
/// `dst` must point to at least `n` writable bytes.
unsafe fn write_prefix<T>(dst: *mut T, value: &T, n: usize) {
    let n = n.min(size_of::<T>());
    // SAFETY: `dst` has `n` writable bytes (the caller's promise); `value`
    // is a live T of at least `n` bytes; the two cannot overlap (`value` is
    // the library's own).
    unsafe { ptr::copy_nonoverlapping(ptr::from_ref(value).cast::<u8>(), dst.cast::<u8>(), n) };
}

/// Fills `*stats` with what client `sntp` measures and does. Set
/// `stats->size` to `sizeof(struct prossntp_stats)` first: at most that many
/// bytes are written, and `size` is set to the number written.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for a NULL pointer, a size
/// below `PROSSNTP_STATS_MIN_SIZE` or a handle that is not a live client;
/// `ERR_SM_WRONG_MODULE_STATE` for a client inherited across `fork()`.
///
/// # Safety
/// `stats` must be NULL or point to at least `stats->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_get_stats(sntp: tSMSNTPId, stats: *mut prossntp_stats) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_get_stats",
        required: [stats],
        // SAFETY: non-NULL; the caller guarantees its `size` member (the input) is readable.
        input: unsafe { ptr::addr_of!((*stats).size).read_unaligned() } as usize,
        run: |&size| {
            if size < PROSSNTP_STATS_MIN_SIZE {
                return Err(SmError::BadParameter);
            }
            let mut c = to_c(&live(sntp)?.worker.stats());
            let n = size.min(size_of::<prossntp_stats>());
            c.size = n as u32;
            // SAFETY: the caller provides `size` >= n writable bytes at `stats`.
            unsafe { write_prefix(stats, &c, n) };
            Ok(())
        },
        trace: |_, _| format!("prossntp_get_stats(sntp={sntp:p}, stats={stats:p})"),
    }
}

/// Fills `*t` with the server's time now from client `sntp`'s own clock: a
/// clock nobody steers (CLOCK_MONOTONIC_RAW on Linux) mapped to the server's
/// time by the client's estimate, whatever happens to the host clock. Set
/// `t->size` to `sizeof(struct prossntp_time)` first. Lock-free, from any
/// thread.
///
/// Returns `ERR_SM_OK` (with `synced` = 0, the host's time and an unbounded
/// error before the first valid sample); `ERR_SM_BAD_PARAMETER` for a NULL
/// pointer, a size below `PROSSNTP_TIME_MIN_SIZE` or a handle that is not a
/// live client; `ERR_SM_WRONG_MODULE_STATE` for a client inherited across
/// `fork()`.
///
/// # Safety
/// `t` must be NULL or point to at least `t->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_gettime(sntp: tSMSNTPId, t: *mut prossntp_time) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_gettime",
        required: [t],
        // SAFETY: non-NULL; the caller guarantees its `size` member (the input) is readable.
        input: unsafe { ptr::addr_of!((*t).size).read_unaligned() },
        run: |&size| {
            if size < PROSSNTP_TIME_MIN_SIZE {
                return Err(SmError::BadParameter);
            }
            let mut c = to_c_time(own_time_of(sntp)?);
            let n = size.min(size_of::<prossntp_time>());
            c.size = n;
            // SAFETY: the caller provides `size` >= n writable bytes at `t`.
            unsafe { write_prefix(t, &c, n) };
            Ok(())
        },
        trace: |_, _| format!("prossntp_gettime(sntp={sntp:p}, t={t:p})"),
    }
}

/// The own clock of live client `sntp` now (None before its first sample).
fn own_time_of(sntp: tSMSNTPId) -> Result<Option<Time>, SmError> {
    registry::with(handle_key(sntp), |h| (!h.orphaned()).then(|| h.worker.own_time()))
        .ok_or(SmError::BadParameter)?
        .ok_or(SmError::WrongModuleState)
}

/// Reads the `size` of a size-protocol struct at `p` and checks it against
/// `min`.
///
/// # Safety
/// `p` must be non-NULL with a readable `usize` at its start.
unsafe fn checked_size<T>(p: *const T, min: usize) -> Result<usize, SmError> {
    // SAFETY: the caller's promise.
    let size = unsafe { p.cast::<usize>().read_unaligned() };
    if size < min {
        return Err(SmError::BadParameter);
    }
    Ok(size)
}

/// Fills `*iv` with the server's time now from client `sntp`'s own clock as
/// an interval sure to hold the true time (while `status` is
/// `PROSSNTP_TIME_SYNCHRONISED` or `PROSSNTP_TIME_HOLDOVER`), with the status
/// and the last valid sample. Set `iv->size` to
/// `sizeof(struct prossntp_interval)` first. Lock-free, from any thread.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for a NULL pointer, a size
/// below `PROSSNTP_INTERVAL_MIN_SIZE` or a handle that is not a live client;
/// `ERR_SM_WRONG_MODULE_STATE` for a client inherited across `fork()`.
///
/// # Safety
/// `iv` must be NULL or point to at least `iv->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_now(sntp: tSMSNTPId, iv: *mut prossntp_interval) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_now",
        required: [iv],
        // SAFETY: non-NULL; the caller guarantees its `size` member (the input) is readable.
        input: unsafe { checked_size(iv, PROSSNTP_INTERVAL_MIN_SIZE) },
        run: |&size| {
            let c = to_c_interval(own_time_of(sntp)?);
            // SAFETY: the caller provides `size` >= the bytes written at `iv`.
            unsafe { fill_interval(iv, c, size?) };
            Ok(())
        },
        trace: |_, _| format!("prossntp_now(sntp={sntp:p}, iv={iv:p})"),
    }
}

/// Writes the first `size` bytes (at most the struct's) of `c` to `iv`,
/// `size` set to that count.
///
/// # Safety
/// `iv` must have `size` writable bytes.
unsafe fn fill_interval(iv: *mut prossntp_interval, mut c: prossntp_interval, size: usize) {
    let n = size.min(size_of::<prossntp_interval>());
    c.size = n;
    // SAFETY: the caller's promise.
    unsafe { write_prefix(iv, &c, n) };
}

/// Reads a `struct timespec` the caller passed as Unix nanoseconds
/// (saturating); None for a `tv_nsec` outside [0, 1e9).
///
/// # Safety
/// `t` must be non-NULL and readable.
unsafe fn read_timespec(t: *const libc::timespec) -> Option<i64> {
    // SAFETY: the caller's promise.
    let t = unsafe { t.read_unaligned() };
    if !(0..1_000_000_000).contains(&(t.tv_nsec as i64)) {
        return None;
    }
    Some((t.tv_sec as i64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as i64))
}

/// Answers through `*answer`: 1 if UTC time `*t` has surely passed on
/// client `sntp`'s server (it lies before the interval `prossntp_now` gives),
/// 0 if not surely (it may lie ahead, or nothing is known). TrueTime's
/// `after(t)`.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for a NULL pointer, a
/// `tv_nsec` outside [0, 999999999] or a handle that is not a live client;
/// `ERR_SM_WRONG_MODULE_STATE` for a client inherited across `fork()`.
///
/// # Safety
/// `t` must be NULL or readable; `answer` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn prossntp_surely_past(sntp: tSMSNTPId, t: *const libc::timespec, answer: *mut c_int) -> tSM_INT {
    // SAFETY: as `surely`'s.
    unsafe { surely("prossntp_surely_past", sntp, t, answer, |t, (earliest, _)| t < earliest) }
}

/// Answers through `*answer`: 1 if UTC time `*t` surely lies ahead on client
/// `sntp`'s server (after the interval `prossntp_now` gives), 0 if not
/// surely. TrueTime's `before(t)`. Returns as `prossntp_surely_past`.
///
/// # Safety
/// `t` must be NULL or readable; `answer` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn prossntp_surely_future(
    sntp: tSMSNTPId,
    t: *const libc::timespec,
    answer: *mut c_int,
) -> tSM_INT {
    // SAFETY: as `surely`'s.
    unsafe { surely("prossntp_surely_future", sntp, t, answer, |t, (_, latest)| t > latest) }
}

/// `test(t, (earliest, latest))` on the own clock's interval now, into
/// `*answer` (0 while the interval is unbounded).
///
/// # Safety
/// `t` must be NULL or readable; `answer` NULL or writable.
unsafe fn surely(
    call: &'static str,
    sntp: tSMSNTPId,
    t: *const libc::timespec,
    answer: *mut c_int,
    test: impl Fn(i64, (i64, i64)) -> bool,
) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_surely",
        required: [t, answer],
        // SAFETY: non-NULL; the caller guarantees it is readable.
        input: unsafe { read_timespec(t) },
        run: |&t_ns| {
            let t_ns = t_ns.ok_or(SmError::BadParameter)?;
            let yes = own_time_of(sntp)?.and_then(bounds).is_some_and(|b| test(t_ns, b));
            // SAFETY: non-NULL; the caller guarantees it is writable.
            unsafe { answer.write_unaligned(c_int::from(yes)) };
            Ok(())
        },
        trace: |_, _| format!("{call}(sntp={sntp:p}, t={t:p}, answer={answer:p})"),
    }
}

/// Earliest and latest (Unix ns, saturating) of a bounded time; None when
/// nothing is known.
fn bounds(t: Time) -> Option<(i64, i64)> {
    if !t.error_bound.is_finite() {
        return None;
    }
    // Rounded outwards: the interval never narrows by a nanosecond.
    let bound_ns = (t.error_bound * 1e9).ceil().min(i64::MAX as f64) as i64;
    Some((t.unix_ns.saturating_sub(bound_ns), t.unix_ns.saturating_add(bound_ns)))
}

/// Waits until client `sntp`'s own clock is synchronised (not in holdover)
/// with an error bound of at most `max_bound` seconds, or `timeout_ms`
/// milliseconds pass (negative: no limit), then fills `*iv` (if not NULL,
/// size protocol as `prossntp_now`) with the interval at that moment. Any
/// thread; it sleeps meanwhile, woken by each new reading of the clock (the
/// bound only grows between two). From an event loop, call `prossntp_now`
/// when the client's event fires and on a timer instead.
///
/// Returns `ERR_SM_OK` once the bound is reached; `ERR_SM_PENDING` when the
/// timeout passed first; `ERR_SM_BAD_PARAMETER` for a `max_bound` that is not
/// a positive number, a size below `PROSSNTP_INTERVAL_MIN_SIZE` or a handle
/// that is not a live client; `ERR_SM_WRONG_MODULE_STATE` for a client
/// inherited across `fork()` or whose worker ended (destroyed meanwhile).
///
/// # Safety
/// `iv` must be NULL or point to at least `iv->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_wait_bound(
    sntp: tSMSNTPId,
    max_bound: f64,
    timeout_ms: c_int,
    iv: *mut prossntp_interval,
) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_wait_bound",
        // SAFETY: NULL or the caller guarantees its `size` member (the input) is readable.
        input: if iv.is_null() { Ok(0) } else { unsafe { checked_size(iv, PROSSNTP_INTERVAL_MIN_SIZE) } },
        run: |&size| {
            let size = size?;
            if max_bound.is_nan() || max_bound <= 0.0 {
                return Err(SmError::BadParameter);
            }
            let timeout = if timeout_ms < 0 {
                std::time::Duration::MAX
            } else {
                std::time::Duration::from_millis(timeout_ms as u64)
            };
            let handle = live(sntp)?;
            let (rc, now) = match handle.worker.wait_for_bound(max_bound, timeout) {
                WaitOutcome::Reached(t) => (Ok(()), Some(t)),
                WaitOutcome::TimedOut(t) => (Err(SmError::Pending), t),
                WaitOutcome::Ended => return Err(SmError::WrongModuleState),
            };
            if !iv.is_null() {
                // SAFETY: the caller provides `size` >= the bytes written at `iv`.
                unsafe { fill_interval(iv, to_c_interval(now), size) };
            }
            rc
        },
        trace: |_, _| format!("prossntp_wait_bound(sntp={sntp:p}, max_bound={max_bound}, timeout_ms={timeout_ms}, iv={iv:p})"),
    }
}

/// Fills `*iv` with the server's time at host time `*t` (CLOCK_REALTIME, from
/// the recent past: a packet's `SO_TIMESTAMPNS`, a log record's time) as
/// client `sntp`'s estimate has it, as an interval sure to hold it (size
/// protocol as `prossntp_now`; `time` the mapped time, `status`
/// `PROSSNTP_TIME_SYNCHRONISED`, the sample members as `prossntp_now`'s).
/// Host times reach back as far as the looks the worker keeps at the host's
/// clocks (one a wake-up, 4096 of them) and its estimate (from its fit's
/// first sample).
///
/// Returns `ERR_SM_OK`; `ERR_SM_NO_ACTION` for a time it cannot bound: no
/// estimate yet, older than the looks or the estimate, or the host clock was
/// stepped or the host suspended between then and now (nothing written);
/// `ERR_SM_BAD_PARAMETER` for a NULL pointer, a size below
/// `PROSSNTP_INTERVAL_MIN_SIZE`, a `tv_nsec` outside [0, 999999999], a time
/// later than now, or a handle that is not a live client;
/// `ERR_SM_WRONG_MODULE_STATE` for a client inherited across `fork()`.
///
/// # Safety
/// `t` must be NULL or readable; `iv` NULL or point to at least `iv->size`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_past(
    sntp: tSMSNTPId,
    t: *const libc::timespec,
    iv: *mut prossntp_interval,
) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_past",
        required: [t, iv],
        // SAFETY: non-NULL; the caller guarantees both are readable.
        input: unsafe { (read_timespec(t), checked_size(iv, PROSSNTP_INTERVAL_MIN_SIZE)) },
        run: |&(t_ns, size)| {
            let (t_ns, size) = (t_ns.ok_or(SmError::BadParameter)?, size?);
            let handle = live(sntp)?;
            let (mapped, _) = handle.worker.past(t_ns);
            let (server_ns, bound) = match mapped {
                Ok(m) => m,
                Err(Refused::Future) => return Err(SmError::BadParameter),
                Err(_) => return Err(SmError::NoAction),
            };
            let now = handle.worker.own_time().ok_or(SmError::NoAction)?;
            let at = Time { unix_ns: server_ns, error_bound: bound, status: Status::Synchronised, leap_shift_ns: 0, ..now };
            // SAFETY: the caller provides `size` >= the bytes written at `iv`.
            unsafe { fill_interval(iv, to_c_interval(Some(at)), size) };
            Ok(())
        },
        trace: |_, _| format!("prossntp_past(sntp={sntp:p}, t={t:p}, iv={iv:p})"),
    }
}

/// Sets how fast, at least, client `sntp`'s error bound grows with the age
/// of its last sample, beyond its measured rate's doubt: `ppm` parts per
/// million (microseconds a second), from its next sample on. The default,
/// 50, covers a change of tens of ppm in the oscillator's or the server's
/// rate (README: holdover); set more where changes may be larger.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for `ppm` below 50 or above
/// 1000 (or not a number) or a handle that is not a live client;
/// `ERR_SM_WRONG_MODULE_STATE` for a client inherited across `fork()`.
#[no_mangle]
pub extern "C" fn prossntp_set_drift_floor(sntp: tSMSNTPId, ppm: f64) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_set_drift_floor",
        input: ppm * 1e-6,
        run: |&floor| {
            if !(DEFAULT_DRIFT_FLOOR..=MAX_DRIFT_FLOOR).contains(&floor) {
                return Err(refused("prossntp_set_drift_floor", "the floor must lie in [50, 1000] ppm"));
            }
            live(sntp)?.worker.set_drift_floor(floor);
            Ok(())
        },
        trace: |_, _| format!("prossntp_set_drift_floor(sntp={sntp:p}, ppm={ppm})"),
    }
}

/// Hands `auth` to client `sntp`'s worker (`call` for the trace): a key is
/// refused for a client that uses NTS.
fn set_auth(call: &str, sntp: tSMSNTPId, auth: Auth) -> Result<(), SmError> {
    let handle = live(sntp)?;
    if matches!(auth, Auth::Key(_)) && handle.worker.auth_kind() == AuthKind::Nts {
        return Err(refused(call, "the client uses NTS: a key and NTS on one client (remove NTS first, with NULL)"));
    }
    handle.worker.set_auth(auth).map_err(|_| SmError::WrongModuleState)
}

/// Reads the input members of `*p` into a key.
///
/// # Safety
/// `p` must point to a readable `size` field and, when `size` is large
/// enough, a readable `struct prossntp_key_parms`; its `type` must be NULL or
/// a NUL-terminated string, its `key` NULL or `key_len` readable bytes.
unsafe fn read_key(p: *const prossntp_key_parms) -> Result<SymmetricKey, String> {
    // SAFETY: `p` is non-NULL and its `size` readable (the caller's promise).
    let size = unsafe { ptr::addr_of!((*p).size).read_unaligned() };
    if size < size_of::<prossntp_key_parms>() {
        return Err(format!(
            "size {size} is below sizeof(struct prossntp_key_parms) ({})",
            size_of::<prossntp_key_parms>()
        ));
    }
    // SAFETY: the struct is readable (its size says so); members read one
    // by one, unaligned, and only the input ones.
    let (id, kind, key, len) = unsafe {
        (
            ptr::addr_of!((*p).key_id).read_unaligned(),
            ptr::addr_of!((*p).r#type).read_unaligned(),
            ptr::addr_of!((*p).key).read_unaligned(),
            ptr::addr_of!((*p).key_len).read_unaligned(),
        )
    };
    if kind.is_null() {
        return Err("type is NULL".into());
    }
    // SAFETY: non-NULL, NUL-terminated (the caller's promise).
    let kind = unsafe { CStr::from_ptr(kind) };
    let kind = kind.to_str().ok().and_then(KeyType::parse).ok_or_else(|| {
        format!("unknown key type {:?} (MD5, SHA1, SHA256, AES128 or AES256)", kind.to_string_lossy())
    })?;
    if key.is_null() || len == 0 || len > MAX_HASH_KEY_LEN {
        return Err(format!("key is NULL or key_len ({len}) is 0 or above {MAX_HASH_KEY_LEN}"));
    }
    // SAFETY: `key` has `len` readable bytes (the caller's promise), len > 0.
    let bytes = unsafe { std::slice::from_raw_parts(key, len) };
    SymmetricKey::new(id, kind, bytes).map_err(|e| e.to_string())
}

/// Authenticates client `sntp`'s server with a symmetric key from now on
/// (a MAC on every request; replies without a valid MAC under the key are
/// never used), or, with `p` NULL, no more. Takes effect at once, before or
/// after `sm_sntp_config`: the estimate starts afresh and the client queries
/// again.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for an unknown handle, a
/// size below `sizeof(struct prossntp_key_parms)`, key ID 0, an unknown type
/// or a key of the wrong length (traced with the reason);
/// `ERR_SM_WRONG_MODULE_STATE` for a client whose worker has ended or one
/// inherited across `fork()`.
///
/// # Safety
/// `p` must be NULL or point to a readable `struct prossntp_key_parms` whose
/// `type` is NULL or a string and whose `key` is NULL or `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn prossntp_config_key(sntp: tSMSNTPId, p: *const prossntp_key_parms) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_config_key",
        // NULL is no key.
        input: (),
        run: |_| {
            const CALL: &str = "prossntp_config_key";
            let auth = if p.is_null() {
                Auth::None
            } else {
                // SAFETY: non-NULL and readable as documented (the caller's promise).
                Auth::Key(unsafe { read_key(p) }.map_err(|why| refused(CALL, &why))?)
            };
            set_auth(CALL, sntp, auth)
        },
        trace: |_, _| format!("prossntp_config_key(sntp={sntp:p}, p={p:p})"),
    }
}

/// The largest key file read.
const MAX_KEY_FILE: u64 = 1 << 20;

/// As `prossntp_config_key`, with key `key_id` of the chrony key file at
/// `path` (lines `ID [TYPE] KEY`, the key plain, `ASCII:` or `HEX:`; TYPE
/// MD5 when left out).
///
/// Returns as `prossntp_config_key`; also `ERR_SM_BAD_PARAMETER` for a NULL
/// path, a file that cannot be read, no line with that ID, or a malformed one.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn prossntp_config_keyfile(sntp: tSMSNTPId, path: *const c_char, key_id: c_uint) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_config_keyfile",
        required: [path => "path is NULL"],
        // SAFETY: non-NULL and NUL-terminated (the caller's promise).
        input: unsafe { CStr::from_ptr(path) }.to_string_lossy().into_owned(),
        run: |path| {
            const CALL: &str = "prossntp_config_keyfile";
            // Read into room made first, so that no copy of the keys is
            // left behind by a reallocation; wiped when dropped.
            let mut text = zeroize::Zeroizing::new(String::new());
            let read = std::fs::File::open(path).and_then(|f| {
                use std::io::Read;
                let len = f.metadata().map_or(0, |m| m.len().min(MAX_KEY_FILE));
                text.reserve(len as usize + 1);
                f.take(MAX_KEY_FILE).read_to_string(&mut text)
            });
            if let Err(e) = read {
                return Err(refused(CALL, &format!("{path}: {e}")));
            }
            match find_chrony_key(&text, key_id) {
                Ok(key) => set_auth(CALL, sntp, Auth::Key(key)),
                Err(e) => Err(refused(CALL, &format!("{path}: key {key_id}: {e}"))),
            }
        },
        trace: |_, _| format!("prossntp_config_keyfile(sntp={sntp:p}, path={path:p}, key_id={key_id})"),
    }
}

/// A C string member, `None` for NULL.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string.
#[cfg(feature = "nts")]
unsafe fn c_text(p: *const c_char) -> Option<String> {
    // SAFETY: non-NULL and NUL-terminated (the caller's promise).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Reads the input members of `*p` into an NTS configuration.
///
/// # Safety
/// As [`prossntp_config_nts`] requires of `p` (non-NULL).
#[cfg(feature = "nts")]
unsafe fn read_nts(p: *const prossntp_nts_parms) -> Result<crate::worker::NtsConfig, String> {
    use crate::worker::nts_ke;
    // SAFETY: `p` is non-NULL and its `size` readable (the caller's promise).
    let size = unsafe { ptr::addr_of!((*p).size).read_unaligned() };
    if size < size_of::<prossntp_nts_parms>() {
        return Err(format!(
            "size {size} is below sizeof(struct prossntp_nts_parms) ({})",
            size_of::<prossntp_nts_parms>()
        ));
    }
    // SAFETY: the struct is readable (its size says so); input members only.
    let (name, ca, port) = unsafe {
        (
            ptr::addr_of!((*p).server_name).read_unaligned(),
            ptr::addr_of!((*p).ca_file).read_unaligned(),
            ptr::addr_of!((*p).ke_port).read_unaligned(),
        )
    };
    // SAFETY: each NULL or a string (the caller's promise).
    let (name, ca) = unsafe { (c_text(name), c_text(ca)) };
    let name = nts_ke::server_name(&name.ok_or("server_name is NULL")?)?;
    let tls = nts_ke::client_config(ca.as_deref().map(std::path::Path::new))?;
    let port = if port == 0 { crate::proto::nts_ke::DEFAULT_KE_PORT } else { port };
    Ok(crate::worker::NtsConfig { exchange: nts_ke::exchanger(tls, name), port })
}

/// Built without the `nts` feature: NTS cannot be configured.
///
/// # Safety
/// None needed: `p` is not read.
#[cfg(not(feature = "nts"))]
unsafe fn read_nts(_: *const prossntp_nts_parms) -> Result<crate::worker::NtsConfig, String> {
    Err("this build of the library has no NTS (the nts feature is off)".into())
}

/// Authenticates client `sntp`'s server with NTS (RFC 8915) from now on,
/// or, with `p` NULL, no more (plain SNTP). Takes effect at once.
///
/// Returns `ERR_SM_OK`; `ERR_SM_BAD_PARAMETER` for an unknown handle, a
/// size below `sizeof(struct prossntp_nts_parms)`, a NULL or invalid server
/// name, a CA file that cannot be read or holds no certificate, or a client
/// that has a key (traced with the reason); `ERR_SM_WRONG_MODULE_STATE` for
/// a client whose worker has ended or one inherited across `fork()`.
///
/// # Safety
/// `p` must be NULL or point to a readable `struct prossntp_nts_parms`
/// whose `server_name` and `ca_file` are NULL or strings.
#[no_mangle]
pub unsafe extern "C" fn prossntp_config_nts(sntp: tSMSNTPId, p: *const prossntp_nts_parms) -> tSM_INT {
    ffi_entry! {
        call: "prossntp_config_nts",
        // NULL is no NTS.
        input: (),
        run: |_| {
            const CALL: &str = "prossntp_config_nts";
            if p.is_null() {
                return set_auth(CALL, sntp, Auth::None);
            }
            let handle = live(sntp)?;
            if handle.worker.auth_kind() == AuthKind::Key {
                return Err(refused(
                    CALL,
                    "the client has a key: a key and NTS on one client (remove it first, with NULL)",
                ));
            }
            // SAFETY: non-NULL and readable as documented (the caller's promise).
            let config = unsafe { read_nts(p) }.map_err(|why| refused(CALL, &why))?;
            handle.worker.set_nts(config).map_err(|_| SmError::WrongModuleState)
        },
        trace: |_, _| format!("prossntp_config_nts(sntp={sntp:p}, p={p:p})"),
    }
}

/// The C struct for a reading of the own clock (None: not synced, the host's time).
fn to_c_time(now: Option<Time>) -> prossntp_time {
    let (unix_ns, error_bound, synced, leap) = match now {
        Some(t) => (t.unix_ns, t.error_bound, 1, i32::from(t.leap)),
        // Before the first sample: the host's time, of no known error.
        None => (realtime_ns(), f64::INFINITY, 0, 0),
    };
    let (secs, nanos) = (unix_ns.div_euclid(1_000_000_000), unix_ns.rem_euclid(1_000_000_000));
    let ntp = NtpTimestamp::from_unix(secs, nanos as u32).0;
    prossntp_time {
        size: size_of::<prossntp_time>(),
        synced,
        leap,
        time: libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: nanos as _ },
        ntp,
        error_bound,
    }
}

fn timespec_of(ns: i64) -> libc::timespec {
    libc::timespec { tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t, tv_nsec: ns.rem_euclid(1_000_000_000) as _ }
}

/// The C interval for the own clock's time `now` (None before the first
/// sample: the host's time, unbounded).
fn to_c_interval(now: Option<Time>) -> prossntp_interval {
    let unbounded = libc::timespec { tv_sec: libc::time_t::MAX, tv_nsec: 999_999_999 };
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let t = now.unwrap_or_else(|| Time {
        unix_ns: realtime_ns(),
        error_bound: f64::INFINITY,
        leap: 0,
        status: Status::Unsynchronised,
        sample_time: 0,
        sample_age_ns: 0,
        leap_shift_ns: 0,
        suspended: false,
    });
    let (earliest, latest) = match bounds(t) {
        Some((e, l)) => (timespec_of(e), timespec_of(l)),
        None => (zero, unbounded),
    };
    // TAI - UTC after a leap second the time has applied: at the later of
    // the two scales (in an inserted second, repeated in UTC, the list's
    // new offset already holds).
    let utc_secs = t.unix_ns.max(t.unix_ns - t.leap_shift_ns).div_euclid(1_000_000_000);
    let tai_offset = leap_list().and_then(|l| l.tai_offset(utc_secs)).unwrap_or(0);
    let tai = |ts: libc::timespec| match bounds(t) {
        Some(_) if tai_offset != 0 => libc::timespec { tv_sec: ts.tv_sec + libc::time_t::from(tai_offset), ..ts },
        _ => ts,
    };
    let sampled = now.is_some();
    prossntp_interval {
        size: size_of::<prossntp_interval>(),
        status: match t.status {
            Status::Unsynchronised => PROSSNTP_TIME_UNSYNCHRONISED,
            Status::Synchronised => PROSSNTP_TIME_SYNCHRONISED,
            Status::Holdover => PROSSNTP_TIME_HOLDOVER,
            Status::Disrupted => PROSSNTP_TIME_DISRUPTED,
        },
        leap: i32::from(t.leap),
        earliest,
        latest,
        time: timespec_of(t.unix_ns),
        error_bound: t.error_bound,
        earliest_tai: tai(earliest),
        latest_tai: tai(latest),
        tai_offset,
        last_sample: if sampled { timespec_of(t.sample_time) } else { zero },
        last_sample_age: if sampled { t.sample_age_ns as f64 * 1e-9 } else { f64::INFINITY },
    }
}

/// The library's version, "MAJOR.MINOR.PATCH" (static storage).
#[no_mangle]
pub extern "C" fn prossntp_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// A description of an `ERR_SM_*` code (static storage); unknown codes get
/// "unknown error code".
#[no_mangle]
pub extern "C" fn prossntp_strerror(err: c_int) -> *const c_char {
    super::error::c_text_of(err).as_ptr()
}

/// A description of a `PROSSNTP_REJECT_*` reason (static storage); NULL for
/// an index that names no reason.
#[no_mangle]
pub extern "C" fn prossntp_reject_text(reason: c_int) -> *const c_char {
    static TEXTS: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
    let texts = TEXTS
        .get_or_init(|| Reject::ALL.iter().map(|r| std::ffi::CString::new(r.text()).unwrap_or_default()).collect());
    usize::try_from(reason).ok().and_then(|i| texts.get(i)).map_or(ptr::null(), |t| t.as_ptr())
}
