//! A deterministic simulator: the real sans-IO client, discipline and clock
//! backends against a modelled oscillator, network and kernel, in simulated
//! time. Hours of simulated time take milliseconds. Figures follow chrony's
//! test suite: the true clock error sampled every second, sync time, RMS and
//! maximum offset and RMS frequency error from 210 s on.

pub mod kernel;
pub mod rng;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{self, ClockBackend};
use crate::proto::client::{Client, ClockResult, Config, Output};
use crate::proto::packet::{Packet, MODE_SERVER, NTP_VERSION};
use crate::proto::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use crate::sys::lock::lock;
use kernel::{Model, SimKernel};
use rng::Rng;

/// Which backend's code steers the modelled clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Adjtimex,
    NtpAdjtime,
    Adjtime,
}

/// A simulated run. Defaults: chrony's default test scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub duration: f64,
    pub no_reply: f64,
    pub poll: f64,
    pub burst: bool,
    /// Local clock minus true time at the start, seconds.
    pub initial_phase: f64,
    /// Oscillator frequency error at the start, s/s (positive: fast).
    pub initial_freq: f64,
    /// Frequency random walk per sqrt(second).
    pub freq_walk: f64,
    /// One-way delay: a fixed part plus an exponential with this mean, each direction.
    pub delay_base: f64,
    pub delay_exp_mean: f64,
    /// Extra uniform jitter in [0, x) each way.
    pub jitter: f64,
    /// The exponential part of the delay on the way back only (a one-sided
    /// queue): offsets then vary with the delay, by -1/2 of its excess.
    pub queue_on_return: bool,
    /// Extra delay client-to-server only.
    pub asymmetry: f64,
    /// Probability a request or its reply is lost.
    pub loss: f64,
    /// At this true time the server's clock jumps by this much (figures are
    /// then taken against the server's clock).
    pub server_step: Option<(f64, f64)>,
    pub backend: Backend,
    /// False: measure only (the clock is never touched); the figures of
    /// interest are then the estimate's errors.
    pub steering: bool,
    /// Figures are taken from this time on, seconds.
    pub figures_from: f64,
    /// Print every clock action to stderr.
    pub trace: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 1,
            duration: 10_000.0,
            no_reply: 1.0,
            poll: 64.0,
            burst: true,
            initial_phase: 0.1,
            initial_freq: 100e-6,
            freq_walk: 1e-9,
            delay_base: 100e-6,
            delay_exp_mean: 100e-6,
            jitter: 0.0,
            queue_on_return: false,
            asymmetry: 0.0,
            loss: 0.0,
            server_step: None,
            backend: Backend::Adjtimex,
            steering: true,
            figures_from: 210.0,
            trace: false,
        }
    }
}

