//! The six `sm_sntp_*` entry points, exported under their plain names and
//! their decorated ones. Every call goes through `ffi_entry!`: its
//! pointers checked, its input read (the input members only: C callers may
//! leave the output members uninitialised), behind a panic boundary (a panic
//! returns `ERR_SM_DEVERR`), and traced. Only the output members are written.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr::{addr_of, addr_of_mut};
use std::time::Duration;

use super::entry::ffi_entry;
use super::error::SmError;
use super::registry::{self, Handle};
use super::trace;
use super::types::*;
use crate::worker::{self, status::Report, ServerConfig, Worker};

pub(super) fn handle_key(sntp: tSMSNTPId) -> usize {
    sntp as usize
}

pub(super) fn lookup(sntp: tSMSNTPId) -> Result<std::sync::Arc<Handle>, SmError> {
    registry::get(handle_key(sntp)).ok_or(SmError::BadParameter)
}

/// A client of this process: known, and not inherited across `fork()`.
pub(super) fn live(sntp: tSMSNTPId) -> Result<std::sync::Arc<Handle>, SmError> {
    let handle = lookup(sntp)?;
    if handle.orphaned() {
        return Err(SmError::WrongModuleState);
    }
    Ok(handle)
}

fn os_error(e: &io::Error) -> SmError {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN) => SmError::NoResources,
        // Not an address of this host; or (EINVAL) a link-local one, which
        // needs a scope id that the create parameters cannot carry.
        Some(libc::EADDRNOTAVAIL | libc::EINVAL) => SmError::BadParameter,
        _ => SmError::OsResourceProblem,
    }
}

/// The input members of a `struct sockaddr_in`: family and address (with port).
///
/// # Safety
/// `p` must point to a readable `struct sockaddr_in`; `sin_zero` (and
/// `sin_len` where there is one) need not be initialised.
unsafe fn read_v4(p: *const SOCKADDR_IN) -> (libc::sa_family_t, SocketAddrV4) {
    // SAFETY: `p` is readable (the caller's promise); only these members are
    // read, each a plain integer, unaligned.
    let (family, port, addr) = unsafe {
        (
            addr_of!((*p).sin_family).read_unaligned(),
            addr_of!((*p).sin_port).read_unaligned(),
            addr_of!((*p).sin_addr.s_addr).read_unaligned(),
        )
    };
    (family, SocketAddrV4::new(Ipv4Addr::from(u32::from_be(addr)), u16::from_be(port)))
}

