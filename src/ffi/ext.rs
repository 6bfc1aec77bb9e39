//! The library's own calls, beyond Aculab's API (`prossntp_ext.h`): the
//! statistics of a client, its own clock of the server, the version, and texts for error codes and
//! rejection reasons. Same rules as the `sm_` calls: pointers and handles
//! validated, a panic boundary, traced.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::ptr;
use std::time::Instant;

use super::api::{entry, handle_key, lookup};
use super::ext_types::*;
use super::registry;
use super::types::*;
use crate::discipline::module_clock::Time;
use crate::discipline::Role;
use crate::owner::NotSteering;
use crate::proto::timestamp::NtpTimestamp;
use crate::proto::validate::Reject;
use crate::sys::time::realtime_ns;
use crate::worker::stats::{ClockRole, Measuring, State, Stats};

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
    };
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
    entry(
        || {
            if stats.is_null() {
                return ERR_SM_BAD_PARAMETER;
            }
            // SAFETY: non-NULL; the caller guarantees its `size` field is readable.
            let size = unsafe { ptr::addr_of!((*stats).size).read_unaligned() } as usize;
            if size < PROSSNTP_STATS_MIN_SIZE {
                return ERR_SM_BAD_PARAMETER;
            }
            let handle = match lookup(sntp) {
                Ok(h) => h,
                Err(e) => return e,
            };
            if handle.orphaned() {
                return ERR_SM_WRONG_MODULE_STATE;
            }
            let mut c = to_c(&handle.worker.stats());
            let n = size.min(size_of::<prossntp_stats>());
            c.size = n as u32;
            // SAFETY: the caller provides `size` >= n writable bytes at `stats`.
            unsafe { write_prefix(stats, &c, n) };
            ERR_SM_OK
        },
        || format!("prossntp_get_stats(sntp={sntp:p}, stats={stats:p})"),
    )
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
    entry(
        || {
            if t.is_null() {
                return ERR_SM_BAD_PARAMETER;
            }
            // SAFETY: non-NULL; the caller guarantees its `size` field is readable.
            let size = unsafe { ptr::addr_of!((*t).size).read_unaligned() };
            if size < PROSSNTP_TIME_MIN_SIZE {
                return ERR_SM_BAD_PARAMETER;
            }
            let Some(now) = registry::with(handle_key(sntp), |h| (!h.orphaned()).then(|| h.worker.own_time())) else {
                return ERR_SM_BAD_PARAMETER;
            };
            let Some(now) = now else { return ERR_SM_WRONG_MODULE_STATE };
            let mut c = to_c_time(now);
            let n = size.min(size_of::<prossntp_time>());
            c.size = n;
            // SAFETY: the caller provides `size` >= n writable bytes at `t`.
            unsafe { write_prefix(t, &c, n) };
            ERR_SM_OK
        },
        || format!("prossntp_gettime(sntp={sntp:p}, t={t:p})"),
    )
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

/// The library's version, "MAJOR.MINOR.PATCH" (static storage).
#[no_mangle]
pub extern "C" fn prossntp_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// A description of an `ERR_SM_*` code (static storage); unknown codes get
/// "unknown error code".
#[no_mangle]
pub extern "C" fn prossntp_strerror(err: c_int) -> *const c_char {
    let text: &'static CStr = match err {
        ERR_SM_OK => c"success",
        ERR_SM_DEVERR => c"internal error in the library",
        ERR_SM_PENDING => c"operation pending",
        ERR_SM_MORE => c"more data available",
        ERR_SM_NO_ACTION => c"nothing to do",
        ERR_SM_NOT_IMPLEMENTED => c"not implemented",
        ERR_SM_BAD_PARAMETER => c"bad parameter (NULL pointer, invalid value or unknown client handle)",
        ERR_SM_NO_SUCH_MODULE => c"no such module",
        ERR_SM_MODULE_ACCESS => c"module access error",
        ERR_SM_NO_RESOURCES => c"out of resources (memory, descriptors or threads)",
        ERR_SM_NO_SUCH_CHANNEL => c"no such channel",
        ERR_SM_NO_SUCH_FIRMWARE => c"no such firmware",
        ERR_SM_WRONG_FIRMWARE_TYPE => c"wrong firmware type",
        ERR_SM_OS_RESOURCE_PROBLEM => c"operating system resource problem (socket or thread could not be set up)",
        ERR_SM_WRONG_MODULE_STATE => c"wrong state (the client's worker has ended, or it was inherited across fork)",
        ERR_SM_OS_OTHER_PROBLEM => c"other operating system problem",
        ERR_SM_OS_INTERRUPTED_WAIT => c"wait interrupted",
        _ => c"unknown error code",
    };
    text.as_ptr()
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
