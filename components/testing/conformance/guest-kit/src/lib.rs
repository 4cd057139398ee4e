//! What comptoir's guests of Spin's conformance suite built as
//! `wasm32-wasip1` core modules share, as the suite's own guests are: the
//! `wasi:http@0.2.0` bindings (re-exported, with the `export!` of
//! `wasi:http/incoming-handler@0.2.0`), a request header, and answering
//! with a status and a body.
//!
//! A guest implements [`Check`] and exports it with [`guest!`]: 200 with an
//! empty body when its check holds, 500 with the error's message when not
//! (the message is what the suite's no-permission tests compare).

pub use wasi;

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// What a guest checks on each request.
pub trait Check {
    fn check(request: &IncomingRequest) -> anyhow::Result<()>;
}

/// Exports `$guest` (a [`Check`]) as `wasi:http/incoming-handler@0.2.0`.
#[macro_export]
macro_rules! guest {
    ($guest:ident) => {
        impl $crate::wasi::exports::http::incoming_handler::Guest for $guest {
            fn handle(
                request: $crate::wasi::http::types::IncomingRequest,
                out: $crate::wasi::http::types::ResponseOutparam,
            ) {
                $crate::answer(out, <$guest as $crate::Check>::check(&request));
            }
        }
        $crate::wasi::http::proxy::export!($guest with_types_in $crate::wasi);
    };
}

/// 200 with an empty body for `Ok`, 500 with the error's messages for
/// `Err` (an interface's error alone prints as `Error::AccessDenied`).
pub fn answer(out: ResponseOutparam, result: anyhow::Result<()>) {
    match result {
        Ok(()) => respond(out, 200, b""),
        Err(error) => respond(out, 500, format!("{error:#}").as_bytes()),
    }
}

/// Answers with `status` and `body`, the body written and finished before
/// the response is handed over. An empty body is never opened, so the
/// runtime knows it empty (Spin then sends `content-length: 0`).
pub fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let response = OutgoingResponse::new(Fields::new());
    // Cannot fail: every status a guest here answers is a valid one.
    response.set_status_code(status).unwrap();
    if !body.is_empty() {
        // Cannot fail: the body of a new response is taken once, here.
        let outgoing = response.body().unwrap();
        if let Err(error) = write_body(&outgoing, body) {
            let message = format!("writing the response body: {error}");
            return respond(out, 500, message.as_bytes());
        }
        if let Err(error) = OutgoingBody::finish(outgoing, None) {
            let message = format!("finishing the response body: {error}");
            return respond(out, 500, message.as_bytes());
        }
    }
    ResponseOutparam::set(out, Ok(response));
}

/// Writes all of `bytes` to `body` (at most 4096 bytes a call, as
/// `blocking-write-and-flush` takes them).
pub fn write_body(body: &OutgoingBody, bytes: &[u8]) -> anyhow::Result<()> {
    let stream = body
        .write()
        .map_err(|()| anyhow::anyhow!("the body's stream was already taken"))?;
    for chunk in bytes.chunks(4096) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

/// The first value of the request's header `name`, if it is UTF-8.
pub fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(&name.to_owned());
    values.into_iter().find_map(|v| String::from_utf8(v).ok())
}
