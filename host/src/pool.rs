//! Replica sets: R live instances of a component, round-robin, bounded.
//!
//! Each replica is a tokio task owning one `Store` and instance, driven by
//! `run_concurrent` so that it serves up to C requests at once (WASI p3);
//! after M requests it is retired (drained, then dropped) and a fresh one
//! takes its slot. A replica that traps is dropped and replaced. When every
//! replica is full, up to `max_queue` requests wait; beyond that the set
//! answers [`DispatchError::Overloaded`] (503 + `Retry-After`).

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use futures::Stream as _;
use futures::channel::oneshot;
use futures::stream::FuturesUnordered;
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use wasmtime::AsContextMut as _;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::handler::{Prepared, Proxy};

use crate::instance::{ComponentVersion, InstanceState};

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

struct Job {
    request: Request,
    reply: oneshot::Sender<wasmtime::Result<Response>>,
    /// Set by the replica when it drops its instance because *this*
    /// request overran the deadline (a 504, not an interruption).
    expired: Arc<AtomicBool>,
}

/// One live instance (or one about to be instantiated).
pub struct Replica {
    version: Arc<ComponentVersion>,
    /// Dropped to retire the replica: it then drains and exits.
    sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    in_flight: AtomicUsize,
    /// Requests routed to this replica (drives recycling after M).
    assigned: AtomicU64,
}

