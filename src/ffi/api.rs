//! The six `sm_sntp_*` entry points, exported under their plain names and
//! their decorated ones. Every call validates its pointers and handle, runs
//! behind a panic boundary (a panic returns `ERR_SM_DEVERR`) and is traced.

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, addr_of_mut};
use std::time::Duration;

use super::registry::{self, Handle};
use super::trace;
use super::types::*;
use crate::worker::{self, status::Report, ServerConfig, Worker};

/// Runs `body` behind the panic boundary and traces the call.
pub(super) fn entry(body: impl FnOnce() -> tSM_INT, describe: impl FnOnce() -> String) -> tSM_INT {
    trace::init_from_env();
    let rc = catch_unwind(AssertUnwindSafe(body)).unwrap_or(ERR_SM_DEVERR);
    if trace::enabled() {
        let text = catch_unwind(AssertUnwindSafe(describe)).unwrap_or_default();
        trace::line(&format!("{text} == {rc}"));
    }
    rc
}

/// Reads a caller's parameter block; `None` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a readable `T`.
unsafe fn read_parms<T>(p: *const T) -> Option<T> {
    // SAFETY: the caller guarantees `p` is NULL or readable; all T here are plain C data.
    (!p.is_null()).then(|| unsafe { ptr::read_unaligned(p) })
}

pub(super) fn handle_key(sntp: tSMSNTPId) -> usize {
    sntp as usize
}

pub(super) fn lookup(sntp: tSMSNTPId) -> Result<std::sync::Arc<Handle>, tSM_INT> {
    registry::get(handle_key(sntp)).ok_or(ERR_SM_BAD_PARAMETER)
}

fn os_error(e: &io::Error) -> tSM_INT {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN) => ERR_SM_NO_RESOURCES,
        // Not an address of this host; or (EINVAL) a link-local one, which
        // needs a scope id that the create parameters cannot carry.
        Some(libc::EADDRNOTAVAIL | libc::EINVAL) => ERR_SM_BAD_PARAMETER,
        _ => ERR_SM_OS_RESOURCE_PROBLEM,
    }
}

fn v4(sa: &SOCKADDR_IN) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)), u16::from_be(sa.sin_port))
}

fn v6(sa: &SOCKADDR_IN6) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::from(sa.sin6_addr.s6_addr),
        u16::from_be(sa.sin6_port),
        sa.sin6_flowinfo,
        sa.sin6_scope_id,
    )
}

fn usable_server(addr: SocketAddr) -> bool {
    addr.port() != 0
        && match addr {
            SocketAddr::V4(a) => !(a.ip().is_unspecified() || a.ip().is_broadcast() || a.ip().is_multicast()),
            // IPv6 clients' sockets are IPv6-only: an IPv4-mapped server is
            // unreachable. A link-local server needs the scope id of an
            // interface that exists; any scope id given must name one.
            SocketAddr::V6(a) => {
                let ip = a.ip();
                let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
                let unusable = ip.is_unspecified() || ip.is_multicast() || ip.to_ipv4_mapped().is_some();
                let scope_ok = if a.scope_id() == 0 { !link_local } else { crate::sys::interface_exists(a.scope_id()) };
                !unusable && scope_ok
            }
        }
}

/// Delays in milliseconds: both at least 1, `no_reply <= had_reply`.
#[allow(clippy::useless_conversion)] // tSM_UT32 is u32 on ILP32 targets
fn delays(no_reply: tSM_UT32, had_reply: tSM_UT32) -> Result<(Duration, Duration), tSM_INT> {
    if no_reply > had_reply || no_reply == 0 {
        return Err(ERR_SM_BAD_PARAMETER);
    }
    Ok((Duration::from_millis(u64::from(no_reply)), Duration::from_millis(u64::from(had_reply))))
}

/// The part of both config calls after decoding the server: delays are
/// checked first (the contract's order), then the server, then the handle.
fn configure(sntp: tSMSNTPId, no_reply: tSM_UT32, had_reply: tSM_UT32, server: Option<(SocketAddr, u8)>) -> tSM_INT {
    let (no_reply, had_reply) = match delays(no_reply, had_reply) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let Some((server, traffic_class)) = server.filter(|(s, _)| usable_server(*s)) else {
        return ERR_SM_BAD_PARAMETER;
    };
    let Ok(handle) = lookup(sntp) else { return ERR_SM_BAD_PARAMETER };
    if handle.ipv6 != server.is_ipv6() {
        return ERR_SM_BAD_PARAMETER;
    }
    if handle.orphaned() {
        return ERR_SM_WRONG_MODULE_STATE;
    }
    match handle.worker.configure(ServerConfig { server, traffic_class, no_reply, had_reply }) {
        Ok(()) => ERR_SM_OK,
        // A destroy that overlapped this call ended the worker: the handle is gone.
        Err(worker::ConfigureError::Ended) if registry::get(handle_key(sntp)).is_none() => ERR_SM_BAD_PARAMETER,
        Err(worker::ConfigureError::Ended) => ERR_SM_WRONG_MODULE_STATE,
    }
}

