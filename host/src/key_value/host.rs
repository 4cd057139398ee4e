//! The key-value host functions: `fermyon:spin/key-value@2.0.0` (spin-sdk
//! 2 to 5) and `spin:key-value/key-value@3.0.0` (spin-sdk 6+, async),
//! sharing [`Store`]; [`Error`] becomes each version's WIT `error` here.

use std::sync::Arc;

use tracing::Instrument as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::{Error, KeyValueAccess, Store};
use crate::bindings::key_value::{v2, v3};

/// What the key-value functions see of a store: its resource table and the
/// component's access.
pub struct KeyValueHost<'a> {
    pub table: &'a mut ResourceTable,
    pub access: &'a Arc<KeyValueAccess>,
}

/// Marker tying the generated bindings to [`KeyValueHost`].
pub struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueHost<'a>;
}

impl From<Error> for v2::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::NoSuchStore => Self::NoSuchStore,
            Error::AccessDenied => Self::AccessDenied,
            Error::Other(message) => Self::Other(message),
        }
    }
}

impl From<Error> for v3::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::NoSuchStore => Self::NoSuchStore,
            Error::AccessDenied => Self::AccessDenied,
            Error::Other(message) => Self::Other(message),
        }
    }
}

/// The span of one key-value call (debug level: free when off).
fn span(call: &'static str) -> tracing::Span {
    tracing::debug_span!("spin:key-value", call)
}

impl KeyValueHost<'_> {
    fn store(&self, store: &Resource<Store>) -> wasmtime::Result<Store> {
        Ok(self.table.get(store)?.clone())
    }
}

type V2<T> = wasmtime::Result<Result<T, v2::Error>>;

impl v2::Host for KeyValueHost<'_> {}

impl v2::HostStore for KeyValueHost<'_> {
    async fn open(&mut self, label: String) -> V2<Resource<Store>> {
        match self.access.open(&label).instrument(span("open")).await {
            Ok(store) => Ok(Ok(self.table.push(store)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn get(&mut self, store: Resource<Store>, key: String) -> V2<Option<Vec<u8>>> {
        let store = self.store(&store)?;
        Ok(store
            .get(&key)
            .instrument(span("get"))
            .await
            .map_err(Into::into))
    }

    async fn set(&mut self, store: Resource<Store>, key: String, value: Vec<u8>) -> V2<()> {
        let store = self.store(&store)?;
        Ok(store
            .set(&key, &value)
            .instrument(span("set"))
            .await
            .map_err(Into::into))
    }

    async fn delete(&mut self, store: Resource<Store>, key: String) -> V2<()> {
        let store = self.store(&store)?;
        Ok(store
            .delete(&key)
            .instrument(span("delete"))
            .await
            .map_err(Into::into))
    }

    async fn exists(&mut self, store: Resource<Store>, key: String) -> V2<bool> {
        let store = self.store(&store)?;
        Ok(store
            .exists(&key)
            .instrument(span("exists"))
            .await
            .map_err(Into::into))
    }

    async fn get_keys(&mut self, store: Resource<Store>) -> V2<Vec<String>> {
        let store = self.store(&store)?;
        Ok(store
            .keys()
            .instrument(span("get-keys"))
            .await
            .map_err(Into::into))
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

type V3<T> = wasmtime::Result<Result<T, v3::Error>>;

impl v3::Host for KeyValueHost<'_> {}

impl v3::HostStore for KeyValueHost<'_> {
    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

/// The store behind `store`, out of the instance's table.
fn stored<T>(
    accessor: &Accessor<T, HasKeyValue>,
    store: &Resource<Store>,
) -> wasmtime::Result<Store> {
    accessor.with(|mut a| a.get().store(store))
}

impl<T> v3::HostStoreWithStore<T> for HasKeyValue {
    async fn open(accessor: &Accessor<T, Self>, label: String) -> V3<Resource<Store>> {
        let access = accessor.with(|mut a| a.get().access.clone());
        match access.open(&label).instrument(span("open")).await {
            Ok(store) => accessor.with(|mut a| Ok(Ok(a.get().table.push(store)?))),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
    ) -> V3<Option<Vec<u8>>> {
        let store = stored(accessor, &store)?;
        Ok(store
            .get(&key)
            .instrument(span("get"))
            .await
            .map_err(Into::into))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> V3<()> {
        let store = stored(accessor, &store)?;
        Ok(store
            .set(&key, &value)
            .instrument(span("set"))
            .await
            .map_err(Into::into))
    }

    async fn delete(accessor: &Accessor<T, Self>, store: Resource<Store>, key: String) -> V3<()> {
        let store = stored(accessor, &store)?;
        Ok(store
            .delete(&key)
            .instrument(span("delete"))
            .await
            .map_err(Into::into))
    }

    async fn exists(accessor: &Accessor<T, Self>, store: Resource<Store>, key: String) -> V3<bool> {
        let store = stored(accessor, &store)?;
        Ok(store
            .exists(&key)
            .instrument(span("exists"))
            .await
            .map_err(Into::into))
    }

    /// The keys as a stream, then the outcome: an error reaches the guest
    /// through the future (with the stream empty), as in Spin.
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let store = stored(accessor, &store)?;
        let (keys, end) = match store.keys().instrument(span("get-keys")).await {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(v3::Error::from(e))),
        };
        accessor.with(|mut a| {
            let keys = StreamReader::new(&mut a, keys)?;
            let end = FutureReader::new(
                &mut a,
                std::future::ready(wasmtime::Result::<Result<(), v3::Error>>::Ok(end)),
            )?;
            Ok((keys, end))
        })
    }
}
