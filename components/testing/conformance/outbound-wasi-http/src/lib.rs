//! Spin's conformance tests `outbound-wasi-http-v0.2.0` and
//! `outbound-wasi-http-v0.2.0-no-perms`, guest side: `POST`s
//! `Hello, world!` through `wasi:http/outgoing-handler@0.2.0` to the URL in
//! the request's `url` header, and answers with what came back (status,
//! headers and body: the echo service's). A failure is a 500 naming the
//! call that failed and the `error-code` (the no-perms test expects
//! `incoming-response#get: ErrorCode::HttpRequestDenied`).

use conformance_guest_kit::wasi::http::outgoing_handler;
use conformance_guest_kit::wasi::http::types::{
    Fields, IncomingRequest, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};
use conformance_guest_kit::wasi::io::streams::StreamError;
use conformance_guest_kit::{respond, wasi, write_body};

/// What is sent.
const BODY: &[u8] = b"Hello, world!";

struct OutboundHttp;

impl wasi::exports::http::incoming_handler::Guest for OutboundHttp {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let Some(url) = conformance_guest_kit::header(&request, "url") else {
            return respond(out, 400, b"missing header: url");
        };
        let Some(target) = Target::parse(&url) else {
            return respond(out, 400, format!("not an absolute URL: {url}").as_bytes());
        };
        match send(&target) {
            Ok(response) => forward(response, out),
            Err(message) => respond(out, 500, message.as_bytes()),
        }
    }
}

wasi::http::proxy::export!(OutboundHttp with_types_in conformance_guest_kit::wasi);

/// Where the request goes: an absolute URL's parts.
struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Target {
    /// `scheme://authority[/path?query]`.
    fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return None;
        }
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_owned()),
        };
        let path_with_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Some(Self {
            scheme,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

/// Sends [`BODY`] to `target` and waits for the response head; an error
/// is the message to answer with.
fn send(target: &Target) -> Result<IncomingResponse, String> {
    let headers = Fields::new();
    headers
        .append(
            &"content-length".to_owned(),
            &BODY.len().to_string().into_bytes(),
        )
        .map_err(|e| format!("fields#append: {e}"))?;
    let request = OutgoingRequest::new(headers);
    let set = |ok: Result<(), ()>, what: &str| ok.map_err(|()| format!("{what} refused"));
    set(request.set_method(&Method::Post), "set-method")?;
    set(
        request.set_path_with_query(Some(&target.path_with_query)),
        "set-path-with-query",
    )?;
    set(request.set_scheme(Some(&target.scheme)), "set-scheme")?;
    set(
        request.set_authority(Some(&target.authority)),
        "set-authority",
    )?;
    let body = request
        .body()
        .map_err(|()| "outgoing-request#body refused".to_owned())?;
    write_body(&body, BODY).map_err(|e| format!("writing the request body: {e}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("outgoing-body#finish: {e}"))?;

    let pending = outgoing_handler::handle(request, None)
        .map_err(|e| format!("outgoing-handler#handle: {e}"))?;
    loop {
        match pending.get() {
            None => pending.subscribe().block(),
            Some(Err(())) => return Err("incoming-response#get: taken twice".to_owned()),
            Some(Ok(result)) => return result.map_err(|e| format!("incoming-response#get: {e}")),
        }
    }
}

/// Answers with `response`: its status and headers, then its body as it
/// streams in.
fn forward(response: IncomingResponse, out: ResponseOutparam) {
    let answer = OutgoingResponse::new(response.headers().clone());
    // Cannot fail: the status came from a response.
    answer.set_status_code(response.status()).unwrap();
    // Cannot fail: each body is taken once, here.
    let incoming = response.consume().unwrap();
    let outgoing = answer.body().unwrap();
    ResponseOutparam::set(out, Ok(answer));
    // The response is sent: a failure now can only cut the body short
    // (left unfinished, which the runtime reports as an error).
    let Ok(source) = incoming.stream() else {
        return;
    };
    let Ok(sink) = outgoing.write() else { return };
    loop {
        match source.blocking_read(4096) {
            Ok(chunk) => {
                if sink.blocking_write_and_flush(&chunk).is_err() {
                    return;
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => return,
        }
    }
    // The streams go before their bodies are finished.
    drop((sink, source));
    let _ = OutgoingBody::finish(outgoing, None);
}
