//! A shared HTTP cache in front of in-process service chaining: a chained
//! `GET` whose answer its component marked fresh (`Cache-Control: max-age`
//! or `s-maxage`, RFC 9111) is answered from memory until it goes stale,
//! without running the component again.
//!
//! Only what cannot leak between callers is kept: requests with no
//! `Authorization` or `Cookie`, `200` answers without `private`,
//! `no-store`, `no-cache` or `Vary`, bodies up to [`MAX_BODY`]. An entry
//! is dropped when its component takes a request with an unsafe method on
//! the same path (RFC 9111 §4.4), and never served once the component
//! runs another version or while a canary of it runs. Spin has no such
//! cache: under `spin up` every chained call runs the component.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, BodyStream, StreamBody};
use hyper::body::Frame;
use wasmtime_wasi_http::WasiBody;

use crate::instance::ComponentVersion;

/// The largest body kept.
pub const MAX_BODY: usize = 64 * 1024;

/// Entries kept at most per component; when full, expired ones go first,
/// and a new entry is not kept while none has expired.
pub const MAX_ENTRIES: usize = 4096;

type Response = http::Response<WasiBody>;

/// What a chained `GET` is looked up by: the target component and the
/// path with its query.
pub struct Key {
    component: String,
    path_and_query: String,
}

impl Key {
    /// The key of `request` to `component`, if its answer may be shared:
    /// a `GET` carrying no credentials.
    pub fn of(component: &str, request: &http::Request<WasiBody>) -> Option<Self> {
        let headers = request.headers();
        let shareable = request.method() == Method::GET
            && !headers.contains_key(header::AUTHORIZATION)
            && !headers.contains_key(header::COOKIE);
        shareable.then(|| Self {
            component: component.to_owned(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
        })
    }
}

/// The path of a cached path-and-query.
fn path(path_and_query: &str) -> &str {
    path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path)
}

struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    fresh_for: Duration,
    version: Arc<ComponentVersion>,
}

impl Entry {
    fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored)
    }

    fn is_fresh(&self, now: Instant) -> bool {
        self.age(now) < self.fresh_for
    }
}

/// What one component's answers left in the cache.
#[derive(Default)]
struct Shelf {
    /// By path and query.
    entries: HashMap<String, Entry>,
    /// Bumped by every invalidation: an answer whose request started
    /// before one is not kept (it may predate the change).
    generation: u64,
}

/// The cache: one per running application, shared by every caller, a
/// shelf per component whose answers were looked up (a component never
/// read through it costs an invalidation one map lookup).
#[derive(Default)]
pub struct ChainCache {
    shelves: Mutex<HashMap<String, Shelf>>,
}

/// A lookup that missed: what storing its answer needs.
pub struct Miss {
    key: Key,
    generation: u64,
}

impl ChainCache {
    /// A fresh answer for `key` served by `current`, with its `Age`;
    /// otherwise the ticket to store the answer about to be fetched.
    pub fn lookup(&self, key: Key, current: &Arc<ComponentVersion>) -> Result<Response, Miss> {
        let mut shelves = self.shelves.lock().expect("cache lock");
        let shelf = match shelves.get_mut(&key.component) {
            Some(shelf) => shelf,
            None => shelves.entry(key.component.clone()).or_default(),
        };
        let now = Instant::now();
        match shelf.entries.get(&key.path_and_query) {
            Some(entry) if Arc::ptr_eq(&entry.version, current) && entry.is_fresh(now) => {
                let mut response = http::Response::new(crate::response::body(entry.body.clone()));
                *response.status_mut() = entry.status;
                *response.headers_mut() = entry.headers.clone();
                response
                    .headers_mut()
                    .insert(header::AGE, HeaderValue::from(entry.age(now).as_secs()));
                Ok(response)
            }
            _ => Err(Miss {
                generation: shelf.generation,
                key,
            }),
        }
    }

    /// Keeps `response` (from `version`) if it may be shared and no
    /// invalidation of its component happened since its lookup; gives it
    /// back either way.
    pub async fn store(
        &self,
        miss: Miss,
        version: &Arc<ComponentVersion>,
        response: Response,
    ) -> Response {
        let Some(fresh_for) = freshness(&response) else {
            return response;
        };
        let (parts, body) = response.into_parts();
        let body = match buffer(body).await {
            Ok(body) => body,
            Err(unbuffered) => return http::Response::from_parts(parts, unbuffered),
        };
        let mut shelves = self.shelves.lock().expect("cache lock");
        if let Some(shelf) = shelves
            .get_mut(&miss.key.component)
            .filter(|shelf| shelf.generation == miss.generation)
        {
            let now = Instant::now();
            if shelf.entries.len() >= MAX_ENTRIES {
                shelf.entries.retain(|_, e| e.is_fresh(now));
            }
            if shelf.entries.len() < MAX_ENTRIES {
                let entry = Entry {
                    status: parts.status,
                    headers: parts.headers.clone(),
                    body: body.clone(),
                    stored: now,
                    fresh_for,
                    version: version.clone(),
                };
                shelf.entries.insert(miss.key.path_and_query, entry);
            }
        }
        drop(shelves);
        http::Response::from_parts(parts, crate::response::body(body))
    }

