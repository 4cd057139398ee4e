//! Host bindings generated from `wit/` for the Spin interfaces comptoir
//! implements itself (`spin:postgres` 4.x, 3.0 and 2.0, `spin:variables`, key-value and
//! SQLite, old and new); the WASI ones come from wasmtime-wasi and
//! wasmtime-wasi-http.

wasmtime::component::bindgen!({
    inline: r#"
        package comptoir:host;
        world spin-imports {
            import spin:postgres/postgres@4.2.0;
            import spin:postgres/postgres@3.0.0;
            import fermyon:spin/postgres@2.0.0;
            import fermyon:spin/redis@2.0.0;
            import spin:variables/variables@3.0.0;
            import spin:key-value/key-value@3.0.0;
            import spin:sqlite/sqlite@3.1.0;
            import fermyon:spin/key-value@2.0.0;
            import fermyon:spin/sqlite@2.0.0;
            import fermyon:spin/variables@2.0.0;
        }
    "#,
    path: "../wit",
    imports: { default: async | trappable },
    with: {
        "spin:postgres/postgres.connection": crate::postgres::Connection,
        "fermyon:spin/postgres.connection": crate::postgres::Connection,
        "fermyon:spin/redis.connection": crate::outbound_redis::Connection,
        "spin:postgres/postgres.connection-builder": crate::postgres::ConnectionBuilder,
        "spin:key-value/key-value.store": crate::key_value::Store,
        "fermyon:spin/key-value.store": crate::key_value::Store,
        "spin:sqlite/sqlite.connection": crate::sqlite::Connection,
        "fermyon:spin/sqlite.connection": crate::sqlite::Connection,
    },
});

pub use spin::postgres4_2_0::postgres;

/// `spin:postgres@3.0.0` and `fermyon:spin/postgres@2.0.0` (with its
/// `rdbms-types`), served through [`postgres`] (4.x).
pub mod postgres_older {
    pub use super::fermyon::spin::postgres as v2;
    pub use super::fermyon::spin::rdbms_types as v2_types;
    pub use super::spin::postgres3_0_0::postgres as v3;
}
pub use spin::variables::variables;

/// `spin:key-value/key-value@3.0.0` (p3) and `fermyon:spin/key-value@2.0.0`.
pub mod key_value {
    pub use super::fermyon::spin::key_value as v2;
    pub use super::spin::key_value::key_value as v3;
}

/// `spin:sqlite/sqlite@3.1.0` (3.0.0 guests link to it too) and
/// `fermyon:spin/sqlite@2.0.0`.
pub mod sqlite {
    pub use super::fermyon::spin::sqlite as v2;
    pub use super::spin::sqlite3_1_0::sqlite as v3;
}

/// `fermyon:spin/redis@2.0.0`.
pub use fermyon::spin::redis;

/// `fermyon:spin/variables@2.0.0` (`spin:variables@3.0.0` is [`variables`]).
pub use fermyon::spin::variables as variables_v2;
