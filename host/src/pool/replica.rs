//! One replica: a tokio task owning one `Store` and instance, serving the
//! jobs routed to it concurrently (WASI p3 `run_concurrent`) until it is
//! retired, trapped, or a request overruns its deadline.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use futures::Stream as _;
use futures::channel::oneshot;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use wasmtime::AsContextMut as _;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::handler::{Prepared, Proxy};

use super::{ReplicaSet, Request, Response, lock};
use crate::instance::{ComponentVersion, InstanceState};

pub(super) struct Job {
    pub(super) request: Request,
    pub(super) reply: oneshot::Sender<wasmtime::Result<Response>>,
    /// Set by the replica when it drops its instance because *this*
    /// request overran the deadline (a 504, not an interruption).
    pub(super) expired: Arc<AtomicBool>,
}

/// One live instance (or one about to be instantiated).
pub struct Replica {
    pub(super) version: Arc<ComponentVersion>,
    /// Dropped to retire the replica: it then drains and exits.
    pub(super) sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    pub(super) in_flight: AtomicUsize,
    /// Requests routed to this replica (drives recycling after M).
    pub(super) assigned: AtomicU64,
}

impl Replica {
    #[expect(
        clippy::result_large_err,
        reason = "the job comes back to be retried on another replica, it is not an error to propagate"
    )]
    pub(super) fn send(&self, job: Job) -> Result<(), Job> {
        match &*lock(&self.sender) {
            Some(sender) => sender.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    pub(super) fn retire(&self) {
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

pub(super) fn spawn_replica(
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
    let proxy = match version.pre.instantiate_async(&mut store).await {
        Ok(proxy) => {
            version
                .env
                .metrics
                .instantiated(started.elapsed().as_secs_f64());
            proxy
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
    let func = match &proxy {
        Proxy::P3(service) => *service.wasi_http_handler().func_handle().func(),
        Proxy::P2(proxy) => *proxy.wasi_http_incoming_handler().func_handle().func(),
    };
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
                            let (response, answer) = oneshot::channel();
                            let prepared = accessor.with(|mut store| {
                                Prepared::new(
                                    store.as_context_mut(),
                                    proxy,
                                    request,
                                    InstanceState::http,
                                    response,
                                )
                            });
                            next_id += 1;
                            let id = next_id;
                            deadlines.start(id, expired);
                            running.push(async move {
                                let run = async {
                                    match prepared {
                                        Ok(prepared) => {
                                            prepared
                                                .run(accessor, tokio::time::sleep(timeout))
                                                .await
                                        }
                                        Err(error) => Err(error),
                                    }
                                };
                                let (result, relayed) = futures::join!(run, relay(answer, reply));
                                (id, relayed.and(result))
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

/// Passes the guest's answer on to the caller. A trap ends the replica
/// (its instance can run nothing more): the request that trapped gets the
/// error, while a request that only found the instance already dead
/// ("cannot enter component instance") gets no answer at all, which the
/// dispatcher reads as lost with its instance (retried when that is safe),
/// as it does for requests still running when the instance is dropped.
async fn relay(
    answer: oneshot::Receiver<wasmtime::Result<Response>>,
    reply: oneshot::Sender<wasmtime::Result<Response>>,
) -> wasmtime::Result<()> {
    let Ok(result) = answer.await else {
        return Ok(());
    };
    let Err(error) = result else {
        let _ = reply.send(result);
        return Ok(());
    };
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::CannotEnterComponent) => Err(error),
        Some(trap) => {
            let trap = *trap;
            let _ = reply.send(Err(error));
            Err(trap.into())
        }
        None => {
            let _ = reply.send(Err(error));
            Ok(())
        }
    }
}

/// Slack for the dispatcher's backstop deadline over the replica's.
pub(super) const KILL_GRACE: Duration = Duration::from_millis(200);
