//! Drives the client state machine with synthetic time and a modelled server.
use std::net::SocketAddr;
use std::time::Duration;

use super::auth::{KeyType, SymmetricKey};
use super::client::*;
use super::packet::Packet;
use super::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use super::validate::{Kiss, Reject, Sample, Verdict};

const SERVER: &str = "127.0.0.1:123";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(steering: bool) -> Config {
    Config { server: SERVER.parse().unwrap(), no_reply: ms(1000), had_reply: ms(8000), burst: false, steering }
}

/// Local wall clock: monotonic time plus a fixed base.
fn wall(now: Duration) -> NtpTimestamp {
    NtpTimestamp::from_unix(1_800_000_000, 0).plus(NtpDuration::from_duration(now))
}

/// The client's own estimate as these tests see it: the offset last
/// measured, s (0 before any).
#[derive(Debug, Default)]
struct LastOffset(f64);

impl Estimator for LastOffset {
    fn measure(&mut self, _now: Duration, sample: &Sample) {
        self.0 = sample.offset.as_seconds();
    }
}

/// A stratum-2 reply to `req` that reads `t` throughout, all else zero (no
/// precision, root dispersion nor reference time).
fn bare_reply(req: &Packet, t: NtpTimestamp) -> Packet {
    Packet {
        stratum: 2,
        precision: 0,
        root_dispersion: NtpShort(0),
        reference_ts: NtpTimestamp::ZERO,
        ..Packet::reply(req.transmit_ts, t, t)
    }
}

struct Harness {
    c: Client<LastOffset>,
    now: Duration,
    nonce: u64,
    sent: Vec<(Duration, Vec<u8>)>,
    outputs: Vec<Output>,
}

impl Harness {
    fn new(steering: bool) -> Self {
        let mut c = Client::<LastOffset>::new();
        c.configure(cfg(steering), Duration::ZERO);
        Harness { c, now: Duration::ZERO, nonce: 1000, sent: vec![], outputs: vec![] }
    }

    /// Advances to `t`, firing every deadline on the way.
    fn run_until(&mut self, t: Duration) {
        while let Some(d) = self.c.deadline() {
            if d > t {
                break;
            }
            self.now = d;
            self.nonce += 1;
            self.c.handle_timeout(self.now, self.nonce);
            self.drain();
        }
        self.now = t;
    }

    fn drain(&mut self) {
        while let Some(o) = self.c.poll_output() {
            match o {
                Output::Send(p) => {
                    self.c.on_sent(wall(self.now));
                    self.sent.push((self.now, p));
                }
                // The clock's owner slews and follows the only source.
                Output::Steer(..) => {
                    self.outputs.push(o);
                    self.c.on_steered(Steered::Applied(Correction::Slew));
                    self.c.set_role(Role::Selected);
                }
                _ => self.outputs.push(o),
            }
        }
    }

    fn last_request(&self) -> Packet {
        Packet::parse(&self.sent.last().unwrap().1).unwrap()
    }

    /// A reply from a server `offset` s ahead, 1 ms after the last request.
    fn reply(&self, offset: f64) -> Packet {
        let req = self.last_request();
        let server_time = wall(self.now).plus(NtpDuration::from_seconds(offset + 0.0005));
        Packet { poll: 3, reference_id: *b"GPS\0", ..Packet::reply(req.transmit_ts, server_time, server_time) }
    }

    fn deliver(&mut self, p: Packet) -> Verdict {
        self.deliver_from(SERVER, p)
    }

    fn deliver_from(&mut self, from: &str, p: Packet) -> Verdict {
        self.deliver_bytes(from, &p.encode())
    }

    fn deliver_bytes(&mut self, from: &str, data: &[u8]) -> Verdict {
        self.now += ms(1);
        let v = self.c.handle_packet(from.parse::<SocketAddr>().unwrap(), data, wall(self.now), self.now);
        self.drain();
        v
    }

