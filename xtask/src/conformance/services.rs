//! The services a conformance test names as its preconditions, started
//! for one run of it: `http-echo` (answers a request with its body) and
//! `tcp-echo` (writes back what it reads), both on loopback threads, and
//! `postgres` ([`super::postgres`]), `redis` ([`super::redis`]);
//! `key-value-store` and `sqlite` are the
//! runtime's own. Each service stands for a port the test's files name as
//! `%{port=N}` ([`Services::substitute`]); all stop when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::postgres::Postgres;
use super::redis::Redis;

/// The port in the suite's files each service stands for.
const HTTP_ECHO_PORT: u16 = 80;
const TCP_ECHO_PORT: u16 = 7;
const POSTGRES_PORT: u16 = 5432;
const REDIS_PORT: u16 = 6379;

/// Why a test cannot run here, when a precondition is missing.
pub fn unavailable(preconditions: &[Value]) -> Option<&'static str> {
    preconditions.iter().find_map(|p| match p["kind"].as_str() {
        Some("redis") if !Redis::available() => {
            Some("needs Redis (redis-server on PATH; Debian: redis-server)")
        }
        Some("mqtt") => Some("needs an MQTT broker (and fermyon:spin/mqtt, not provided)"),
        Some("postgres") if !Postgres::available() => {
            Some("needs PostgreSQL (initdb, pg_ctl and psql on PATH)")
        }
        _ => None,
    })
}

/// The services of one test run.
#[derive(Default)]
pub struct Services {
    /// Port in the suite's files → where its service listens.
    ports: BTreeMap<u16, u16>,
    echoes: Vec<Echo>,
    _postgres: Option<Postgres>,
    _redis: Option<Redis>,
}

impl Services {
    /// Starts what `preconditions` name; `suite` is the suite's directory
    /// (PostgreSQL's init scripts are under `services/postgres-init`).
    pub fn start(preconditions: &[Value], suite: &Path, work: &Path) -> anyhow::Result<Self> {
        let mut services = Self::default();
        for precondition in preconditions {
            match precondition["kind"].as_str().unwrap_or_default() {
                "http-echo" => {
                    let echo = Echo::start(answer_http)?;
                    services.ports.insert(HTTP_ECHO_PORT, echo.port);
                    services.echoes.push(echo);
                }
                "tcp-echo" => {
                    let echo = Echo::start(echo_bytes)?;
                    services.ports.insert(TCP_ECHO_PORT, echo.port);
                    services.echoes.push(echo);
                }
                "postgres" => {
                    let postgres = Postgres::start(&suite.join("services/postgres-init"), work)
                        .context("starting PostgreSQL")?;
                    services.ports.insert(POSTGRES_PORT, postgres.port());
                    services._postgres = Some(postgres);
                }
                "redis" => {
                    let redis = Redis::start()?;
                    services.ports.insert(REDIS_PORT, redis.port());
                    services._redis = Some(redis);
                }
                "key-value-store" | "sqlite" => {}
                other => bail!("unknown precondition {other:?}"),
            }
        }
        Ok(services)
    }

    /// `text` with each `%{port=N}` replaced by the port of the service
    /// standing for `N`.
    pub fn substitute(&self, text: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("%{port=") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "%{port=".len()..];
            let end = after.find('}').context("an unclosed %{port=")?;
            let port: u16 = after[..end]
                .parse()
                .with_context(|| format!("%{{port={}}}", &after[..end]))?;
            let actual = self
                .ports
                .get(&port)
                .with_context(|| format!("%{{port={port}}} but no service stands for it"))?;
            out.push_str(&actual.to_string());
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A loopback service answering each connection on a thread of its own
/// with `serve`; stopped when dropped.
struct Echo {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Echo {
    fn start(serve: fn(TcpStream) -> std::io::Result<()>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                // One connection's failure is that connection's alone.
                if let Ok(connection) = connection {
                    std::thread::spawn(move || serve(connection));
                }
            }
        });
        Ok(Self { port, stop })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// `tcp-echo`: writes back everything read, until the peer closes.
fn echo_bytes(mut connection: TcpStream) -> std::io::Result<()> {
    let mut reader = connection.try_clone()?;
    std::io::copy(&mut reader, &mut connection)?;
    Ok(())
}

/// `http-echo`: one request per connection, answered 200 `text/plain`
/// with the request's body (sized by `Content-Length`, or chunked).
fn answer_http(connection: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(connection.try_clone()?);
    let mut length = 0;
    let mut chunked = false;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let mut connection = connection;
    write!(
        connection,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )?;
    connection.write_all(&body)?;
    connection.flush()
}

/// A chunked body, trailers skipped.
fn read_chunked(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // The trailers, up to the empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(ports: &[(u16, u16)]) -> Services {
        Services {
            ports: ports.iter().copied().collect(),
            ..Services::default()
        }
    }

    /// Each `%{port=N}` becomes the port of the service standing for N;
    /// one no service stands for is an error, not left in place.
    #[test]
    fn ports_are_substituted() {
        let s = services(&[(80, 41000), (7, 41001)]);
        assert_eq!(
            s.substitute("url = \"http://localhost:%{port=80}\"; a = 127.0.0.1:%{port=7}")
                .unwrap(),
            "url = \"http://localhost:41000\"; a = 127.0.0.1:41001"
        );
        assert_eq!(s.substitute("no ports").unwrap(), "no ports");
        assert!(s.substitute("%{port=5432}").is_err());
        assert!(s.substitute("%{port=80").is_err());
    }

    /// The TCP echo writes back what it reads.
    #[test]
    fn tcp_echo_echoes() {
        let echo = Echo::start(echo_bytes).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", echo.port)).unwrap();
        c.write_all(b"beware the Jabberwock").unwrap();
        let mut back = [0; 21];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"beware the Jabberwock");
    }

    /// The HTTP echo answers with the request's body, sized or chunked.
    #[test]
    fn http_echo_echoes() {
        let echo = Echo::start(answer_http).unwrap();
        for request in [
            &b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 13\r\n\r\nHello, world!"[..],
            b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n",
        ] {
            let mut c = TcpStream::connect(("127.0.0.1", echo.port)).unwrap();
            c.write_all(request).unwrap();
            let mut answer = String::new();
            c.read_to_string(&mut answer).unwrap();
            assert_eq!(
                answer,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!"
            );
        }
    }

    /// MQTT tests cannot run here, Redis ones only with `redis-server`;
    /// the others' services can.
    #[test]
    fn missing_services_are_named() {
        let kinds = |k: &str| vec![serde_json::json!({ "kind": k })];
        assert_eq!(unavailable(&kinds("redis")).is_none(), Redis::available());
        assert!(unavailable(&kinds("mqtt")).is_some());
        assert!(unavailable(&kinds("tcp-echo")).is_none());
        assert!(unavailable(&[]).is_none());
    }
}
