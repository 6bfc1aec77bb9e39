//! Helpers shared by the integration tests: the project's test server as a
//! child process, and a measure-only client driven through the C ABI.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use prossntp::clock::{ClockBackend, ClockError, Selection};
use prossntp::discipline::{ClockAction, SyncReport};
use prossntp::ffi::api::*;
use prossntp::ffi::types::*;
use prossntp::worker::BackendSelect;

/// A steering backend that counts the clock actions it is asked for and
/// touches nothing.
pub struct Recorder(pub Arc<AtomicUsize>);

impl ClockBackend for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn steers(&self) -> bool {
        true
    }
    fn apply(&mut self, _: ClockAction, _: &SyncReport, _: Duration) -> Result<(), ClockError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Recorder {
    /// A worker's backend choice: a recorder counting into `applied`.
    pub fn select(applied: &Arc<AtomicUsize>) -> BackendSelect {
        let rec = Recorder(Arc::clone(applied));
        Box::new(move || Ok(Selection { backend: Box::new(rec) as Box<dyn ClockBackend>, note: None }))
    }
}

// The sm_sntp_* calls are unsafe only for their pointer arguments, which
// point to live locals here.

pub fn measure_only() {
    static ONCE: Once = Once::new();
    // Set before any client exists in this process; never changed after.
    ONCE.call_once(|| std::env::set_var("PROSSNTP_CLOCK", "none"));
}

pub struct TestServer {
    child: Child,
    pub addrs: Vec<SocketAddr>,
}

impl TestServer {
    /// A server on 127.0.0.1 and ::1 (kernel-chosen ports).
    pub fn start(args: &[&str]) -> TestServer {
        Self::start_on(&["127.0.0.1:0", "[::1]:0"], args)
    }

    /// A server listening on `listen` (ADDR:PORT each).
    pub fn start_on(listen: &[&str], args: &[&str]) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_prossntp-testserver"))
            .args(listen.iter().flat_map(|l| ["--listen", l]))
            .args(["--lifetime", "120", "--late-ms", "700"])
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

    pub fn control(&self, cmd: &str) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send_to(format!("PROSSNTP-CTL {cmd}").as_bytes(), self.addrs[0]).unwrap();
        let mut buf = [0; 64];
        let n = s.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ok");
    }
}

impl TestServer {
    /// Kills the server and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Context switches of the worker threads (named `prossntp`) of this process.
pub fn worker_switches() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        if std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim() == "prossntp" {
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
                .sum::<u64>();
        }
    }
    total
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

pub struct Client(pub tSMSNTPId);

impl Client {
    pub fn create(ipv6: bool) -> Client {
        Self::create_on(if ipv6 { "::".parse().unwrap() } else { "0.0.0.0".parse().unwrap() })
    }

    /// A client bound to the local address `local`.
    pub fn create_on(local: std::net::IpAddr) -> Client {
        measure_only();
        // SAFETY: all-zero is a valid value of this plain C struct (any-address, null handles).
        let mut p: SM_SNTP_CREATE_PARMS = unsafe { std::mem::zeroed() };
        p.r#type = SntpTypeField(local.is_ipv6() as i32);
        match local {
            std::net::IpAddr::V4(a) => p.address.s_addr = u32::from(a).to_be(),
            std::net::IpAddr::V6(a) => p.ipv6_address.s6_addr = a.octets(),
        }
        assert_eq!(unsafe { sm_sntp_create(&mut p) }, 0);
        Client(p.sntp)
    }

    pub fn config(&self, server: SocketAddr, no_reply: u64, had_reply: u64) -> i32 {
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

    pub fn event(&self) -> tSMEventId {
        let mut p =
            SM_SNTP_EVENT_PARMS { sntp: self.0, event: tSMEventId { fd: -1, mode: 0, eip: std::ptr::null_mut() } };
        assert_eq!(unsafe { sm_sntp_get_event(&mut p) }, 0);
        p.event
    }

    /// (status, has_sync) of one message.
    pub fn status(&self) -> (i32, i32) {
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
    pub fn wait_sync(&self, has_sync: i32, timeout: Duration) -> Option<Duration> {
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

/// A chronyd of a test's own (scripts/testnet.sh runs the shared one), with
/// `conf` (its pidfile and command socket are set here); stopped and its
/// directory removed when dropped.
pub struct Chronyd {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Chronyd {
    /// Starts chronyd -x (it never touches the clock) in a directory named after `tag`.
    pub fn start(tag: &str, conf: &str) -> Chronyd {
        let dir = std::env::temp_dir().join(format!("prossntp-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chrony.conf");
        let extra = format!("cmdport 0\nbindcmdaddress /\npidfile {}/chronyd.pid\n", dir.display());
        std::fs::write(&file, format!("{conf}{extra}")).unwrap();
        let log = std::fs::File::create(dir.join("chronyd.log")).unwrap();
        let child = std::process::Command::new("chronyd")
            .args(["-x", "-d", "-u", "root", "-f"])
            .arg(&file)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("chronyd");
        Chronyd { child, dir }
    }

    /// Stops it (and waits for it), keeping its directory.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
