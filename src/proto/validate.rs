//! Which replies may be used (RFC 4330 section 5, RFC 5905 client rules),
//! kiss-o'-death codes, and the offset and delay of a valid reply.

use super::packet::{Packet, LEAP_UNSYNCHRONIZED, MODE_SERVER};
use super::timestamp::{NtpDuration, NtpTimestamp};

/// When this library was built (Unix seconds): no true time is earlier.
pub fn build_time() -> NtpTimestamp {
    let secs: i64 = env!("PROSSNTP_BUILD_UNIX").parse().unwrap_or(0);
    NtpTimestamp::from_unix(secs, 0)
}

/// Whether `t` can be a true time: from the build date up to 68 years after
/// it, the range in which its era is unambiguous.
pub fn plausible(t: NtpTimestamp) -> bool {
    t.since(build_time()).0 >= 0
}

/// Replies whose root distance (root delay / 2 + root dispersion, then again
/// with our own delay / 2 added) is this large or larger are rejected: RFC
/// 5905's MAXDIST, 1.5 s.
pub const MAX_ROOT_DISTANCE_SECS: f64 = 1.5;

/// Why a reply was not used. Each has a counter in the statistics.
/// The discriminants are the statistics' `PROSSNTP_REJECT_*` indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not from the configured server address and port.
    WrongSource = 0,
    /// Shorter than an NTP header.
    Truncated = 1,
    /// Mode is not 4 (server).
    NotServerMode = 2,
    /// Version differs from the request's.
    WrongVersion = 3,
    /// Origin timestamp is not the nonce of the outstanding request.
    BadOrigin = 4,
    /// Stratum 0 without a known kiss code, or LI = 3: the server has no time.
    Unsynchronized = 5,
    /// Stratum above 15.
    BadStratum = 6,
    /// Receive or transmit timestamp zero.
    ZeroTimestamp = 7,
    /// The server's time is before this library was built, or so far after
    /// it (68 years or more) that its NTP era cannot be told.
    ImplausibleTime = 8,
    /// Root delay / 2 + root dispersion not under the limit.
    RootDistance = 9,
    /// Round-trip delay below zero.
    NegativeDelay = 10,
    /// The client authenticates its server, and the reply carries no MAC
    /// (or a crypto-NAK: the server lacks the key).
    AuthMissing = 11,
    /// A MAC under another key ID.
    AuthWrongKey = 12,
    /// A MAC that does not verify, or a malformed trailer.
    AuthBadMac = 13,
    /// The client uses NTS, and the reply has no authenticator or not this
    /// request's unique identifier (or no key exchange has succeeded yet).
    NtsMissing = 14,
    /// An NTS authenticator that does not verify, or malformed extension fields.
    NtsBad = 15,
}

impl Reject {
    /// How many reasons there are.
    pub const COUNT: usize = 16;
    /// Every reason, in index order.
    pub const ALL: [Reject; Reject::COUNT] = [
        Reject::WrongSource,
        Reject::Truncated,
        Reject::NotServerMode,
        Reject::WrongVersion,
        Reject::BadOrigin,
        Reject::Unsynchronized,
        Reject::BadStratum,
        Reject::ZeroTimestamp,
        Reject::ImplausibleTime,
        Reject::RootDistance,
        Reject::NegativeDelay,
        Reject::AuthMissing,
        Reject::AuthWrongKey,
        Reject::AuthBadMac,
        Reject::NtsMissing,
        Reject::NtsBad,
    ];

    /// Its index in the statistics' per-reason counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short description, as `prossntp_reject_text` gives it.
    pub fn text(self) -> &'static str {
        match self {
            Reject::WrongSource => "not from the configured server",
            Reject::Truncated => "shorter than an NTP header",
            Reject::NotServerMode => "not a server reply (mode)",
            Reject::WrongVersion => "wrong NTP version",
            Reject::BadOrigin => "origin is not the outstanding request (spoofed, late or duplicate)",
            Reject::Unsynchronized => "server unsynchronised (LI 3 or stratum 0)",
            Reject::BadStratum => "stratum above 15",
            Reject::ZeroTimestamp => "zero receive or transmit timestamp",
            Reject::ImplausibleTime => "server time before this library was built or too far ahead",
            Reject::RootDistance => "root distance too large",
            Reject::NegativeDelay => "negative round-trip delay",
            Reject::AuthMissing => "not authenticated (no MAC, or a crypto-NAK: the server lacks the key)",
            Reject::AuthWrongKey => "MAC under another key ID",
            Reject::AuthBadMac => "MAC does not verify (wrong key, altered or truncated)",
            Reject::NtsMissing => {
                "not authenticated by NTS (no authenticator, or not this request's unique identifier)"
            }
            Reject::NtsBad => "NTS authenticator does not verify, or malformed extension fields",
        }
    }
}

