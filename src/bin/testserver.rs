//! `prossntp-testserver`: a small, deliberately misbehaving NTP server for the
//! Rust integration tests, the C test harness and the demo. Loopback use only.
//!
//! ```text
//! prossntp-testserver [--listen ADDR:PORT]... [--offset SECS] [--mode MODE]
//!                     [--late-ms N] [--stratum N] [--lifetime SECS]
//! ```
//!
//! Prints `listening <addr>` for each bound socket, then `ready`. Answers NTP
//! mode-3 requests according to the current mode:
//!
//! - `normal`: a good reply (LI 0, the configured stratum, reference id `PSNT`)
//! - `kod-rate`, `kod-deny`, `kod-rstr`: kiss-o'-death (LI 3, stratum 0, code as reference id)
//! - `li3`: LI 3; `stratum0`: stratum 0 with reference id `INIT`; `stratum16`: stratum 16
//! - `wrong-origin`: origin timestamp XOR 1; `zero-ts`: receive and transmit zero
//! - `truncated`: only the first 40 bytes; `wrong-port`: sent from another port
//! - `late`: sent `--late-ms` after the request arrived; `silent`: no reply
//! - `root-distance`: root dispersion 2 s
//!
//! Control datagrams, answered with a text datagram to their sender:
//! `PROSSNTP-CTL mode=<MODE> offset=<SECS> rate=<PPM>` (any of them) -> `ok`,
//! `PROSSNTP-CTL stats` -> `requests=<N> replies=<M>`, `PROSSNTP-CTL time` ->
//! `time=<SECS>.<NANOS>` (the time it serves now, Unix), anything else ->
//! `error <text>`. `rate` makes the served time gain PPM parts per million
//! from then on (continuous; `offset` sets the offset now). `leap=1` (or 2)
//! announces a leap second inserted (deleted) at the next midnight of the
//! served time (UTC), and makes it: the served time repeats (skips) the
//! day's last second, then the announcement ends; `leap=0` withdraws it.
//! Set `PROSSNTP_TESTSERVER_VERBOSE=1` to log one line per request to stderr.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::{env, process, thread};

use prossntp::proto::packet::{Packet, HEADER_LEN, LEAP_UNSYNCHRONIZED, MODE_CLIENT};
use prossntp::proto::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use prossntp::sys::{poll::poll_readable, udp};
use std::os::fd::AsRawFd;

const USAGE: &str = "usage: prossntp-testserver [--listen ADDR:PORT]... [--offset SECS] [--mode MODE] \
[--late-ms N] [--stratum N] [--lifetime SECS]
modes: normal kod-rate kod-deny kod-rstr li3 stratum0 stratum16 wrong-origin zero-ts \
truncated wrong-port late silent root-distance";
const CTL_PREFIX: &[u8] = b"PROSSNTP-CTL ";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Normal,
    KodRate,
    KodDeny,
    KodRstr,
    Li3,
    Stratum0,
    Stratum16,
    WrongOrigin,
    ZeroTs,
    Truncated,
    WrongPort,
    Late,
    Silent,
    RootDistance,
}

const MODES: [(&str, Mode); 14] = [
    ("normal", Mode::Normal),
    ("kod-rate", Mode::KodRate),
    ("kod-deny", Mode::KodDeny),
    ("kod-rstr", Mode::KodRstr),
    ("li3", Mode::Li3),
    ("stratum0", Mode::Stratum0),
    ("stratum16", Mode::Stratum16),
    ("wrong-origin", Mode::WrongOrigin),
    ("zero-ts", Mode::ZeroTs),
    ("truncated", Mode::Truncated),
    ("wrong-port", Mode::WrongPort),
    ("late", Mode::Late),
    ("silent", Mode::Silent),
    ("root-distance", Mode::RootDistance),
];

fn parse_mode(s: &str) -> Result<Mode, String> {
    MODES.iter().find(|(name, _)| *name == s).map(|&(_, m)| m).ok_or_else(|| format!("unknown mode {s:?}"))
}

/// `leap=V` at served time `served` (Unix s): none (0), or the indicator
/// (1 insert, 2 delete) and the next midnight of the served time.
fn parse_leap(v: &str, served: f64) -> Result<Option<(u8, f64)>, String> {
    let midnight = ((served / 86_400.0).floor() + 1.0) * 86_400.0;
    match v {
        "0" => Ok(None),
        "1" => Ok(Some((1, midnight))),
        "2" => Ok(Some((2, midnight))),
        _ => Err(format!("bad leap {v:?} (0, 1 or 2)")),
    }
}

fn parse_offset(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("bad offset {s:?}")),
    }
}

/// What can be switched at run time.
#[derive(Clone, Copy)]
struct Settings {
    mode: Mode,
    /// The served time minus the host's at `anchor` (host Unix seconds)...
    offset: f64,
    anchor: f64,
    /// ...and what it gains each second since, s/s.
    rate: f64,
    /// A leap second announced: the leap indicator (1 insert, 2 delete) and
    /// the served Unix time (s) at which it is made.
    leap: Option<(u8, f64)>,
}