    fn sync_changes(&self) -> Vec<bool> {
        self.outputs.iter().filter_map(|o| if let Output::SyncChanged(s) = o { Some(*s) } else { None }).collect()
    }
}

#[test]
fn first_request_goes_at_once_with_a_random_transmit_timestamp() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].0, Duration::ZERO);
    let req = h.last_request();
    assert_eq!((req.mode, req.version), (3, 4));
    assert_eq!(req.transmit_ts, NtpTimestamp(1001), "the nonce, not the clock");
}

#[test]
fn measured_offset_and_sync_in_measure_only_mode() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    let v = h.deliver(h.reply(0.25));
    let Verdict::Valid(s) = v else { panic!("{v:?}") };
    assert!((s.offset.as_seconds() - 0.25).abs() < 1e-6, "{}", s.offset.as_seconds());
    assert_eq!(h.sync_changes(), vec![true]);
    assert!(h.outputs.iter().all(|o| !matches!(o, Output::Steer(..))), "measure only");
}

#[test]
fn steering_syncs_only_once_the_clock_follows_its_server() {
    let mut c = Client::<LastOffset>::new();
    c.configure(cfg(true), Duration::ZERO);
    c.set_role(Role::Candidate);
    c.handle_timeout(Duration::ZERO, 77);
    let Some(Output::Send(p)) = c.poll_output() else { panic!() };
    c.on_sent(wall(Duration::ZERO));
    let req = Packet::parse(&p).unwrap();
    let rep = bare_reply(&req, wall(ms(2)).plus(NtpDuration::from_seconds(0.01)));
    c.handle_packet(SERVER.parse().unwrap(), &rep.encode(), wall(ms(4)), ms(4));
    assert!(matches!(c.poll_output(), Some(Output::Steer(_))));
    assert!(!c.synced());
    c.on_steered(Steered::Applied(Correction::Slew));
    assert_eq!(c.counters().slews, 1);
    assert!(!c.synced(), "corrected, but not yet told it is followed");
    c.set_role(Role::Selected);
    assert_eq!(c.poll_output(), Some(Output::SyncChanged(true)));
    // A falseticker's client is not synchronised; standing down, it measures.
    c.set_role(Role::Falseticker);
    assert_eq!(c.poll_output(), Some(Output::SyncChanged(false)));
    c.set_role(Role::StandingDown);
    assert_eq!(c.poll_output(), Some(Output::SyncChanged(true)));
}

#[test]
fn refused_clock_stops_the_client() {
    let mut h = Harness::new(true);
    h.run_until(Duration::ZERO);
    h.c.handle_packet(SERVER.parse().unwrap(), &h.reply(0.01).encode(), wall(ms(1)), ms(1));
    assert!(matches!(h.c.poll_output(), Some(Output::Steer(_))));
    h.c.on_steered(Steered::ClockRefused);
    assert_eq!(h.c.poll_output(), Some(Output::Stopped(StopReason::ClockRefused)));
    assert_eq!(h.c.deadline(), None);
    assert!(!h.c.synced());
}

#[test]
fn schedule_follows_no_reply_and_had_reply_delays() {
    let mut h = Harness::new(false);
    h.run_until(ms(2500)); // requests at 0, 1000, 2000
    assert_eq!(h.sent.iter().map(|s| s.0.as_millis()).collect::<Vec<_>>(), vec![0, 1000, 2000]);
    h.deliver(h.reply(0.0));
    h.run_until(ms(30_000)); // next at 2000 + 8000, then every 8000 while answered? no: unanswered
    let times: Vec<_> = h.sent.iter().map(|s| s.0.as_millis()).collect();
    assert_eq!(&times[..5], &[0, 1000, 2000, 10_000, 11_000]);
}

