//! The gateway's cache of chained reads: panier's product reads come from
//! memory while the catalogue's `Cache-Control` says they are fresh, and a
//! staff `PUT` of the product drops them at once (comptoir only: Spin runs
//! every chained call).

use crate::harness::{Component, stack};

const HITS: &str = "comptoir_chain_cache_hits_total";

#[tokio::test]
async fn product_reads_are_reused_until_the_product_changes() {
    let s = stack(Component::all_services(), &["--replicas", "2"]).await;
    s.app.product("CACHE-1", 500, 100).await;
    let client = s.app.new_client("cache@example.com").await;
    let hits = async || {
        s.app
            .metric(HITS, &[("component", "catalogue"), ("caller", "panier")])
            .await
    };
    let before = hits().await;
    for _ in 0..3 {
        assert_eq!(s.app.add_item(&client, "CACHE-1", 1).await.status(), 200);
    }
    assert!(
        hits().await - before >= 2.0,
        "the second and third adds read the product from the cache"
    );

    // A new price through the gateway: the next add shows it, not the
    // cached one.
    s.app.product("CACHE-1", 650, 100).await;
    let added = s.app.add_item(&client, "CACHE-1", 1).await;
    assert_eq!(added.status(), 200);
    let cart: serde_json::Value = added.json().await.unwrap();
    assert_eq!(cart["items"][0]["unit_price_cents"], 650, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 4, "{cart}");

    // Reads from outside are never served from the cache: they show the
    // stock as it is.
    let product = s.app.get("/catalogue/CACHE-1").await;
    assert_eq!(
        product.headers()["cache-control"],
        "public, max-age=30",
        "the catalogue marks product reads fresh for 30 s"
    );
    assert!(product.headers().get("age").is_none());
}
