//! The whole library through its C ABI, against the project's test server and
//! (when `PROSSNTP_CHRONYD_V4`/`_V6` name one) a real chronyd on loopback.
//! Every client measures only: these tests never touch the clock.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use prossntp::ffi::api::*;
use prossntp::ffi::types::*;

// The sm_sntp_* calls are unsafe only for their pointer arguments, which
// point to live locals here.

fn measure_only() {
    static ONCE: Once = Once::new();
    // Set before any client exists in this process; never changed after.
    ONCE.call_once(|| std::env::set_var("PROSSNTP_CLOCK", "none"));
}

struct TestServer {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl TestServer {
    fn start(args: &[&str]) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_prossntp-testserver"))
            .args(["--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--lifetime", "120"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start test server");
        let mut addrs = vec![];
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line == "ready" {
                break;
            }
            addrs.push(line.strip_prefix("listening ").unwrap().parse().unwrap());
        }
        TestServer { child, addrs }
    }

    fn control(&self, cmd: &str) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send_to(format!("PROSSNTP-CTL {cmd}").as_bytes(), self.addrs[0]).unwrap();
        let mut buf = [0; 64];
        let n = s.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ok");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client(tSMSNTPId);

impl Client {
    fn create(ipv6: bool) -> Client {
        measure_only();
        // SAFETY: all-zero is a valid value of this plain C struct (any-address, null handles).
        let mut p: SM_SNTP_CREATE_PARMS = unsafe { std::mem::zeroed() };
        p.r#type = SntpTypeField(ipv6 as i32);
        assert_eq!(unsafe { sm_sntp_create(&mut p) }, 0);
        Client(p.sntp)
    }

    fn config(&self, server: SocketAddr, no_reply: u64, had_reply: u64) -> i32 {
        match server {
            SocketAddr::V4(a) => {
                // SAFETY: as above.
                let mut p: SM_SNTP_CONFIG_PARMS = unsafe { std::mem::zeroed() };
                p.sntp = self.0;
                p.server.sin_family = libc::AF_INET as _;
                p.server.sin_port = a.port().to_be();
                p.server.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                p.no_reply_delay = no_reply as _;
                p.had_reply_delay = had_reply as _;
                unsafe { sm_sntp_config(&mut p) }
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let mut p: SM_SNTP_CONFIG_IPV6_PARMS = unsafe { std::mem::zeroed() };
                p.sntp = self.0;
                p.server.sin6_family = libc::AF_INET6 as _;
                p.server.sin6_port = a.port().to_be();
                p.server.sin6_addr.s6_addr = a.ip().octets();
                p.no_reply_delay = no_reply as _;
                p.had_reply_delay = had_reply as _;
                unsafe { sm_sntp_config_ipv6(&mut p) }
            }
        }
    }

    fn event(&self) -> tSMEventId {
        let mut p =
            SM_SNTP_EVENT_PARMS { sntp: self.0, event: tSMEventId { fd: -1, mode: 0, eip: std::ptr::null_mut() } };
        assert_eq!(unsafe { sm_sntp_get_event(&mut p) }, 0);
        p.event
    }

    /// (status, has_sync) of one message.
    fn status(&self) -> (i32, i32) {
        let mut p = SM_SNTP_STATUS_PARMS {
            sntp: self.0,
            status: SntpStatusField(-1),
            u: sm_sntp_status_u { sync: sm_sntp_status_sync { has_sync: -1 } },
        };
        assert_eq!(unsafe { sm_sntp_status(&mut p) }, 0);
        // SAFETY: the union has one member.
        (p.status.0, unsafe { p.u.sync.has_sync })
    }

    /// Waits on the event with poll() for a Sync message with `has_sync`.
    fn wait_sync(&self, has_sync: i32, timeout: Duration) -> Option<Duration> {
        let ev = self.event();
        let start = Instant::now();
        while start.elapsed() < timeout {
            let mut pfd = libc::pollfd { fd: ev.fd, events: ev.mode as i16, revents: 0 };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            loop {
                match self.status() {
                    (2, s) if s == has_sync => return Some(start.elapsed()),
                    (0, _) => break,
                    (1, _) => panic!("client stopped"),
                    _ => {}
                }
            }
        }
        None
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        assert_eq!(unsafe { sm_sntp_destroy(self.0) }, 0);
    }
}

#[test]
fn syncs_with_the_test_server_over_ipv4_and_ipv6() {
    let server = TestServer::start(&["--offset", "0.25"]);
    for (i, addr) in server.addrs.iter().enumerate() {
        let c = Client::create(i == 1);
        assert_eq!(c.config(*addr, 500, 2000), 0);
        let t = c.wait_sync(1, Duration::from_secs(10)).expect("sync");
        eprintln!("first sync with {addr} after {t:?}");
        assert_eq!(c.status(), (0, -1), "Running: nothing new; has_sync untouched");
    }
}

#[test]
fn sync_is_lost_and_regained_when_the_server_goes_silent_and_back() {
    let server = TestServer::start(&[]);
    let c = Client::create(false);
    assert_eq!(c.config(server.addrs[0], 200, 400), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync");
    server.control("mode=silent");
    let lost = c.wait_sync(0, Duration::from_secs(10)).expect("sync lost");
    assert!(lost >= Duration::from_millis(600), "not before 4 unanswered requests: {lost:?}");
    server.control("mode=normal");
    c.wait_sync(1, Duration::from_secs(10)).expect("sync regained");
}

#[test]
fn destroy_is_prompt_whatever_the_delays() {
    let server = TestServer::start(&[]);
    let c = Client::create(false);
    assert_eq!(c.config(server.addrs[0], 64_000, 64_000), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("sync");
    let start = Instant::now();
    drop(c);
    let took = start.elapsed();
    eprintln!("destroy with 64 s delays took {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn syncs_with_chronyd() {
    let servers: Vec<SocketAddr> = ["PROSSNTP_CHRONYD_V4", "PROSSNTP_CHRONYD_V6"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.parse().unwrap())
        .collect();
    if servers.is_empty() {
        assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not named");
        eprintln!("skipped: no chronyd named (run through scripts/testnet.sh)");
        return;
    }
    for addr in servers {
        let c = Client::create(addr.is_ipv6());
        assert_eq!(c.config(addr, 1000, 64_000), 0);
        let t = c.wait_sync(1, Duration::from_secs(10)).expect("sync with chronyd");
        eprintln!("first sync with chronyd at {addr} after {t:?}");
    }
}
