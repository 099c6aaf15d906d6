//! The refresh schedule: one queue of wake-up times for every cached entry,
//! and the one task that wakes at each and hands the entry to the refresh
//! policy ([`super::refresh::step`]).
//!
//! Why one task and not one per entry: a sleeping tokio task costs a
//! cache-line aligned cell of about 512 bytes, a queued job here about 100.
//! At 30,000 scopes that is 12 MiB. The queue holds only weak references, so
//! an evicted entry (and its secrets) is freed at once; its job is dropped
//! when it comes due. Renewals themselves, which wait on the upstream, run
//! as tasks of their own for as long as the call lasts, so one slow answer
//! holds up no other entry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::Inner;
use super::entry::{Entry, Vended};

/// What an entry's refresh waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// The planned renewal (`refresh_at`): renew if the entry was used.
    Due,
    /// An entry unused at its renewal waits until `refresh_by`: renewed if
    /// used by then, else dropped.
    Dormant,
    /// A retry after a failed renewal, at this time.
    Retry(SystemTime),
    /// A turn booked in the refresh budget, at this time: renew then.
    Turn(SystemTime),
}

/// One entry's place in the schedule.
pub(super) struct Job {
    pub(super) entry: Weak<Entry>,
    /// The credentials the wake-up was planned from. When the entry holds
    /// others at wake-up (a cold load renewed it), the plan starts afresh.
    pub(super) planned: Weak<Vended>,
    pub(super) next: Next,
    /// Failed renewals in a row, for the backoff.
    pub(super) failures: u32,
}

impl Job {
    /// The job of `entry`'s current credentials, and when it wakes.
    pub(super) fn plan(entry: &Arc<Entry>, next: Next, failures: u32) -> (SystemTime, Job) {
        let planned = entry.current();
        let at = match next {
            Next::Due => planned.refresh_at,
            Next::Dormant => planned.refresh_by,
            Next::Retry(at) | Next::Turn(at) => at,
        };
        let job = Job {
            entry: Arc::downgrade(entry),
            planned: Arc::downgrade(&planned),
            next,
            failures,
        };
        (at, job)
    }
}

#[derive(Default)]
struct Queue {
    /// By wake-up time, then by arrival: jobs due at one moment run in order.
    jobs: BTreeMap<(SystemTime, u64), Job>,
    seq: u64,
}

/// The queue and the means to wake its task.
#[derive(Default)]
pub(super) struct Schedule {
    queue: Mutex<Queue>,
    /// Wakes the task for a job earlier than the one it sleeps towards, and
    /// when the cache is dropped.
    wake: Arc<Notify>,
    started: AtomicBool,
}

impl Schedule {
    /// Queues `job` to wake at `at`. The first job starts the task, on the
    /// runtime of the caller.
    pub(super) fn push(&self, inner: &Arc<Inner>, at: SystemTime, job: Job) {
        let earliest = {
            let mut queue = self.lock();
            queue.seq += 1;
            let key = (at, queue.seq);
            queue.jobs.insert(key, job);
            queue.jobs.first_key_value().map(|(k, _)| *k) == Some(key)
        };
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(Arc::downgrade(inner), self.wake.clone()));
        } else if earliest {
            self.wake.notify_one();
        }
    }

    /// Takes every job due at `now`, and tells when the next one is.
    fn take_due(&self, now: SystemTime) -> (Vec<Job>, Option<SystemTime>) {
        let mut queue = self.lock();
        let mut due = Vec::new();
        while let Some(entry) = queue.jobs.first_entry() {
            if entry.key().0 > now {
                return (due, Some(entry.key().0));
            }
            due.push(entry.remove());
        }
        (due, None)
    }

    /// Jobs queued, for tests.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Schedule {
    /// The task holds the cache weakly: wake it to see that it is gone.
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

/// The schedule's task: runs each job when it comes due, on the injected
/// clock, until the cache is dropped. It holds no strong reference while it
/// sleeps.
async fn run(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let Some(cache) = inner.upgrade() else {
            return;
        };
        let (due, next) = cache.schedule.take_due(cache.clock.now());
        for job in due {
            super::refresh::step(&cache, job);
        }
        let wait = next.map(|at| {
            at.duration_since(cache.clock.now())
                .unwrap_or(Duration::ZERO)
        });
        drop(cache);
        match wait {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
