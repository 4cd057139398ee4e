//! Spin's conformance tests `key-value` and `key-value-no-permission`,
//! guest side, through `fermyon:spin/key-value@2.0.0`: a store the
//! component is not granted is refused (`access-denied`); the `default`
//! store sets, overwrites, lists and deletes keys as an otherwise empty
//! store does. Without `default` granted either, the answer is 500
//! `Error::AccessDenied` (that error as it prints).

use anyhow::{bail, ensure};
use conformance_guest_kit::wasi::http::types::IncomingRequest;

mod bindings {
    wit_bindgen::generate!({
        inline: "package comptoir:conformance; world key-value { import fermyon:spin/key-value@2.0.0; }",
        path: "../../../../wit/deps/spin@2.0.0",
        // Bindings for the imported package (not this inline one).
        generate_all,
    });
}

use bindings::fermyon::spin::key_value::{Error, Store};

struct KeyValue;

conformance_guest_kit::guest!(KeyValue);

/// The keys this guest writes (removed first: a store left over by an
/// earlier run still starts the check empty of them).
const KEYS: [&str; 2] = ["fruit", "vegetable"];

impl conformance_guest_kit::Check for KeyValue {
    fn check(_request: &IncomingRequest) -> anyhow::Result<()> {
        match Store::open("forbidden") {
            Err(Error::AccessDenied) => {}
            Err(other) => bail!("opening an ungranted store: {other:?}, not Error::AccessDenied"),
            Ok(_) => bail!("an ungranted store opened"),
        }
        let store = Store::open("default")?;
        for key in KEYS {
            store.delete(key)?;
        }
        holds(&store, &[])?;
        store.set("fruit", b"apple")?;
        holds(&store, &[("fruit", b"apple")])?;
        store.set("fruit", b"pear")?;
        holds(&store, &[("fruit", b"pear")])?;
        store.set("vegetable", b"leek")?;
        holds(&store, &[("fruit", b"pear"), ("vegetable", b"leek")])?;
        store.delete("fruit")?;
        // Deleting a key that is not there is no error.
        store.delete("fruit")?;
        holds(&store, &[("vegetable", b"leek")])?;
        store.delete("vegetable")?;
        holds(&store, &[])
    }
}

/// Checks that `store` holds exactly `entries` (sorted by key), through
/// every read the interface has.
fn holds(store: &Store, entries: &[(&str, &[u8])]) -> anyhow::Result<()> {
    let mut keys = store.get_keys()?;
    keys.sort();
    let want: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    ensure!(keys == want, "get-keys: {keys:?}, expected {want:?}");
    for (key, value) in entries {
        ensure!(store.exists(key)?, "exists({key:?}) is false after set");
        let got = store.get(key)?;
        ensure!(
            got.as_deref() == Some(*value),
            "get({key:?}): {got:?}, expected {value:?}"
        );
    }
    for key in KEYS.iter().filter(|k| !want.contains(k)) {
        ensure!(!store.exists(key)?, "exists({key:?}) is true, not set");
        let got = store.get(key)?;
        ensure!(got.is_none(), "get({key:?}): {got:?}, not set");
    }
    Ok(())
}
