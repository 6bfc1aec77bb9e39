//! The fuzz checks, in one place. The cargo-fuzz targets (`fuzz/fuzz_targets/`)
//! include this file with `#[path]`, and `tests/fuzz_replay.rs` runs every
//! input in `fuzz/corpus/<target>/` through it on stable `cargo test`.
//!
//! Each check decodes its input by hand (no `arbitrary`, so the main crate
//! needs no extra dev-dependency; missing bytes read as zero, so every input is
//! valid) and panics when an invariant breaks:
//!
//! - [`reply`]: `Packet::parse`/`encode` and `validate::judge`;
//! - [`client`]: an op sequence driving one `Client`;
//! - [`discipline`]: a sample sequence from up to four sources into `Steering::sample`;
//! - [`mac`]: symmetric-key MACs (`proto::auth`): trailers parsed and checked;
//! - [`nts_ke`]: NTS key-exchange responses (`proto::nts_ke::parse_response`);
//! - [`nts`]: NTS extension fields of replies (`proto::nts::NtsSession::verify`).
//!
//! This is a directory module so that Cargo does not build it as a test target
//! of its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use prossntp::discipline::{
    ClockAction, Correction, Decision, Role, SourceId, Steering, SyncReport, Tracker, FIRST_BACKWARD_LIMIT_SECS,
    FIRST_SYNC_STEP_THRESHOLD_SECS, MAX_FREQ_PPM, PANIC_BOUND_SECS, STEP_AGREEMENT, STEP_THRESHOLD_SECS,
};
use prossntp::proto::auth::{AuthError, KeyType, SymmetricKey};
use prossntp::proto::client::{Client, Config, Output, Steered};
use prossntp::proto::nts::{server_reply, NtsSession};
use prossntp::proto::nts_ke::{parse_response, MAX_COOKIES, MAX_COOKIE_LEN};
use prossntp::proto::packet::{Packet, HEADER_LEN, MODE_CLIENT, MODE_SERVER, NTP_VERSION};
use prossntp::proto::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use prossntp::proto::validate::{build_time, judge, plausible, Kiss, Reject, Sample, Verdict, MAX_ROOT_DISTANCE_SECS};

/// Slack for bounds compared after a round trip through 32.32 fixed point.
const EPS: f64 = 1e-9;

/// Reads big-endian integers off the front of the input; zero once it runs out.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Up to `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let head = self.take(N);
        a[..head.len()].copy_from_slice(head);
        a
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }
    fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }
}

// ---------------------------------------------------------------------------
// reply: Packet::parse / encode and validate::judge
// ---------------------------------------------------------------------------

/// Input: `flags` (1 byte), then three u64 (nonce, t1, t4), then the datagram.
/// Flag 8 reads the datagram's receive and transmit timestamps as offsets from
/// the build date (rewriting them before judging), so that the plausibility
/// edges are reachable whatever the build date; flag 16 likewise puts t1 at
/// the build date plus the t1 word, and t4 after t1 by the low 32 bits of the
/// t4 word (signed). Flag 1 takes the nonce from the datagram's origin (so the
/// later rules are reached); flag 2 puts t1 just before the datagram's receive
/// timestamp and flag 4 puts t4 just after its transmit timestamp (small signed
/// gaps from the t1/t4 words), so that delays near zero of both signs are common.
pub fn reply(data: &[u8]) {
    let mut b = Bytes(data);
    let flags = b.u8();
    let (nonce_raw, t1_raw, t4_raw) = (b.u64(), b.u64(), b.u64());
    let input = b.rest();
    check_parse(input);
    let mut owned = input.to_vec();
    if flags & 8 != 0 && owned.len() >= HEADER_LEN {
        for at in [32, 40] {
            let offset = u64::from_be_bytes(owned[at..at + 8].try_into().expect("8 bytes"));
            owned[at..at + 8].copy_from_slice(&build_time().plus(NtpDuration(offset as i64)).0.to_be_bytes());
        }
    }
    let datagram = &owned[..];
    let parsed = Packet::parse(datagram);
    let nonce = match parsed {
        Some(p) if flags & 1 != 0 => p.origin_ts,
        _ => NtpTimestamp(nonce_raw),
    };
    let t1 = match parsed {
        Some(p) if flags & 2 != 0 => p.receive_ts.plus(NtpDuration(-((t1_raw as i32) as i64))),
        _ if flags & 16 != 0 => build_time().plus(NtpDuration(t1_raw as i64)),
        _ => NtpTimestamp(t1_raw),
    };
    let t4 = match parsed {
        Some(p) if flags & 4 != 0 => p.transmit_ts.plus(NtpDuration((t4_raw as i32) as i64)),
        _ if flags & 16 != 0 => t1.plus(NtpDuration((t4_raw as i32) as i64)),
        _ => NtpTimestamp(t4_raw),
    };
    let verdict = judge(datagram, nonce, t1, t4);
    check_verdict(datagram, nonce, t1, t4, &verdict);
}

