"""A Spin app in Python (componentize-py), on the default key-value store.

Under its component's `.../` route (Spin's `spin-path-info`):
`GET /kv/<key>` answers the value (404 when missing), `PUT /kv/<key>`
stores the body. Built by `cargo xtask build` when componentize-py is
installed, for a world of its own (wit/world.wit).
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import key_value
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Put,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = b"".join(request.headers().get("spin-path-info")).decode()
        method = request.method()
        if not path.startswith("/kv/"):
            return respond(response_out, 404, b"not found\n")
        key = path.removeprefix("/kv/")
        with key_value.Store.open("default") as store:
            if isinstance(method, Method_Put):
                store.set(key, read_body(request))
                return respond(response_out, 200, f"set {key}\n".encode())
            if isinstance(method, Method_Get):
                value = store.get(key)
                if value is None:
                    return respond(response_out, 404, f"no key {key}\n".encode())
                return respond(response_out, 200, value)
        respond(response_out, 405, b"method not allowed\n")


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    stream = body.stream()
    data = bytearray()
    try:
        while True:
            data += stream.blocking_read(16 * 1024)
    except Err as e:
        if not isinstance(e.value, StreamError_Closed):
            raise
    finally:
        stream.__exit__(None, None, None)
    return bytes(data)


def respond(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
    response.set_status_code(status)
    out = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    stream = out.write()
    stream.blocking_write_and_flush(body)
    stream.__exit__(None, None, None)
    OutgoingBody.finish(out, None)
