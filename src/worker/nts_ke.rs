//! The NTS key exchange (RFC 8915, section 4) as I/O, on a short-lived
//! thread of its own: TCP to the server's NTS-KE port, TLS 1.3 with ALPN
//! `ntske/1` (rustls with ring's crypto), the request, the response (parsed
//! by [`crate::proto::nts_ke`]), the two keys from the TLS exporter. Every
//! step has a deadline: a server that stalls or resets the connection ends
//! the exchange with an error, never the worker.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use zeroize::Zeroizing;

use super::{KeOutcome, KeyExchange};
use crate::proto::nts::NtsSession;
use crate::proto::nts_ke::{exporter_context, parse_response, request, ALPN, EXPORTER_LABEL, KEY_LEN};
use crate::sys::random;

/// The whole exchange, connection to keys.
pub const KE_TIMEOUT: Duration = Duration::from_secs(10);

/// Certificates are checked against the host clock, but never against a
/// time before this library was built: a host clock that has not been set
/// yet (1970 after a cold boot without a real-time clock) would otherwise
/// make every certificate "not yet valid". An expired certificate is still
/// refused, and so is every certificate while the host clock is far ahead.
#[derive(Debug)]
struct NotBeforeBuild;

impl TimeProvider for NotBeforeBuild {
    fn current_time(&self) -> Option<UnixTime> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let built: u64 = env!("PROSSNTP_BUILD_UNIX").parse().unwrap_or(0);
        Some(UnixTime::since_unix_epoch(Duration::from_secs(now.max(built))))
    }
}

/// The TLS configuration of a client: TLS 1.3 only, ALPN `ntske/1`, the CAs
/// of `ca_file` (PEM) or, without one, the system's.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("CA file {}: no certificate in it", path.display()));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no system CA certificates found".into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_details(provider, Arc::new(NotBeforeBuild))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    // Every exchange a full handshake: fresh keys, and no ticket kept.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry: a DNS name or an IP literal.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("server name {name:?} is neither a DNS name nor an IP address"))
}

/// An I/O error as text; a socket timeout says so.
fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("timed out (the exchange has {} s)", KE_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    }
}

/// The key exchange of a client: TLS as `config` says, the certificate for `name`.
pub fn exchanger(config: Arc<ClientConfig>, name: ServerName<'static>) -> KeyExchange {
    Arc::new(move |ke, ntp| exchange(Arc::clone(&config), name.clone(), ke, ntp))
}

/// Runs one key exchange with the server at `ke` (certificate name `name`)
/// for NTP to `ntp` unless the server names another host or port.
pub fn exchange(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    ke: SocketAddr,
    ntp: SocketAddr,
) -> Result<KeOutcome, String> {
    let deadline = Instant::now() + KE_TIMEOUT;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let tcp = TcpStream::connect_timeout(&ke, left()).map_err(|e| format!("connect to {ke}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let conn = ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
    let mut tls = StreamOwned::new(conn, tcp);
    let timeouts = |s: &TcpStream| s.set_read_timeout(Some(left())).and_then(|()| s.set_write_timeout(Some(left())));
    timeouts(&tls.sock).map_err(|e| format!("socket: {e}"))?;
    tls.write_all(&request())
        .and_then(|()| tls.flush())
        .map_err(|e| format!("TLS handshake with {ke}: {}", io_text(&e)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let response = loop {
        if Instant::now() >= deadline {
            return Err(format!("no complete response from {ke} within {} s", KE_TIMEOUT.as_secs()));
        }
        timeouts(&tls.sock).map_err(|e| format!("socket: {e}"))?;
        let n = match tls.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the response from {ke}: {}", io_text(&e))),
        };
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf) {
            Ok(Some(r)) => break r,
            Ok(None) if n == 0 => return Err(format!("{ke} closed the connection before the end of its response")),
            Ok(None) => {}
            Err(e) => return Err(format!("{ke}: {e}")),
        }
    };
    if tls.conn.alpn_protocol() != Some(ALPN) {
        return Err(format!("{ke} did not agree to ALPN ntske/1"));
    }
    let export = |s2c: bool| -> Result<Zeroizing<[u8; KEY_LEN]>, String> {
        tls.conn
            .export_keying_material(Zeroizing::new([0u8; KEY_LEN]), EXPORTER_LABEL, Some(&exporter_context(s2c)))
            .map_err(|e| format!("TLS exporter: {e}"))
    };
    let (c2s, s2c) = (export(false)?, export(true)?);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let ntp = match response.server.as_deref() {
        Some(host) => {
            let port = response.port.unwrap_or(123);
            let mut found = (host, port).to_socket_addrs().map_err(|e| format!("NTP server {host}: {e}"))?;
            found.find(|a| a.is_ipv6() == ke.is_ipv6()).ok_or_else(|| format!("NTP server {host}: no address"))?
        }
        None => SocketAddr::new(ntp.ip(), response.port.unwrap_or(ntp.port())),
    };
    let mut seed = [0u8; 32];
    random::fill(&mut seed).map_err(|e| format!("no random seed: {e}"))?;
    let session = NtsSession::new(&c2s, &s2c, response.cookies, seed);
    Ok(KeOutcome { session, ntp })
}
