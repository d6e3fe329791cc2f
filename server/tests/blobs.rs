//! The attachment endpoints' refusals that need no request (handler tests with `oneshot`):
//! authentication, addresses, offsets, chunk size, and a hub without a blob store. The whole
//! upload and download story runs against a real hub in `tests/tests/blobs_hub.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bianmin_server::blobs::dir::DirBlobStore;
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A hub (with a blob store if `blobs`) and an enrolled clerk device's token.
async fn hub(blobs: bool) -> (axum::Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    admin::load_demo(storage.as_ref()).unwrap();
    let mut state = AppState::new(storage.clone());
    if blobs {
        state = state.with_blobs(Arc::new(
            DirBlobStore::open(dir.path().join("blobs")).unwrap(),
        ));
    }
    let app = app(state);
    let code = admin::issue_enrolment_code(storage.as_ref(), "clerk-east", Duration::from_secs(60))
        .unwrap();
    let body = serde_json::json!({"protocol": 1, "code": code, "device_name": "t"});
    let (s, enrolled) = call(
        &app,
        Request::post("/api/v1/enrol")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{enrolled}");
    let token = enrolled["token"].as_str().unwrap().to_string();
    (app, token, dir)
}

fn put(uri: &str, token: &str, body: Vec<u8>) -> Request<Body> {
    Request::put(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn blob_requests_are_refused_with_a_stable_code() {
    let (app, token, _dir) = hub(true).await;
    let sha = "ab".repeat(32);
    let uri = format!("/api/v1/blobs/{sha}?offset=0");

    let (s, body) = call(
        &app,
        Request::get(format!("/api/v1/blobs/{sha}/status"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    let (s, body) = call(&app, put(&uri, &token, vec![0u8; 1024 * 1024 + 1])).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "chunk_too_large");

    let (s, body) = call(
        &app,
        put(&format!("/api/v1/blobs/{sha}"), &token, vec![0xFF; 10]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");

    let (s, body) = call(
        &app,
        put("/api/v1/blobs/ABC?offset=0", &token, vec![0xFF; 10]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");

    // No request refers to it: the device may not upload, ask about or fetch it.
    let (s, body) = call(&app, put(&uri, &token, vec![0xFF; 10])).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    for path in [
        format!("/api/v1/blobs/{sha}/status"),
        format!("/api/v1/blobs/{sha}"),
    ] {
        let (s, body) = call(
            &app,
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "forbidden");
    }
}

#[tokio::test]
async fn a_hub_without_a_blob_store_says_so() {
    let (app, token, _dir) = hub(false).await;
    let (s, body) = call(
        &app,
        Request::get(format!("/api/v1/blobs/{}/status", "ab".repeat(32)))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "blobs_unavailable");
}
