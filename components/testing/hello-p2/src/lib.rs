//! Answers every request `200 hello from <GREETING>` (the `GREETING`
//! environment variable, from the manifest's `environment`), with
//! `x-instance-requests`: how many requests this instance has served, so
//! tests can tell a fresh instance per request from a reused one.
//! `…/chain/<component>` forwards a GET to `http://<component>.spin.internal/`
//! (outbound `wasi:http@0.2`) and answers what it got; `…/spin` never
//! answers (it spins).

use std::io::{Read as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Hello);

struct Hello;

static SERVED: AtomicU64 = AtomicU64::new(0);

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let served = SERVED.fetch_add(1, Relaxed) + 1;
        let path = request.path_with_query().unwrap_or_default();
        if path.ends_with("/spin") {
            // A guest that never answers: the gateway's deadline must stop it.
            loop {
                std::hint::spin_loop();
            }
        }
        let (status, body) = match path.split_once("/chain/") {
            Some((_, target)) => chained(target),
            None => {
                let greeting = wasip2::cli::environment::get_environment()
                    .into_iter()
                    .find(|(name, _)| name == "GREETING")
                    .map(|(_, value)| value)
                    .unwrap_or_else(|| "nowhere".to_owned());
                (200, format!("hello from {greeting}\n").into_bytes())
            }
        };
        let headers = Fields::new();
        headers
            .append("x-instance-requests", served.to_string().as_bytes())
            .expect("a valid header");
        headers
            .append("content-type", b"text/plain")
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("a valid status");
        let out = response.body().expect("the body, once");
        ResponseOutparam::set(response_out, Ok(response));
        let mut stream = out.write().expect("the stream, once");
        stream.write_all(&body).expect("body written");
        stream.flush().expect("body flushed");
        drop(stream);
        OutgoingBody::finish(out, None).expect("body finished");
    }
}

/// GET `http://<target>.spin.internal/`: its status and body, or 502 and
/// the error.
fn chained(target: &str) -> (u16, Vec<u8>) {
    let request = OutgoingRequest::new(Fields::new());
    let authority = format!("{target}.spin.internal");
    let set = request.set_method(&Method::Get).is_ok()
        && request.set_scheme(Some(&Scheme::Http)).is_ok()
        && request.set_authority(Some(&authority)).is_ok()
        && request.set_path_with_query(Some("/")).is_ok();
    if !set {
        return (400, b"bad chained request\n".to_vec());
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(error) => return (502, format!("{error:?}\n").into_bytes()),
    };
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return (502, format!("{error:?}\n").into_bytes()),
        _ => return (502, b"no response\n".to_vec()),
    };
    let status = response.status();
    let mut body = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(stream) = incoming.stream()
    {
        let mut reader = stream;
        let _ = reader.read_to_end(&mut body);
    }
    (status, body)
}
