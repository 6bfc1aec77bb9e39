//! The C-visible types of `prossntp_ext.h`, the library's own calls beyond
//! Aculab's API: the statistics and time structs and their constants.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uchar, c_uint, c_ushort};

use crate::proto::validate::Reject;

// PROSSNTP_VERSION_MAJOR, _MINOR and _PATCH, written by build.rs from
// Cargo.toml's version (the one source of it).
include!(concat!(env!("OUT_DIR"), "/version.rs"));

/// `state`: created, not configured yet.
pub const PROSSNTP_STATE_IDLE: i32 = 0;
/// `state`: configured and querying the server.
pub const PROSSNTP_STATE_RUNNING: i32 = 1;
/// `state`: the server sent a DENY or RSTR kiss; stopped until configured again.
pub const PROSSNTP_STATE_STOPPED: i32 = 2;
/// `state`: the worker has ended (clock refused, or a fatal error); destroy the client.
pub const PROSSNTP_STATE_ENDED: i32 = 3;

/// `rejected[]` index: not from the configured server address and port.
pub const PROSSNTP_REJECT_WRONG_SOURCE: i32 = 0;
/// `rejected[]` index: shorter than an NTP header.
pub const PROSSNTP_REJECT_TRUNCATED: i32 = 1;
/// `rejected[]` index: mode is not 4 (server).
pub const PROSSNTP_REJECT_NOT_SERVER_MODE: i32 = 2;
/// `rejected[]` index: version differs from the request's.
pub const PROSSNTP_REJECT_WRONG_VERSION: i32 = 3;
/// `rejected[]` index: origin timestamp is not the outstanding request's (spoofed, late or duplicate).
pub const PROSSNTP_REJECT_BAD_ORIGIN: i32 = 4;
/// `rejected[]` index: LI = 3 or stratum 0 without a known kiss code.
pub const PROSSNTP_REJECT_UNSYNCHRONIZED: i32 = 5;
/// `rejected[]` index: stratum above 15.
pub const PROSSNTP_REJECT_BAD_STRATUM: i32 = 6;
/// `rejected[]` index: receive or transmit timestamp zero.
pub const PROSSNTP_REJECT_ZERO_TIMESTAMP: i32 = 7;
/// `rejected[]` index: server time before the library was built, or 68 years or more after.
pub const PROSSNTP_REJECT_IMPLAUSIBLE_TIME: i32 = 8;
/// `rejected[]` index: root distance 1.5 s or more.
pub const PROSSNTP_REJECT_ROOT_DISTANCE: i32 = 9;
/// `rejected[]` index: round-trip delay below zero.
pub const PROSSNTP_REJECT_NEGATIVE_DELAY: i32 = 10;
/// `rejected[]` index: the client authenticates its server and the reply has no MAC (or is a crypto-NAK).
pub const PROSSNTP_REJECT_AUTH_MISSING: i32 = 11;
/// `rejected[]` index: a MAC under another key ID.
pub const PROSSNTP_REJECT_AUTH_WRONG_KEY: i32 = 12;
/// `rejected[]` index: a MAC that does not verify, or a malformed trailer.
pub const PROSSNTP_REJECT_AUTH_BAD_MAC: i32 = 13;
/// `rejected[]` index: the client uses NTS and the reply has no authenticator or not the request's unique identifier.
pub const PROSSNTP_REJECT_NTS_MISSING: i32 = 14;
/// `rejected[]` index: an NTS authenticator that does not verify, or malformed extension fields.
pub const PROSSNTP_REJECT_NTS_BAD: i32 = 15;
/// Number of reasons in use; `rejected[]` has room for `PROSSNTP_REJECT_SLOTS`.
pub const PROSSNTP_REJECT_COUNT: i32 = 16;
/// Size of `rejected[]` (fixed: new reasons take unused slots).
pub const PROSSNTP_REJECT_SLOTS: usize = 16;

