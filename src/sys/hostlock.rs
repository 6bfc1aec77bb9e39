//! The host-wide clock-owner lock: `flock(LOCK_EX | LOCK_NB)` on a file
//! (default `/run/prossntp.lock` on Linux, `/var/run/prossntp.lock`
//! elsewhere; `PROSSNTP_LOCK_FILE` names another), created mode 0644 with
//! `O_NOFOLLOW`. The lock goes with the process, however it ends; the file
//! stays and holds its last owner's one-line record.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::discipline::foreign::OwnerRecord;
use crate::owner::hostlock::{Acquire, HostLock};

/// The environment variable that names the lock file.
pub const ENV_VAR: &str = "PROSSNTP_LOCK_FILE";
/// Where the lock file is unless `PROSSNTP_LOCK_FILE` says otherwise.
pub const DEFAULT_PATH: &str = if cfg!(target_os = "linux") { "/run/prossntp.lock" } else { "/var/run/prossntp.lock" };
/// Longest record read back.
const RECORD_MAX: usize = 1024;

#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    file: Option<File>,
    held: bool,
}

impl LockFile {
    pub fn new(path: impl Into<PathBuf>) -> LockFile {
        LockFile { path: path.into(), file: None, held: false }
    }

    /// At `PROSSNTP_LOCK_FILE`, or the default path.
    pub fn from_env() -> LockFile {
        LockFile::new(std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_PATH.into()))
    }

    fn open(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&self.path)?;
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("just opened"))
    }

    fn flock(file: &File) -> io::Result<()> {
        // SAFETY: flock on a descriptor this process owns; it touches no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Whether the open file is still the one at the path (not removed and
    /// replaced: then another process could lock the new one).
    fn still_at_path(&self) -> bool {
        let (Some(f), Ok(at_path)) = (&self.file, std::fs::symlink_metadata(&self.path)) else { return false };
        f.metadata().is_ok_and(|m| m.ino() == at_path.ino() && m.dev() == at_path.dev())
    }
}

impl HostLock for LockFile {
    fn try_acquire(&mut self) -> Acquire {
        if self.held && self.still_at_path() {
            return Acquire::Held;
        }
        if self.held || !self.still_at_path() {
            // Lost (the file was replaced) or never opened: start over.
            self.release();
        }
        let path = self.path.display().to_string();
        let file = match self.open() {
            Ok(f) => f,
            Err(e) => {
                let why = format!("lock file {path}: {e}");
                self.file = None;
                return Acquire::Unavailable(why);
            }
        };
        match LockFile::flock(file) {
            Ok(()) => {
                self.held = true;
                Acquire::Held
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Acquire::Busy { pid: self.read_record().and_then(|r| OwnerRecord::parse(&r)).map(|r| r.pid) }
            }
            Err(e) => Acquire::Unavailable(format!("lock file {path}: flock: {e}")),
        }
    }

    fn read_record(&mut self) -> Option<String> {
        let file = self.file.as_ref()?;
        let mut buf = vec![0u8; RECORD_MAX];
        let n = file.read_at(&mut buf, 0).ok()?;
        buf.truncate(n);
        String::from_utf8(buf).ok()
    }

    fn write_record(&mut self, text: &str) {
        if let (true, Some(file)) = (self.held, self.file.as_ref()) {
            // Best effort: the record only helps a successor; the lock is what matters.
            let _ = file.write_at(text.as_bytes(), 0).and_then(|_| file.set_len(text.len() as u64));
        }
    }

    fn release(&mut self) {
        // Closing the descriptor releases the lock.
        self.file = None;
        self.held = false;
    }

    fn forget_inherited(&mut self) {
        // The descriptor is the parent's open file description too: closing
        // our copy leaves the parent's lock in place (LOCK_UN would not).
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("prossntp-lock-test-{}-{name}", std::process::id()))
    }

    #[test]
    fn one_holder_at_a_time_and_the_record_names_it() {
        let path = temp_path("one");
        let _ = std::fs::remove_file(&path);
        let mut a = LockFile::new(&path);
        let mut b = LockFile::new(&path);
        assert_eq!(a.try_acquire(), Acquire::Held);
        let rec = OwnerRecord {
            pid: 4321,
            phase: crate::discipline::foreign::RecordPhase::Done,
            state: Default::default(),
            last_foreign_change: 0.0,
        };
        a.write_record(&rec.to_line());
        // Another open file description contends as another process would.
        assert_eq!(b.try_acquire(), Acquire::Busy { pid: Some(4321) });
        b.write_record("not written: not held");
        assert_eq!(a.read_record().as_deref(), Some(rec.to_line().as_str()));
        assert_eq!(a.try_acquire(), Acquire::Held, "held stays held");
        a.release();
        assert_eq!(b.try_acquire(), Acquire::Held, "taken over once released");
        assert_eq!(a.try_acquire(), Acquire::Busy { pid: Some(4321) });
        b.release();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_unusable_path_is_unavailable_and_a_replaced_file_is_not_trusted() {
        let mut bad = LockFile::new("/nonexistent-dir-prossntp/lock");
        assert!(
            matches!(bad.try_acquire(), Acquire::Unavailable(why) if why.contains("/nonexistent-dir-prossntp/lock"))
        );
        let path = temp_path("replaced");
        let _ = std::fs::remove_file(&path);
        let mut a = LockFile::new(&path);
        assert_eq!(a.try_acquire(), Acquire::Held);
        // Somebody removes the file and another process locks a new one.
        std::fs::remove_file(&path).unwrap();
        let mut b = LockFile::new(&path);
        assert_eq!(b.try_acquire(), Acquire::Held);
        assert!(matches!(a.try_acquire(), Acquire::Busy { .. }), "a notices it lost the lock");
        b.release();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let path = temp_path("link");
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        assert!(matches!(LockFile::new(&path).try_acquire(), Acquire::Unavailable(_)));
        std::fs::remove_file(&path).unwrap();
    }
}
