//! The sample catalogue: a fixed list of products that `cargo xtask up` and
//! every workflow stack (load, bench, dashboards, fuzz) put into an empty
//! catalogue, so that carts and orders have something to sell.
//!
//! The list is deterministic (the same SKUs, names, prices and stock on
//! every run): [`SAMPLE_SIZE`] products, SKUs like `CAFE-0001`, numbered
//! across categories so that any page of `GET /catalogue` mixes them. Most
//! have [`AMPLE_STOCK`] units, so that no load test runs out; every
//! [`SCARCE_EVERY`]th has 1 to 5, for trying out what running out does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::{Value, json};

/// How many products the sample holds.
pub const SAMPLE_SIZE: usize = 300;
/// The stock of most sample products: more than any load test orders.
pub const AMPLE_STOCK: i64 = 1_000_000;
/// Every this many products, one with little stock (1 to 5 units).
pub const SCARCE_EVERY: usize = 25;

/// A product as `PUT /catalogue/{sku}` takes it, with its SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
}

impl Sample {
    /// The body of its `PUT /catalogue/{sku}`.
    pub fn body(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "price_cents": self.price_cents,
            "stock": self.stock,
        })
    }
}

/// One category: its SKU prefix, what it sells, its sizes, and the price
/// of the smallest size in cents.
struct Category {
    prefix: &'static str,
    noun: &'static str,
    sizes: &'static [&'static str],
    base_cents: i64,
}

const CATEGORIES: &[Category] = &[
    Category {
        prefix: "CAFE",
        noun: "Café",
        sizes: &["250 g", "500 g", "1 kg"],
        base_cents: 650,
    },
    Category {
        prefix: "THE",
        noun: "Thé",
        sizes: &["50 g", "100 g", "250 g"],
        base_cents: 420,
    },
    Category {
        prefix: "CHOC",
        noun: "Chocolat",
        sizes: &["100 g", "200 g"],
        base_cents: 280,
    },
    Category {
        prefix: "MIEL",
        noun: "Miel",
        sizes: &["250 g", "500 g"],
        base_cents: 590,
    },
    Category {
        prefix: "CONF",
        noun: "Confiture",
        sizes: &["340 g", "700 g"],
        base_cents: 390,
    },
    Category {
        prefix: "BISC",
        noun: "Biscuits",
        sizes: &["150 g", "300 g"],
        base_cents: 230,
    },
    Category {
        prefix: "HUILE",
        noun: "Huile d'olive",
        sizes: &["50 cl", "1 l"],
        base_cents: 890,
    },
    Category {
        prefix: "EPICE",
        noun: "Épices",
        sizes: &["40 g", "80 g"],
        base_cents: 350,
    },
    Category {
        prefix: "PATES",
        noun: "Pâtes",
        sizes: &["500 g", "1 kg"],
        base_cents: 190,
    },
    Category {
        prefix: "RIZ",
        noun: "Riz",
        sizes: &["500 g", "1 kg", "2 kg"],
        base_cents: 240,
    },
];

const ORIGINS: &[&str] = &[
    "d'Éthiopie",
    "du Pérou",
    "de Colombie",
    "du Japon",
    "d'Inde",
    "de Provence",
    "de Bretagne",
    "d'Italie",
    "de Grèce",
    "du Mexique",
    "de Sicile",
];

const STYLES: &[&str] = &[
    "bio",
    "équitable",
    "artisanal",
    "de saison",
    "grand cru",
    "classique",
    "intense",
];

/// The sample catalogue, always the same.
pub fn sample() -> Vec<Sample> {
    (1..=SAMPLE_SIZE).map(product).collect()
}