#[test]
fn sync_lost_after_four_unanswered_requests_and_regained() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    h.deliver(h.reply(0.0));
    assert_eq!(h.sync_changes(), vec![true]);
    // Requests at 8 s, 9 s, 10 s, 11 s go unanswered; at 12 s the 4th miss is counted.
    h.run_until(ms(11_500));
    assert_eq!(h.sync_changes(), vec![true], "three misses are not enough");
    h.run_until(ms(12_000));
    assert_eq!(h.sync_changes(), vec![true, false]);
    h.deliver(h.reply(0.0));
    assert_eq!(h.sync_changes(), vec![true, false, true]);
    h.run_until(ms(60_000));
    assert_eq!(h.sync_changes(), vec![true, false, true, false], "one message per change");
}

#[test]
fn unanswered_requests_back_off_after_four_and_a_reply_restores_the_schedule() {
    let mut h = Harness::new(false);
    h.run_until(ms(34_000));
    let times: Vec<_> = h.sent.iter().map(|s| s.0.as_millis() / 1000).collect();
    // no_reply 1 s for the first four, then 2, 4, 8 s, then had_reply (8 s).
    assert_eq!(times, vec![0, 1, 2, 3, 4, 6, 10, 18, 26, 34]);
    assert_eq!(h.c.poll_interval(), Some(ms(8000)));
    h.deliver(h.reply(0.0));
    assert_eq!(h.sync_changes(), vec![true]);
    h.run_until(ms(46_000));
    let times: Vec<_> = h.sent[10..].iter().map(|s| s.0.as_millis() / 1000).collect();
    // had_reply after the answered request, then no_reply apart again.
    assert_eq!(times, vec![42, 43, 44, 45, 46]);
    assert_eq!(h.sync_changes(), vec![true, false], "lost on the fourth miss, at the usual time");
}

#[test]
fn each_nonce_is_accepted_once_and_stale_replies_are_ignored() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    let first = h.reply(0.0);
    assert!(matches!(h.deliver(first), Verdict::Valid(_)));
    assert_eq!(h.deliver(first), Verdict::Rejected(Reject::BadOrigin), "duplicate");
    h.run_until(ms(8000));
    let stale = first;
    assert_eq!(h.deliver(stale), Verdict::Rejected(Reject::BadOrigin), "replayed later");
    let unanswered = h.reply(0.0);
    h.run_until(ms(9000)); // next request goes out; the old nonce is dead
    assert_eq!(h.deliver(unanswered), Verdict::Rejected(Reject::BadOrigin), "late reply");
    assert_eq!(h.c.counters().valid_replies, 1);
    assert_eq!(h.c.counters().rejected(Reject::BadOrigin), 3);
}

#[test]
fn replies_from_another_address_or_port_are_not_used() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    let r = h.reply(0.0);
    assert_eq!(h.deliver_from("127.0.0.1:124", r), Verdict::Rejected(Reject::WrongSource));
    assert_eq!(h.deliver_from("127.0.0.2:123", r), Verdict::Rejected(Reject::WrongSource));
    assert!(h.sync_changes().is_empty());
    assert!(matches!(h.deliver(r), Verdict::Valid(_)), "the real reply still counts");
}

#[test]
fn rate_kiss_backs_off_and_its_timestamps_are_not_used() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    let kod = Packet { stratum: 0, reference_id: *b"RATE", ..h.reply(1000.0) };
    assert_eq!(h.deliver(kod), Verdict::Kiss(Kiss::Rate));
    assert!(h.sync_changes().is_empty());
    assert!(h.c.last_sample().is_none());
    assert_eq!(h.c.deadline(), Some(ms(16_000)), "had_reply doubled");
    h.run_until(ms(16_000));
    let kod = Packet { stratum: 0, reference_id: *b"RATE", ..h.reply(0.0) };
    h.deliver(kod);
    assert_eq!(h.c.deadline(), Some(ms(16_000 + 32_000)), "keeps backing off");
}