impl Replica {
    #[expect(
        clippy::result_large_err,
        reason = "the job comes back to be retried on another replica, it is not an error to propagate"
    )]
    fn send(&self, job: Job) -> Result<(), Job> {
        match &*lock(&self.sender) {
            Some(sender) => sender.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    fn retire(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    pub fn served(&self) -> u64 {
        self.assigned.load(Relaxed)
    }

    pub fn version(&self) -> &Arc<ComponentVersion> {
        &self.version
    }
}

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
}

/// Holds a replica's in-flight count and the set's capacity until dropped.
struct InFlight {
    replica: Arc<Replica>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.replica.in_flight.fetch_sub(1, Relaxed);
    }
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
                name: version.env.id.clone(),
                capacity: Arc::new(Semaphore::new(replicas * settings.max_concurrency.max(1))),
                settings,
                current: ArcSwap::new(version),
                previous: ArcSwapOption::empty(),
                slots,
                next: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                traps: AtomicU64::new(0),
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

    /// Retires every replica: each finishes what it was given, then exits
    /// (for a canary's replicas once it is decided).
    pub fn retire_all(&self) {
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

    /// Waits for capacity, or refuses when the wait queue is full.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, DispatchError> {
        if let Ok(permit) = self.capacity.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let overloaded = || DispatchError::Overloaded {
            component: self.name.clone(),
            replicas: self.slots.len(),
        };
        if self.queued.fetch_add(1, Relaxed) >= self.settings.max_queue {
            self.queued.fetch_sub(1, Relaxed);
            return Err(overloaded());
        }
        let permit = tokio::time::timeout(
            self.settings.request_timeout,
            self.capacity.clone().acquire_owned(),
        )
        .await;
        self.queued.fetch_sub(1, Relaxed);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded()),
        }
    }

    /// The next replica round-robin, skipping full ones.
    fn pick(&self) -> (usize, Arc<Replica>) {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Relaxed);
        let limit = self.settings.max_concurrency.max(1);
        for i in 0..n {
            let slot = (start + i) % n;
            let replica = self.slots[slot].load_full();
            if replica.in_flight() < limit {
                return (slot, replica);
            }
        }
        // Capacity permits make this unreachable in steady state; when a
        // retiring replica still holds permits, the next slot is fine.
        let slot = start % n;
        (slot, self.slots[slot].load_full())
    }

    /// Sends `request` to a replica and returns its response, whose body
    /// keeps the replica's in-flight slot until it is fully sent.
    ///
    /// A request lost with its instance — because another request trapped
    /// it, or overran the deadline so that the instance was dropped — is
    /// retried once on a fresh replica when that is safe: an idempotent
    /// method (GET, HEAD, OPTIONS, DELETE) with no body.
    ///
    /// Returns the version that ran it (or, when none did, the current one).
    pub async fn dispatch(
        self: &Arc<Self>,
        request: Request,
    ) -> (Arc<ComponentVersion>, Result<Response, DispatchError>) {
        match self.dispatch_replayed(request).await {
            Ok((response, version)) => (version, Ok(response)),
            Err(error) => (self.current(), Err(error)),
        }
    }

    async fn dispatch_replayed(
        self: &Arc<Self>,
        request: Request,
    ) -> Result<(Response, Arc<ComponentVersion>), DispatchError> {
        let Some(again) = replayable(&request) else {
            return self.dispatch_once(request).await;
        };
        match self.dispatch_once(request).await {
            Err(DispatchError::Interrupted { .. }) => {
                tracing::info!(component = %self.name, "retrying a request lost with its instance");
                self.dispatch_once(again).await
            }
            other => other,
        }
    }

    /// Hands jobs a failed replica had not started to the other replicas.
    fn requeue(&self, mut job: Job) {
        for _ in 0..self.slots.len() * 2 {
            let (_, replica) = self.pick();
            match replica.send(job) {
                Ok(()) => return,
                Err(returned) => job = returned,
            }
        }
        let _ = job.reply.send(Err(wasmtime::format_err!(
            "no replica could take the request"
        )));
    }

    async fn dispatch_once(
        self: &Arc<Self>,
        request: Request,
    ) -> Result<(Response, Arc<ComponentVersion>), DispatchError> {
        let permit = self.admit().await?;
        let (reply, response) = oneshot::channel();
        let expired = Arc::new(AtomicBool::new(false));
        let mut job = Job {
            request,
            reply,
            expired: expired.clone(),
        };
        let mut attempts = 0;
        let (replica, permit) = loop {
            let (slot, replica) = self.pick();
            replica.in_flight.fetch_add(1, Relaxed);
            match replica.send(job) {
                Ok(()) => {
                    let n = replica.assigned.fetch_add(1, Relaxed) + 1;
                    if n >= self.settings.max_requests {
                        self.replace(slot, &replica);
                    }
                    break (replica, permit);
                }
                Err(returned) => {
                    // Retired between pick and send: try the next slot.
                    replica.in_flight.fetch_sub(1, Relaxed);
                    job = returned;
                    attempts += 1;
                    if attempts > self.slots.len() * 2 {
                        tokio::task::yield_now().await;
                    }
                }
            }
        };
        let version = replica.version.clone();
        let guard = InFlight {
            replica,
            _permit: permit,
        };
        let failed = |reason: String| DispatchError::Failed {
            component: self.name.clone(),
            reason,
        };
        let timed_out = || DispatchError::Timeout {
            component: self.name.clone(),
            timeout: self.settings.request_timeout,
        };
        // The replica enforces the deadline; this is only a backstop.
        let backstop = self.settings.request_timeout + KILL_GRACE * 5;
        let Ok(response) = tokio::time::timeout(backstop, response).await else {
            return Err(timed_out());
        };
        match response {
            Ok(Ok(response)) => {
                // The guard lives in the body: dropped when hyper is done with it.
                let response = response.map(|body| {
                    body.map_frame(move |frame| {
                        let _ = &guard;
                        frame
                    })
                    .boxed_unsync()
                });
                Ok((response, version))
            }
            Ok(Err(error)) if error.is::<wasmtime_wasi_http::handler::ExpirationError>() => {
                Err(DispatchError::Timeout {
                    component: self.name.clone(),
                    timeout: self.settings.request_timeout,
                })
            }
            Ok(Err(error)) => Err(failed(format!("{error:#}"))),
            Err(oneshot::Canceled) if expired.load(Relaxed) => Err(DispatchError::Expired {
                component: self.name.clone(),
                timeout: self.settings.request_timeout,
            }),
            Err(oneshot::Canceled) => Err(DispatchError::Interrupted {
                component: self.name.clone(),
            }),
        }
    }
}

/// A copy of `request` to retry with, if it is idempotent and has no body.
fn replayable(request: &Request) -> Option<Request> {
    let idempotent = matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::DELETE
    );
    let headers = request.headers();
    let bodyless = !headers.contains_key(http::header::TRANSFER_ENCODING)
        && headers
            .get(http::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    if !(idempotent && bodyless) {
        return None;
    }
    let mut copy = http::Request::new(crate::problem::body(bytes::Bytes::new()));
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

fn spawn_replica(
    set: Weak<ReplicaSet>,
    slot: usize,
    version: Arc<ComponentVersion>,
    timeout: Duration,
) -> Arc<Replica> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let replica = Arc::new(Replica {
        version: version.clone(),
        sender: Mutex::new(Some(sender)),
        in_flight: AtomicUsize::new(0),
        assigned: AtomicU64::new(0),
    });
    let weak_replica = Arc::downgrade(&replica);
    tokio::spawn(async move {
        let mut jobs = receiver;
        let result = run_replica(version, &mut jobs, timeout).await;
        let (Some(set), Some(replica)) = (set.upgrade(), weak_replica.upgrade()) else {
            return;
        };
        if let Err(error) = result {
            set.traps.fetch_add(1, Relaxed);
            replica.version.env.metrics.trap(&set.name);
            tracing::warn!(component = %set.name, slot, error = %format!("{error:#}"), "replica failed; replacing it");
            set.replace(slot, &replica);
            // Requests routed here but never started are safe to run elsewhere.
            jobs.close();
            while let Ok(job) = jobs.try_recv() {
                set.requeue(job);
            }
        }
    });
    replica
}