/// `parse` fails exactly on short input, reads the first 48 bytes losslessly,
/// and `parse(encode(p)) == p`.
fn check_parse(datagram: &[u8]) -> Option<Packet> {
    let parsed = Packet::parse(datagram);
    match parsed {
        None => assert!(datagram.len() < HEADER_LEN, "parse refused {} bytes", datagram.len()),
        Some(p) => {
            assert!(datagram.len() >= HEADER_LEN);
            let encoded = p.encode();
            assert_eq!(Packet::parse(&encoded), Some(p), "parse(encode(p)) != p");
            assert_eq!(encoded[..], datagram[..HEADER_LEN], "encode(parse(d)) differs from the header bytes");
        }
    }
    parsed
}

/// What `judge(datagram, nonce, t1, t4)` may answer (README: "A reply is used
/// only if ..." and "Kiss-o'-death").
fn check_verdict(datagram: &[u8], nonce: NtpTimestamp, t1: NtpTimestamp, t4: NtpTimestamp, verdict: &Verdict) {
    let parsed = Packet::parse(datagram);
    let p = match (verdict, parsed) {
        (Verdict::Rejected(Reject::Truncated), p) => {
            assert!(p.is_none(), "Truncated for a parseable datagram");
            return;
        }
        (_, None) => panic!("{verdict:?} for a datagram of {} bytes", datagram.len()),
        (_, Some(p)) => p,
    };
    match *verdict {
        Verdict::Valid(s) => {
            assert!(!nonce.is_zero(), "Valid for a zero nonce");
            assert_eq!(p.origin_ts, nonce, "Valid with origin != nonce");
            assert_eq!((p.mode, p.version), (MODE_SERVER, NTP_VERSION), "Valid with wrong mode/version");
            assert!((1..=15).contains(&p.stratum), "Valid with stratum {}", p.stratum);
            assert_ne!(p.leap, 3, "Valid with LI 3");
            assert!(!p.receive_ts.is_zero() && !p.transmit_ts.is_zero(), "Valid with a zero timestamp");
            assert!(plausible(p.receive_ts) && plausible(p.transmit_ts), "Valid with an implausible time");
            let root = p.root_delay.as_seconds() / 2.0 + p.root_dispersion.as_seconds();
            assert!(root < MAX_ROOT_DISTANCE_SECS, "Valid with root distance {root}");
            assert!(s.delay.0 >= 0, "Valid with delay {:?}", s.delay);
            // Used for the kernel's maxerror with every adjustment.
            assert!(s.root_distance().0 >= 0, "Valid with root distance {:?}", s.root_distance());
            assert_eq!((s.stratum, s.leap, s.reference_id, s.t4), (p.stratum, p.leap, p.reference_id, t4));
            assert_eq!(
                (s.root_delay, s.root_dispersion),
                (p.root_delay.to_duration(), p.root_dispersion.to_duration())
            );
            // RFC 4330: offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2),
            // in wide arithmetic: equal unless the i64 delay saturated.
            let (d21, d34) = (p.receive_ts.since(t1).0 as i128, p.transmit_ts.since(t4).0 as i128);
            assert_eq!(s.offset.0 as i128, (d21 + d34) / 2, "offset");
            let delay = t4.since(t1).0 as i128 - p.transmit_ts.since(p.receive_ts).0 as i128;
            assert_eq!(s.delay.0 as i128, delay.min(i64::MAX as i128), "delay");
        }
        Verdict::Kiss(k) => {
            assert!(!nonce.is_zero() && p.origin_ts == nonce, "a kiss with the wrong origin was obeyed");
            assert_eq!((p.mode, p.version, p.stratum), (MODE_SERVER, NTP_VERSION, 0));
            let code: &[u8; 4] = match k {
                Kiss::Rate => b"RATE",
                Kiss::Deny => b"DENY",
                Kiss::Rstr => b"RSTR",
                Kiss::NtsNak => b"NTSN",
            };
            assert_eq!(&p.reference_id, code);
        }
        Verdict::Rejected(_) => {}
    }
}