#[test]
fn deny_and_rstr_stop_querying_until_reconfigured() {
    for code in [*b"DENY", *b"RSTR"] {
        let mut h = Harness::new(false);
        h.run_until(Duration::ZERO);
        let kod = Packet { stratum: 0, reference_id: code, ..h.reply(0.0) };
        assert!(matches!(h.deliver(kod), Verdict::Kiss(_)));
        assert!(matches!(h.outputs.last(), Some(Output::Stopped(StopReason::Kissed(_)))));
        assert_eq!(h.c.deadline(), None);
        h.run_until(ms(3_600_000));
        assert_eq!(h.sent.len(), 1, "no more requests");
        h.c.configure(cfg(false), h.now);
        assert_eq!(h.c.deadline(), Some(h.now));
        assert_eq!(h.c.stopped(), None);
    }
}

#[test]
fn spoofed_kiss_from_elsewhere_is_ignored() {
    let mut h = Harness::new(false);
    h.run_until(Duration::ZERO);
    let kod = Packet { stratum: 0, reference_id: *b"DENY", ..h.reply(0.0) };
    assert_eq!(h.deliver_from("127.0.0.9:123", kod), Verdict::Rejected(Reject::WrongSource));
    assert_eq!(h.c.stopped(), None);
}

#[test]
fn reconfigure_takes_effect_at_once() {
    let mut h = Harness::new(false);
    h.run_until(ms(500));
    let mut c2 = cfg(false);
    c2.server = "127.0.0.1:999".parse().unwrap();
    h.c.configure(c2, h.now);
    assert_eq!(h.c.deadline(), Some(ms(500)));
    h.run_until(ms(500));
    let r = h.reply(0.0);
    assert_eq!(h.deliver(r), Verdict::Rejected(Reject::WrongSource), "old server no longer trusted");
    assert!(matches!(h.deliver_from("127.0.0.1:999", r), Verdict::Valid(_)));
}

#[test]
fn hours_of_simulated_polling_stay_regular() {
    let mut h = Harness::new(false);
    let mut t = Duration::ZERO;
    while t < Duration::from_secs(6 * 3600) {
        h.run_until(t);
        if h.sent.last().is_some_and(|s| s.0 == t) {
            h.deliver(h.reply(0.0));
        }
        t = h.c.deadline().unwrap();
    }
    let gaps: Vec<_> = h.sent.windows(2).map(|w| (w[1].0 - w[0].0).as_millis()).collect();
    assert!(gaps.iter().all(|&g| g == 8000), "{:?}", &gaps[..5]);
    assert_eq!(h.sync_changes(), vec![true]);
}

#[test]
fn failed_sends_are_not_counted_and_their_replies_do_not_match() {
    let mut c = Client::<LastOffset>::new();
    c.configure(cfg(false), Duration::ZERO);
    c.handle_timeout(Duration::ZERO, 77);
    let Some(Output::Send(p)) = c.poll_output() else { panic!() };
    c.on_send_failed();
    assert_eq!(c.counters().requests, 0, "a request that never left is not counted");
    let req = Packet::parse(&p).unwrap();
    let rep = bare_reply(&req, wall(ms(1)));
    let v = c.handle_packet(SERVER.parse().unwrap(), &rep.encode(), wall(ms(2)), ms(2));
    assert_eq!(v, Verdict::Rejected(Reject::BadOrigin));
    // The next request leaves: counted once, however often its time is refined.
    c.handle_timeout(ms(2000), 78);
    assert!(matches!(c.poll_output(), Some(Output::Send(_))));
    c.on_sent(wall(ms(2000)));
    c.on_sent(wall(ms(2000)));
    assert_eq!(c.counters().requests, 1);
}

fn signed(p: &Packet, key: &SymmetricKey) -> Vec<u8> {
    let mut b = p.encode().to_vec();
    key.sign(&mut b);
    b
}

