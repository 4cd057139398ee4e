//! Host bindings generated from `wit/` for the Spin interfaces comptoir
//! implements itself (`spin:postgres`, `spin:variables`); the WASI ones come
//! from wasmtime-wasi and wasmtime-wasi-http.

wasmtime::component::bindgen!({
    inline: r#"
        package comptoir:host;
        world spin-imports {
            import spin:postgres/postgres@4.2.0;
            import spin:variables/variables@3.0.0;
        }
    "#,
    path: "../wit",
    imports: { default: async | trappable },
    with: {
        "spin:postgres/postgres.connection": crate::postgres::Connection,
        "spin:postgres/postgres.connection-builder": crate::postgres::ConnectionBuilder,
    },
});

pub use spin::postgres::postgres;
pub use spin::variables::variables;
