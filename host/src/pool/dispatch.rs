//! Sending one request to a replica set: admission (capacity and the wait
//! queue), the replica that takes it, the response whose body holds the
//! replica's slot, and the one retry a request lost with its instance gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use futures::channel::oneshot;
use http_body_util::BodyExt as _;
use tokio::sync::OwnedSemaphorePermit;

use super::replica::{Job, KILL_GRACE, Replica};
use super::{DispatchError, ReplicaSet, Request, Response};
use crate::instance::ComponentVersion;

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
    pub(super) fn requeue(&self, mut job: Job) {
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
                    if n >= self.settings.per_instance(replica.version.kind).1 {
                        self.replace(slot, &replica);
                    }
                    break (replica, permit);
                }
                Err(returned) => {
                    // Retired between pick and send: try the next slot, or
                    // the successor when the whole set is retired.
                    replica.in_flight.fetch_sub(1, Relaxed);
                    if let Some(successor) = self.successor.load_full() {
                        drop(permit);
                        return Box::pin(successor.dispatch_once(returned.request)).await;
                    }
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
    let mut copy = http::Request::new(crate::response::body(bytes::Bytes::new()));
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: http::Method, headers: &[(&str, &str)]) -> Request {
        let mut request = http::Request::new(crate::response::body(bytes::Bytes::new()));
        *request.method_mut() = method;
        *request.uri_mut() = "/clients/1".parse().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        request
    }

    #[test]
    fn idempotent_bodyless_requests_are_replayed_with_their_head() {
        let original = request(http::Method::GET, &[("accept", "application/json")]);
        let copy = replayable(&original).expect("a GET with no body is replayable");
        assert_eq!(copy.method(), http::Method::GET);
        assert_eq!(copy.uri(), original.uri());
        assert_eq!(copy.headers(), original.headers());
        assert!(replayable(&request(http::Method::DELETE, &[("content-length", "0")])).is_some());
    }

    #[test]
    fn writes_and_bodies_are_never_replayed() {
        assert!(replayable(&request(http::Method::POST, &[])).is_none());
        assert!(replayable(&request(http::Method::PUT, &[])).is_none());
        assert!(replayable(&request(http::Method::GET, &[("content-length", "2")])).is_none());
        assert!(
            replayable(&request(
                http::Method::DELETE,
                &[("transfer-encoding", "chunked")]
            ))
            .is_none()
        );
    }
}