/// Configures (or reconfigures) an IPv4 client's server and delays.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_config(configp: *mut SM_SNTP_CONFIG_PARMS) -> tSM_INT {
    // SAFETY: the API requires NULL or a valid parameter block.
    let parms = unsafe { read_parms(configp) };
    entry(
        || {
            let Some(p) = &parms else { return ERR_SM_BAD_PARAMETER };
            let server = (p.server.sin_family as i32 == libc::AF_INET && (0..=255).contains(&p.TOS))
                .then(|| (v4(&p.server).into(), p.TOS as u8));
            configure(p.sntp, p.no_reply_delay, p.had_reply_delay, server)
        },
        || match &parms {
            None => "sm_sntp_config(NULL)".into(),
            Some(p) => format!(
                "sm_sntp_config(sntp={:p}, server={}, TOS={}, no_reply_delay={}, had_reply_delay={})",
                p.sntp,
                v4(&p.server),
                p.TOS,
                p.no_reply_delay,
                p.had_reply_delay
            ),
        },
    )
}

/// Configures (or reconfigures) an IPv6 client's server and delays.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_config_ipv6(configp: *mut SM_SNTP_CONFIG_IPV6_PARMS) -> tSM_INT {
    // SAFETY: the API requires NULL or a valid parameter block.
    let parms = unsafe { read_parms(configp) };
    entry(
        || {
            let Some(p) = &parms else { return ERR_SM_BAD_PARAMETER };
            let server = (p.server.sin6_family as i32 == libc::AF_INET6).then(|| {
                let tclass = ((u32::from_be(p.server.sin6_flowinfo) >> 20) & 0xff) as u8;
                let mut server = v6(&p.server);
                server.set_flowinfo(0);
                (server.into(), tclass)
            });
            configure(p.sntp, p.no_reply_delay, p.had_reply_delay, server)
        },
        || match &parms {
            None => "sm_sntp_config_ipv6(NULL)".into(),
            Some(p) => format!(
                "sm_sntp_config_ipv6(sntp={:p}, server={}, no_reply_delay={}, had_reply_delay={})",
                p.sntp,
                v6(&p.server),
                p.no_reply_delay,
                p.had_reply_delay
            ),
        },
    )
}

/// Creates a client bound to a local address; it sends nothing until configured.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_create(createp: *mut SM_SNTP_CREATE_PARMS) -> tSM_INT {
    // SAFETY: the API requires NULL or a valid parameter block.
    let parms = unsafe { read_parms(createp) };
    let made: Cell<tSMSNTPId> = Cell::new(ptr::null_mut());
    entry(
        || {
            let Some(p) = &parms else { return ERR_SM_BAD_PARAMETER };
            let local: SocketAddr = match p.r#type.0 {
                0 => SocketAddrV4::new(Ipv4Addr::from(u32::from_be(p.address.s_addr)), 0).into(),
                1 => SocketAddrV6::new(Ipv6Addr::from(p.ipv6_address.s6_addr), 0, 0, 0).into(),
                _ => return ERR_SM_BAD_PARAMETER,
            };
            let socket = match worker::open_socket(local) {
                Ok(s) => s,
                Err(e) => return os_error(&e),
            };
            let owner = crate::owner::process(trace::line);
            let worker = match Worker::spawn(socket, worker::backend_from_env(), owner, trace::line) {
                Ok(w) => w,
                Err(e) => return os_error(&e),
            };
            made.set(registry::insert(Handle::new(local.is_ipv6(), worker)) as tSMSNTPId);
            // SAFETY: `createp` is non-NULL (parms was read from it) and writable per the API.
            unsafe { addr_of_mut!((*createp).sntp).write_unaligned(made.get()) };
            ERR_SM_OK
        },
        || match &parms {
            None => "sm_sntp_create(NULL)".into(),
            Some(p) => format!(
                "sm_sntp_create(module={:p}, type={}, address={}, ipv6_address={}) sntp={:p}",
                p.module,
                p.r#type.0,
                Ipv4Addr::from(u32::from_be(p.address.s_addr)),
                Ipv6Addr::from(p.ipv6_address.s6_addr),
                made.get()
            ),
        },
    )
}

/// Stops and frees a client and closes its event. NULL is accepted.
///
/// # Safety
/// Any handle value is accepted; it is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_destroy(sntp: tSMSNTPId) -> tSM_INT {
    entry(
        || {
            if sntp.is_null() {
                return ERR_SM_OK;
            }
            match registry::remove(handle_key(sntp)) {
                // Inherited across fork(): no thread to join, and its locks may
                // have been held by a thread of the parent. Leave it be.
                Some(handle) if handle.orphaned() => {
                    std::mem::forget(handle);
                    ERR_SM_OK
                }
                Some(handle) => {
                    handle.worker.shutdown();
                    ERR_SM_OK
                }
                None => ERR_SM_BAD_PARAMETER,
            }
        },
        || format!("sm_sntp_destroy(sntp={sntp:p})"),
    )
}