// ---------------------------------------------------------------------------
// client: one Client driven by an op sequence
// ---------------------------------------------------------------------------

const SERVERS: [SocketAddr; 4] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 123),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 10123),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 123),
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 123, 0, 2)),
];

/// Senders other than the configured server: another port, another address,
/// the IPv4-mapped form, a neighbour.
fn other_sender(server: SocketAddr, which: u8) -> SocketAddr {
    match which % 4 {
        0 => SocketAddr::new(server.ip(), server.port().wrapping_add(1)),
        1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), server.port()),
        2 => match server.ip() {
            IpAddr::V4(a) => SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), server.port()),
            IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)), server.port()),
        },
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 123),
    }
}

/// A delay in ms as the C API allows it (1 ..= u32::MAX): mostly small.
fn delay_ms(x: u16) -> u64 {
    match x {
        0 => 1,
        0xffff => u32::MAX as u64,
        _ => x as u64,
    }
}

/// The request the client emitted last, as seen on the wire.
#[derive(Clone, Copy, Debug)]
struct Request {
    nonce: NtpTimestamp,
    /// The send time reported with `on_sent`.
    t1: Option<NtpTimestamp>,
    /// A valid reply or a kiss already used this request's nonce.
    consumed: bool,
}

struct Model {
    client: Client<Tracker>,
    now: Duration,
    /// Local wall time at monotonic time zero (the local clock is never
    /// stepped here: the client only asks for adjustments).
    wall0: NtpTimestamp,
    config: Option<Config>,
    stopped: bool,
    synced: bool,
    last: Option<Request>,
    /// An `Output::Steer` not yet answered with `on_steered`.
    adjusting: bool,
}

impl Model {
    fn wall(&self) -> NtpTimestamp {
        self.wall0.plus(NtpDuration::from_duration(self.now))
    }

    /// Advances the monotonic time (never backwards): kind 0 stays, 1 and 2
    /// move on by up to 65 s / 49 days, 3 goes to the client's deadline.
    fn advance(&mut self, b: &mut Bytes) {
        let step = match b.u8() % 4 {
            0 => Duration::ZERO,
            1 => Duration::from_millis(b.u16() as u64),
            2 => Duration::from_millis(b.u32() as u64),
            _ => self.client.deadline().map_or(Duration::ZERO, |d| d.saturating_sub(self.now)),
        };
        self.now = self.now.saturating_add(step);
    }

    fn sent_by_server(&self, from: SocketAddr) -> bool {
        self.config.is_some_and(|c| c.server.ip() == from.ip() && c.server.port() == from.port())
    }

    /// Takes every output and checks it against the model.
    fn drain(&mut self, in_timeout: bool) {
        while let Some(out) = self.client.poll_output() {
            match out {
                Output::Send(bytes) => {
                    assert!(in_timeout, "a request outside handle_timeout");
                    assert!(!self.stopped, "a request while stopped");
                    let p = Packet::parse(&bytes).expect("a request is a full header");
                    assert_eq!((p.mode, p.version), (MODE_CLIENT, NTP_VERSION));
                    assert!(bytes[1..40].iter().all(|&x| x == 0), "a request discloses more than its nonce");
                    assert!(!p.transmit_ts.is_zero(), "a zero nonce");
                    self.last = Some(Request { nonce: p.transmit_ts, t1: None, consumed: false });
                }
                Output::Steer(sample) => {
                    assert!(self.config.is_some_and(|c| c.steering), "a sample for the clock while measuring only");
                    assert!(!self.adjusting, "a second sample before the first was answered");
                    assert!(sample.delay.0 >= 0 && sample.root_distance().as_seconds() < MAX_ROOT_DISTANCE_SECS);
                    self.adjusting = true;
                }
                Output::Unreachable => {
                    assert!(self.config.is_some_and(|c| c.steering), "unreachable reported while measuring only");
                }
                Output::SyncChanged(s) => {
                    assert_ne!(s, self.synced, "SyncChanged without a change");
                    self.synced = s;
                }
                Output::Stopped(_) => {
                    assert!(!self.stopped, "stopped twice");
                    self.stopped = true;
                }
                Output::NeedKeys => panic!("NTS keys asked for by a client without NTS"),
            }
        }
        assert_eq!(self.client.synced(), self.synced);
        assert_eq!(self.client.stopped().is_some(), self.stopped);
        match (self.config, self.stopped) {
            (None, _) | (_, true) => assert_eq!(self.client.deadline(), None, "a deadline while idle or stopped"),
            (Some(_), false) => assert!(self.client.deadline().is_some(), "a running client with no deadline"),
        }
        let d = self.client.tracker();
        assert!(
            d.frequency_error_ppm().is_finite() && d.jitter().is_finite() && d.last_offset().is_finite(),
            "tracker state {} ppm {} s",
            d.frequency_error_ppm(),
            d.jitter()
        );
    }

