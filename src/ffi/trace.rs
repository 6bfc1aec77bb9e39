//! The Prosody trace: `TiNGtrace` (non-zero traces every call; also set from
//! the `TiNGtrace` environment variable) and `TiNG_showtrace`, an optional sink
//! taking `(fmt, va_list)`; without one, lines go to stderr.

use std::ffi::{c_void, CString};
use std::io::Write;
use std::os::raw::{c_char, c_int, c_uint};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Once;

/// `unsigned TiNGtrace`: C programs assign it directly.
#[no_mangle]
pub static TiNGtrace: AtomicU32 = AtomicU32::new(0);

/// `int (*TiNG_showtrace)(const char *fmt, va_list ap)`: C programs assign it directly.
#[no_mangle]
pub static TiNG_showtrace: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

extern "C" {
    /// From trace_shim.c: calls `sink("%s\n", line)` with a real va_list.
    fn prossntp_call_showtrace(sink: *mut c_void, line: *const c_char) -> c_int;
}

/// Reads the `TiNGtrace` environment variable once: a number (decimal, or hex
/// with 0x); non-zero turns tracing on.
pub fn init_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(v) = std::env::var("TiNGtrace").ok().and_then(|v| parse_level(&v)) {
            if v != 0 {
                TiNGtrace.store(v, Ordering::Relaxed);
            }
        }
    });
}

fn parse_level(v: &str) -> Option<c_uint> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => c_uint::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

pub fn enabled() -> bool {
    TiNGtrace.load(Ordering::Relaxed) != 0
}

/// Emits one trace line if tracing is on.
pub fn line(text: &str) {
    if !enabled() {
        return;
    }
    let sink = TiNG_showtrace.load(Ordering::Acquire);
    if sink.is_null() {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
        return;
    }
    let c = CString::new(text.replace('\0', "?")).unwrap_or_default();
    // SAFETY: `sink` was stored by the program as an `int (*)(const char *, va_list)`;
    // the shim calls it with a valid format and a va_list holding `c`, which outlives the call.
    unsafe {
        prossntp_call_showtrace(sink, c.as_ptr());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels() {
        assert_eq!(super::parse_level("1"), Some(1));
        assert_eq!(super::parse_level(" 0x10 "), Some(16));
        assert_eq!(super::parse_level("yes"), None);
    }
}
