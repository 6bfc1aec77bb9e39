//! Clock backends behind one trait, and their selection from the
//! `PROSSNTP_CLOCK` environment variable (`auto`, `adjtimex`, `none`).

#[cfg(target_os = "linux")]
pub mod adjtimex;

use crate::discipline::{ClockAction, SyncReport};

/// Name of the environment variable that chooses the backend.
pub const ENV_VAR: &str = "PROSSNTP_CLOCK";

/// Why a backend could not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// The process may not set the clock (EPERM).
    PermissionDenied,
    /// Any other failure, with its errno.
    Os(i32),
}

/// Something that can adjust (or pretend to measure) the host clock.
pub trait ClockBackend: Send {
    /// The name used in `PROSSNTP_CLOCK` and in traces.
    fn name(&self) -> &'static str;
    /// Whether this backend changes the clock (false: measure only).
    fn steers(&self) -> bool;
    /// Applies `action` and publishes `report` as the kernel's sync status.
    fn apply(&mut self, action: ClockAction, report: &SyncReport) -> Result<(), ClockError>;
}

/// Measure only: never touches the clock.
#[derive(Debug, Default)]
pub struct MeasureOnly;

impl ClockBackend for MeasureOnly {
    fn name(&self) -> &'static str {
        "none"
    }
    fn steers(&self) -> bool {
        false
    }
    fn apply(&mut self, _: ClockAction, _: &SyncReport) -> Result<(), ClockError> {
        Ok(())
    }
}

/// The user's choice of backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Steer with the native call when permitted, else measure only.
    Auto,
    /// Linux `adjtimex`.
    Adjtimex,
    /// Measure only.
    None,
}

impl Choice {
    /// Parses a `PROSSNTP_CLOCK` value; unset or empty means `auto`.
    pub fn parse(value: Option<&str>) -> Result<Choice, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "auto" => Ok(Choice::Auto),
            "adjtimex" => Ok(Choice::Adjtimex),
            "none" => Ok(Choice::None),
            other => Err(format!("{ENV_VAR}={other:?} is not one of auto, adjtimex, none")),
        }
    }

    pub fn from_env() -> Result<Choice, String> {
        Choice::parse(std::env::var(ENV_VAR).ok().as_deref())
    }
}

/// The backend a choice resolved to, and a note worth tracing.
pub struct Selection {
    pub backend: Box<dyn ClockBackend>,
    pub note: Option<String>,
}

/// Resolves `choice`. An explicitly chosen steering backend that may not
/// set the clock is an error; `auto` falls back to measuring with a note.
pub fn select(choice: Choice) -> Result<Selection, String> {
    match choice {
        Choice::None => Ok(Selection { backend: Box::new(MeasureOnly), note: None }),
        Choice::Adjtimex => native().map(|backend| Selection { backend, note: None }),
        Choice::Auto => match native() {
            Ok(backend) => Ok(Selection { backend, note: None }),
            Err(why) => Ok(Selection {
                backend: Box::new(MeasureOnly),
                note: Some(format!("clock backend auto: {why}; measuring only, the clock is not adjusted")),
            }),
        },
    }
}

#[cfg(target_os = "linux")]
fn native() -> Result<Box<dyn ClockBackend>, String> {
    let mut backend = adjtimex::Adjtimex::new(adjtimex::SysTimex);
    match backend.may_set_clock() {
        Ok(()) => Ok(Box::new(backend)),
        Err(ClockError::PermissionDenied) => {
            Err("adjtimex: no permission to set the clock (EPERM; CAP_SYS_TIME is needed)".into())
        }
        Err(ClockError::Os(e)) => Err(format!("adjtimex: probe failed with errno {e}")),
    }
}

#[cfg(not(target_os = "linux"))]
fn native() -> Result<Box<dyn ClockBackend>, String> {
    Err("no steering backend for this platform yet".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_choices() {
        assert_eq!(Choice::parse(None), Ok(Choice::Auto));
        assert_eq!(Choice::parse(Some("")), Ok(Choice::Auto));
        assert_eq!(Choice::parse(Some("adjtimex")), Ok(Choice::Adjtimex));
        assert_eq!(Choice::parse(Some(" none ")), Ok(Choice::None));
        assert!(Choice::parse(Some("ntpd")).is_err());
    }

    #[test]
    fn measure_only_never_steers() {
        let s = select(Choice::None).unwrap();
        assert!(!s.backend.steers());
        assert_eq!(s.backend.name(), "none");
    }
}