    /// A request with an unsafe method on `component`'s `path` may change
    /// what its `GET`s answer: forgets them (call it when the request
    /// starts and when it ends).
    pub fn invalidate(&self, component: &str, path: &str) {
        if let Some(shelf) = self.shelves.lock().expect("cache lock").get_mut(component) {
            shelf.generation += 1;
            shelf.entries.retain(|cached, _| self::path(cached) != path);
        }
    }
}

/// How long a shared cache may serve `response`, if it may keep it.
fn freshness(response: &Response) -> Option<Duration> {
    if response.status() != StatusCode::OK || response.headers().contains_key(header::VARY) {
        return None;
    }
    let mut max_age = None;
    let mut s_maxage = None;
    for value in response.headers().get_all(header::CACHE_CONTROL) {
        for directive in value.to_str().ok()?.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name, Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            let seconds = || argument?.parse::<u64>().ok();
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" | "private" => return None,
                "max-age" => max_age = Some(seconds()?),
                "s-maxage" => s_maxage = Some(seconds()?),
                _ => {}
            }
        }
    }
    s_maxage
        .or(max_age)
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// `body` in memory if it is at most [`MAX_BODY`] bytes and has no
/// trailers; otherwise a body that still yields all of it.
async fn buffer(mut body: WasiBody) -> Result<Bytes, WasiBody> {
    let mut read = BytesMut::new();
    let next = loop {
        match body.frame().await {
            None => return Ok(read.freeze()),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    read.extend_from_slice(&data);
                    if read.len() > MAX_BODY {
                        break None;
                    }
                }
                Err(trailers) => break Some(Ok(trailers)),
            },
            Some(Err(error)) => break Some(Err(error)),
        }
    };
    let head = std::iter::once(Ok(Frame::data(read.freeze()))).chain(next);
    let frames = futures::stream::iter(head).chain(BodyStream::new(body));
    Err(StreamBody::new(frames).boxed_unsync())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: StatusCode, cache_control: &[&str]) -> Response {
        let mut response = crate::response::empty(status);
        for value in cache_control {
            response
                .headers_mut()
                .append(header::CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        response
    }

    #[test]
    fn explicit_freshness_is_kept_for_as_long_as_it_says() {
        let ok = |cc: &[&str]| freshness(&answer(StatusCode::OK, cc));
        assert_eq!(ok(&["public, max-age=30"]), Some(Duration::from_secs(30)));
        assert_eq!(
            ok(&["max-age=30, s-maxage=5"]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            ok(&["public", "max-age=\"7\""]),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn answers_that_may_not_be_shared_are_not_kept() {
        let ok = |cc: &[&str]| freshness(&answer(StatusCode::OK, cc));
        assert_eq!(ok(&[]), None);
        assert_eq!(ok(&["public"]), None);
        assert_eq!(ok(&["max-age=0"]), None);
        assert_eq!(ok(&["private, max-age=30"]), None);
        assert_eq!(ok(&["max-age=30", "no-store"]), None);
        assert_eq!(ok(&["no-cache, max-age=30"]), None);
        assert_eq!(ok(&["max-age=soon"]), None);
        let missing = answer(StatusCode::NOT_FOUND, &["max-age=30"]);
        assert_eq!(freshness(&missing), None);
        let mut varies = answer(StatusCode::OK, &["max-age=30"]);
        varies
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
        assert_eq!(freshness(&varies), None);
    }

    #[test]
    fn only_gets_without_credentials_are_shared() {
        let request = |method: Method, header: Option<(&str, &str)>| {
            let mut request = http::Request::builder()
                .method(method)
                .uri("http://catalogue.spin.internal/catalogue/A?x=1");
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            request.body(crate::response::body(Bytes::new())).unwrap()
        };
        let key = Key::of("catalogue", &request(Method::GET, None)).unwrap();
        assert_eq!(path(&key.path_and_query), "/catalogue/A");
        assert!(Key::of("catalogue", &request(Method::PUT, None)).is_none());
        let token = Some(("authorization", "Bearer x"));
        assert!(Key::of("catalogue", &request(Method::GET, token)).is_none());
        assert!(Key::of("catalogue", &request(Method::GET, Some(("cookie", "s=1")))).is_none());
    }

    #[tokio::test]
    async fn a_long_body_is_passed_on_whole_and_not_kept() {
        let long = Bytes::from(vec![7u8; MAX_BODY + 10]);
        let frames = futures::stream::iter(
            long.chunks(1000)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect::<Vec<_>>(),
        );
        let body = StreamBody::new(frames).boxed_unsync();
        let rest = buffer(body).await.unwrap_err();
        assert_eq!(rest.collect().await.unwrap().to_bytes(), long);
        let short = crate::response::body(Bytes::from_static(b"{}"));
        assert_eq!(buffer(short).await.unwrap(), Bytes::from_static(b"{}"));
    }
}