impl Settings {
    /// The served time minus the host's now, seconds, and the leap
    /// indicator to send.
    fn offset_now(&self) -> (f64, u8) {
        let host = host_secs();
        let offset = self.offset + self.rate * (host - self.anchor);
        match self.leap {
            // Inserted: from the point on the served time is a second back
            // (the day's last second repeats); deleted: a second on.
            Some((li, at)) if host + offset >= at - f64::from(u8::from(li == 2)) => {
                (offset + if li == 1 { -1.0 } else { 1.0 }, 0)
            }
            Some((li, _)) => (offset, li),
            None => (offset, 0),
        }
    }
}

fn host_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

struct Shared {
    settings: Mutex<Settings>,
    requests: AtomicU64,
    replies: AtomicU64,
    stratum: u8,
    late: Duration,
    verbose: bool,
}

impl Shared {
    fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, sock: &UdpSocket, data: &[u8], to: SocketAddr) {
        match sock.send_to(data, to) {
            Ok(_) => {
                self.replies.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("prossntp-testserver: send to {to}: {e}"),
        }
    }

    /// Handles a control command and returns the text answer.
    fn control(&self, cmd: &[u8]) -> String {
        let Ok(cmd) = std::str::from_utf8(cmd) else { return "error command is not UTF-8".into() };
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if words == ["time"] {
            let t = now(self.settings().offset_now().0);
            let (secs, nanos) = t.to_unix(host_secs() as i64);
            return format!("time={secs}.{nanos:09}");
        }
        if words == ["stats"] {
            let (n, m) = (self.requests.load(Ordering::Relaxed), self.replies.load(Ordering::Relaxed));
            return format!("requests={n} replies={m}");
        }
        if words.is_empty() {
            return "error empty command".into();
        }
        let mut new = self.settings();
        // Rate and offset count from now on (a leap second made is kept).
        let (offset, li) = new.offset_now();
        if li == 0 && new.leap.is_some() {
            new.leap = None;
        }
        (new.offset, new.anchor) = (offset, host_secs());
        for word in words {
            let parsed = match word.split_once('=') {
                Some(("mode", v)) => parse_mode(v).map(|m| new.mode = m),
                Some(("offset", v)) => parse_offset(v).map(|o| new.offset = o),
                Some(("rate", v)) => parse_offset(v).map(|ppm| new.rate = ppm * 1e-6),
                Some(("leap", v)) => parse_leap(v, host_secs() + new.offset).map(|l| new.leap = l),
                _ => Err(format!("unknown command {word:?}")),
            };
            if let Err(e) = parsed {
                return format!("error {e}");
            }
        }
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = new;
        "ok".into()
    }
}

/// True time plus `offset` seconds, as an NTP timestamp.
fn now(offset: f64) -> NtpTimestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()).plus(NtpDuration::from_seconds(offset))
}

/// The reply to `req` in `mode`, all but the transmit timestamp.
fn reply(mode: Mode, req: &Packet, receive_ts: NtpTimestamp, offset: f64, stratum: u8) -> Packet {
    let mut p = Packet {
        version: req.version,
        stratum,
        poll: req.poll,
        reference_id: *b"PSNT",
        reference_ts: now(offset).plus(NtpDuration::from_seconds(-1.0)),
        ..Packet::reply(req.transmit_ts, receive_ts, NtpTimestamp::ZERO)
    };
    let kod = |p: &mut Packet, code: &[u8; 4]| {
        p.leap = LEAP_UNSYNCHRONIZED;
        p.stratum = 0;
        p.reference_id = *code;
    };
    match mode {
        Mode::KodRate => kod(&mut p, b"RATE"),
        Mode::KodDeny => kod(&mut p, b"DENY"),
        Mode::KodRstr => kod(&mut p, b"RSTR"),
        Mode::Li3 => p.leap = LEAP_UNSYNCHRONIZED,
        Mode::Stratum0 => (p.stratum, p.reference_id) = (0, *b"INIT"),
        Mode::Stratum16 => p.stratum = 16,
        Mode::WrongOrigin => p.origin_ts = NtpTimestamp(req.transmit_ts.0 ^ 1),
        Mode::ZeroTs => p.receive_ts = NtpTimestamp::ZERO,
        Mode::RootDistance => p.root_dispersion = NtpShort(0x0002_0000),
        _ => {}
    }
    p
}

/// Stamps the transmit timestamp (unless in `zero-ts` mode) and encodes.
fn finish(mut p: Packet, mode: Mode, offset: f64) -> [u8; HEADER_LEN] {
    if mode != Mode::ZeroTs {
        p.transmit_ts = now(offset);
    }
    p.encode()
}

