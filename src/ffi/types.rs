//! The C-visible types of Aculab's `prossntp.h`: parameter structs, enums,
//! handles and error codes, laid out exactly as the ABI contract says.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

use std::os::raw::{c_int, c_ulong};

/// `tSM_INT`: a C `int`.
pub type tSM_INT = c_int;
/// `tSM_UT32`: a C `unsigned long` (8 bytes on LP64), not `uint32_t`.
pub type tSM_UT32 = c_ulong;

/// Opaque target of a client handle.
pub struct tSMSNTPId_struct {
    _private: [u8; 0],
}
/// A client handle, as handed out by `sm_sntp_create`.
pub type tSMSNTPId = *mut tSMSNTPId_struct;

/// Opaque target of a Prosody module handle (meaningless on a host).
pub struct tSMModuleId_struct {
    _private: [u8; 0],
}
/// A Prosody module handle; accepted and ignored.
pub type tSMModuleId = *mut tSMModuleId_struct;

/// Opaque internals of an event; this library stores the client handle here.
pub struct tSMEventId_internals {
    _private: [u8; 0],
}

/// A pollable event: `poll()` on `fd` with `events = mode`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tSMEventId {
    pub fd: tSM_INT,
    pub mode: tSM_INT,
    pub eip: *mut tSMEventId_internals,
}

/// Address family of a client.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code, reason = "the C header's enum; the library reads the member as an int")]
pub enum kSMSNTPType {
    kSMSNTPTypeIPv4 = 0,
    kSMSNTPTypeIPv6 = 1,
}

/// What `sm_sntp_status` reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "Aculab's names, in the C header")]
pub enum kSMSNTPStatus {
    kSMSNTPStatusRunning = 0,
    kSMSNTPStatusStopped = 1,
    kSMSNTPStatusSync = 2,
}

/// An `enum kSMSNTPType` field as C may fill it: any `int`, validated before use.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct SntpTypeField(pub c_int);

/// An `enum kSMSNTPStatus` field; written by the library, never read.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct SntpStatusField(pub c_int);

/// `struct sockaddr_in` from `<netinet/in.h>`.
pub type SOCKADDR_IN = libc::sockaddr_in;
/// `struct sockaddr_in6` from `<netinet/in.h>`.
pub type SOCKADDR_IN6 = libc::sockaddr_in6;
/// `struct in_addr` from `<netinet/in.h>`.
pub type in_addr = libc::in_addr;
/// `struct in6_addr` from `<netinet/in.h>`.
pub type in6_addr = libc::in6_addr;

/// Parameters of `sm_sntp_config` (IPv4 server).
#[repr(C)]
pub struct sm_sntp_config_parms {
    pub sntp: tSMSNTPId,
    pub server: SOCKADDR_IN,
    pub TOS: c_int,
    pub no_reply_delay: tSM_UT32,
    pub had_reply_delay: tSM_UT32,
}
pub type SM_SNTP_CONFIG_PARMS = sm_sntp_config_parms;

/// Parameters of `sm_sntp_config_ipv6` (IPv6 server).
#[repr(C)]
pub struct sm_sntp_config_ipv6_parms {
    pub sntp: tSMSNTPId,
    pub server: SOCKADDR_IN6,
    pub no_reply_delay: tSM_UT32,
    pub had_reply_delay: tSM_UT32,
}
pub type SM_SNTP_CONFIG_IPV6_PARMS = sm_sntp_config_ipv6_parms;

/// Parameters of `sm_sntp_create`; `sntp` is the output.
#[repr(C)]
pub struct sm_sntp_create_parms {
    pub sntp: tSMSNTPId,
    pub module: tSMModuleId,
    pub r#type: SntpTypeField,
    pub address: in_addr,
    pub ipv6_address: in6_addr,
}
pub type SM_SNTP_CREATE_PARMS = sm_sntp_create_parms;

/// Parameters of `sm_sntp_get_event`; `event` is the output.
#[repr(C)]
pub struct sm_sntp_event_parms {
    pub sntp: tSMSNTPId,
    pub event: tSMEventId,
}
pub type SM_SNTP_EVENT_PARMS = sm_sntp_event_parms;

