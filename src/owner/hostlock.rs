//! The host-wide lock that makes one process the clock's owner, behind a
//! seam: the real one is a file lock ([`crate::sys::hostlock::LockFile`]);
//! [`Solo`] and [`Shared`] stand in for it in tests and the simulator.

#[cfg(any(test, feature = "__internal-api"))]
use std::sync::{Arc, Mutex};

#[cfg(any(test, feature = "__internal-api"))]
use crate::sys::lock::lock;

/// The outcome of trying to take the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// This process holds it (now, or already).
    Held,
    /// Another process holds it; its pid, when its record names one.
    Busy { pid: Option<u32> },
    /// It cannot be taken at all (the lock file cannot be opened): why.
    Unavailable(String),
}

/// A lock shared by every process of the host that uses the library, with
/// a small record its holder keeps (what it last did to the clock).
pub trait HostLock: Send {
    /// Takes the lock if nobody holds it; never waits.
    fn try_acquire(&mut self) -> Acquire;
    /// The holder's record (this process's or another's), if any.
    fn read_record(&mut self) -> Option<String>;
    /// Replaces the record; only while held.
    fn write_record(&mut self, text: &str);
    /// Lets the lock go (idempotent).
    fn release(&mut self);
    /// In a child after `fork()`: forget an inherited lock without
    /// releasing it (it is the parent's).
    fn forget_inherited(&mut self) {}
}

#[cfg(any(test, feature = "__internal-api"))]
/// Nobody else contends: always held (tests, one simulated process).
#[derive(Debug, Default)]
pub struct Solo {
    record: Option<String>,
}

#[cfg(any(test, feature = "__internal-api"))]
impl HostLock for Solo {
    fn try_acquire(&mut self) -> Acquire {
        Acquire::Held
    }
    fn read_record(&mut self) -> Option<String> {
        self.record.clone()
    }
    fn write_record(&mut self, text: &str) {
        self.record = Some(text.to_owned());
    }
    fn release(&mut self) {}
}

#[cfg(any(test, feature = "__internal-api"))]
#[derive(Debug, Default)]
struct Board {
    holder: Option<u32>,
    record: Option<String>,
}

#[cfg(any(test, feature = "__internal-api"))]
/// An in-memory lock several owners contend for, as processes would for
/// the lock file: each `Shared` made by [`Shared::contender`] is one
/// process, named by a number that plays its pid.
#[derive(Clone, Debug)]
pub struct Shared {
    board: Arc<Mutex<Board>>,
    pid: u32,
}

#[cfg(any(test, feature = "__internal-api"))]
impl Shared {
    pub fn new(pid: u32) -> Shared {
        Shared { board: Arc::default(), pid }
    }

    /// Another process contending for the same lock.
    pub fn contender(&self, pid: u32) -> Shared {
        Shared { board: Arc::clone(&self.board), pid }
    }

    /// The process dies: its lock goes with it (the record stays).
    pub fn die(&self) {
        let mut b = lock(&self.board);
        if b.holder == Some(self.pid) {
            b.holder = None;
        }
    }
}

#[cfg(any(test, feature = "__internal-api"))]
impl HostLock for Shared {
    fn try_acquire(&mut self) -> Acquire {
        let mut b = lock(&self.board);
        match b.holder {
            None => {
                b.holder = Some(self.pid);
                Acquire::Held
            }
            Some(p) if p == self.pid => Acquire::Held,
            Some(p) => Acquire::Busy { pid: Some(p) },
        }
    }
    fn read_record(&mut self) -> Option<String> {
        lock(&self.board).record.clone()
    }
    fn write_record(&mut self, text: &str) {
        let mut b = lock(&self.board);
        if b.holder == Some(self.pid) {
            b.record = Some(text.to_owned());
        }
    }
    fn release(&mut self) {
        self.die();
    }
}
