//! Handles handed to C are keys into this registry, never pointers: an
//! unknown, stale or garbage handle is simply not found.
//!
//! After `fork()` the child inherits the registry but none of the worker
//! threads: its inherited handles are orphans (see [`Handle::orphaned`]). The
//! registry locks are held across `fork()` so the child never inherits one locked.
//!
//! The registry is split into shards, each behind its own lock on its own
//! cache line, and consecutive handles fall in different shards: threads
//! working on different clients share no lock on the hot path.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

/// Keys are handed out by the library itself, so a multiply (Fibonacci
/// hashing) spreads them well; std's SipHash, built to resist chosen keys,
/// cost half of a lookup.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Map = HashMap<usize, Arc<Handle>, BuildHasherDefault<KeyHasher>>;

/// Shards of the registry; a key's shard is its sequence number modulo this.
const SHARDS: usize = 64;

/// A shard, alone on its cache lines (128 bytes: adjacent-line prefetch).
#[repr(align(128))]
#[derive(Default)]
struct Shard(RwLock<Map>);

static CLIENTS: LazyLock<[Shard; SHARDS]> = LazyLock::new(|| std::array::from_fn(|_| Shard::default()));
static NEXT: AtomicUsize = AtomicUsize::new(1);
/// Incremented in every child after `fork()`.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Handle values look like aligned pointers but point nowhere.
const BASE: usize = 0x5e70_0000;
const STRIDE: usize = 16;

fn shard(key: usize) -> &'static RwLock<Map> {
    &CLIENTS[key.wrapping_sub(BASE) / STRIDE % SHARDS].0
}

/// The registry's write guards while a `fork()` is under way.
struct ForkGuard(UnsafeCell<[Option<RwLockWriteGuard<'static, Map>>; SHARDS]>);
// SAFETY: only the atfork handlers touch it, and they run under the first
// shard's lock they take (one fork at a time), in the thread that forks.
unsafe impl Sync for ForkGuard {}
static FORK_GUARD: ForkGuard = ForkGuard(UnsafeCell::new([const { None }; SHARDS]));

extern "C" fn before_fork() {
    for (i, s) in CLIENTS.iter().enumerate() {
        let guard = write(&s.0);
        // SAFETY: see ForkGuard; this thread holds shard 0's lock from i = 0 on.
        unsafe { (*FORK_GUARD.0.get())[i] = Some(guard) };
    }
}

/// Releases the locks `before_fork` took.
fn release_fork_guards() {
    // SAFETY: see ForkGuard; dropping the guards releases the locks.
    unsafe { (*FORK_GUARD.0.get()).iter_mut().rev().for_each(|g| drop(g.take())) };
}

extern "C" fn after_fork_parent() {
    release_fork_guards();
}

extern "C" fn after_fork_child() {
    FORKS.fetch_add(1, Ordering::AcqRel);
    // The forking thread is the only thread here.
    release_fork_guards();
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
    let handle = Arc::new(handle);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let key = BASE.wrapping_add(n.wrapping_mul(STRIDE));
        if key == 0 {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = write(shard(key)).entry(key) {
            slot.insert(handle);
            return key;
        }
    }
}

pub fn get(key: usize) -> Option<Arc<Handle>> {
    read(shard(key)).get(&key).cloned()
}

/// Runs `f` on the client under its shard's read lock, without taking a
/// reference (no shared counter is touched: the hot path of calls made
/// from many threads at once).
pub fn with<R>(key: usize, f: impl FnOnce(&Handle) -> R) -> Option<R> {
    read(shard(key)).get(&key).map(|h| f(h))
}

pub fn remove(key: usize) -> Option<Arc<Handle>> {
    write(shard(key)).remove(&key)
}