// The header's indices are `Reject`'s discriminants: checked when building
// (which also keeps the constants in use).
const _: () = {
    use crate::proto::validate::Reject as R;
    let pairs = [
        (PROSSNTP_REJECT_WRONG_SOURCE, R::WrongSource),
        (PROSSNTP_REJECT_TRUNCATED, R::Truncated),
        (PROSSNTP_REJECT_NOT_SERVER_MODE, R::NotServerMode),
        (PROSSNTP_REJECT_WRONG_VERSION, R::WrongVersion),
        (PROSSNTP_REJECT_BAD_ORIGIN, R::BadOrigin),
        (PROSSNTP_REJECT_UNSYNCHRONIZED, R::Unsynchronized),
        (PROSSNTP_REJECT_BAD_STRATUM, R::BadStratum),
        (PROSSNTP_REJECT_ZERO_TIMESTAMP, R::ZeroTimestamp),
        (PROSSNTP_REJECT_IMPLAUSIBLE_TIME, R::ImplausibleTime),
        (PROSSNTP_REJECT_ROOT_DISTANCE, R::RootDistance),
        (PROSSNTP_REJECT_NEGATIVE_DELAY, R::NegativeDelay),
        (PROSSNTP_REJECT_AUTH_MISSING, R::AuthMissing),
        (PROSSNTP_REJECT_AUTH_WRONG_KEY, R::AuthWrongKey),
        (PROSSNTP_REJECT_AUTH_BAD_MAC, R::AuthBadMac),
        (PROSSNTP_REJECT_NTS_MISSING, R::NtsMissing),
        (PROSSNTP_REJECT_NTS_BAD, R::NtsBad),
    ];
    assert!(pairs.len() == PROSSNTP_REJECT_COUNT as usize);
    let mut i = 0;
    while i < pairs.len() {
        assert!(pairs[i].0 == pairs[i].1 as i32 && pairs[i].0 == i as i32);
        i += 1;
    }
};

/// The smallest `size` accepted: the struct's size in its first version.
pub const PROSSNTP_STATS_MIN_SIZE: usize = 504;

/// `role`: steering, but its server is not followed now (no sample yet,
/// awaiting agreeing samples or the other servers, no majority, unreachable,
/// beyond the combine limit, or the loser of two that disagree).
pub const PROSSNTP_ROLE_CANDIDATE: i32 = 0;
/// `role`: the clock follows this server first (its leap indicator and error
/// bounds go to the kernel).
pub const PROSSNTP_ROLE_SELECTED: i32 = 1;
/// `role`: the clock follows this server, combined with the selected one.
pub const PROSSNTP_ROLE_COMBINED: i32 = 2;
/// `role`: this server disagrees with the majority: not followed.
pub const PROSSNTP_ROLE_FALSETICKER: i32 = 3;
/// `role`: measuring only, by choice or for want of the right to set the clock.
pub const PROSSNTP_ROLE_MEASURING: i32 = 4;
/// `role`: measuring only: another process or time daemon owns the clock.
pub const PROSSNTP_ROLE_STANDING_DOWN: i32 = 5;

/// `not_steering`: the process steers the clock.
pub const PROSSNTP_STEER_YES: i32 = 0;
/// `not_steering`: `PROSSNTP_CLOCK=none`.
pub const PROSSNTP_STEER_NOT_CHOSEN: i32 = 1;
/// `not_steering`: `PROSSNTP_CLOCK=auto` and the process may not set the clock.
pub const PROSSNTP_STEER_NO_PERMISSION: i32 = 2;
/// `not_steering`: another process holds the host's clock-owner lock (`clock_owner_pid`).
pub const PROSSNTP_STEER_OTHER_PROCESS: i32 = 3;
/// `not_steering`: another discipline (a time daemon) steers the clock.
pub const PROSSNTP_STEER_FOREIGN: i32 = 4;
/// `not_steering`: the clock-owner lock file cannot be opened.
pub const PROSSNTP_STEER_NO_LOCK: i32 = 5;
/// `not_steering`: the clock call was refused (EPERM).
pub const PROSSNTP_STEER_REFUSED: i32 = 6;