    fn configure(&mut self, b: &mut Bytes) {
        let server = SERVERS[(b.u8() % 4) as usize];
        let (x, y) = (delay_ms(b.u16()), delay_ms(b.u16()));
        let flags = b.u8();
        // As the C API insists: 1 <= no_reply <= had_reply.
        let config = Config {
            server,
            no_reply: Duration::from_millis(x.min(y)),
            had_reply: Duration::from_millis(x.max(y)),
            burst: flags & 1 != 0,
            steering: flags & 2 != 0,
        };
        self.client.configure(config, self.now);
        self.config = Some(config);
        self.stopped = false;
        assert_eq!(self.client.deadline(), Some(self.now), "the first request is not due at once");
    }

    fn timeout(&mut self, b: &mut Bytes) {
        self.advance(b);
        let nonce = b.u64();
        self.client.handle_timeout(self.now, nonce);
        // No busy loop: what is due now has been done.
        if let Some(d) = self.client.deadline() {
            assert!(d > self.now, "deadline {d:?} not after handle_timeout({:?})", self.now);
        }
    }

    fn sent(&mut self, b: &mut Bytes) {
        // The send time: the local wall time give or take up to 32 ms.
        let t1 = self.wall().plus(NtpDuration((b.u16() as i16 as i64) << 16));
        self.client.on_sent(t1);
        if let Some(r) = self.last.as_mut() {
            r.t1 = Some(t1);
        }
    }

