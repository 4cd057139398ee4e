//! Spin's conformance test `variables`, guest side: the component's
//! variable `variable` is `value`; an undeclared one is `Undefined`; names
//! Spin does not allow are `InvalidName`. 200 with an empty body when all
//! hold; 500 saying which did not otherwise.

use spin_sdk::http::{Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::variables::{Error, get};

#[http_service]
async fn handle(_req: Request) -> Response<String> {
    let (status, body) = match check().await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(why) => (StatusCode::INTERNAL_SERVER_ERROR, why),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

async fn check() -> Result<(), String> {
    match get("variable").await {
        Ok(value) if value == "value" => {}
        other => return Err(format!("variable: {other:?}")),
    }
    match get("non_existent").await {
        Err(Error::Undefined(_)) => {}
        other => return Err(format!("non_existent: {other:?}")),
    }
    for name in ["invalid-name", "invalid!name", "4invalidname"] {
        match get(name).await {
            Err(Error::InvalidName(_)) => {}
            other => return Err(format!("{name}: {other:?}")),
        }
    }
    Ok(())
}
