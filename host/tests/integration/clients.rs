//! The clients API over HTTP, with what reaches the database checked.

use serde_json::{Value, json};

use crate::harness::{Component, problem, stack};
use crate::runtime::gateway_only;

/// Creating, reading, listing, replacing and deleting a client works end to
/// end and the responses carry the serving component's version.
#[tokio::test]
async fn crud_round_trip() {
    let s = stack(vec![Component::clients()], &[]).await;
    let created = s
        .app
        .post_json("/clients", &json!({"name": " Ada Lovelace ", "email": "ada@example.com", "phone": "+33 1 23 45 67 89"}))
        .await;
    assert_eq!(created.status(), 201);
    if !gateway_only("the comptoir-component header") {
        let version = created.headers()["comptoir-component"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            version.starts_with("clients@") && version.len() == "clients@".len() + 12,
            "{version}"
        );
    }
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let client: Value = created.json().await.unwrap();
    let id = client["id"].as_str().unwrap();
    assert_eq!(location, format!("/clients/{id}"));
    assert_eq!(client["name"], "Ada Lovelace", "names are trimmed");
    assert_eq!(client["address"], Value::Null);
    assert!(client["created_at"].as_str().unwrap().ends_with('Z'));

    let fetched: Value = s.app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, client);

    let replaced = s
        .app
        .http
        .put(s.app.url(&location))
        .json(&json!({"name": "Ada King", "email": "ada.king@example.com", "address": "12 St James's Square"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["email"], "ada.king@example.com");
    assert_eq!(
        replaced["phone"],
        Value::Null,
        "PUT replaces the whole client"
    );
    assert_eq!(replaced["created_at"], client["created_at"]);
    assert_ne!(replaced["updated_at"], client["updated_at"]);

    let list: Value = s.app.get("/clients").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_cursor"], Value::Null);

    let deleted = s
        .app
        .http
        .delete(s.app.url(&location))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    problem(s.app.get(&location).await, 404).await;
    assert_eq!(s.db.count("clients", "clients").await, 0);
}

/// A second client with the same email (in any case) is a 409 problem and
/// is not stored.
#[tokio::test]
async fn duplicate_email_is_a_conflict() {
    let s = stack(vec![Component::clients()], &[]).await;
    let first = s
        .app
        .post_json(
            "/clients",
            &json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(first.status(), 201);
    let second = s
        .app
        .post_json(
            "/clients",
            &json!({"name": "Other", "email": "ADA@example.com"}),
        )
        .await;
    let body = problem(second, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("email"));
    assert_eq!(s.db.count("clients", "clients").await, 1);

    // Replacing another client's email with a taken one is refused too.
    let bob: Value = s
        .app
        .post_json(
            "/clients",
            &json!({"name": "Bob", "email": "bob@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let clash = s
        .app
        .http
        .put(
            s.app
                .url(&format!("/clients/{}", bob["id"].as_str().unwrap())),
        )
        .json(&json!({"name": "Bob", "email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    problem(clash, 409).await;
    let bob_now: Value = s
        .app
        .get(&format!("/clients/{}", bob["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob_now["email"], "bob@example.com");
}

/// Malformed or invalid input gets a clear 4xx and writes nothing.
#[tokio::test]
async fn bad_input_is_rejected_and_changes_nothing() {
    let s = stack(vec![Component::clients()], &[]).await;
    let cases: [(&str, &'static str, u16); 9] = [
        ("malformed JSON", r#"{"name": "Ada", "email": "#, 400),
        ("not an object", r#"[1, 2]"#, 400),
        (
            "wrong type",
            r#"{"name": 42, "email": "ada@example.com"}"#,
            400,
        ),
        ("missing email", r#"{"name": "Ada"}"#, 400),
        (
            "invalid email",
            r#"{"name": "Ada", "email": "ada-at-example.com"}"#,
            422,
        ),
        (
            "empty name",
            r#"{"name": "   ", "email": "ada@example.com"}"#,
            422,
        ),
        (
            "name too long",
            "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"email\": \"a@example.com\"}",
            422,
        ),
        (
            "bad phone",
            r#"{"name": "Ada", "email": "ada@example.com", "phone": "call me"}"#,
            422,
        ),
        ("empty body", "", 400),
    ];
    for (what, body, status) in cases {
        let response = s.app.post_raw("/clients", body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body = problem(response, status).await;
        if status == 422 {
            assert!(
                !body["errors"].as_array().unwrap().is_empty(),
                "{what}: field errors listed"
            );
        }
    }
    let not_json = s
        .app
        .http
        .post(s.app.url("/clients"))
        .header("content-type", "text/plain")
        .body("name=Ada")
        .send()
        .await
        .unwrap();
    problem(not_json, 415).await;
    for (what, query) in [
        ("limit 0", "?limit=0"),
        ("limit 101", "?limit=101"),
        ("bad cursor", "?cursor=zzz"),
    ] {
        assert_eq!(
            s.app.get(&format!("/clients{query}")).await.status(),
            400,
            "{what}"
        );
    }
    assert_eq!(
        s.db.count("clients", "clients").await,
        0,
        "nothing was written"
    );
}

/// Unknown and malformed ids are a 404 / 400, whatever the method.
#[tokio::test]
async fn unknown_ids() {
    let s = stack(vec![Component::clients()], &[]).await;
    let unknown = "/clients/6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a";
    problem(s.app.get(unknown).await, 404).await;
    problem(s.app.delete(unknown).await, 404).await;
    let put = s
        .app
        .http
        .put(s.app.url(unknown))
        .json(&json!({"name": "Ada", "email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    problem(put, 404).await;
    problem(s.app.get("/clients/not-a-uuid").await, 400).await;
    if gateway_only("a problem+json 404 for a path no route matches") {
        assert_eq!(s.app.get("/nowhere").await.status(), 404);
    } else {
        problem(s.app.get("/nowhere").await, 404).await;
    }
    assert_eq!(s.db.count("clients", "clients").await, 0);
}

/// Following `next_cursor` visits every client exactly once, in creation
/// order, even with clients added while paging.
#[tokio::test]
async fn pagination_visits_every_client_once() {
    let s = stack(vec![Component::clients()], &[]).await;
    let mut created = Vec::new();
    for i in 0..23 {
        let client: Value = s
            .app
            .post_json(
                "/clients",
                &json!({"name": format!("Client {i}"), "email": format!("c{i}@example.com")}),
            )
            .await
            .json()
            .await
            .unwrap();
        created.push(client["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/clients?limit=5&cursor={c}"),
            None => "/clients?limit=5".to_owned(),
        };
        let page: Value = s.app.get(&path).await.json().await.unwrap();
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if pages == 2 {
            // A client created mid-way shows up at the end, not twice.
            let late: Value = s
                .app
                .post_json(
                    "/clients",
                    &json!({"name": "Late", "email": "late@example.com"}),
                )
                .await
                .json()
                .await
                .unwrap();
            created.push(late["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, created, "every client once, in order");
    assert_eq!(pages, 5);
}

/// A create is one statement whose answer's types are pinned (each column
/// cast to what the component decodes): a column whose type drifted (here
/// `name`, which the runtime's `spin:postgres` does not decode as text)
/// still reads back, so a stored client is never hidden behind a 5xx (which
/// a retry would then meet as a 409).
#[tokio::test]
async fn a_create_answers_with_the_types_it_pins() {
    let s = stack(vec![Component::clients()], &[]).await;
    let pool = s.db.pool("clients").await;
    // Text parameters still bind to `name`; both runtimes read it as raw bytes.
    sqlx::raw_sql("ALTER TABLE clients ALTER COLUMN phone TYPE name")
        .execute(&pool)
        .await
        .unwrap();
    let body = json!({"name": "Grace", "email": "grace@example.com", "phone": "+1 555"});
    let created = s.app.post_json("/clients", &body).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["phone"], "+1 555");
    assert_eq!(s.db.count("clients", "clients").await, 1);
    let read: serde_json::Value = s
        .app
        .get(&format!("/clients/{}", created["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);
}