/// Returns the client's event: the same descriptor and mode every time.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_get_event(eventp: *mut SM_SNTP_EVENT_PARMS) -> tSM_INT {
    // SAFETY: the API requires NULL or a valid parameter block.
    let parms = unsafe { read_parms(eventp) };
    let fd = Cell::new(-1);
    entry(
        || {
            let Some(p) = &parms else { return ERR_SM_BAD_PARAMETER };
            let handle = match lookup(p.sntp) {
                Ok(h) => h,
                Err(e) => return e,
            };
            if handle.orphaned() {
                return ERR_SM_WRONG_MODULE_STATE;
            }
            fd.set(handle.worker.event_fd());
            let event = tSMEventId { fd: fd.get(), mode: EVENT_MODE, eip: p.sntp.cast() };
            // SAFETY: `eventp` is non-NULL and writable per the API.
            unsafe { addr_of_mut!((*eventp).event).write_unaligned(event) };
            ERR_SM_OK
        },
        || match &parms {
            None => "sm_sntp_get_event(NULL)".into(),
            Some(p) => format!("sm_sntp_get_event(sntp={:p}) fd={} mode={EVENT_MODE}", p.sntp, fd.get()),
        },
    )
}

/// Reads one pending status message without waiting.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_status(statusp: *mut SM_SNTP_STATUS_PARMS) -> tSM_INT {
    // SAFETY: the API requires NULL or a valid parameter block.
    let parms = unsafe { read_parms(statusp) };
    let report = Cell::new(None);
    entry(
        || {
            let Some(p) = &parms else { return ERR_SM_BAD_PARAMETER };
            let handle = match lookup(p.sntp) {
                Ok(h) => h,
                Err(e) => return e,
            };
            // An inherited client has no worker here: Stopped, without touching
            // state shared with the parent.
            let r = if handle.orphaned() { Report::Stopped } else { handle.worker.status() };
            if r == Report::Stopped && registry::get(handle_key(p.sntp)).is_none() {
                return ERR_SM_BAD_PARAMETER; // destroyed while this call ran
            }
            report.set(Some(r));
            let status = match r {
                Report::Running => kSMSNTPStatus::kSMSNTPStatusRunning,
                Report::Stopped => kSMSNTPStatus::kSMSNTPStatusStopped,
                Report::Sync(_) => kSMSNTPStatus::kSMSNTPStatusSync,
            };
            // SAFETY: `statusp` is non-NULL and writable per the API.
            unsafe {
                addr_of_mut!((*statusp).status).write_unaligned(SntpStatusField(status as i32));
                if let Report::Sync(has_sync) = r {
                    addr_of_mut!((*statusp).u.sync.has_sync).write_unaligned(has_sync as i32);
                }
            }
            ERR_SM_OK
        },
        || match &parms {
            None => "sm_sntp_status(NULL)".into(),
            Some(p) => format!("sm_sntp_status(sntp={:p}) status={:?}", p.sntp, report.get()),
        },
    )
}

/// The decorated symbols of Aculab's header, each the same function.
macro_rules! decorated {
    ($($symbol:literal => $name:ident($arg:ident: $ty:ty) = $plain:ident;)*) => {$(
        #[doc = concat!("`", $symbol, "`: the decorated name of `", stringify!($plain), "`.")]
        #[export_name = $symbol]
        ///
        /// # Safety
        /// As for the plain name.
        pub unsafe extern "C" fn $name($arg: $ty) -> tSM_INT {
            // SAFETY: the same contract as the plain function.
            unsafe { $plain($arg) }
        }
    )*};
}

decorated! {
    "sm_sntp_config_iPsSNTPtSAdiUiUi_" => decorated_config(p: *mut SM_SNTP_CONFIG_PARMS) = sm_sntp_config;
    "sm_sntp_config_ipv6_iPsSNTPtSA6dUiUi_" => decorated_config_ipv6(p: *mut SM_SNTP_CONFIG_IPV6_PARMS) = sm_sntp_config_ipv6;
    "sm_sntp_create_iPsSNTPtMte1_2_SIdSI6d_" => decorated_create(p: *mut SM_SNTP_CREATE_PARMS) = sm_sntp_create;
    "sm_sntp_destroy_iSNTPt" => decorated_destroy(p: tSMSNTPId) = sm_sntp_destroy;
    "sm_sntp_get_event_iPsSNTPtEt_" => decorated_get_event(p: *mut SM_SNTP_EVENT_PARMS) = sm_sntp_get_event;
    "sm_sntp_status_iPsSNTPte1_3_usi___" => decorated_status(p: *mut SM_SNTP_STATUS_PARMS) = sm_sntp_status;
}