/// Product `n` (from 1) of the sample.
fn product(n: usize) -> Sample {
    let category = &CATEGORIES[(n - 1) % CATEGORIES.len()];
    // Which of its category it is, from 0: it picks the size, the origin
    // and the style, in steps coprime with the lists' lengths so that the
    // combinations vary.
    let rank = (n - 1) / CATEGORIES.len();
    let size_index = rank % category.sizes.len();
    let size = category.sizes[size_index];
    let origin = ORIGINS[rank % ORIGINS.len()];
    let style = STYLES[(rank * 3) % STYLES.len()];
    let name = format!("{} {style} {origin} {size}", category.noun);
    // The smallest size at its base price, larger ones dearer; a spread
    // of up to 2.99 € more within the category, by rank.
    let size_factor = [100, 180, 320][size_index];
    let spread = i64::try_from((rank * 37) % 300).unwrap_or_default();
    let price_cents = category.base_cents * size_factor / 100 + spread;
    let stock = if n.is_multiple_of(SCARCE_EVERY) {
        i64::try_from(1 + (n / SCARCE_EVERY) % 5).unwrap_or(1)
    } else {
        AMPLE_STOCK
    };
    Sample {
        sku: format!("{}-{n:04}", category.prefix),
        description: format!("{name}: produit d'exemple du catalogue de démonstration."),
        name,
        price_cents,
        stock,
    }
}

/// Puts the [`sample`] into the catalogue at `base_url` (as staff, with
/// `staff_bearer`) if it has no active product yet; how many products
/// it wrote (0 when the catalogue already had some).
pub fn seed(base_url: &str, staff_bearer: &str) -> anyhow::Result<usize> {
    let http = crate::http();
    let mut page = http.get(format!("{base_url}/catalogue?limit=1")).call()?;
    let status = page.status();
    let body = page.body_mut().read_to_string().unwrap_or_default();
    ensure!(status == 200, "GET /catalogue?limit=1: {status} {body}");
    let page: Value = serde_json::from_str(&body)?;
    let Some(items) = page["items"].as_array() else {
        bail!("GET /catalogue?limit=1: no items in {body}");
    };
    if !items.is_empty() {
        return Ok(0);
    }
    let auth = format!("Bearer {staff_bearer}");
    let products = sample();
    for product in &products {
        let mut put = http
            .put(format!("{base_url}/catalogue/{}", product.sku))
            .header("authorization", &auth)
            .send_json(product.body())?;
        let status = put.status();
        if status != 201 && status != 200 {
            let body = put.body_mut().read_to_string().unwrap_or_default();
            bail!("PUT /catalogue/{} (staff): {status} {body}", product.sku);
        }
    }
    Ok(products.len())
}

/// How long `cargo xtask up` waits for comptoir to serve before giving up
/// on the sample (its first start compiles every component).
const UP_TIMEOUT: Duration = Duration::from_secs(600);

/// For `cargo xtask up` with `flags` (what `comptoir up` gets): once
/// comptoir answers, from a thread of its own, [`seed`]s its catalogue as
/// staff of the dev issuer in its state directory. Only when comptoir
/// trusts that issuer (no `SPIN_VARIABLE_AUTH_ISSUER` nor `_JWKS`: an
/// identity provider's tokens are not xtask's to mint). Never fails `up`:
/// what goes wrong is one line on stderr.
pub fn seed_when_up(flags: &[String]) {
    let configured = ["SPIN_VARIABLE_AUTH_ISSUER", "SPIN_VARIABLE_AUTH_JWKS"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if configured {
        return;
    }
    let listen = flag(flags, "--listen", "COMPTOIR_LISTEN", "127.0.0.1:8080");
    let state_dir = PathBuf::from(flag(
        flags,
        "--state-dir",
        "COMPTOIR_STATE_DIR",
        ".comptoir",
    ));
    let Some(base_url) = loopback_url(&listen) else {
        return;
    };
    std::thread::spawn(move || {
        let loaded = crate::wait::poll(UP_TIMEOUT, Duration::from_millis(500), || {
            Ok((crate::status(&format!("{base_url}/readyz")) == Some(200)).then_some(()))
        })
        .and_then(|ready| {
            ensure!(ready.is_some(), "comptoir not ready at {base_url}");
            let bearer = crate::auth::Auth::in_dir(&state_dir)?.staff();
            seed(&base_url, &bearer)
        });
        match loaded {
            Ok(0) => {}
            Ok(n) => eprintln!("xtask: loaded {n} sample products into the catalogue"),
            Err(error) => eprintln!("xtask: the sample catalogue was not loaded: {error:#}"),
        }
    });
}

/// The value of `name` in `flags` (`--name value` or `--name=value`), else
/// of the environment variable `env`, else `default`: as `comptoir up`
/// reads it.
fn flag(flags: &[String], name: &str, env: &str, default: &str) -> String {
    let prefix = format!("{name}=");
    let mut given = None;
    let mut args = flags.iter();
    while let Some(arg) = args.next() {
        if arg == name {
            given = args.next().cloned();
        } else if let Some(value) = arg.strip_prefix(&prefix) {
            given = Some(value.to_owned());
        }
    }
    given
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_owned())
}