/// Serves one listening socket forever; `alt` is the socket for `wrong-port`.
fn serve(shared: Arc<Shared>, sock: Arc<UdpSocket>, alt: UdpSocket) {
    let mut buf = [0u8; 2048];
    let fd = sock.as_raw_fd();
    // The receive timestamp is the kernel's, as chronyd's is: the thread's
    // wake-up latency would otherwise bias every client's offset.
    let kernel_rx = udp::enable_rx_timestamps(fd).is_ok();
    loop {
        let _ = poll_readable(&[fd], None);
        let (len, peer, kernel_ts) = match udp::recv_timestamped(fd, &mut buf) {
            Ok(udp::Received { len, from: Some(peer), timestamp }) => (len, peer, timestamp.filter(|_| kernel_rx)),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => continue,
            Err(e) => {
                eprintln!("prossntp-testserver: receive: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let settings = shared.settings();
        let mode = settings.mode;
        let (offset, li) = settings.offset_now();
        let receive_ts = kernel_ts.map_or_else(|| now(offset), |t| t.plus(NtpDuration::from_seconds(offset)));
        let data = &buf[..len];
        if let Some(cmd) = data.strip_prefix(CTL_PREFIX) {
            let answer = shared.control(cmd);
            if let Err(e) = sock.send_to(answer.as_bytes(), peer) {
                eprintln!("prossntp-testserver: send to {peer}: {e}");
            }
            continue;
        }
        let Some(req) = Packet::parse(data).filter(|p| p.mode == MODE_CLIENT) else { continue };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        if shared.verbose {
            let name = MODES.iter().find(|(_, m)| *m == mode).map_or("?", |(n, _)| n);
            eprintln!(
                "prossntp-testserver: request v{} from {peer} on {}: {name}",
                req.version,
                sock.local_addr().map_or_else(|_| "?".into(), |a| a.to_string())
            );
        }
        let mut p = reply(mode, &req, receive_ts, offset, shared.stratum);
        if p.leap == 0 {
            p.leap = li;
        }
        match mode {
            Mode::Silent => {}
            Mode::Truncated => shared.send(&sock, &finish(p, mode, offset)[..40], peer),
            Mode::WrongPort => shared.send(&alt, &finish(p, mode, offset), peer),
            Mode::Late => {
                let (shared, sock) = (Arc::clone(&shared), Arc::clone(&sock));
                thread::spawn(move || {
                    thread::sleep(shared.late);
                    shared.send(&sock, &finish(p, mode, offset), peer);
                });
            }
            _ => shared.send(&sock, &finish(p, mode, offset), peer),
        }
    }
}

struct Args {
    listen: Vec<SocketAddr>,
    settings: Settings,
    late_ms: u64,
    stratum: u8,
    lifetime: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        listen: Vec::new(),
        settings: Settings { mode: Mode::Normal, offset: 0.0, anchor: 0.0, rate: 0.0, leap: None },
        late_ms: 2000,
        stratum: 1,
        lifetime: Duration::from_secs(3600),
    };
    const FLAGS: [&str; 6] = ["--listen", "--offset", "--mode", "--late-ms", "--stratum", "--lifetime"];
    while let Some(flag) = args.next() {
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag:?}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("bad value {value:?} for {flag}");
        match flag.as_str() {
            "--listen" => a.listen.push(value.parse().map_err(|_| bad())?),
            "--offset" => a.settings.offset = parse_offset(&value)?,
            "--mode" => a.settings.mode = parse_mode(&value)?,
            "--late-ms" => a.late_ms = value.parse().map_err(|_| bad())?,
            "--stratum" => a.stratum = value.parse().map_err(|_| bad())?,
            "--lifetime" => {
                let secs: f64 = value.parse().map_err(|_| bad())?;
                a.lifetime = Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(bad)?
            }
            _ => unreachable!("checked against FLAGS"),
        }
    }
    if a.listen.is_empty() {
        a.listen.push(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    Ok(a)
}

fn main() {
    let args = parse_args(env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("prossntp-testserver: {e}\n{USAGE}");
        process::exit(2);
    });
    let shared = Arc::new(Shared {
        settings: Mutex::new(args.settings),
        requests: AtomicU64::new(0),
        replies: AtomicU64::new(0),
        stratum: args.stratum,
        late: Duration::from_millis(args.late_ms),
        verbose: env::var("PROSSNTP_TESTSERVER_VERBOSE").is_ok_and(|v| v == "1"),
    });
    let bind = |addr: SocketAddr| {
        UdpSocket::bind(addr).unwrap_or_else(|e| {
            eprintln!("prossntp-testserver: bind {addr}: {e}");
            process::exit(1);
        })
    };
    // Bind everything first, so that `ready` means every socket is serving.
    let sockets: Vec<(UdpSocket, UdpSocket)> = args
        .listen
        .iter()
        .map(|&addr| {
            let sock = bind(addr);
            let ip = sock.local_addr().map_or(addr.ip(), |a| a.ip());
            (sock, bind(SocketAddr::new(ip, 0)))
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for (sock, alt) in sockets {
        if let Ok(addr) = sock.local_addr() {
            let _ = writeln!(out, "listening {addr}");
            let _ = out.flush();
        }
        let shared = Arc::clone(&shared);
        thread::spawn(move || serve(shared, Arc::new(sock), alt));
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    thread::sleep(args.lifetime);
}