impl Scenario {
    /// The accuracy benchmark's set-up (scripts/bench-accuracy.sh), measure
    /// only: a clock 0.037 s off and 100 ppm fast that is never touched,
    /// 2 s polls, 1 ms each way (add `jitter`, `asymmetry`), 200 s, figures
    /// from 20 s.
    pub fn benchmark_measuring() -> Scenario {
        Scenario {
            steering: false,
            duration: 200.0,
            figures_from: 20.0,
            poll: 2.0,
            initial_phase: 0.037,
            delay_base: 1e-3,
            delay_exp_mean: 0.0,
            ..Scenario::default()
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// First second after which |offset| <= 1 ms and |freq| <= 500 ppm hold to the end.
    pub sync_time: Option<f64>,
    /// From 210 s to the end, seconds.
    pub rms_offset: f64,
    pub max_offset: f64,
    /// When the largest offset was seen, seconds.
    pub max_offset_at: f64,
    /// From 210 s to the end, ppm: the clock's rate error over each second,
    /// phase slews and steps excluded (for `adjtime`, whose frequency is itself
    /// a slew, the rate over each second with steps excluded).
    pub rms_freq: f64,
    /// Mean offset (the bias an asymmetric path causes), seconds.
    pub mean_offset: f64,
    pub steps: u32,
    pub requests: u64,
    /// |the client's offset estimate - the true offset| at each valid reply
    /// from `figures_from` on, seconds: median and 95th percentile.
    pub estimate_median: f64,
    pub estimate_p95: f64,
}

const UNIX_BASE: i64 = 1_800_000_000;

fn ntp(t: f64) -> NtpTimestamp {
    NtpTimestamp::from_unix(UNIX_BASE, 0).plus(NtpDuration::from_seconds(t))
}

fn backend(kind: Backend, kernel: &SimKernel) -> Box<dyn ClockBackend> {
    match kind {
        Backend::Adjtimex => Box::new(clock::adjtimex::Adjtimex::new(kernel.clone()).expect("model answers")),
        Backend::NtpAdjtime => Box::new(clock::ntp_adjtime::NtpAdjtime::new(kernel.clone(), kernel.clone())),
        Backend::Adjtime => Box::new(clock::adjtime::Adjtime::new(kernel.clone())),
    }
}

/// Runs `s` and measures it.
pub fn run(s: &Scenario) -> Figures {
    let model = Arc::new(Mutex::new(Model::new(s.initial_phase, s.initial_freq, s.freq_walk, s.seed)));
    let kernel = SimKernel(model.clone());
    let mut backend = backend(s.backend, &kernel);
    let mut rng = Rng::new(s.seed);
    let server: SocketAddr = "192.0.2.123:123".parse().unwrap();
    let mut client = Client::new();
    client.set_initial_frequency(backend.frequency_ppm());
    let config = Config {
        server,
        no_reply: Duration::from_secs_f64(s.no_reply),
        had_reply: Duration::from_secs_f64(s.poll),
        burst: s.burst,
        steering: s.steering,
    };
    client.configure(config, Duration::ZERO);

    let server_time = |t: f64| t + s.server_step.map_or(0.0, |(at, by)| if t >= at { by } else { 0.0 });
    let one_way = |rng: &mut Rng, queued: bool| {
        s.delay_base + if queued { rng.exponential(s.delay_exp_mean) } else { 0.0 } + s.jitter * rng.uniform()
    };
    // Replies in flight: (true arrival time, datagram).
    let mut in_flight: Vec<(f64, [u8; 48])> = vec![];
    let mut offsets = vec![];
    let mut estimate_errors = vec![];
    let mut freqs = vec![];
    let mut next_sample = 0.0;
    // Phase less steps at the last sample, for the adjtime rate.
    let mut last_unstepped = None;
    loop {
        let next_client = client.deadline().map_or(f64::INFINITY, |d| d.as_secs_f64());
        let next_tick = backend.next_tick().map_or(f64::INFINITY, |d| d.as_secs_f64());
        let next_arrival = in_flight.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let t = next_client.min(next_tick).min(next_arrival).min(next_sample);
        if t > s.duration {
            break;
        }
        lock(&model).advance_to(t);
        let now = Duration::from_secs_f64(t);
        if t == next_sample {
            let m = lock(&model);
            // The error against the server's clock, which is what the client follows.
            offsets.push(m.phase - (server_time(t) - t));
            let unstepped = m.phase - m.stepped;
            freqs.push(match (s.backend, last_unstepped) {
                (Backend::Adjtime, Some(last)) => unstepped - last,
                _ => m.freq_error(),
            });
            last_unstepped = Some(unstepped);
            next_sample += 1.0;
            continue;
        }
        if t == next_tick {
            backend.tick(now).expect("model answers");
        }
        if t == next_arrival {
            let i = in_flight.iter().position(|p| p.0 == t).unwrap();
            let (_, data) = in_flight.swap_remove(i);
            let t4 = ntp(lock(&model).local());
            let pending = backend.pending_slew();
            let replies = client.counters().valid_replies;
            client.handle_packet(server, &data, t4, now, pending);
            if client.counters().valid_replies > replies && t >= s.figures_from {
                let m = lock(&model);
                estimate_errors.push((client.discipline().last_offset() + m.phase - (server_time(t) - t)).abs());
            }
        }
        if t == next_client {
            client.handle_timeout(now, rng.next_u64());
        }
        while let Some(out) = client.poll_output() {
            match out {
                Output::Send(request) => {
                    client.on_sent(ntp(lock(&model).local()));
                    if rng.uniform() < s.loss {
                        continue;
                    }
                    let arrive_server = t + one_way(&mut rng, !s.queue_on_return) + s.asymmetry;
                    let req = Packet::parse(&request).unwrap();
                    let stamp = ntp(server_time(arrive_server));
                    let reply = Packet {
                        leap: 0,
                        version: NTP_VERSION,
                        mode: MODE_SERVER,
                        stratum: 1,
                        poll: 6,
                        precision: -20,
                        root_delay: NtpShort(0),
                        root_dispersion: NtpShort(0x10),
                        reference_id: *b"SIM\0",
                        reference_ts: stamp,
                        origin_ts: req.transmit_ts,
                        receive_ts: stamp,
                        transmit_ts: stamp,
                    };
                    if rng.uniform() >= s.loss {
                        in_flight.push((arrive_server + one_way(&mut rng, true), reply.encode()));
                    }
                }
                Output::Adjust(action, report) => {
                    if s.trace {
                        eprintln!(
                            "t={t:8.1} phase={:+.6} {:?} {:+.6} s freq {:+.2} ppm",
                            lock(&model).phase,
                            action.correction,
                            action.offset.as_seconds(),
                            action.freq_ppm
                        );
                    }
                    let r = backend.apply(action, &report, now);
                    client.on_clock_result(if r.is_ok() { ClockResult::Applied } else { ClockResult::Failed });
                }
                _ => {}
            }
        }
    }
    let steps = lock(&model).steps;
    let mut f = figures(&offsets, &freqs, s.figures_from as usize);
    (f.steps, f.requests) = (steps, client.counters().requests);
    estimate_errors.sort_by(|a, b| a.total_cmp(b));
    let n = estimate_errors.len();
    if n > 0 {
        (f.estimate_median, f.estimate_p95) = (estimate_errors[n / 2], estimate_errors[n * 95 / 100]);
    }
    f
}

fn figures(offsets: &[f64], freqs: &[f64], from: usize) -> Figures {
    let good = |i: usize| offsets[i].abs() <= 1e-3 && freqs[i].abs() <= 500e-6;
    let mut sync_time = None;
    for i in (0..offsets.len()).rev() {
        if !good(i) {
            break;
        }
        sync_time = Some(i as f64);
    }
    let from = from.min(offsets.len());
    let tail = &offsets[from..];
    let n = tail.len().max(1) as f64;
    Figures {
        sync_time,
        rms_offset: (tail.iter().map(|x| x * x).sum::<f64>() / n).sqrt(),
        max_offset: tail.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
        max_offset_at: (from
            + tail
                .iter()
                .enumerate()
                .fold((0, 0.0), |(bi, bm), (i, x)| if x.abs() > bm { (i, x.abs()) } else { (bi, bm) })
                .0) as f64,
        rms_freq: (freqs[from..].iter().map(|f| f * f).sum::<f64>() / n).sqrt() * 1e6,
        mean_offset: tail.iter().sum::<f64>() / n,
        ..Figures::default()
    }
}

/// Median and worst of a figure over several runs.
pub fn median_and_worst(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (median, values[n - 1])
}
