//! Handles handed to C are keys into this registry, never pointers: an
//! unknown, stale or garbage handle is simply not found.
//!
//! After `fork()` the child inherits the registry but none of the worker
//! threads: its inherited handles are orphans (see [`Handle::orphaned`]). The
//! registry lock is held across `fork()` so the child never inherits it locked.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Once, RwLock, RwLockWriteGuard};

use crate::sys::lock::{read, write};
use crate::worker::Worker;

/// A live client as the FFI layer knows it.
pub struct Handle {
    pub ipv6: bool,
    pub worker: Worker,
    /// The fork generation it was created in.
    forks: u64,
}

impl Handle {
    pub fn new(ipv6: bool, worker: Worker) -> Handle {
        Handle { ipv6, worker, forks: FORKS.load(Ordering::Acquire) }
    }

    /// Created before a `fork()` this process is the child of: its worker
    /// thread does not exist here, and its state is shared with the parent.
    pub fn orphaned(&self) -> bool {
        self.forks != FORKS.load(Ordering::Acquire)
    }
}

type Map = HashMap<usize, Arc<Handle>>;

static CLIENTS: LazyLock<RwLock<Map>> = LazyLock::new(Default::default);
static NEXT: AtomicUsize = AtomicUsize::new(1);
/// Incremented in every child after `fork()`.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Handle values look like aligned pointers but point nowhere.
const BASE: usize = 0x5e70_0000;
const STRIDE: usize = 16;

/// The registry's write guard while a `fork()` is under way.
struct ForkGuard(UnsafeCell<Option<RwLockWriteGuard<'static, Map>>>);
// SAFETY: only the atfork handlers touch it, and they run under the registry
// lock they take (one fork at a time), in the thread that forks.
unsafe impl Sync for ForkGuard {}
static FORK_GUARD: ForkGuard = ForkGuard(UnsafeCell::new(None));

extern "C" fn before_fork() {
    let guard = write(&CLIENTS);
    // SAFETY: see ForkGuard; this thread now holds the registry lock.
    unsafe { *FORK_GUARD.0.get() = Some(guard) };
}

extern "C" fn after_fork_parent() {
    // SAFETY: see ForkGuard; dropping the guard releases the lock.
    drop(unsafe { (*FORK_GUARD.0.get()).take() });
}

extern "C" fn after_fork_child() {
    FORKS.fetch_add(1, Ordering::AcqRel);
    // SAFETY: see ForkGuard; the forking thread is the only thread here.
    drop(unsafe { (*FORK_GUARD.0.get()).take() });
}

fn register_fork_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        LazyLock::force(&CLIENTS);
        // SAFETY: the handlers are plain extern "C" functions that live as long
        // as the library (it is never unloaded: linked with -z nodelete).
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_parent), Some(after_fork_child)) };
    });
}

/// Registers `handle`, returning its key (never 0, never reused while live).
pub fn insert(handle: Handle) -> usize {
    register_fork_handlers();
    let mut map = write(&CLIENTS);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let key = BASE.wrapping_add(n.wrapping_mul(STRIDE));
        if key != 0 && !map.contains_key(&key) {
            map.insert(key, Arc::new(handle));
            return key;
        }
    }
}

pub fn get(key: usize) -> Option<Arc<Handle>> {
    read(&CLIENTS).get(&key).cloned()
}

pub fn remove(key: usize) -> Option<Arc<Handle>> {
    write(&CLIENTS).remove(&key)
}

/// Number of live clients.
pub fn len() -> usize {
    read(&CLIENTS).len()
}
