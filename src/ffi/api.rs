use super::types::*;
#[no_mangle]
pub extern "C" fn sm_sntp_create(createp: *mut SM_SNTP_CREATE_PARMS) -> tSM_INT { let _ = createp; 0 }
#[no_mangle]
pub extern "C" fn sm_sntp_status(statusp: *mut SM_SNTP_STATUS_PARMS) -> tSM_INT { let _ = statusp; 0 }
#[no_mangle]
pub extern "C" fn sm_sntp_destroy(sntp: tSMSNTPId) -> tSM_INT { let _ = sntp; 0 }
/// cbindgen:ignore
#[export_name = "sm_sntp_destroy_iSNTPt"]
pub extern "C" fn decorated_destroy(sntp: tSMSNTPId) -> tSM_INT { let _ = sntp; 0 }
#[no_mangle]
pub static TiNGtrace: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
