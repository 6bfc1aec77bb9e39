//! The `ERR_SM_*` codes as one type: every failure the C calls return is an
//! [`SmError`], which knows its C value (the `ERR_SM_*` constants of
//! [`super::types`], the header's source) and its text.

use std::ffi::CStr;
use std::fmt;

use super::types::*;

/// A failure of a C call, one variant per non-zero `ERR_SM_*` code; success
/// (`ERR_SM_OK`) is the `Ok` of a `Result<_, SmError>`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmError {
    DevErr = ERR_SM_DEVERR,
    Pending = ERR_SM_PENDING,
    More = ERR_SM_MORE,
    NoAction = ERR_SM_NO_ACTION,
    NotImplemented = ERR_SM_NOT_IMPLEMENTED,
    BadParameter = ERR_SM_BAD_PARAMETER,
    NoSuchModule = ERR_SM_NO_SUCH_MODULE,
    ModuleAccess = ERR_SM_MODULE_ACCESS,
    NoResources = ERR_SM_NO_RESOURCES,
    NoSuchChannel = ERR_SM_NO_SUCH_CHANNEL,
    NoSuchFirmware = ERR_SM_NO_SUCH_FIRMWARE,
    WrongFirmwareType = ERR_SM_WRONG_FIRMWARE_TYPE,
    OsResourceProblem = ERR_SM_OS_RESOURCE_PROBLEM,
    WrongModuleState = ERR_SM_WRONG_MODULE_STATE,
    OsOtherProblem = ERR_SM_OS_OTHER_PROBLEM,
    OsInterruptedWait = ERR_SM_OS_INTERRUPTED_WAIT,
}

/// What `prossntp_strerror` says of `ERR_SM_OK`.
pub const OK_TEXT: &CStr = c"success";
/// What `prossntp_strerror` says of a code that is none of the `ERR_SM_*`.
pub const UNKNOWN_TEXT: &CStr = c"unknown error code";

impl SmError {
    /// Every code, in the order of the header.
    pub const ALL: [SmError; 16] = [
        SmError::DevErr,
        SmError::Pending,
        SmError::More,
        SmError::NoAction,
        SmError::NotImplemented,
        SmError::BadParameter,
        SmError::NoSuchModule,
        SmError::ModuleAccess,
        SmError::NoResources,
        SmError::NoSuchChannel,
        SmError::NoSuchFirmware,
        SmError::WrongFirmwareType,
        SmError::OsResourceProblem,
        SmError::WrongModuleState,
        SmError::OsOtherProblem,
        SmError::OsInterruptedWait,
    ];

    /// The C value, an `ERR_SM_*` constant.
    pub const fn code(self) -> tSM_INT {
        self as tSM_INT
    }

    /// The error for C value `code`; `None` for `ERR_SM_OK` and unknown codes.
    pub fn from_code(code: tSM_INT) -> Option<SmError> {
        SmError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The description (static storage, NUL-terminated for C).
    pub const fn c_text(self) -> &'static CStr {
        match self {
            SmError::DevErr => c"internal error in the library",
            SmError::Pending => c"operation pending",
            SmError::More => c"more data available",
            SmError::NoAction => c"nothing to do",
            SmError::NotImplemented => c"not implemented",
            SmError::BadParameter => c"bad parameter (NULL pointer, invalid value or unknown client handle)",
            SmError::NoSuchModule => c"no such module",
            SmError::ModuleAccess => c"module access error",
            SmError::NoResources => c"out of resources (memory, descriptors or threads)",
            SmError::NoSuchChannel => c"no such channel",
            SmError::NoSuchFirmware => c"no such firmware",
            SmError::WrongFirmwareType => c"wrong firmware type",
            SmError::OsResourceProblem => c"operating system resource problem (socket or thread could not be set up)",
            SmError::WrongModuleState => {
                c"wrong state (the client's worker has ended, or it was inherited across fork)"
            }
            SmError::OsOtherProblem => c"other operating system problem",
            SmError::OsInterruptedWait => c"wait interrupted",
        }
    }

    /// The description.
    pub fn text(self) -> &'static str {
        // The texts are ASCII literals: never the fallback.
        self.c_text().to_str().unwrap_or("")
    }
}

impl fmt::Display for SmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for SmError {}

impl From<SmError> for tSM_INT {
    fn from(e: SmError) -> tSM_INT {
        e.code()
    }
}

/// The C value of a call's outcome: `ERR_SM_OK` or the error's code.
pub fn code<T>(outcome: &Result<T, SmError>) -> tSM_INT {
    match outcome {
        Ok(_) => ERR_SM_OK,
        Err(e) => e.code(),
    }
}

/// The text `prossntp_strerror` gives for C value `code`.
pub fn c_text_of(code: tSM_INT) -> &'static CStr {
    match SmError::from_code(code) {
        Some(e) => e.c_text(),
        None if code == ERR_SM_OK => OK_TEXT,
        None => UNKNOWN_TEXT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contracts_and_round_trip() {
        let table = [
            (SmError::DevErr, -1),
            (SmError::Pending, -2),
            (SmError::More, -3),
            (SmError::NoAction, -4),
            (SmError::NotImplemented, -100),
            (SmError::BadParameter, -101),
            (SmError::NoSuchModule, -102),
            (SmError::ModuleAccess, -103),
            (SmError::NoResources, -107),
            (SmError::NoSuchChannel, -110),
            (SmError::NoSuchFirmware, -119),
            (SmError::WrongFirmwareType, -129),
            (SmError::OsResourceProblem, -131),
            (SmError::WrongModuleState, -132),
            (SmError::OsOtherProblem, -134),
            (SmError::OsInterruptedWait, -135),
        ];
        assert_eq!(table.len(), SmError::ALL.len());
        for ((e, value), all) in table.into_iter().zip(SmError::ALL) {
            assert_eq!(e, all);
            assert_eq!(e.code(), value);
            assert_eq!(tSM_INT::from(e), value);
            assert_eq!(SmError::from_code(value), Some(e));
            assert_eq!(e.to_string(), e.text());
            assert_eq!(c_text_of(value), e.c_text());
        }
        assert_eq!(SmError::from_code(ERR_SM_OK), None);
        assert_eq!(c_text_of(ERR_SM_OK), OK_TEXT);
        assert_eq!(c_text_of(-5), UNKNOWN_TEXT);
        assert_eq!(code(&Ok::<(), SmError>(())), ERR_SM_OK);
        assert_eq!(code(&Err::<(), _>(SmError::BadParameter)), ERR_SM_BAD_PARAMETER);
    }
}
