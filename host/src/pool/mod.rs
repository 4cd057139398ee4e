//! Replica sets: R live instances of a component, round-robin, bounded.
//!
//! Each replica is a tokio task owning one `Store` and instance, driven by
//! `run_concurrent` so that it serves up to C requests at once (WASI p3);
//! after M requests it is retired (drained, then dropped) and a fresh one
//! takes its slot. A `wasi:http@0.2` guest (p2 component or p1 module)
//! takes one request per instance, so each of its replicas is an instance
//! made ready ahead of the request it serves. A replica that traps is
//! dropped and replaced. When every
//! replica is full, up to `max_queue` requests wait; beyond that the set
//! answers [`DispatchError::Overloaded`] (503 + `Retry-After`).

mod dispatch;
mod replica;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::WasiBody;

use crate::componentize::Kind;
use crate::instance::ComponentVersion;

pub use replica::Replica;
use replica::spawn_replica;

/// How a component's replicas are run.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Live instances per component (R).
    pub replicas: usize,
    /// Concurrent requests one instance takes (C).
    pub max_concurrency: usize,
    /// Requests an instance serves before it is recycled (M).
    pub max_requests: u64,
    /// Requests that may wait when every replica is full.
    pub max_queue: usize,
    /// Longest a request may take before it gets 504.
    pub request_timeout: Duration,
}

impl PoolSettings {
    /// Requests one instance of a `kind` version takes at once (C) and in
    /// all (M): these settings for a p3 component; one and one for a
    /// `wasi:http@0.2` guest, which gets a fresh instance per request as
    /// under Spin.
    fn per_instance(&self, kind: Kind) -> (usize, u64) {
        if kind.reuses_instances() {
            (self.max_concurrency.max(1), self.max_requests)
        } else {
            (1, 1)
        }
    }
}

/// Why a request got no response from the component.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("all {replicas} replicas of {component} are busy and the queue is full")]
    Overloaded { component: String, replicas: usize },
    #[error("{component} did not answer within {timeout:?}")]
    Timeout {
        component: String,
        timeout: Duration,
    },
    #[error("{component} failed while handling the request: {reason}")]
    Failed { component: String, reason: String },
    #[error("{component} lost the replica handling the request (a concurrent request trapped)")]
    Interrupted { component: String },
    #[error("{component} did not answer within {timeout:?}; its instance was dropped")]
    Expired {
        component: String,
        timeout: Duration,
    },
}

type Request = http::Request<WasiBody>;
type Response = http::Response<WasiBody>;

/// The replicas of one component.
pub struct ReplicaSet {
    name: String,
    settings: PoolSettings,
    current: ArcSwap<ComponentVersion>,
    /// The version before the last swap, for rollback.
    previous: ArcSwapOption<ComponentVersion>,
    slots: Vec<ArcSwap<Replica>>,
    next: AtomicUsize,
    /// R × C permits: a request holds one from dispatch until its response
    /// body is done.
    capacity: Arc<Semaphore>,
    queued: AtomicUsize,
    traps: AtomicU64,
    /// Where requests go once every replica is retired for good (a decided
    /// canary's requests not yet handed to a replica go to stable).
    successor: ArcSwapOption<ReplicaSet>,
}