/// What a client measures and does, filled by `prossntp_get_stats`.
///
/// Set `size` to `sizeof(struct prossntp_stats)` before the call: the library
/// fills that many bytes at most and sets `size` to the number it filled, so
/// the struct can grow at its end without breaking older callers. Times are
/// in seconds, frequencies in ppm; offsets are server time minus local time.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct prossntp_stats {
    /// In: the caller's `sizeof(struct prossntp_stats)`. Out: bytes filled.
    pub size: u32,
    /// `PROSSNTP_STATE_*`.
    pub state: i32,
    /// 1 while synchronised (as `sm_sntp_status` reports), else 0.
    pub has_sync: i32,
    /// 1 when the clock backend steers the clock, 0 when it only measures.
    pub steering: i32,
    /// The clock backend: "adjtimex", "ntp_adjtime", "adjtime" or "none"; "" before the worker chose.
    pub backend: [c_char; 16],
    /// The configured server, numeric: "192.0.2.1:123" or "[2001:db8::1]:123"; "" before config.
    #[allow(rustdoc::broken_intra_doc_links, reason = "an IPv6 address in brackets, not a link")]
    pub server: [c_char; 64],
    /// From the last valid reply (0 before one): stratum, leap indicator (0..3).
    pub stratum: i32,
    pub leap: i32,
    /// Reference id of the last valid reply, as sent (4 bytes, network order).
    pub reference_id: [u8; 4],
    /// Reserved, 0.
    pub reserved: u32,
    /// Current interval between requests (after backoff), seconds; 0 when not querying.
    pub poll_interval: f64,
    /// Best estimate of the offset at the last valid reply: a fit over the
    /// recent samples weighted towards the lowest delays.
    pub offset: f64,
    /// Offset and round-trip delay of the last valid reply on its own.
    pub sample_offset: f64,
    pub delay: f64,
    /// RMS deviation of the recent samples from the fit.
    pub jitter: f64,
    /// Root delay and root dispersion of the last valid reply.
    pub root_delay: f64,
    pub root_dispersion: f64,
    /// Frequency error of the local clock, ppm (positive: it runs slow): the
    /// correction in force when steering, the measured drift when measuring.
    pub frequency: f64,
    /// Seconds since the last valid reply (monotonic); -1 before one.
    pub last_reply_age: f64,
    /// Requests that left (a failed send is not counted; `last_error` says
    /// why) and valid replies used.
    pub requests: u64,
    pub replies: u64,
    /// Replies rejected, in all and by reason (`PROSSNTP_REJECT_*` index).
    pub rejected_total: u64,
    pub rejected: [u64; PROSSNTP_REJECT_SLOTS],
    /// Kiss-o'-death replies received (RATE, DENY, RSTR).
    pub kod_received: u64,
    /// Clock corrections applied: steps, slews; steps refused as beyond the bounds.
    pub steps: u64,
    pub slews: u64,
    pub steps_refused: u64,
    /// The errno of the last error (0: none yet) and what failed, e.g.
    /// "from 192.0.2.1:123: Connection refused (os error 111)" after an ICMP
    /// port unreachable.
    pub last_errno: i32,
    pub last_error: [c_char; 124],
    /// Seconds since that error; -1 when none.
    pub last_error_age: f64,
    // ---- from here on: added in 1.1 (size 656) ----
    /// What this client's server is to the clock: `PROSSNTP_ROLE_*`.
    pub role: i32,
    /// Why the process does not steer the clock: `PROSSNTP_STEER_*` (0 while it does).
    pub not_steering: i32,
    /// With `PROSSNTP_STEER_OTHER_PROCESS`: the process that steers (0 if unknown).
    pub clock_owner_pid: i32,
    /// The process's steering clients, and how many of them agreed at the last
    /// selection (truechimers); 0 for a client that measures only.
    pub sources: i32,
    pub truechimers: i32,
    /// Reserved, 0.
    pub reserved2: i32,
    /// The role's reason, or what keeps the process from steering, as text
    /// ("" when there is nothing to add).
    pub role_detail: [c_char; 128],
    // ---- from here on: added in 1.2 (size 664) ----
    /// Corrections of the client's own clock (`prossntp_gettime`) made at
    /// once: beyond the step threshold (0.128 s), or the first sample of
    /// another server.
    pub own_clock_steps: u64,
    // ---- from here on: added in 1.3 (size 816) ----
    /// How the client authenticates its server: `PROSSNTP_AUTH_*`.
    pub auth: i32,
    /// With `PROSSNTP_AUTH_KEY`: the key's ID; else 0.
    pub key_id: u32,
    /// With `PROSSNTP_AUTH_KEY`: the key's type ("MD5", "SHA1", "SHA256",
    /// "AES128" or "AES256"); else "".
    pub key_type: [c_char; 8],
    /// With `PROSSNTP_AUTH_NTS`: `PROSSNTP_NTS_*`; else `PROSSNTP_NTS_NONE`.
    pub nts_state: i32,
    /// With NTS: cookies held.
    pub nts_cookies: i32,
    /// With NTS: key exchanges that succeeded.
    pub nts_key_exchanges: u64,
    /// With NTS: why the last key exchange failed ("" after a success).
    pub nts_error: [c_char; 120],
}

