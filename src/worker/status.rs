//! The client's status messages and its event descriptor. The event is
//! level-triggered: readable while a message is pending or the client is
//! stopped, unreadable otherwise.

use std::collections::VecDeque;
use std::io;

use std::sync::Mutex;

use crate::sys::lock::lock;

use crate::sys::notify::Notifier;

use super::stats::State;

/// Messages kept for a caller that does not read them; older ones are dropped.
const MAX_QUEUED: usize = 64;

/// What `sm_sntp_status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Nothing new.
    Running,
    /// The synchronised state changed to this.
    Sync(bool),
    /// The client is not querying (kiss-o'-death, or its worker has ended).
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    None,
    /// Stopped by the server until the next configuration (generation `0`).
    Paused(u64),
    /// The worker has ended; final.
    Dead,
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<bool>,
    stop: Stop,
    /// Bumped by every configuration.
    generation: u64,
}

#[derive(Debug)]
pub struct StatusBoard {
    inner: Mutex<Inner>,
    event: Notifier,
}

impl StatusBoard {
    pub fn new() -> io::Result<StatusBoard> {
        Ok(StatusBoard {
            inner: Mutex::new(Inner { queue: VecDeque::new(), stop: Stop::None, generation: 0 }),
            event: Notifier::new()?,
        })
    }

    pub fn event_fd(&self) -> i32 {
        self.event.fd()
    }

    /// Queues a sync message.
    pub fn push_sync(&self, has_sync: bool) {
        self.update(|s| {
            if s.queue.len() == MAX_QUEUED {
                s.queue.pop_front();
            }
            s.queue.push_back(has_sync);
        });
    }

    /// A new configuration: clears a server's stop and returns its generation.
    /// `None` when the worker has ended.
    pub fn configure(&self) -> Option<u64> {
        let mut g = None;
        self.update(|s| {
            if s.stop != Stop::Dead {
                s.generation += 1;
                s.stop = Stop::None;
                g = Some(s.generation);
            }
        });
        g
    }

    /// The server stopped the client running configuration `generation`.
    pub fn pause(&self, generation: u64) {
        self.update(|s| {
            if s.stop == Stop::None && s.generation == generation {
                s.stop = Stop::Paused(generation);
            }
        });
    }

    /// The worker has ended.
    pub fn kill(&self) {
        self.update(|s| s.stop = Stop::Dead);
    }

    pub fn is_dead(&self) -> bool {
        lock(&self.inner).stop == Stop::Dead
    }

    /// The client's state as callers see it: this board owns it (the
    /// statistics read it from here).
    pub fn state(&self) -> State {
        let s = lock(&self.inner);
        match s.stop {
            Stop::Dead => State::Ended,
            Stop::Paused(_) => State::Stopped,
            Stop::None if s.generation == 0 => State::Idle,
            Stop::None => State::Running,
        }
    }

    /// Takes one message without waiting.
    pub fn take(&self) -> Report {
        let mut r = Report::Running;
        self.update(|s| {
            r = match s.queue.pop_front() {
                Some(has_sync) => Report::Sync(has_sync),
                None if s.stop != Stop::None => Report::Stopped,
                None => Report::Running,
            }
        });
        r
    }

    fn update(&self, f: impl FnOnce(&mut Inner)) {
        let mut s = lock(&self.inner);
        f(&mut s);
        if s.queue.is_empty() && s.stop == Stop::None {
            self.event.lower();
        } else {
            self.event.raise();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::poll::poll_readable;
    use std::time::Duration;

    fn signalled(b: &StatusBoard) -> bool {
        poll_readable(&[b.event_fd()], Some(Duration::ZERO)).unwrap().is_ready(0)
    }

    #[test]
    fn messages_come_in_order_and_the_event_follows_the_queue() {
        let b = StatusBoard::new().unwrap();
        assert_eq!(b.take(), Report::Running);
        assert!(!signalled(&b));
        b.push_sync(true);
        b.push_sync(false);
        assert!(signalled(&b));
        assert_eq!(b.take(), Report::Sync(true));
        assert!(signalled(&b));
        assert_eq!(b.take(), Report::Sync(false));
        assert!(!signalled(&b));
        assert_eq!(b.take(), Report::Running);
    }

    #[test]
    fn pause_lasts_until_the_next_configuration() {
        let b = StatusBoard::new().unwrap();
        let g = b.configure().unwrap();
        b.pause(g);
        assert_eq!(b.take(), Report::Stopped);
        assert_eq!(b.take(), Report::Stopped);
        assert!(signalled(&b));
        let g2 = b.configure().unwrap();
        assert!(!signalled(&b));
        assert_eq!(b.take(), Report::Running);
        b.pause(g); // a stale stop for the old configuration is ignored
        assert_eq!(b.take(), Report::Running);
        b.pause(g2);
        assert_eq!(b.take(), Report::Stopped);
    }

    #[test]
    fn dead_is_final_after_pending_messages() {
        let b = StatusBoard::new().unwrap();
        b.push_sync(true);
        b.kill();
        assert_eq!(b.take(), Report::Sync(true));
        for _ in 0..3 {
            assert_eq!(b.take(), Report::Stopped);
            assert!(signalled(&b));
        }
        assert_eq!(b.configure(), None);
    }

    #[test]
    fn an_unread_queue_is_bounded() {
        let b = StatusBoard::new().unwrap();
        for i in 0..1000 {
            b.push_sync(i % 2 == 0);
        }
        let mut n = 0;
        while b.take() != Report::Running {
            n += 1;
        }
        assert_eq!(n, MAX_QUEUED);
    }
}