/// The life of one replica: instantiate, serve jobs until retired, drain.
async fn run_replica(
    version: Arc<ComponentVersion>,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    timeout: Duration,
) -> wasmtime::Result<()> {
    let mut store = version.store(timeout);
    let deadlines = store.data().deadlines.clone();
    let started = std::time::Instant::now();
    let service = match version.pre.instantiate_async(&mut store).await {
        Ok(service) => {
            version
                .env
                .metrics
                .instantiated(started.elapsed().as_secs_f64());
            service
        }
        Err(error) => {
            jobs.close();
            while let Ok(job) = jobs.try_recv() {
                let _ = job.reply.send(Err(wasmtime::format_err!(
                    "instantiation failed: {error:#}"
                )));
            }
            return Err(error);
        }
    };
    let func = *service.wasi_http_handler().func_handle().func();
    let proxy = Proxy::P3(service);
    let proxy = &proxy;
    let serve = store.run_concurrent(async |accessor| {
        let mut running = pin!(FuturesUnordered::new());
        let mut accepting = true;
        let mut next_id = 0u64;
        poll_fn(|cx| {
            loop {
                match running.as_mut().poll_next(cx) {
                    Poll::Ready(Some((id, Ok(true)))) => {
                        deadlines.finish(id);
                        continue;
                    }
                    Poll::Ready(Some((_, Ok(false)))) => {
                        deadlines.overdue();
                        return Poll::Ready(Err(wasmtime::format_err!(
                            "a request exceeded the {timeout:?} deadline"
                        )));
                    }
                    Poll::Ready(Some((_, Err(error)))) => return Poll::Ready(Err(error)),
                    Poll::Ready(None) | Poll::Pending => {}
                }
                if accepting && accessor.poll_ready_for_concurrent_call(func, cx).is_ready() {
                    match jobs.poll_recv(cx) {
                        Poll::Ready(Some(Job {
                            request,
                            reply,
                            expired,
                        })) => {
                            let prepared = accessor.with(|mut store| {
                                Prepared::new(
                                    store.as_context_mut(),
                                    proxy,
                                    request,
                                    InstanceState::http,
                                    reply,
                                )
                            });
                            next_id += 1;
                            let id = next_id;
                            deadlines.start(id, expired);
                            running.push(async move {
                                let result = match prepared {
                                    Ok(prepared) => {
                                        prepared.run(accessor, tokio::time::sleep(timeout)).await
                                    }
                                    Err(error) => Err(error),
                                };
                                (id, result)
                            });
                            continue;
                        }
                        Poll::Ready(None) => accepting = false,
                        Poll::Pending => {}
                    }
                }
                if !running.is_empty() || accessor.poll_no_interesting_tasks(cx).is_pending() {
                    return Poll::Pending;
                }
                return if accepting {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
        })
        .await
    });
    // A guest stuck in a loop is trapped by the epoch callback (see
    // `ComponentVersion::store`); a request stuck elsewhere (e.g. on a host
    // call) is caught here, where dropping `serve` drops the instance.
    let watchdog = async {
        loop {
            match deadlines.oldest() {
                Some(started) if started.elapsed() >= timeout => {
                    deadlines.overdue();
                    return;
                }
                Some(started) => tokio::time::sleep_until((started + timeout).into()).await,
                None => tokio::time::sleep(timeout).await,
            }
        }
    };
    tokio::select! {
        result = serve => result?,
        () = watchdog => Err(wasmtime::format_err!(
            "a request exceeded the {timeout:?} deadline; its instance was dropped"
        )),
    }
}

/// Slack for the dispatcher's backstop deadline over the replica's.
const KILL_GRACE: Duration = Duration::from_millis(200);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