/// `auth`: plain SNTP (the origin timestamp is the only check).
pub const PROSSNTP_AUTH_NONE: i32 = 0;
/// `auth`: a symmetric key (`prossntp_config_key`): only replies with a
/// valid MAC under it are used.
pub const PROSSNTP_AUTH_KEY: i32 = 1;
/// `auth`: NTS (`prossntp_config_nts`): only replies authenticated with
/// the keys of a key exchange are used.
pub const PROSSNTP_AUTH_NTS: i32 = 2;

/// `nts_state`: the client does not use NTS.
pub const PROSSNTP_NTS_NONE: i32 = 0;
/// `nts_state`: a key exchange is due or in progress; nothing goes over NTP yet.
pub const PROSSNTP_NTS_EXCHANGING: i32 = 1;
/// `nts_state`: keys and cookies held; NTP is authenticated with them.
pub const PROSSNTP_NTS_READY: i32 = 2;
/// `nts_state`: the last key exchange failed (`nts_error` says why); another follows after a backoff.
pub const PROSSNTP_NTS_FAILED: i32 = 3;

/// NTS for `prossntp_config_nts`. The members are fixed in this order;
/// later versions may append.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct prossntp_nts_parms {
    /// `sizeof(struct prossntp_nts_parms)`.
    pub size: usize,
    /// The name the server's certificate must carry: a DNS name or an IP literal; required.
    pub server_name: *const c_char,
    /// A PEM file of trusted CAs; NULL: the system's.
    pub ca_file: *const c_char,
    /// The NTS-KE port at the configured server's address; 0 means 4460.
    pub ke_port: c_ushort,
}

/// A symmetric key for `prossntp_config_key`. The members are fixed in this
/// order; later versions may append.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct prossntp_key_parms {
    /// `sizeof(struct prossntp_key_parms)`.
    pub size: usize,
    /// The key's ID, 1 to 4294967295 (as the server's key file numbers it).
    pub key_id: c_uint,
    /// "MD5", "SHA1", "SHA256", "AES128" or "AES256" (case-insensitive).
    pub r#type: *const c_char,
    /// The key's bytes: 16 for AES128, 32 for AES256, 1 to 1023 for a digest.
    pub key: *const c_uchar,
    pub key_len: usize,
}

/// The smallest `size` `prossntp_gettime` accepts: the struct's size in its
/// first version.
pub const PROSSNTP_TIME_MIN_SIZE: usize = 48;

/// The server's time, from a client's own clock: filled by `prossntp_gettime`.
///
/// Set `size` to `sizeof(struct prossntp_time)` before the call: the library
/// fills that many bytes at most and sets `size` to the number it filled.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct prossntp_time {
    /// In: the caller's `sizeof(struct prossntp_time)`. Out: bytes filled.
    pub size: usize,
    /// 1: the time follows the server; 0: no valid sample yet (the host's time).
    pub synced: c_int,
    /// The server's leap indicator at the last valid sample (0..3).
    pub leap: c_int,
    /// The server's time now, UTC, since the Unix epoch.
    pub time: libc::timespec,
    /// The same instant as a 64-bit NTP timestamp (seconds since 1900 in the
    /// high 32 bits, era wrapped; the fraction in the low 32).
    pub ntp: u64,
    /// Seconds: |time - the server's true time| is at most this (infinity
    /// while `synced` is 0).
    pub error_bound: f64,
}

/// `prossntp_interval.status`: no valid sample yet; nothing is known.
pub const PROSSNTP_TIME_UNSYNCHRONISED: i32 = 0;
/// Samples come as scheduled: the true time lies in [earliest, latest].
pub const PROSSNTP_TIME_SYNCHRONISED: i32 = 1;
/// Samples are overdue (no valid reply for twice the poll interval): the
/// true time still lies in [earliest, latest], which widens by at least the
/// drift floor (`prossntp_set_drift_floor`) each second.
pub const PROSSNTP_TIME_HOLDOVER: i32 = 2;
/// Something happened that the library cannot bound (the host was
/// suspended, the raw clock jumped, the server stepped): nothing is known
/// until a valid sample anchors the clock again (the client samples at once).
pub const PROSSNTP_TIME_DISRUPTED: i32 = 3;

/// The smallest `size` `prossntp_now` and `prossntp_wait_bound` accept: the
/// struct's size in its first version.
pub const PROSSNTP_INTERVAL_MIN_SIZE: usize = 136;