/// The input members of a `struct sockaddr_in6`: family and address (with
/// port, flow information as given, and scope id).
///
/// # Safety
/// `p` must point to a readable `struct sockaddr_in6`.
unsafe fn read_v6(p: *const SOCKADDR_IN6) -> (libc::sa_family_t, SocketAddrV6) {
    // SAFETY: `p` is readable (the caller's promise); only these members are
    // read, each plain integers, unaligned.
    let (family, port, flowinfo, addr, scope_id) = unsafe {
        (
            addr_of!((*p).sin6_family).read_unaligned(),
            addr_of!((*p).sin6_port).read_unaligned(),
            addr_of!((*p).sin6_flowinfo).read_unaligned(),
            addr_of!((*p).sin6_addr.s6_addr).read_unaligned(),
            addr_of!((*p).sin6_scope_id).read_unaligned(),
        )
    };
    (family, SocketAddrV6::new(Ipv6Addr::from(addr), u16::from_be(port), flowinfo, scope_id))
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
fn delays(no_reply: tSM_UT32, had_reply: tSM_UT32) -> Result<(Duration, Duration), SmError> {
    if no_reply > had_reply || no_reply == 0 {
        return Err(SmError::BadParameter);
    }
    Ok((Duration::from_millis(u64::from(no_reply)), Duration::from_millis(u64::from(had_reply))))
}

/// The part of both config calls after decoding the server: delays are
/// checked first (the contract's order), then the server, then the handle.
fn configure(
    sntp: tSMSNTPId,
    no_reply: tSM_UT32,
    had_reply: tSM_UT32,
    server: Option<(SocketAddr, u8)>,
) -> Result<(), SmError> {
    let (no_reply, had_reply) = delays(no_reply, had_reply)?;
    let (server, traffic_class) = server.filter(|(s, _)| usable_server(*s)).ok_or(SmError::BadParameter)?;
    let handle = lookup(sntp)?;
    if handle.ipv6 != server.is_ipv6() {
        return Err(SmError::BadParameter);
    }
    if handle.orphaned() {
        return Err(SmError::WrongModuleState);
    }
    match handle.worker.configure(ServerConfig { server, traffic_class, no_reply, had_reply }) {
        Ok(()) => Ok(()),
        // A destroy that overlapped this call ended the worker: the handle is gone.
        Err(worker::ConfigureError::Ended) if registry::get(handle_key(sntp)).is_none() => Err(SmError::BadParameter),
        Err(worker::ConfigureError::Ended) => Err(SmError::WrongModuleState),
    }
}

/// The input of `sm_sntp_config`: every member.
struct ConfigIn {
    sntp: tSMSNTPId,
    family: libc::sa_family_t,
    server: SocketAddrV4,
    tos: tSM_INT,
    no_reply: tSM_UT32,
    had_reply: tSM_UT32,
}

impl ConfigIn {
    /// # Safety
    /// `p` must point to a readable parameter block.
    unsafe fn read(p: *const SM_SNTP_CONFIG_PARMS) -> ConfigIn {
        // SAFETY: `p` is readable (the caller's promise): members read one by
        // one, unaligned (the padding after TOS is never read).
        unsafe {
            let (family, server) = read_v4(addr_of!((*p).server));
            ConfigIn {
                sntp: addr_of!((*p).sntp).read_unaligned(),
                family,
                server,
                tos: addr_of!((*p).TOS).read_unaligned(),
                no_reply: addr_of!((*p).no_reply_delay).read_unaligned(),
                had_reply: addr_of!((*p).had_reply_delay).read_unaligned(),
            }
        }
    }
}

/// Configures (or reconfigures) an IPv4 client's server and delays.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_config(configp: *mut SM_SNTP_CONFIG_PARMS) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_config",
        required: [configp],
        // SAFETY: non-NULL, and a valid parameter block per the API.
        input: unsafe { ConfigIn::read(configp) },
        run: |p| {
            let server = (p.family as i32 == libc::AF_INET && (0..=255).contains(&p.tos))
                .then(|| (p.server.into(), p.tos as u8));
            configure(p.sntp, p.no_reply, p.had_reply, server)
        },
        trace: |p, _| match p {
            None => "sm_sntp_config(NULL)".into(),
            Some(p) => format!(
                "sm_sntp_config(sntp={:p}, server={}, TOS={}, no_reply_delay={}, had_reply_delay={})",
                p.sntp, p.server, p.tos, p.no_reply, p.had_reply
            ),
        },
    }
}

/// The input of `sm_sntp_config_ipv6`: every member.
struct ConfigV6In {
    sntp: tSMSNTPId,
    family: libc::sa_family_t,
    server: SocketAddrV6,
    no_reply: tSM_UT32,
    had_reply: tSM_UT32,
}

impl ConfigV6In {
    /// # Safety
    /// `p` must point to a readable parameter block.
    unsafe fn read(p: *const SM_SNTP_CONFIG_IPV6_PARMS) -> ConfigV6In {
        // SAFETY: `p` is readable (the caller's promise): members read one by
        // one, unaligned.
        unsafe {
            let (family, server) = read_v6(addr_of!((*p).server));
            ConfigV6In {
                sntp: addr_of!((*p).sntp).read_unaligned(),
                family,
                server,
                no_reply: addr_of!((*p).no_reply_delay).read_unaligned(),
                had_reply: addr_of!((*p).had_reply_delay).read_unaligned(),
            }
        }
    }
}