    fn datagram(&mut self, b: &mut Bytes) {
        let sel = b.u8();
        let server = self.config.map_or(SERVERS[0], |c| c.server);
        let from = if sel & 3 == 0 {
            other_sender(server, sel >> 2)
        } else if sel & 3 == 1 {
            // The same peer with another IPv6 scope id (ignored by design).
            match server {
                SocketAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, a.scope_id() + 1)),
                a => a,
            }
        } else {
            server
        };
        self.advance(b);
        // (A pending slew once travelled with the datagram; its bytes are
        // still read so that the corpus keeps its meaning.)
        match b.u8() % 4 {
            0 | 1 => {}
            2 => drop(b.u32()),
            _ => drop(b.u64()),
        }
        let flags = b.u16();
        let len_sel = b.u8();
        let mut d: [u8; HEADER_LEN] = b.array();
        let request = self.last.unwrap_or(Request { nonce: NtpTimestamp::ZERO, t1: None, consumed: false });
        let base_t1 = request.t1.unwrap_or_else(|| self.wall());
        if flags & 1 != 0 {
            d[0] = (d[0] & 0xc0) | (NTP_VERSION << 3) | MODE_SERVER;
        }
        if flags & 2 != 0 {
            d[1] = 1 + d[1] % 15;
        }
        if flags & 4 != 0 {
            // Root delay and dispersion under 1 s each: distance under 1.5 s.
            d[4] = 0;
            d[5] = 0;
            d[8] = 0;
            d[9] = 0;
        }
        if flags & 8 != 0 {
            d[24..32].copy_from_slice(&request.nonce.0.to_be_bytes());
        }
        if flags & 16 != 0 {
            // The server's times: t1 + up to +-128 s, held up to 4 ms.
            let t2 = base_t1.plus(NtpDuration((i32::from_be_bytes([d[32], d[33], d[34], d[35]]) as i64) << 8));
            let t3 = t2.plus(NtpDuration((u16::from_be_bytes([d[40], d[41]]) as i64) << 8));
            d[32..40].copy_from_slice(&t2.0.to_be_bytes());
            d[40..48].copy_from_slice(&t3.0.to_be_bytes());
        }
        if flags & 128 != 0 {
            // The server's times as offsets from the build date: the edges
            // of the plausible range, whatever the build date.
            for at in [32, 40] {
                let offset = u64::from_be_bytes(d[at..at + 8].try_into().expect("8 bytes"));
                d[at..at + 8].copy_from_slice(&build_time().plus(NtpDuration(offset as i64)).0.to_be_bytes());
            }
        }
        if flags & 32 != 0 {
            let code: &[u8; 4] = [b"RATE", b"DENY", b"RSTR"][(d[12] % 3) as usize];
            d[1] = 0;
            d[12..16].copy_from_slice(code);
        }
        let t4 = if flags & 64 != 0 {
            // Received when the server's hold time plus a small round trip after t1.
            let p = Packet::parse(&d).expect("48 bytes");
            base_t1.plus(p.transmit_ts.since(p.receive_ts)).plus(NtpDuration(((flags >> 8) as i64) << 20))
        } else {
            self.wall()
        };
        let mut datagram = d.to_vec();
        match len_sel {
            0..=199 => {}
            200..=229 => datagram.truncate((len_sel % 48) as usize),
            _ => datagram.resize(HEADER_LEN + (len_sel - 230) as usize * 4, 0xa5),
        }

        let was_stopped = self.stopped;
        let verdict = self.client.handle_packet(from, &datagram, t4, self.now);
        let ours = self.sent_by_server(from);
        if matches!(verdict, Verdict::Valid(_) | Verdict::Kiss(_)) {
            assert!(ours, "{verdict:?} for a datagram from {from}, not the server {:?}", self.config.map(|c| c.server));
            assert!(!was_stopped, "{verdict:?} while stopped");
            let r = self.last.as_mut().expect("a reply accepted before any request");
            let p = Packet::parse(&datagram).expect("accepted a short datagram");
            assert_eq!(p.origin_ts, r.nonce, "accepted a reply to another request than the last");
            assert!(!r.consumed, "a second reply accepted for nonce {:#x}", r.nonce.0);
            r.consumed = true;
            assert!(r.t1.is_some(), "a reply accepted before the send time was known");
        }
        if !ours {
            assert_eq!(verdict, Verdict::Rejected(Reject::WrongSource), "from {from}");
        } else if !was_stopped {
            check_verdict(&datagram, request.nonce, request.t1.unwrap_or(base_t1), t4, &verdict);
        }
    }

    /// What the clock's owner answers: an outcome for the last sample (if
    /// one is waiting), then a role.
    fn owner(&mut self, b: &mut Bytes) {
        let sel = b.u8();
        if self.adjusting {
            self.client.on_steered(steered(sel));
            self.adjusting = false;
        }
        self.client.set_role(ROLES[(sel >> 4) as usize % ROLES.len()]);
    }
}

const ROLES: [Role; 6] =
    [Role::Candidate, Role::Selected, Role::Combined, Role::Falseticker, Role::Measuring, Role::StandingDown];

fn steered(sel: u8) -> Steered {
    match sel % 7 {
        0 => Steered::Applied(Correction::Slew),
        1 => Steered::Applied(Correction::Step),
        2 => Steered::Held,
        3 => Steered::Refused(NtpDuration::from_seconds(2000.0)),
        4 => Steered::Failed(22), // EINVAL
        5 => Steered::ClockRefused,
        _ => Steered::NotSteering,
    }
}

/// Input: a u32 that places the local wall clock after the build date, then
/// ops, each one byte (`% 5`: configure, timeout, on_sent, datagram, the
/// clock owner's answer) followed by its operands.
pub fn client(data: &[u8]) {
    let mut b = Bytes(data);
    let wall0 = build_time().plus(NtpDuration::from_seconds(86_400.0)).plus(NtpDuration((b.u32() as i64) << 32));
    let mut m = Model {
        client: Client::new(),
        now: Duration::from_secs(1000),
        wall0,
        config: None,
        stopped: false,
        synced: false,
        last: None,
        adjusting: false,
    };
    m.drain(false);
    while !b.is_empty() {
        let op = b.u8() % 5;
        if m.adjusting && op != 4 {
            // The worker hands a sample to the owner as soon as it is asked
            // to and reports before anything else happens: answer it as applied.
            m.client.on_steered(Steered::Applied(Correction::Slew));
            m.adjusting = false;
            m.drain(false);
        }
        match op {
            0 => m.configure(&mut b),
            1 => m.timeout(&mut b),
            2 => m.sent(&mut b),
            3 => m.datagram(&mut b),
            _ => m.owner(&mut b),
        }
        m.drain(op == 1);
    }
}