/// The server's time as an interval that holds the true time: filled by
/// `prossntp_now` and `prossntp_wait_bound`.
///
/// Set `size` to `sizeof(struct prossntp_interval)` before the call: the
/// library fills that many bytes at most and sets `size` to the number it
/// filled. While `status` is `PROSSNTP_TIME_UNSYNCHRONISED` or
/// `PROSSNTP_TIME_DISRUPTED`, `earliest` is the epoch and `latest` the
/// largest time a `struct timespec` holds (nothing is known), `time` is the
/// best guess there is and `error_bound` is infinite.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct prossntp_interval {
    /// In: the caller's `sizeof(struct prossntp_interval)`. Out: bytes filled.
    pub size: usize,
    /// `PROSSNTP_TIME_*`.
    pub status: c_int,
    /// The server's leap indicator at the last valid sample (0..3).
    pub leap: c_int,
    /// UTC, since the Unix epoch: the server's true time now is no earlier
    /// than `earliest` and no later than `latest`.
    pub earliest: libc::timespec,
    pub latest: libc::timespec,
    /// The estimate (their midpoint; `prossntp_gettime`'s time).
    pub time: libc::timespec,
    /// Seconds: half the interval's width.
    pub error_bound: f64,
    /// The same interval in TAI (`earliest` + `tai_offset`), when the offset
    /// is known; else equal to `earliest` and `latest`.
    pub earliest_tai: libc::timespec,
    pub latest_tai: libc::timespec,
    /// TAI - UTC, seconds, from the system's leap-second list
    /// (`/usr/share/zoneinfo/leap-seconds.list`, while it has not expired);
    /// 0: not known.
    pub tai_offset: c_int,
    /// The server's time (UTC) at the last valid sample; zero before one.
    pub last_sample: libc::timespec,
    /// Seconds since the last valid sample (infinity before one).
    pub last_sample_age: f64,
}

const _: () = assert!(PROSSNTP_REJECT_COUNT as usize == Reject::COUNT && Reject::COUNT <= PROSSNTP_REJECT_SLOTS);

#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(prossntp_stats, backend) == 16);
    assert!(offset_of!(prossntp_stats, server) == 32);
    assert!(offset_of!(prossntp_stats, stratum) == 96);
    assert!(offset_of!(prossntp_stats, poll_interval) == 112);
    assert!(offset_of!(prossntp_stats, requests) == 184);
    assert!(offset_of!(prossntp_stats, rejected) == 208);
    assert!(offset_of!(prossntp_stats, last_errno) == 368);
    assert!(offset_of!(prossntp_stats, last_error_age) == 496);
    assert!(offset_of!(prossntp_stats, role) == 504);
    assert!(offset_of!(prossntp_stats, role_detail) == 528);
    assert!(offset_of!(prossntp_stats, own_clock_steps) == 656);
    assert!(offset_of!(prossntp_stats, auth) == 664);
    assert!(offset_of!(prossntp_stats, key_type) == 672);
    assert!(offset_of!(prossntp_stats, nts_state) == 680);
    assert!(offset_of!(prossntp_stats, nts_error) == 696);
    assert!(size_of::<prossntp_stats>() == 816);
    assert!(offset_of!(prossntp_nts_parms, ke_port) == 24);
    assert!(size_of::<prossntp_nts_parms>() == 32);
    assert!(offset_of!(prossntp_key_parms, r#type) == 16);
    assert!(size_of::<prossntp_key_parms>() == 40);
    assert!(offset_of!(prossntp_time, synced) == 8);
    assert!(offset_of!(prossntp_time, time) == 16);
    assert!(offset_of!(prossntp_time, ntp) == 32);
    assert!(offset_of!(prossntp_time, error_bound) == 40);
    assert!(size_of::<prossntp_time>() == PROSSNTP_TIME_MIN_SIZE);
    assert!(offset_of!(prossntp_interval, status) == 8);
    assert!(offset_of!(prossntp_interval, earliest) == 16);
    assert!(offset_of!(prossntp_interval, latest) == 32);
    assert!(offset_of!(prossntp_interval, time) == 48);
    assert!(offset_of!(prossntp_interval, error_bound) == 64);
    assert!(offset_of!(prossntp_interval, earliest_tai) == 72);
    assert!(offset_of!(prossntp_interval, latest_tai) == 88);
    assert!(offset_of!(prossntp_interval, tai_offset) == 104);
    assert!(offset_of!(prossntp_interval, last_sample) == 112);
    assert!(offset_of!(prossntp_interval, last_sample_age) == 128);
    assert!(size_of::<prossntp_interval>() == PROSSNTP_INTERVAL_MIN_SIZE);
};