/// Configures (or reconfigures) an IPv6 client's server and delays.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_config_ipv6(configp: *mut SM_SNTP_CONFIG_IPV6_PARMS) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_config_ipv6",
        required: [configp],
        // SAFETY: non-NULL, and a valid parameter block per the API.
        input: unsafe { ConfigV6In::read(configp) },
        run: |p| {
            let server = (p.family as i32 == libc::AF_INET6).then(|| {
                let tclass = ((u32::from_be(p.server.flowinfo()) >> 20) & 0xff) as u8;
                let mut server = p.server;
                server.set_flowinfo(0);
                (server.into(), tclass)
            });
            configure(p.sntp, p.no_reply, p.had_reply, server)
        },
        trace: |p, _| match p {
            None => "sm_sntp_config_ipv6(NULL)".into(),
            Some(p) => format!(
                "sm_sntp_config_ipv6(sntp={:p}, server={}, no_reply_delay={}, had_reply_delay={})",
                p.sntp, p.server, p.no_reply, p.had_reply
            ),
        },
    }
}

/// The input of `sm_sntp_create`: `module`, `type`, and the one of
/// `address` and `ipv6_address` that `type` names (`local`: None for an
/// invalid type). `sntp` is the output.
struct CreateIn {
    module: tSMModuleId,
    r#type: tSM_INT,
    local: Option<SocketAddr>,
}

impl CreateIn {
    /// # Safety
    /// `p` must point to a readable parameter block.
    unsafe fn read(p: *const SM_SNTP_CREATE_PARMS) -> CreateIn {
        // SAFETY: `p` is readable (the caller's promise): members read one by
        // one, unaligned; the address `type` does not name is never read.
        unsafe {
            let r#type = addr_of!((*p).r#type).read_unaligned().0;
            let local = match r#type {
                0 => {
                    let a = addr_of!((*p).address.s_addr).read_unaligned();
                    Some(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(a)), 0).into())
                }
                1 => {
                    let a = addr_of!((*p).ipv6_address.s6_addr).read_unaligned();
                    Some(SocketAddrV6::new(Ipv6Addr::from(a), 0, 0, 0).into())
                }
                _ => None,
            };
            CreateIn { module: addr_of!((*p).module).read_unaligned(), r#type, local }
        }
    }
}

/// Creates a client bound to a local address; it sends nothing until configured.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_create(createp: *mut SM_SNTP_CREATE_PARMS) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_create",
        required: [createp],
        // SAFETY: non-NULL, and a valid parameter block per the API.
        input: unsafe { CreateIn::read(createp) },
        run: |p| {
            let local = p.local.ok_or(SmError::BadParameter)?;
            let socket = worker::open_socket(local).map_err(|e| os_error(&e))?;
            let owner = crate::owner::process(trace::line);
            let worker = Worker::spawn(socket, worker::backend_from_env(), owner, trace::line)
                .map_err(|e| os_error(&e))?;
            let made = registry::insert(Handle::new(local.is_ipv6(), worker)) as tSMSNTPId;
            // SAFETY: `createp` is non-NULL and writable per the API; only the output member is written.
            unsafe { addr_of_mut!((*createp).sntp).write_unaligned(made) };
            Ok(made)
        },
        trace: |p, made| match p {
            None => "sm_sntp_create(NULL)".into(),
            Some(p) => {
                let address = match p.local {
                    Some(SocketAddr::V4(a)) => format!(", address={}", a.ip()),
                    Some(SocketAddr::V6(a)) => format!(", ipv6_address={}", a.ip()),
                    None => String::new(),
                };
                format!(
                    "sm_sntp_create(module={:p}, type={}{address}) sntp={:p}",
                    p.module,
                    p.r#type,
                    made.unwrap_or(std::ptr::null_mut())
                )
            }
        },
    }
}