// ---------------------------------------------------------------------------
// discipline: sample sequences into Steering::sample
// ---------------------------------------------------------------------------

/// A clock action and its report are finite and in range.
fn check_action(a: &ClockAction, r: &SyncReport) {
    assert!(a.freq_ppm.is_finite() && a.freq_ppm.abs() <= MAX_FREQ_PPM * (1.0 + 1e-12), "{a:?}");
    // NaN converts to 0 and infinity to i64::MAX: neither may appear.
    assert!((0..i64::MAX).contains(&r.max_error_us), "{r:?}");
    assert!((0..i64::MAX).contains(&r.est_error_us), "{r:?}");
    assert!(r.leap <= 2, "{r:?}");
}

/// Input: an initial frequency (i16, scaled to +-5000 ppm), then samples, each
/// a kind byte followed by its operands: time step, offset, delay, pending
/// slew. Bits 14-15 of the kind name the source (0-3; sources are added as
/// they first appear). With one source the single-server rules are checked
/// sample by sample; with several, what holds for any selection.
pub fn discipline(data: &[u8]) {
    let mut b = Bytes(data);
    let freq0 = b.u16() as i16 as f64 / 32768.0 * MAX_FREQ_PPM;
    let mut d = Steering::new(freq0);
    let mut ids = vec![d.add_source()];
    let mut now = Duration::from_secs(b.u16() as u64);
    let mut prev_offset = NtpDuration::ZERO;
    // What the single-source step rule depends on.
    let mut synced = false;
    let mut above_in_a_row = 0usize;
    while !b.is_empty() {
        let kind = b.u16();
        let step = match kind & 3 {
            0 => Duration::ZERO,
            1 => Duration::from_millis(b.u16() as u64),
            2 => Duration::from_millis(b.u32() as u64),
            _ => Duration::from_secs(b.u16() as u64 * 64),
        };
        now = now.saturating_add(step);
        let offset = match (kind >> 2) & 3 {
            0 => NtpDuration::from_nanos(b.u16() as i16 as i64 * 1000),
            1 => NtpDuration::from_nanos(b.u32() as i32 as i64 * 1000),
            2 => NtpDuration(b.u64() as i64),
            _ => NtpDuration(prev_offset.0.saturating_add((b.u16() as i16 as i64) << 12)),
        };
        prev_offset = offset;
        let delay = match (kind >> 4) & 3 {
            0 => NtpDuration::from_nanos(b.u16() as i64 * 1000),
            1 => NtpDuration::from_nanos(b.u32() as i64 * 1000),
            2 => NtpDuration((b.u64() >> 1) as i64),
            _ => NtpDuration::ZERO,
        };
        let pending = match (kind >> 6) & 3 {
            0 => NtpDuration::ZERO,
            1 => NtpDuration::from_nanos(b.u16() as i16 as i64 * 1000),
            2 => NtpDuration::from_nanos(b.u32() as i32 as i64 * 1000),
            _ => NtpDuration(b.u64() as i64),
        };
        let sample = Sample {
            offset,
            delay,
            stratum: 1 + (kind >> 8) as u8 % 15,
            leap: ((kind >> 12) & 3) as u8 % 3,
            reference_id: *b"FUZZ",
            root_delay: NtpShort(b.u16() as u32).to_duration(),
            root_dispersion: NtpShort(b.u16() as u32).to_duration(),
            t4: NtpTimestamp(1),
        };
        let which = (kind >> 14) as usize;
        while ids.len() <= which {
            ids.push(d.add_source());
        }
        let single = ids.len() == 1;

        // The discipline's own reading of the sample (the same expression:
        // the backend's pending slew and what a running spread has left).
        let residual = offset.as_seconds() - pending.as_seconds() - d.spread_left(now);
        let threshold = if synced { STEP_THRESHOLD_SECS } else { FIRST_SYNC_STEP_THRESHOLD_SECS };
        let above = residual.abs() > threshold;
        above_in_a_row = if above { above_in_a_row + 1 } else { 0 };

        let decision = d.sample(ids[which], now, &sample, pending);
        assert!(d.freq_ppm().is_finite(), "frequency {} ppm", d.freq_ppm());
        assert!(d.freq_ppm().abs() <= MAX_FREQ_PPM * (1.0 + 1e-12), "frequency {} ppm", d.freq_ppm());
        check_roles(&d, &ids);
        match decision {
            Decision::Apply(action, report) => {
                check_action(&action, &report);
                d.confirm();
                let s = action.offset.as_seconds();
                match action.correction {
                    Correction::Slew if single => {
                        // (A sample slow on one leg may read up to the
                        // threshold again beyond it without being a step
                        // vote; and agreeing votes whose line puts the offset
                        // now within the threshold are slewed by that.)
                        let corrected = s - pending.as_seconds();
                        assert!(
                            residual.abs() <= 2.0 * threshold || corrected.abs() <= threshold + EPS,
                            "slewed {corrected} s for {residual} s, above twice the {threshold} s threshold"
                        );
                        assert_eq!(report.leap, sample.leap);
                    }
                    Correction::Slew => {}
                    Correction::Step => {
                        if single {
                            assert!(above, "stepped for {residual} s, within the {threshold} s threshold");
                            assert!(above_in_a_row >= STEP_AGREEMENT, "stepped after {above_in_a_row} samples above");
                            assert_eq!(report.leap, sample.leap);
                        }
                        assert!(s.abs() > threshold - EPS, "stepped {s} s, within the {threshold} s threshold");
                        if synced {
                            assert!(s.abs() <= PANIC_BOUND_SECS + EPS, "stepped {s} s after sync");
                        } else {
                            assert!(s >= -FIRST_BACKWARD_LIMIT_SECS - EPS, "first step {s} s backwards");
                        }
                        above_in_a_row = 0;
                    }
                }
                synced = true;
            }
            Decision::Hold => {
                if single {
                    assert!(above, "held a sample of {residual} s, within the threshold");
                }
            }
            Decision::Refuse(step) => {
                if single {
                    assert!(above && above_in_a_row >= STEP_AGREEMENT, "refused after {above_in_a_row} samples above");
                }
                let s = step.as_seconds();
                if synced {
                    assert!(s.abs() > PANIC_BOUND_SECS - EPS, "refused a step of {s} s after sync");
                } else {
                    assert!(s < -FIRST_BACKWARD_LIMIT_SECS + EPS, "refused a first step of {s} s");
                }
                above_in_a_row = 0;
            }
        }
    }
}

