//! Cost of the sans-IO client state machine end to end (src/proto/client.rs):
//! what a worker does per request and per reply, without any I/O: schedule
//! the request, emit it, judge the reply, run the discipline (the client's own
//! tracker; when steering, also the clock owner's steering discipline with
//! this one source), drain outputs.
//! Run with `cargo bench --bench client`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use prossntp::discipline::{Correction, Decision, SourceId, Steering, Tracker};
use prossntp::proto::client::{Client, Config, Output, Steered};
use prossntp::proto::packet::Packet;
use prossntp::proto::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use prossntp::proto::validate::Verdict;
use prossntp::sys::time::wall_now;

const SERVER: &str = "127.0.0.1:123";

/// A client on a simulated timeline: monotonic `now`, wall clock `base + now`.
/// Requests are 16 s apart, so even 10 million cycles stay within the years in
/// which replies are plausible (a reply that is not valid fails the bench).
struct Sim {
    c: Client<Tracker>,
    now: Duration,
    base: NtpTimestamp,
    nonce: u64,
    server: SocketAddr,
    /// The last request's encoded bytes.
    request: Vec<u8>,
    /// What the clock owner runs for a steering client.
    steering: Option<(Steering, SourceId)>,
}

impl Sim {
    fn new(steering: bool) -> Sim {
        let server: SocketAddr = SERVER.parse().unwrap();
        let mut c = Client::new();
        let config = Config {
            server,
            no_reply: Duration::from_secs(1),
            had_reply: Duration::from_secs(16),
            burst: false,
            steering,
        };
        c.configure(config, Duration::ZERO);
        let steering = steering.then(|| {
            let mut d = Steering::new(0.0);
            let id = d.add_source();
            (d, id)
        });
        let mut s = Sim { c, now: Duration::ZERO, base: wall_now(), nonce: 1, server, request: vec![0; 48], steering };
        // Warm up: fill the discipline's register.
        for _ in 0..20 {
            s.request_due();
            s.reply(0.0002);
        }
        s
    }

    fn wall(&self) -> NtpTimestamp {
        self.base.plus(NtpDuration::from_duration(self.now))
    }

    /// Advances to the next deadline, lets the client emit its request and
    /// reports it sent.
    fn request_due(&mut self) {
        self.now = self.c.deadline().expect("querying");
        self.nonce = self.nonce.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.c.handle_timeout(self.now, self.nonce);
        while let Some(o) = self.c.poll_output() {
            match o {
                Output::Send(p) => {
                    self.request = p;
                    self.c.on_sent(self.wall());
                }
                other => self.other(other),
            }
        }
    }

    /// The server's reply (`offset` s ahead) arrives 1 ms after the request.
    fn reply_bytes(&self, offset: f64) -> [u8; 48] {
        let origin = Packet::parse(&self.request).unwrap().transmit_ts;
        let server = self.wall().plus(NtpDuration::from_seconds(offset + 0.0005));
        Packet {
            stratum: 2,
            poll: 6,
            root_delay: NtpShort(0x40),
            root_dispersion: NtpShort(0x80),
            reference_id: *b"GPS\0",
            ..Packet::reply(origin, server, server)
        }
        .encode()
    }

    fn deliver(&mut self, bytes: &[u8]) -> Verdict {
        self.now += Duration::from_millis(1);
        let t4 = self.wall();
        let v = self.c.handle_packet(self.server, bytes, t4, self.now);
        while let Some(o) = self.c.poll_output() {
            self.other(o);
        }
        v
    }

    fn reply(&mut self, offset: f64) -> Verdict {
        let bytes = self.reply_bytes(offset);
        self.deliver(&bytes)
    }

    fn other(&mut self, o: Output) {
        if let (Output::Steer(sample), Some((d, id))) = (o, self.steering.as_mut()) {
            let outcome = match d.sample(*id, self.now, &sample, NtpDuration::ZERO) {
                Decision::Apply(a, _) => {
                    d.confirm();
                    Steered::Applied(a.correction)
                }
                Decision::Hold => Steered::Held,
                Decision::Refuse(step) => Steered::Refused(step),
            };
            debug_assert_ne!(outcome, Steered::Applied(Correction::Step));
            self.c.on_steered(outcome);
        }
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("client");
    for (name, steering) in [("measure only", false), ("steering", true)] {
        g.bench_function(format!("request + valid reply ({name})"), |b| {
            let mut s = Sim::new(steering);
            b.iter(|| {
                s.request_due();
                let v = s.reply(black_box(0.0002));
                assert!(matches!(v, Verdict::Valid(_)), "{v:?}");
                v
            })
        });
    }
    g.bench_function("request, no reply (timeout + send only)", |b| {
        let mut s = Sim::new(false);
        b.iter(|| s.request_due())
    });
    g.bench_function("building the reply (harness cost, subtract)", |b| {
        let mut s = Sim::new(false);
        s.request_due();
        b.iter(|| s.reply_bytes(black_box(0.0002)))
    });
    g.bench_function("handle_packet: duplicate reply (bad origin)", |b| {
        let mut s = Sim::new(false);
        s.request_due();
        let bytes = s.reply_bytes(0.0002);
        assert!(matches!(s.deliver(&bytes), Verdict::Valid(_)));
        let (server, now, t4) = (s.server, s.now, s.wall());
        b.iter(|| s.c.handle_packet(server, black_box(&bytes[..]), t4, now))
    });
    g.bench_function("handle_packet: stray datagram (wrong source)", |b| {
        let mut s = Sim::new(false);
        s.request_due();
        let bytes = s.reply_bytes(0.0002);
        let stray: SocketAddr = "127.0.0.2:123".parse().unwrap();
        let (now, t4) = (s.now, s.wall());
        b.iter(|| s.c.handle_packet(stray, black_box(&bytes[..]), t4, now))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! { name = group; config = config(); targets = benches }
criterion_main!(group);
