//! A routed smoke test of every compiled corpus document: its generated router, with the
//! generated `NotImplemented` implementation, answers a request to each operation with the
//! error body (the server's default one for these documents: `{code, message, details,
//! request_id}`) and the `X-Request-Id` header; an unknown path is 404 `NoRoute`. So
//! "generated" in the corpus table means "compiles and serves".

use axum::body::Body;
use axum::http::Request;
use roma_assets_corpus_check::ALL;
use tower::ServiceExt;

/// A path template with every `{parameter}` filled in.
fn sample(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

async fn answer(
    router: axum::Router,
    method: &str,
    path: &str,
) -> (u16, String, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("a request");
    let response = router.oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, header, body)
}

#[tokio::test]
async fn every_operation_of_every_compiled_document_answers_with_the_error_body() {
    assert!(
        ALL.len() >= 6,
        "fewer corpus documents compile than before: {}",
        ALL.len()
    );
    for document in ALL {
        let operations = (document.operations)();
        assert!(!operations.is_empty(), "{}: no operation", document.file);
        for (method, path, id) in operations {
            let (status, header, body) = answer((document.router)(), method, &sample(path)).await;
            let at = format!("{} {id} ({method} {path})", document.file);
            assert!(
                [400, 401, 413, 500].contains(&status),
                "{at}: status {status}, {body}"
            );
            assert!(!header.is_empty(), "{at}: no X-Request-Id");
            assert_eq!(body["request_id"], header.as_str(), "{at}: {body}");
            assert!(
                body["code"].as_str().is_some_and(|c| !c.is_empty()),
                "{at}: {body}"
            );
            if status == 500 {
                assert_eq!(body["message"], "not implemented", "{at}: {body}");
            }
        }
        let (status, _, body) = answer((document.router)(), "GET", "/no/such/path/at/all").await;
        assert_eq!(
            (status, &body["code"]),
            (404, &serde_json::json!("NoRoute")),
            "{}",
            document.file
        );
    }
}