/// A kiss-o'-death code a client must obey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kiss {
    /// Poll less often.
    Rate,
    /// Access denied: stop querying this server.
    Deny,
    /// Access restricted: stop querying this server.
    Rstr,
    /// NTS NAK (RFC 8915): the server cannot use the cookie; a new key
    /// exchange is needed. Only a client using NTS takes it, and only with
    /// its request's unique identifier.
    NtsNak,
}

/// A measurement from one valid reply (T1..T4 as in RFC 4330).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Server time minus local time.
    pub offset: NtpDuration,
    /// Round-trip delay, excluding the server's processing time.
    pub delay: NtpDuration,
    pub stratum: u8,
    pub leap: u8,
    pub reference_id: [u8; 4],
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    /// Local receive time of the reply (T4).
    pub t4: NtpTimestamp,
}

impl Sample {
    /// Root delay / 2 + root dispersion of the server, plus our own delay / 2.
    pub fn root_distance(&self) -> NtpDuration {
        let sum = (self.root_delay.0 as i128 + self.delay.0 as i128) / 2 + self.root_dispersion.0 as i128;
        NtpDuration(sum.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
}

/// What a reply from the configured server amounts to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Valid(Sample),
    Kiss(Kiss),
    Rejected(Reject),
}

/// Judges `data`, received at local time `t4`, as the answer to the request
/// whose transmit timestamp was `nonce` and which left at local time `t1`.
pub fn judge(data: &[u8], nonce: NtpTimestamp, t1: NtpTimestamp, t4: NtpTimestamp) -> Verdict {
    use Verdict::Rejected;
    let Some(p) = Packet::parse(data) else { return Rejected(Reject::Truncated) };
    if p.mode != MODE_SERVER {
        return Rejected(Reject::NotServerMode);
    }
    if p.version != super::packet::NTP_VERSION {
        return Rejected(Reject::WrongVersion);
    }
    if p.origin_ts != nonce || nonce.is_zero() {
        return Rejected(Reject::BadOrigin);
    }
    if p.stratum == 0 {
        return match &p.reference_id {
            b"RATE" => Verdict::Kiss(Kiss::Rate),
            b"DENY" => Verdict::Kiss(Kiss::Deny),
            b"RSTR" => Verdict::Kiss(Kiss::Rstr),
            _ => Rejected(Reject::Unsynchronized),
        };
    }
    if p.leap == LEAP_UNSYNCHRONIZED {
        return Rejected(Reject::Unsynchronized);
    }
    if p.stratum > 15 {
        return Rejected(Reject::BadStratum);
    }
    if p.receive_ts.is_zero() || p.transmit_ts.is_zero() {
        return Rejected(Reject::ZeroTimestamp);
    }
    if !plausible(p.receive_ts) || !plausible(p.transmit_ts) {
        return Rejected(Reject::ImplausibleTime);
    }
    let root_delay = p.root_delay.to_duration();
    let root_dispersion = p.root_dispersion.to_duration();
    if p.root_delay.as_seconds() / 2.0 + p.root_dispersion.as_seconds() >= MAX_ROOT_DISTANCE_SECS {
        return Rejected(Reject::RootDistance);
    }
    let (t2, t3) = (p.receive_ts, p.transmit_ts);
    let offset = NtpDuration::midpoint(t2.since(t1), t3.since(t4));
    let delay = NtpDuration::saturating_sub(t4.since(t1), t3.since(t2));
    if delay.0 < 0 {
        return Rejected(Reject::NegativeDelay);
    }
    // RFC 5905's root distance counts our own delay too: a reply whose
    // timestamps claim a round trip of years is not a time source.
    if delay.as_seconds() / 2.0 + p.root_delay.as_seconds() / 2.0 + p.root_dispersion.as_seconds()
        >= MAX_ROOT_DISTANCE_SECS
    {
        return Rejected(Reject::RootDistance);
    }
    Verdict::Valid(Sample {
        offset,
        delay,
        stratum: p.stratum,
        leap: p.leap,
        reference_id: p.reference_id,
        root_delay,
        root_dispersion,
        t4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::timestamp::NtpShort;

    const NONCE: NtpTimestamp = NtpTimestamp(0xdead_beef_0bad_f00d);

    fn t(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_800_000_000, 0).plus(NtpDuration::from_seconds(s))
    }

    /// A good reply: the server is 0.5 s ahead, 10 ms each way, 1 ms inside.
    fn reply() -> Packet {
        Packet {
            stratum: 2,
            poll: 6,
            root_delay: NtpShort(0x0000_0100),
            root_dispersion: NtpShort(0x0000_0200),
            reference_id: [127, 0, 0, 1],
            reference_ts: t(-10.0),
            ..Packet::reply(NONCE, t(0.510), t(0.511))
        }
    }

    fn judge_packet(p: Packet) -> Verdict {
        judge(&p.encode(), NONCE, t(0.0), t(0.021))
    }

    #[test]
    fn offset_and_delay_of_a_good_reply() {
        let Verdict::Valid(s) = judge_packet(reply()) else { panic!() };
        assert!((s.offset.as_seconds() - 0.5).abs() < 1e-9, "{}", s.offset.as_seconds());
        assert!((s.delay.as_seconds() - 0.020).abs() < 1e-9);
        assert_eq!(s.stratum, 2);
    }

    #[test]
    fn every_rule_rejects() {
        let cases: Vec<(Packet, Verdict)> = vec![
            (Packet { mode: 3, ..reply() }, Verdict::Rejected(Reject::NotServerMode)),
            (Packet { mode: 5, ..reply() }, Verdict::Rejected(Reject::NotServerMode)),
            (Packet { version: 3, ..reply() }, Verdict::Rejected(Reject::WrongVersion)),
            (Packet { origin_ts: NtpTimestamp(1), ..reply() }, Verdict::Rejected(Reject::BadOrigin)),
            (Packet { leap: 3, ..reply() }, Verdict::Rejected(Reject::Unsynchronized)),
            (Packet { stratum: 0, reference_id: *b"INIT", ..reply() }, Verdict::Rejected(Reject::Unsynchronized)),
            (Packet { stratum: 16, ..reply() }, Verdict::Rejected(Reject::BadStratum)),
            (Packet { stratum: 255, ..reply() }, Verdict::Rejected(Reject::BadStratum)),
            (Packet { receive_ts: NtpTimestamp::ZERO, ..reply() }, Verdict::Rejected(Reject::ZeroTimestamp)),
            (Packet { transmit_ts: NtpTimestamp::ZERO, ..reply() }, Verdict::Rejected(Reject::ZeroTimestamp)),
            (Packet { root_dispersion: NtpShort(0x0001_8000), ..reply() }, Verdict::Rejected(Reject::RootDistance)),
            (Packet { root_delay: NtpShort(0x0003_0000), ..reply() }, Verdict::Rejected(Reject::RootDistance)),
            // The server claims to have held the request longer than the round trip.
            (Packet { transmit_ts: t(0.600), ..reply() }, Verdict::Rejected(Reject::NegativeDelay)),
            (Packet { stratum: 0, reference_id: *b"RATE", ..reply() }, Verdict::Kiss(Kiss::Rate)),
            (Packet { stratum: 0, reference_id: *b"DENY", ..reply() }, Verdict::Kiss(Kiss::Deny)),
            (Packet { stratum: 0, reference_id: *b"RSTR", ..reply() }, Verdict::Kiss(Kiss::Rstr)),
        ];
        for (p, want) in cases {
            assert_eq!(judge_packet(p), want, "{p:?}");
        }
        assert_eq!(judge(&reply().encode()[..47], NONCE, t(0.0), t(0.021)), Verdict::Rejected(Reject::Truncated));
    }

    #[test]
    fn reject_reasons_are_listed_in_index_order() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn a_reply_claiming_a_round_trip_of_decades_is_rejected() {
        // Transmit 68 years before receive: the delay saturates, found by fuzzing.
        let build = build_time();
        let p = Packet {
            receive_ts: build.plus(NtpDuration(i64::MAX)),
            transmit_ts: build,
            root_delay: NtpShort(0x0001_0000),
            ..reply()
        };
        assert_eq!(judge(&p.encode(), NONCE, t(0.0), t(0.021)), Verdict::Rejected(Reject::RootDistance));
        let far = Sample {
            offset: NtpDuration::ZERO,
            delay: NtpDuration(i64::MAX),
            stratum: 1,
            leap: 0,
            reference_id: [0; 4],
            root_delay: NtpDuration(i64::MAX),
            root_dispersion: NtpDuration(i64::MAX),
            t4: NtpTimestamp(1),
        };
        assert_eq!(far.root_distance(), NtpDuration(i64::MAX), "saturates, never overflows");
    }

    #[test]
    fn a_kiss_needs_the_right_origin() {
        let kod = Packet { stratum: 0, reference_id: *b"DENY", origin_ts: NtpTimestamp(7), ..reply() };
        assert_eq!(judge_packet(kod), Verdict::Rejected(Reject::BadOrigin));
    }

    #[test]
    fn zero_nonce_never_matches() {
        let p = Packet { origin_ts: NtpTimestamp::ZERO, ..reply() };
        assert_eq!(judge(&p.encode(), NtpTimestamp::ZERO, t(0.0), t(0.021)), Verdict::Rejected(Reject::BadOrigin));
    }

    #[test]
    fn times_before_the_build_date_or_beyond_its_era_are_rejected() {
        let build = build_time();
        let before = build.plus(NtpDuration::from_seconds(-86_400.0));
        let p = Packet { receive_ts: before, transmit_ts: before, ..reply() };
        assert_eq!(judge_packet(p), Verdict::Rejected(Reject::ImplausibleTime), "before the build date");
        let year = NtpDuration::from_seconds(365.25 * 86_400.0);
        let far = (0..69).fold(build, |t, _| t.plus(year));
        let p = Packet { receive_ts: far, transmit_ts: far, ..reply() };
        assert_eq!(judge_packet(p), Verdict::Rejected(Reject::ImplausibleTime), "69 years on: era unknowable");
        // Decades ahead but within the era: a valid reply (the discipline's step
        // rules decide what to do with it), measured exactly.
        let ahead = t(0.5).plus(NtpDuration::from_seconds(30.0 * 365.25 * 86_400.0));
        let p = Packet { receive_ts: ahead, transmit_ts: ahead, ..reply() };
        let Verdict::Valid(s) = judge(&p.encode(), NONCE, t(0.0), t(0.0)) else { panic!() };
        assert!((s.offset.as_seconds() - (0.5 + 30.0 * 365.25 * 86_400.0)).abs() < 1e-6);
    }

    #[test]
    fn offset_is_right_on_both_sides_of_the_2036_era_boundary() {
        let boundary = NtpTimestamp(0); // 2036-02-07T06:28:16Z, era 1 starts
        for (local, server) in [(-2.0, 1.0), (1.0, -2.0), (-0.5, -0.25), (0.25, 0.75)] {
            let t1 = boundary.plus(NtpDuration::from_seconds(local));
            let ts = boundary.plus(NtpDuration::from_seconds(server));
            let p = Packet { receive_ts: ts, transmit_ts: ts, ..reply() };
            let Verdict::Valid(s) = judge(&p.encode(), NONCE, t1, t1) else { panic!("{local} {server}") };
            assert!((s.offset.as_seconds() - (server - local)).abs() < 1e-6, "{local} {server}");
        }
    }

    #[test]
    fn offset_is_right_when_the_server_is_in_the_next_era() {
        // Local clock just before the 2036 rollover, server 3 s later (era 1).
        let t1 = NtpTimestamp(((u32::MAX as u64) << 32) | 0x8000_0000);
        let t4 = t1.plus(NtpDuration::from_seconds(0.002));
        let p = Packet {
            receive_ts: t1.plus(NtpDuration::from_seconds(3.001)),
            transmit_ts: t1.plus(NtpDuration::from_seconds(3.001)),
            ..reply()
        };
        assert!(p.receive_ts.0 >> 32 < 5, "server timestamp is in era 1");
        let Verdict::Valid(s) = judge(&p.encode(), NONCE, t1, t4) else { panic!() };
        assert!((s.offset.as_seconds() - 3.0).abs() < 1e-6);
        assert!((s.delay.as_seconds() - 0.002).abs() < 1e-6);
    }
}