/// The URL this machine reaches a listener on `listen` at (loopback for
/// an unspecified address).
fn loopback_url(listen: &str) -> Option<String> {
    let mut address: SocketAddr = listen.parse().ok()?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(format!("http://{address}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The SKUs are distinct and valid, the names and prices within what
    /// the catalogue takes, and the sample the same on every call.
    #[test]
    fn the_sample_is_fixed_and_valid() {
        let products = sample();
        assert_eq!(products.len(), SAMPLE_SIZE);
        assert_eq!(products, sample());
        assert_eq!(products[0].sku, "CAFE-0001");
        let skus: HashSet<_> = products.iter().map(|p| p.sku.as_str()).collect();
        assert_eq!(skus.len(), SAMPLE_SIZE);
        for p in &products {
            assert!(
                p.sku.len() <= 64 && p.sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{p:?}"
            );
            assert!((1..=200).contains(&p.name.chars().count()), "{p:?}");
            assert!(p.description.chars().count() <= 2000, "{p:?}");
            assert!((1..=1_000_000_000).contains(&p.price_cents), "{p:?}");
        }
        let names: HashSet<_> = products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), SAMPLE_SIZE, "every name is distinct");
    }

    /// Most products have ample stock; every 25th has 1 to 5 units; the
    /// first page k6 reads (`limit=100`) has plenty of each category.
    #[test]
    fn most_stock_is_ample_and_some_scarce() {
        let products = sample();
        let scarce: Vec<_> = products.iter().filter(|p| p.stock < AMPLE_STOCK).collect();
        assert_eq!(scarce.len(), SAMPLE_SIZE / SCARCE_EVERY);
        assert!(scarce.iter().all(|p| (1..=5).contains(&p.stock)));
        let ample_first_page = products[..100]
            .iter()
            .filter(|p| p.stock == AMPLE_STOCK)
            .count();
        assert_eq!(ample_first_page, 96);
    }

    /// `up`'s flags name the listener and the state directory as
    /// `comptoir up` reads them; an unspecified address is reached on
    /// loopback.
    #[test]
    fn up_flags_locate_the_gateway() {
        let flags: Vec<String> = [
            "--replicas",
            "8",
            "--listen",
            "0.0.0.0:9000",
            "--state-dir=/tmp/s",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            flag(&flags, "--listen", "XTASK_TEST_UNSET", "x"),
            "0.0.0.0:9000"
        );
        assert_eq!(
            flag(&flags, "--state-dir", "XTASK_TEST_UNSET", "x"),
            "/tmp/s"
        );
        assert_eq!(flag(&flags, "--watch", "XTASK_TEST_UNSET", "no"), "no");
        assert_eq!(
            loopback_url("0.0.0.0:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(loopback_url("[::]:80").as_deref(), Some("http://[::1]:80"));
        assert_eq!(
            loopback_url("127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(loopback_url("nowhere"), None);
    }
}
