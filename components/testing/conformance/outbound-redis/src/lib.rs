//! Spin's conformance tests `outbound-redis`, `outbound-redis-no-permission`
//! and `outbound-redis-variable-permission`, guest side, through
//! `fermyon:spin/redis@2.0.0`: the Redis at the request's `redis_address`
//! header sets, reads, increments and deletes keys, then runs `SET`,
//! `APPEND` and `GET` as raw commands. An address the component may not
//! reach is refused at `open`: 500 `Error::InvalidAddress`.

use anyhow::{Context as _, ensure};
use conformance_guest_kit::wasi::http::types::IncomingRequest;

mod bindings {
    wit_bindgen::generate!({
        inline: "package comptoir:conformance; world outbound-redis { import fermyon:spin/redis@2.0.0; }",
        path: "../../../../wit/deps/spin@2.0.0",
        // Bindings for the imported package (not this inline one).
        generate_all,
    });
}

use bindings::fermyon::spin::redis::{Connection, RedisParameter, RedisResult};

struct OutboundRedis;

conformance_guest_kit::guest!(OutboundRedis);

impl conformance_guest_kit::Check for OutboundRedis {
    fn check(request: &IncomingRequest) -> anyhow::Result<()> {
        let address = conformance_guest_kit::header(request, "redis_address")
            .context("no redis_address header")?;
        let redis = Connection::open(&address)?;

        redis.set("comptoir-get-set", b"Eureka!")?;
        let value = redis
            .get("comptoir-get-set")?
            .context("no value after set")?;
        ensure!(value == b"Eureka!", "get after set: {value:?}");

        redis.set("comptoir-incr", b"0")?;
        let counted = redis.incr("comptoir-incr")?;
        ensure!(counted == 1, "incr from 0 gave {counted}");

        let keys = ["comptoir-get-set".to_owned(), "comptoir-incr".to_owned()];
        let deleted = redis.del(&keys)?;
        ensure!(deleted == 2, "del of 2 keys deleted {deleted}");

        let key = RedisParameter::Binary(b"comptoir-raw".to_vec());
        redis.execute(
            "set",
            &[key.clone(), RedisParameter::Binary(b"Eureka!".to_vec())],
        )?;
        redis.execute(
            "append",
            &[key.clone(), RedisParameter::Binary(b" Got it!".to_vec())],
        )?;
        let got = redis.execute("get", &[key])?;
        ensure!(
            matches!(got.as_slice(), [RedisResult::Binary(b)] if b == b"Eureka! Got it!"),
            "raw get: {got:?}"
        );
        Ok(())
    }
}
