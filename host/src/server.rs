//! The public HTTP listener: hyper, one task per connection, routing by the
//! manifest, host endpoints (`/healthz`, `/readyz`), graceful shutdown.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use wasmtime_wasi_http::WasiBody;

use crate::componentize::Kind;
use crate::problem::Problem;
use crate::response;
use crate::router::Services;
use crate::routes::{Matched, spin_headers};

/// Limits applied to every public request.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub max_body: usize,
    /// Longest a request URI may be (414 beyond).
    pub max_uri: usize,
    /// Bytes hyper buffers for a request head (431 beyond).
    pub max_head: usize,
    pub header_read_timeout: Duration,
    /// Longest a client may take to send its body (408 beyond).
    pub body_read_timeout: Duration,
    pub shutdown_grace: Duration,
    pub cors: crate::cors::Cors,
    /// Tag responses with `comptoir-component` (the only response header
    /// comptoir adds); off for clients that expect exactly Spin's headers.
    pub version_header: bool,
}

/// Serves the public API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) {
    let handler = {
        let settings = settings.clone();
        move |request| {
            let services = services.clone();
            let settings = settings.clone();
            async move { handle(&services, &settings, request).await }
        }
    };
    accept_loop(listener, handler, &settings, shutdown).await;
}

/// Accepts connections on `listener` and answers each request with
/// `handler`, one task per connection, until `shutdown` resolves; then lets
/// in-flight requests finish (up to the grace period).
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    handler: H,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(http::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = http::Response<WasiBody>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // One failed accept (e.g. EMFILE) must not end the loop.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |mut request: http::Request<Incoming>| {
            // Who is calling (`spin-client-addr`).
            request.extensions_mut().insert(ClientAddr(peer));
            let response = handler(request);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_buf_size(settings.max_head)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("all connections closed"),
        () = tokio::time::sleep(settings.shutdown_grace) => {
            tracing::warn!("grace period over; dropping remaining connections");
        }
    }
}

/// How long the head of a response waits for its body to be complete…
const SIZE_WAIT: Duration = Duration::from_millis(5);
/// …and up to what size: then it is sent with its `Content-Length`.
const SIZE_CAP: usize = 64 * 1024;

