//! Handler tests with `tower::ServiceExt::oneshot`: status codes and the JSON error format.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn hub() -> (axum::Router, Arc<dyn Storage>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    admin::load_demo(storage.as_ref()).unwrap();
    (app(AppState::new(storage.clone())), storage, dir)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    assert!(
        res.headers().contains_key("x-request-id"),
        "every answer carries a request id"
    );
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn post(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post(uri).header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn errors_are_json_with_a_stable_code() {
    let (app, storage, _dir) = hub();
    let (s, _) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);

    let (s, body) = call(&app, post("/api/v1/sync", None, "{}")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );

    let (s, body) = call(
        &app,
        post(
            "/api/v1/enrol",
            None,
            r#"{"protocol":1,"code":"AAAAA-BBBBB","device_name":"t"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "enrolment_code_invalid");

    let (s, body) = call(
        &app,
        post(
            "/api/v1/enrol",
            None,
            r#"{"protocol":9,"code":"x","device_name":"t"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "unsupported_protocol");

    let (s, body) = call(&app, post("/api/v1/enrol", None, "{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");

    let (s, body) = call(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(storage.counts().unwrap(), (0, 0));
}

#[tokio::test]
async fn a_code_enrols_once_and_the_token_then_syncs() {
    let (app, storage, _dir) = hub();
    let code = admin::issue_enrolment_code(
        storage.as_ref(),
        "clerk-east",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let body = format!(
        r#"{{"protocol":1,"code":"{}","device_name":"east-1"}}"#,
        code.to_lowercase()
    );
    let (s, enrolled) = call(&app, post("/api/v1/enrol", None, &body)).await;
    assert_eq!(s, StatusCode::OK, "codes are case-insensitive: {enrolled}");
    assert_eq!(enrolled["identity"]["role"], "clerk");
    assert_eq!(enrolled["device_no"], 1);
    let token = enrolled["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "at least 128 bits");
    let (s, again) = call(&app, post("/api/v1/enrol", None, &body)).await;
    assert_eq!(
        (s, again["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("enrolment_code_invalid"))
    );

    let (s, round) = call(
        &app,
        post("/api/v1/sync", Some(&token), r#"{"protocol":1,"cursor":0}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{round}");
    assert_eq!(round["more"], false);
    let (s, _) = call(
        &app,
        post(
            "/api/v1/sync",
            Some("wrong"),
            r#"{"protocol":1,"cursor":0}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let device = enrolled["device_id"].as_str().unwrap();
    assert!(admin::revoke_device(storage.as_ref(), device).unwrap());
    let (s, body) = call(
        &app,
        post("/api/v1/sync", Some(&token), r#"{"protocol":1,"cursor":0}"#),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("device_revoked"))
    );
}