/// At most one source is selected, a majority is never all falsetickers,
/// and every view is finite.
fn check_roles(d: &Steering, ids: &[SourceId]) {
    let views: Vec<_> = ids.iter().map(|&id| d.view(id).expect("a live source")).collect();
    let selected = views.iter().filter(|v| v.role == Role::Selected).count();
    let false_ones = views.iter().filter(|v| v.role == Role::Falseticker).count();
    assert!(selected <= 1, "{selected} sources selected");
    assert!(2 * false_ones < views.len().max(1), "{false_ones} of {} sources are falsetickers", views.len());
    for v in &views {
        assert!(v.offset.is_finite() && v.jitter.is_finite(), "{v:?}");
        assert!(!matches!(v.role, Role::Measuring | Role::StandingDown), "{v:?}");
    }
}

// ---------------------------------------------------------------------------
// mac: SymmetricKey::sign / verify
// ---------------------------------------------------------------------------

/// Input: the key type (1 byte, mod 5), the key ID (u32, 0 made 1), the key
/// length (1 byte; the type's own for the ciphers), the key, then a datagram.
/// Invariants: `verify` never panics; what it accepts is exactly the
/// datagram's header signed with the key (so no other trailer, no other key
/// ID, no altered header); a signed header always verifies, and any single
/// flipped bit of it, or a cut, never does.
pub fn mac(data: &[u8]) {
    const KINDS: [KeyType; 5] = [KeyType::Md5, KeyType::Sha1, KeyType::Sha256, KeyType::Aes128, KeyType::Aes256];
    let mut b = Bytes(data);
    let kind = KINDS[b.u8() as usize % KINDS.len()];
    let id = b.u32().max(1);
    let len = match kind {
        KeyType::Aes128 => 16,
        KeyType::Aes256 => 32,
        _ => (b.u8() as usize).max(1),
    };
    let mut key_bytes = b.take(len).to_vec();
    key_bytes.resize(len, 0);
    let key = SymmetricKey::new(id, kind, &key_bytes).expect("a valid key");
    let datagram = b.rest();
    let verdict = key.verify(datagram);
    if datagram.len() >= HEADER_LEN {
        let mut signed = datagram[..HEADER_LEN].to_vec();
        key.sign(&mut signed);
        assert_eq!(verdict.is_ok(), signed == datagram, "accepted iff exactly the signed header");
        assert_eq!(key.verify(&signed), Ok(()));
        let bit = datagram.len() % (signed.len() * 8);
        let mut flipped = signed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(key.verify(&flipped).is_err(), "a flipped bit {bit} verified");
        assert!(key.verify(&signed[..signed.len() - 1 - datagram.len() % 4]).is_err(), "a cut MAC verified");
        assert_eq!(key.verify(&signed[..HEADER_LEN]), Err(AuthError::Missing));
    } else {
        assert_eq!(verdict, Err(AuthError::Missing), "shorter than a header");
    }
}