impl ReplicaSet {
    pub fn new(version: Arc<ComponentVersion>, settings: PoolSettings) -> Arc<Self> {
        let replicas = settings.replicas.max(1);
        Arc::new_cyclic(|weak: &Weak<Self>| {
            let slots = (0..replicas)
                .map(|slot| {
                    ArcSwap::new(spawn_replica(
                        weak.clone(),
                        slot,
                        version.clone(),
                        settings.request_timeout,
                    ))
                })
                .collect();
            Self {
                name: version.env.id.to_string(),
                capacity: Arc::new(Semaphore::new(replicas * settings.max_concurrency.max(1))),
                settings,
                current: ArcSwap::new(version),
                previous: ArcSwapOption::empty(),
                slots,
                next: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                traps: AtomicU64::new(0),
                successor: ArcSwapOption::empty(),
            }
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version new requests go to.
    pub fn current(&self) -> Arc<ComponentVersion> {
        self.current.load_full()
    }

    /// The live replicas, slot by slot.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.slots.iter().map(|s| s.load_full()).collect()
    }

    /// The version a rollback would restore.
    pub fn previous(&self) -> Option<Arc<ComponentVersion>> {
        self.previous.load_full()
    }

    /// Makes `version` the one new requests go to: every slot gets a fresh
    /// replica of it, and the old replicas finish what they were given, then
    /// exit. Returns the version it replaced.
    pub fn swap(self: &Arc<Self>, version: Arc<ComponentVersion>) -> Arc<ComponentVersion> {
        let old = self.current.swap(version.clone());
        for slot in 0..self.slots.len() {
            // A recycle racing with us may have put an old-version replica
            // back: replace until the slot runs the new version.
            loop {
                let replica = self.slots[slot].load_full();
                if Arc::ptr_eq(&replica.version, &version) {
                    break;
                }
                self.replace(slot, &replica);
            }
        }
        self.previous.store(Some(old.clone()));
        old
    }

    /// Swaps back to the previous version, if there is one.
    pub fn rollback(self: &Arc<Self>) -> Option<Arc<ComponentVersion>> {
        let previous = self.previous.load_full()?;
        self.swap(previous.clone());
        Some(previous)
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Retires every replica for good: each finishes what it was given,
    /// then exits, and requests not yet handed to one go to `successor`
    /// (a canary's replicas once it is decided, to the stable set).
    pub fn retire_into(&self, successor: Arc<ReplicaSet>) {
        self.successor.store(Some(successor));
        for slot in &self.slots {
            slot.load().retire();
        }
    }

    pub fn traps(&self) -> u64 {
        self.traps.load(Relaxed)
    }

    /// Replaces the replica in `slot` by a fresh one of the current version,
    /// unless it was already replaced.
    fn replace(self: &Arc<Self>, slot: usize, old: &Arc<Replica>) {
        let fresh = spawn_replica(
            Arc::downgrade(self),
            slot,
            self.current(),
            self.settings.request_timeout,
        );
        let previous = self.slots[slot].compare_and_swap(old, fresh);
        if Arc::ptr_eq(&previous, old) {
            old.retire();
        }
    }

    /// The next replica round-robin, skipping full ones.
    fn pick(&self) -> (usize, Arc<Replica>) {
        let slot = pick_slot(self.next.fetch_add(1, Relaxed), self.slots.len(), |slot| {
            let replica = self.slots[slot].load();
            replica.in_flight() < self.settings.per_instance(replica.version.kind).0
        });
        (slot, self.slots[slot].load_full())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Round-robin over `n` slots from `start`: the first `free` one. Capacity
/// permits make "none free" unreachable in steady state; when a retiring
/// replica still holds permits, `start`'s slot is fine.
fn pick_slot(start: usize, n: usize, free: impl Fn(usize) -> bool) -> usize {
    (0..n)
        .map(|i| (start + i) % n)
        .find(|&slot| free(slot))
        .unwrap_or(start % n)
}

#[cfg(test)]
mod tests {
    use super::pick_slot;

    /// The slot [`pick_slot`] picks when slot `i` runs `in_flight[i]`
    /// requests and takes at most `limit`.
    fn pick(start: usize, limit: usize, in_flight: &[usize]) -> usize {
        pick_slot(start, in_flight.len(), |slot| in_flight[slot] < limit)
    }

    #[test]
    fn round_robin_starts_at_the_next_slot_and_skips_full_ones() {
        assert_eq!(pick(0, 2, &[0, 0, 0]), 0);
        assert_eq!(pick(4, 2, &[0, 0, 0]), 1);
        assert_eq!(pick(1, 2, &[0, 2, 1]), 2);
        assert_eq!(pick(2, 2, &[1, 2, 2]), 0);
    }

    #[test]
    fn all_full_falls_back_to_the_start_slot() {
        assert_eq!(pick(5, 1, &[1, 1, 1]), 2);
    }
}
