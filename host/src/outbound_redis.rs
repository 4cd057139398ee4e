//! `fermyon:spin/redis@2.0.0`: Redis connections a component opens to
//! `redis://` addresses its `allowed_outbound_hosts` allows (one
//! multiplexed connection of the `redis` crate per `open`), answering and
//! refusing as Spin's `factor-outbound-redis` does.

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands as _, FromRedisValue, Value};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::redis::{self as v2, Error, RedisParameter, RedisResult};

/// A `connection` resource.
pub struct Connection(MultiplexedConnection);

/// What the Redis host functions see of a store.
pub struct RedisHost<'a> {
    pub table: &'a mut ResourceTable,
    pub allowed_hosts: &'a Arc<AllowedHosts>,
}

/// Marker tying the generated bindings to [`RedisHost`].
pub struct HasRedis;

impl HasData for HasRedis {
    type Data<'a> = RedisHost<'a>;
}

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

/// Whether `address` (`redis://host[:port]`, port 6379 by default) is
/// allowed; an address that is no URL is not.
fn allowed(allowed_hosts: &AllowedHosts, address: &str) -> bool {
    let Ok(url) = url::Url::parse(address) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let port = url.port().unwrap_or(6379);
    allowed_hosts.allows(url.scheme(), &format!("{host}:{port}"))
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

impl RedisHost<'_> {
    /// The connection behind `resource` (a cheap clone: the connection
    /// multiplexes).
    fn connection(
        &self,
        resource: &Resource<Connection>,
    ) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table.get(resource)?.0.clone())
    }
}

impl v2::Host for RedisHost<'_> {}

impl v2::HostConnection for RedisHost<'_> {
    async fn open(&mut self, address: String) -> Outcome<Resource<Connection>> {
        if !allowed(self.allowed_hosts, &address) {
            return Ok(Err(Error::InvalidAddress));
        }
        let client = match redis::Client::open(address.as_str()) {
            Ok(client) => client,
            Err(_) => return Ok(Err(Error::InvalidAddress)),
        };
        match client.get_multiplexed_async_connection().await {
            Ok(connection) => Ok(Ok(self.table.push(Connection(connection))?)),
            Err(e) => Ok(Err(other(e))),
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Outcome<()> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.publish(&channel, &payload).await.map_err(other))
    }

    async fn get(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Outcome<Option<Vec<u8>>> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.get(&key).await.map_err(other))
    }

    async fn set(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Outcome<()> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.set(&key, &value).await.map_err(other))
    }

    async fn incr(&mut self, connection: Resource<Connection>, key: String) -> Outcome<i64> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.incr(&key, 1).await.map_err(other))
    }

    async fn del(&mut self, connection: Resource<Connection>, keys: Vec<String>) -> Outcome<u32> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.del(&keys).await.map_err(other))
    }

    async fn sadd(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.sadd(&key, &values).await.map_err(|e| {
            if e.kind() == redis::ErrorKind::TypeError {
                Error::TypeError
            } else {
                other(e)
            }
        }))
    }

    async fn smembers(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Outcome<Vec<String>> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.smembers(&key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        let mut conn = self.connection(&connection)?;
        Ok(conn.srem(&key, &values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Outcome<Vec<RedisResult>> {
        let mut conn = self.connection(&connection)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let results = cmd.query_async::<Results>(&mut conn).await;
        Ok(results.map(|r| r.0).map_err(other))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// A command's reply as `redis-result`s: an array flattened, a map or
/// other RESP3 shape refused as a type error (as Spin does).
struct Results(Vec<RedisResult>);

impl FromRedisValue for Results {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        fn append(results: &mut Vec<RedisResult>, value: &Value) -> redis::RedisResult<()> {
            match value {
                Value::Nil => results.push(RedisResult::Nil),
                Value::Int(i) => results.push(RedisResult::Int64(*i)),
                Value::BulkString(bytes) => results.push(RedisResult::Binary(bytes.clone())),
                Value::SimpleString(s) => results.push(RedisResult::Status(s.clone())),
                Value::Okay => results.push(RedisResult::Status("OK".to_owned())),
                Value::Array(values) | Value::Set(values) => {
                    for value in values {
                        append(results, value)?;
                    }
                }
                other => {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::TypeError,
                        "Could not convert Redis response",
                        format!("{other:?} is not supported"),
                    )));
                }
            }
            Ok(())
        }
        let mut results = Vec::new();
        append(&mut results, value)?;
        Ok(Self(results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `redis://` addresses the list allows, 6379 when no port is
    /// written; what is no URL is refused.
    #[test]
    fn addresses_are_checked_against_the_allow_list() {
        let hosts = AllowedHosts::parse(&["redis://localhost:6379".to_owned()]).unwrap();
        assert!(allowed(&hosts, "redis://localhost:6379"));
        assert!(allowed(&hosts, "redis://localhost"));
        assert!(!allowed(&hosts, "redis://localhost:6380"));
        assert!(!allowed(&hosts, "redis://example.com:6379"));
        assert!(!allowed(&hosts, "rediss://localhost:6379"));
        assert!(!allowed(&hosts, "localhost:6379"));
    }

    /// Arrays are flattened, `OK` is a status, a map is a type error.
    #[test]
    fn replies_become_results() {
        let reply = Value::Array(vec![
            Value::Okay,
            Value::Int(3),
            Value::Nil,
            Value::BulkString(b"x".to_vec()),
        ]);
        let Results(results) = Results::from_redis_value(&reply).unwrap();
        assert!(matches!(
            results.as_slice(),
            [RedisResult::Status(ok), RedisResult::Int64(3), RedisResult::Nil, RedisResult::Binary(x)]
                if ok == "OK" && x == b"x"
        ));
        let map = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        assert!(Results::from_redis_value(&map).is_err());
    }
}