// ---------------------------------------------------------------------------
// nts_ke: parse_response
// ---------------------------------------------------------------------------

/// Input: a key-exchange response as TLS would deliver it. Invariants: no
/// panic; a complete response has 1 to 8 cookies of 1 to 1024 bytes; every
/// prefix of the input is "read more" or the same verdict a longer one
/// reaches (no prefix accepted that the whole refuses, and the other way).
pub fn nts_ke(data: &[u8]) {
    let whole = parse_response(data);
    if let Ok(Some(r)) = &whole {
        assert!((1..=MAX_COOKIES).contains(&r.cookies.len()), "{} cookies", r.cookies.len());
        assert!(r.cookies.iter().all(|c| !c.is_empty() && c.len() <= MAX_COOKIE_LEN));
    }
    let mut decided = None;
    for cut in [data.len() / 3, data.len() / 2, data.len().saturating_sub(1), data.len()] {
        match parse_response(&data[..cut]) {
            Ok(None) => assert!(decided.is_none(), "more wanted after a verdict at a shorter prefix"),
            verdict => match &decided {
                None => decided = Some(verdict),
                Some(d) => assert_eq!(&verdict, d, "prefixes disagree"),
            },
        }
    }
}

// ---------------------------------------------------------------------------
// nts: NtsSession::request / verify
// ---------------------------------------------------------------------------

/// Input: cookies held (1 byte, 1 to 8), a mode (1 byte), then either a
/// datagram (mode even) or, for a genuine reply, the count of new cookies,
/// their length, the position of a bit to flip (u16; beyond the reply: none).
/// Invariants: no panic; a request carries the oldest cookie and
/// placeholders up to eight; a datagram that is not the genuine reply is
/// refused; the genuine one verifies once (cookies refilled up to eight) and
/// a single flipped bit anywhere in it is refused.
pub fn nts(data: &[u8]) {
    let mut b = Bytes(data);
    let held = (b.u8() % 8 + 1) as usize;
    let mode = b.u8();
    let cookies: Vec<Vec<u8>> = (0..held).map(|i| vec![i as u8 + 1; 64]).collect();
    let mut s = NtsSession::new(&[1; 32], &[2; 32], cookies, [3; 32]);
    let request = s.request(&[0x23; HEADER_LEN]).expect("a request while cookies are held");
    assert_eq!(s.cookies(), held - 1, "one cookie used");
    if mode % 2 == 0 {
        let datagram = b.rest();
        assert!(s.verify(datagram).is_err(), "an arbitrary datagram verified");
        return;
    }
    let new = (b.u8() % 10) as usize;
    let len = (b.u8() as usize).max(1);
    let flip = b.u16() as usize;
    let made: Vec<Vec<u8>> = (0..new).map(|i| vec![0x80 | i as u8; len]).collect();
    let refs: Vec<&[u8]> = made.iter().map(Vec::as_slice).collect();
    let mut reply = server_reply(&[2; 32], &request, &[0x24; HEADER_LEN], &refs, [4; 16]).expect("a reply");
    if flip < reply.len() * 8 {
        reply[flip / 8] ^= 1 << (flip % 8);
        assert!(s.verify(&reply).is_err(), "a flipped bit {flip} verified");
        return;
    }
    assert_eq!(s.verify(&reply), Ok(()), "the genuine reply");
    assert_eq!(s.cookies(), (held - 1 + new).min(MAX_COOKIES));
    assert!(s.verify(&reply).is_err(), "a replay verified");
}