/// Stops and frees a client and closes its event. NULL is accepted.
///
/// # Safety
/// Any handle value is accepted; it is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_destroy(sntp: tSMSNTPId) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_destroy",
        input: (),
        run: |_| {
            if sntp.is_null() {
                return Ok(());
            }
            match registry::remove(handle_key(sntp)) {
                // Inherited across fork(): no thread to join, and its locks may
                // have been held by a thread of the parent. Leave it be.
                Some(handle) if handle.orphaned() => {
                    std::mem::forget(handle);
                    Ok(())
                }
                Some(handle) => {
                    handle.worker.shutdown();
                    Ok(())
                }
                None => Err(SmError::BadParameter),
            }
        },
        trace: |_, _| format!("sm_sntp_destroy(sntp={sntp:p})"),
    }
}

/// The input member of the `get_event` and `status` blocks: the handle.
///
/// # Safety
/// `p` must point to a readable `sntp` member.
unsafe fn read_sntp(p: *const tSMSNTPId) -> tSMSNTPId {
    // SAFETY: readable (the caller's promise), unaligned.
    unsafe { p.read_unaligned() }
}

/// Returns the client's event: the same descriptor and mode every time.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_get_event(eventp: *mut SM_SNTP_EVENT_PARMS) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_get_event",
        required: [eventp],
        // SAFETY: non-NULL, and a valid parameter block per the API; `event` (the output) is not read.
        input: unsafe { read_sntp(addr_of!((*eventp).sntp)) },
        run: |&sntp| {
            let fd = live(sntp)?.worker.event_fd();
            let event = tSMEventId { fd, mode: EVENT_MODE, eip: sntp.cast() };
            // SAFETY: `eventp` is non-NULL and writable per the API; only the output member is written.
            unsafe { addr_of_mut!((*eventp).event).write_unaligned(event) };
            Ok(fd)
        },
        trace: |sntp, fd| match sntp {
            None => "sm_sntp_get_event(NULL)".into(),
            Some(sntp) => format!(
                "sm_sntp_get_event(sntp={sntp:p}) fd={} mode={EVENT_MODE}",
                fd.unwrap_or(-1)
            ),
        },
    }
}

/// Reads one pending status message without waiting.
///
/// # Safety
/// The pointer must be NULL or point to a valid parameter block.
#[no_mangle]
pub unsafe extern "C" fn sm_sntp_status(statusp: *mut SM_SNTP_STATUS_PARMS) -> tSM_INT {
    ffi_entry! {
        call: "sm_sntp_status",
        required: [statusp],
        // SAFETY: non-NULL, and a valid parameter block per the API; `status` and `u` (the outputs) are not read.
        input: unsafe { read_sntp(addr_of!((*statusp).sntp)) },
        run: |&sntp| {
            let handle = lookup(sntp)?;
            // An inherited client has no worker here: Stopped, without touching
            // state shared with the parent.
            let r = if handle.orphaned() { Report::Stopped } else { handle.worker.status() };
            if r == Report::Stopped && registry::get(handle_key(sntp)).is_none() {
                return Err(SmError::BadParameter); // destroyed while this call ran
            }
            let status = match r {
                Report::Running => kSMSNTPStatus::kSMSNTPStatusRunning,
                Report::Stopped => kSMSNTPStatus::kSMSNTPStatusStopped,
                Report::Sync(_) => kSMSNTPStatus::kSMSNTPStatusSync,
            };
            // SAFETY: `statusp` is non-NULL and writable per the API; only the
            // output members are written, `has_sync` only with Sync.
            unsafe {
                addr_of_mut!((*statusp).status).write_unaligned(SntpStatusField(status as i32));
                if let Report::Sync(has_sync) = r {
                    addr_of_mut!((*statusp).u.sync.has_sync).write_unaligned(has_sync as i32);
                }
            }
            Ok(r)
        },
        trace: |sntp, report| match sntp {
            None => "sm_sntp_status(NULL)".into(),
            Some(sntp) => format!("sm_sntp_status(sntp={sntp:p}) status={:?}", report.ok()),
        },
    }
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
