//! Handles handed to C are keys into this registry, never pointers: an
//! unknown, stale or garbage handle is simply not found.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::worker::Worker;

/// A live client as the FFI layer knows it.
pub struct Handle {
    pub ipv6: bool,
    pub worker: Worker,
}

static CLIENTS: LazyLock<RwLock<HashMap<usize, Arc<Handle>>>> = LazyLock::new(Default::default);
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// Handle values look like aligned pointers but point nowhere.
const BASE: usize = 0x5e70_0000;
const STRIDE: usize = 16;

/// Registers `handle`, returning its key (never 0, never reused while live).
pub fn insert(handle: Handle) -> usize {
    let mut map = CLIENTS.write();
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
    CLIENTS.read().get(&key).cloned()
}

pub fn remove(key: usize) -> Option<Arc<Handle>> {
    CLIENTS.write().remove(&key)
}

/// Number of live clients.
pub fn len() -> usize {
    CLIENTS.read().len()
}