/// A response whose body the component finished within [`SIZE_WAIT`] and
/// [`SIZE_CAP`] bytes goes out whole, with its `Content-Length` (as Spin
/// sends a body it has whole: an empty one is `Content-Length: 0`); a
/// longer or slower one streams as it comes, what was read first included.
/// A `wasi:http@0.2` guest writes its body after handing over the
/// response, so Spin streams it: only an empty one goes out whole.
async fn sized(response: http::Response<WasiBody>) -> http::Response<WasiBody> {
    let (parts, mut body) = response.into_parts();
    if body.size_hint().exact().is_some() {
        return http::Response::from_parts(parts, body);
    }
    let cap = match parts.extensions.get::<Kind>() {
        Some(Kind::P2 | Kind::Module) => 0,
        _ => SIZE_CAP,
    };
    let mut read: Vec<hyper::body::Frame<bytes::Bytes>> = Vec::new();
    let mut size = 0;
    let deadline = tokio::time::sleep(SIZE_WAIT);
    tokio::pin!(deadline);
    let whole = loop {
        tokio::select! {
            frame = body.frame() => match frame {
                None => break true,
                Some(Ok(frame)) => {
                    size += frame.data_ref().map_or(0, bytes::Bytes::len);
                    let trailers = frame.is_trailers();
                    read.push(frame);
                    if trailers || size > cap {
                        break false;
                    }
                }
                Some(Err(error)) => {
                    // The error reaches the client as the stream's.
                    let rest = futures::stream::iter(read.into_iter().map(Ok))
                        .chain(futures::stream::once(async { Err(error) }));
                    return http::Response::from_parts(
                        parts,
                        http_body_util::StreamBody::new(rest).boxed_unsync(),
                    );
                }
            },
            () = &mut deadline => break false,
        }
    };
    if whole {
        let mut bytes = bytes::BytesMut::with_capacity(size);
        for frame in read {
            if let Ok(data) = frame.into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        return http::Response::from_parts(parts, response::body(bytes.freeze()));
    }
    let rest = futures::stream::iter(read.into_iter().map(Ok))
        .chain(http_body_util::BodyStream::new(body));
    http::Response::from_parts(parts, http_body_util::StreamBody::new(rest).boxed_unsync())
}

/// The address a request came from, as its connection's peer.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// Answers one public request and records it in the metrics.
async fn handle(
    services: &Services,
    settings: &ServerSettings,
    request: http::Request<Incoming>,
) -> http::Response<WasiBody> {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let matched = services.routes.matched(request.uri().path());
    let (service, label) = match &matched {
        Some(matched) => (
            matched.route.component.as_str(),
            matched.route.template.as_str(),
        ),
        None => ("host", host_route(request.uri().path())),
    };
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let response = route_request(services, settings, matched.as_ref(), request)
        .await
        .unwrap_or_else(|problem| problem.response());
    let mut response = sized(response).await;
    settings.cors.decorate(origin.as_ref(), &mut response);
    // The version label: the sha256 prefix of the `comptoir-component`
    // header (at most two per component: stable and canary).
    let version = response
        .headers()
        .get(crate::router::COMPONENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('@'))
        .map_or("", |(_, sha)| sha);
    services.metrics.request(
        service,
        version,
        &method,
        label,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    if !settings.version_header {
        response
            .headers_mut()
            .remove(crate::router::COMPONENT_HEADER);
    }
    response
}

/// The paths the host answers itself on the public listener (GET only).
pub const HOST_ENDPOINTS: &[&str] = &["/healthz", "/readyz"];

/// The metrics label of a path the host answers itself.
fn host_route(path: &str) -> &'static str {
    HOST_ENDPOINTS
        .iter()
        .find(|endpoint| **endpoint == path)
        .copied()
        .unwrap_or("unmatched")
}

/// Answers `request`; `matched` is the manifest route of its path, if any.
async fn route_request(
    services: &Services,
    settings: &ServerSettings,
    matched: Option<&Matched<'_>>,
    mut request: http::Request<Incoming>,
) -> Result<http::Response<WasiBody>, Problem> {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_len > settings.max_uri {
        return Err(Problem::UriTooLong(settings.max_uri));
    }
    if let Some(preflight) = settings.cors.preflight(request.method(), request.headers()) {
        return preflight;
    }
    let path = request.uri().path();
    if HOST_ENDPOINTS.contains(&path) {
        return match (request.method(), path) {
            (&Method::GET, "/readyz") => Ok(readyz(services).await),
            (&Method::GET, _) => Ok(response::json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok"}),
            )),
            _ => Err(Problem::MethodNotAllowed {
                path: path.to_owned(),
                allow: "GET",
            }),
        };
    }
    let Some(matched) = matched else {
        return Err(Problem::NoRoute(path.to_owned()));
    };
    shape_as_spin(&mut request, matched);
    let too_large = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|len| len > settings.max_body as u64);
    if too_large {
        return Err(Problem::BodyTooLarge(settings.max_body));
    }
    // Bodies are small (≤ --max-body): read them whole, with a deadline,
    // so that an oversized or stalled upload is answered here (413, 408)
    // and components see only complete bodies.
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        settings.body_read_timeout,
        Limited::new(body, settings.max_body).collect(),
    )
    .await;
    let body = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(Problem::BodyTooLarge(settings.max_body));
        }
        Ok(Err(_)) => return Err(Problem::UnreadableBody),
        Err(_) => return Err(Problem::BodyTimeout(settings.body_read_timeout)),
    };
    let request = http::Request::from_parts(parts, response::body(body));
    Ok(services.serve(&matched.route.component, request).await)
}

/// Hands the request over as Spin does: its URI absolute (`http://` and
/// the `Host` header's authority, which the guest reads as the request's
/// authority), with the `spin-*` headers Spin sets (and only those: a
/// client cannot send its own `spin-client-addr` or path matches).
fn shape_as_spin<B>(request: &mut http::Request<B>, matched: &Matched<'_>) {
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let headers = spin_headers(matched, request.uri(), host.as_deref(), client);
    if request.uri().authority().is_none()
        && let Some(authority) = host.and_then(|h| http::uri::Authority::try_from(h).ok())
    {
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(http::uri::Scheme::HTTP);
        parts.authority = Some(authority);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    let sent: Vec<http::HeaderName> = request
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    let map = request.headers_mut();
    for name in sent {
        map.remove(name);
    }
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name),
            http::HeaderValue::try_from(value),
        ) {
            map.insert(name, value);
        }
    }
}

async fn readyz(services: &Services) -> http::Response<WasiBody> {
    let databases = services.databases_ready().await;
    let components: Vec<_> = services
        .components
        .values()
        .map(|set| serde_json::json!({"name": set.name(), "version": set.current().label()}))
        .collect();
    let ready = databases.iter().all(|(_, up)| *up) && !components.is_empty();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "databases": databases.iter().map(|(n, up)| serde_json::json!({"name": n, "up": up})).collect::<Vec<_>>(),
        "components": components,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    response::json(status, &body)
}