/// The `sync` member of the status union.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sm_sntp_status_sync {
    pub has_sync: c_int,
}

/// The union of per-status details; only `sync` exists.
#[repr(C)]
#[derive(Clone, Copy)]
pub union sm_sntp_status_u {
    pub sync: sm_sntp_status_sync,
}

/// Parameters of `sm_sntp_status`; `status` and `u` are outputs.
#[repr(C)]
pub struct sm_sntp_status_parms {
    pub sntp: tSMSNTPId,
    pub status: SntpStatusField,
    pub u: sm_sntp_status_u,
}
pub type SM_SNTP_STATUS_PARMS = sm_sntp_status_parms;

/// Success.
pub const ERR_SM_OK: tSM_INT = 0;
pub const ERR_SM_DEVERR: tSM_INT = -1;
pub const ERR_SM_PENDING: tSM_INT = -2;
pub const ERR_SM_MORE: tSM_INT = -3;
pub const ERR_SM_NO_ACTION: tSM_INT = -4;
pub const ERR_SM_NOT_IMPLEMENTED: tSM_INT = -100;
pub const ERR_SM_BAD_PARAMETER: tSM_INT = -101;
pub const ERR_SM_NO_SUCH_MODULE: tSM_INT = -102;
pub const ERR_SM_MODULE_ACCESS: tSM_INT = -103;
pub const ERR_SM_NO_RESOURCES: tSM_INT = -107;
pub const ERR_SM_NO_SUCH_CHANNEL: tSM_INT = -110;
pub const ERR_SM_NO_SUCH_FIRMWARE: tSM_INT = -119;
pub const ERR_SM_WRONG_FIRMWARE_TYPE: tSM_INT = -129;
pub const ERR_SM_OS_RESOURCE_PROBLEM: tSM_INT = -131;
pub const ERR_SM_WRONG_MODULE_STATE: tSM_INT = -132;
pub const ERR_SM_OS_OTHER_PROBLEM: tSM_INT = -134;
pub const ERR_SM_OS_INTERRUPTED_WAIT: tSM_INT = -135;

/// `mode` of every event: `POLLIN | POLLPRI`, as the original's pipe.
pub const EVENT_MODE: tSM_INT = (libc::POLLIN | libc::POLLPRI) as tSM_INT;

// The contract's x86_64 table, checked at compile time on LP64.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<sm_sntp_config_parms>() == 48);
    assert!(offset_of!(sm_sntp_config_parms, server) == 8);
    assert!(offset_of!(sm_sntp_config_parms, TOS) == 24);
    assert!(offset_of!(sm_sntp_config_parms, no_reply_delay) == 32);
    assert!(offset_of!(sm_sntp_config_parms, had_reply_delay) == 40);
    assert!(size_of::<sm_sntp_config_ipv6_parms>() == 56);
    assert!(offset_of!(sm_sntp_config_ipv6_parms, server) == 8);
    assert!(offset_of!(sm_sntp_config_ipv6_parms, no_reply_delay) == 40);
    assert!(offset_of!(sm_sntp_config_ipv6_parms, had_reply_delay) == 48);
    assert!(size_of::<sm_sntp_create_parms>() == 40);
    assert!(offset_of!(sm_sntp_create_parms, module) == 8);
    assert!(offset_of!(sm_sntp_create_parms, r#type) == 16);
    assert!(offset_of!(sm_sntp_create_parms, address) == 20);
    assert!(offset_of!(sm_sntp_create_parms, ipv6_address) == 24);
    assert!(size_of::<sm_sntp_event_parms>() == 24);
    assert!(offset_of!(sm_sntp_event_parms, event) == 8);
    assert!(size_of::<sm_sntp_status_parms>() == 16);
    assert!(offset_of!(sm_sntp_status_parms, status) == 8);
    assert!(offset_of!(sm_sntp_status_parms, u) == 12);
    assert!(size_of::<tSMEventId>() == 16);
};