#[test]
fn a_keyed_client_signs_its_requests_and_uses_only_replies_signed_with_its_key() {
    let key = SymmetricKey::new(4, KeyType::Aes128, &[9; 16]).unwrap();
    let mut h = Harness::new(false);
    h.c.set_auth(Auth::Key(key.clone()), Duration::ZERO);
    h.run_until(Duration::ZERO);
    let req = &h.sent.last().unwrap().1;
    assert_eq!(req.len(), 48 + 4 + 16, "header, key ID, MAC");
    assert_eq!(key.verify(req), Ok(()), "the request's MAC verifies");
    let good = h.reply(0.25);
    // Forged: no MAC; a MAC under another key ID; the right ID, another key;
    // the MAC cut short; an extension field's worth of bytes instead.
    let other_id = SymmetricKey::new(5, KeyType::Aes128, &[9; 16]).unwrap();
    let other_key = SymmetricKey::new(4, KeyType::Aes128, &[8; 16]).unwrap();
    let full = signed(&good, &key);
    let mut extended = good.encode().to_vec();
    extended.extend_from_slice(&[0x01, 0x04, 0x00, 0x08, 0, 0, 0, 0]);
    let forged: [(Vec<u8>, Reject); 5] = [
        (good.encode().to_vec(), Reject::AuthMissing),
        (signed(&good, &other_id), Reject::AuthWrongKey),
        (signed(&good, &other_key), Reject::AuthBadMac),
        (full[..full.len() - 4].to_vec(), Reject::AuthBadMac),
        (extended, Reject::AuthBadMac),
    ];
    for (bytes, why) in &forged {
        assert_eq!(h.deliver_bytes(SERVER, bytes), Verdict::Rejected(*why));
    }
    // An unsigned kiss-o'-death is not obeyed.
    let kiss = Packet { stratum: 0, reference_id: *b"DENY", ..good };
    assert_eq!(h.deliver(kiss), Verdict::Rejected(Reject::AuthMissing));
    assert!(h.c.stopped().is_none());
    assert_eq!(h.c.counters().valid_replies, 0);
    assert!(h.sync_changes().is_empty());
    // The genuine reply is used, once: a replay of it is refused.
    assert!(matches!(h.deliver_bytes(SERVER, &full), Verdict::Valid(_)));
    assert_eq!(h.deliver_bytes(SERVER, &full), Verdict::Rejected(Reject::BadOrigin));
    assert_eq!(h.sync_changes(), vec![true]);
    assert_eq!(h.c.counters().rejected_total(), 7);
}

#[test]
fn changing_the_authentication_starts_afresh_at_once() {
    let mut h = Harness::new(true);
    h.run_until(Duration::ZERO);
    let r = h.reply(0.0);
    assert!(matches!(h.deliver(r), Verdict::Valid(_)));
    assert_eq!(h.sync_changes(), vec![true]);
    h.run_until(ms(5000));
    let before = h.sent.len();
    let key = SymmetricKey::new(1, KeyType::Md5, b"crocus").unwrap();
    h.c.set_auth(Auth::Key(key), h.now);
    h.drain();
    // Sync lost, the clock's owner told, and a signed request due at once.
    assert_eq!(h.sync_changes(), vec![true, false]);
    assert!(h.outputs.iter().any(|o| matches!(o, Output::Unreachable)));
    assert_eq!(h.c.deadline(), Some(h.now));
    h.run_until(h.now);
    assert_eq!(h.sent.len(), before + 1);
    assert_eq!(h.sent.last().unwrap().1.len(), 48 + 4 + 16);
    assert!(h.c.last_sample().is_none());
    // And back to plain SNTP: 48 bytes again.
    h.c.set_auth(Auth::None, h.now);
    h.run_until(h.now);
    assert_eq!(h.sent.last().unwrap().1.len(), 48);
}

#[test]
fn an_nts_client_sends_nothing_before_a_key_exchange_and_obeys_a_nak() {
    use super::nts::NtsSession;
    let mut h = Harness::new(false);
    h.c.set_auth(Auth::Nts(None), Duration::ZERO);
    h.run_until(ms(10_000));
    assert!(h.sent.is_empty(), "no NTP before a key exchange");
    let asked = |h: &Harness| h.outputs.iter().filter(|o| matches!(o, Output::NeedKeys)).count();
    assert_eq!(asked(&h), 1, "keys asked for once");
    // Keys come: a request at once, with the NTS fields after the header.
    let cookies = vec![vec![7u8; 96]; 2];
    h.c.set_nts_session(NtsSession::new(&[1; 32], &[2; 32], cookies, [3; 32]), SERVER.parse().unwrap(), h.now);
    h.run_until(h.now);
    let req = h.sent.last().unwrap().1.clone();
    assert!(req.len() > 48 + 36 + 100, "{} bytes", req.len());
    // A plain reply, however right its origin, is not used.
    let plain = h.reply(0.0);
    assert_eq!(h.deliver(plain), Verdict::Rejected(Reject::NtsMissing));
    // An NTS NAK: a kiss NTSN that echoes the request's unique identifier.
    let mut nak = Packet { stratum: 0, reference_id: *b"NTSN", ..h.reply(0.0) }.encode().to_vec();
    nak.extend_from_slice(&req[48..48 + 36]);
    // Without the identifier it is nothing.
    assert_eq!(h.deliver_bytes(SERVER, &nak[..48]), Verdict::Rejected(Reject::NtsMissing));
    assert_eq!(h.deliver_bytes(SERVER, &nak), Verdict::Kiss(Kiss::NtsNak));
    assert_eq!(asked(&h), 2, "a new key exchange asked for");
    assert!(matches!(h.c.auth(), Auth::Nts(None)), "the cookies are let go");
    let before = h.sent.len();
    h.run_until(h.now + ms(20_000));
    assert_eq!(h.sent.len(), before, "nothing over NTP until new keys");
    assert!(h.c.stopped().is_none());
}

#[test]
fn when_the_cookies_run_out_an_nts_client_asks_for_a_new_key_exchange() {
    use super::nts::{server_reply, NtsSession};
    let mut h = Harness::new(false);
    h.c.set_auth(Auth::Nts(None), Duration::ZERO);
    h.run_until(Duration::ZERO);
    // One cookie, and a server that sends none back.
    h.c.set_nts_session(
        NtsSession::new(&[1; 32], &[2; 32], vec![vec![7u8; 96]], [3; 32]),
        SERVER.parse().unwrap(),
        h.now,
    );
    h.run_until(h.now);
    let req = h.sent.last().unwrap().1.clone();
    let header = h.reply(0.1).encode();
    let reply = server_reply(&[2; 32], &req, &header, &[], [4; 16]).unwrap();
    assert!(matches!(h.deliver_bytes(SERVER, &reply), Verdict::Valid(_)), "an authenticated reply");
    assert_eq!(h.c.auth().cookies(), 0);
    let (sent, asked) = (h.sent.len(), h.outputs.iter().filter(|o| matches!(o, Output::NeedKeys)).count());
    h.run_until(h.now + ms(10_000));
    assert_eq!(h.sent.len(), sent, "no request without a cookie");
    assert_eq!(h.outputs.iter().filter(|o| matches!(o, Output::NeedKeys)).count(), asked + 1);
    assert!(matches!(h.c.auth(), Auth::Nts(None)));
}

#[test]
fn a_reply_to_a_request_sent_before_a_step_answers_but_is_not_measured() {
    let mut h = Harness::new(true);
    h.run_until(Duration::ZERO);
    h.c.clock_stepped();
    let v = h.deliver(h.reply(0.1));
    assert!(matches!(v, Verdict::Valid(_)), "{v:?}");
    assert!(h.outputs.iter().all(|o| !matches!(o, Output::Steer(..))), "not handed to the clock's owner");
    assert_eq!(h.c.last_sample(), None, "not measured");
    assert_eq!((h.c.counters().valid_replies, h.c.counters().stale), (1, 1));
    assert_eq!(h.c.tracker().0, 0.0, "the estimate never saw it");
    // The next request, sent after the step, is used.
    h.run_until(ms(8000));
    let v = h.deliver(h.reply(0.0));
    assert!(matches!(v, Verdict::Valid(_)), "{v:?}");
    assert!(h.outputs.iter().any(|o| matches!(o, Output::Steer(..))));
    assert_eq!(h.c.counters().stale, 1);
}
