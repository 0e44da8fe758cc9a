//! A routed smoke test of every compiled corpus document: its generated router, with the
//! generated `NotImplemented` implementation, answers a request to each operation with the
//! error body (the server's default one for these documents: `{code, message, details,
//! request_id}`) and the `X-Request-Id` header; an unknown path is 404 `NoRoute`. So
//! "generated" in the corpus table means "compiles and serves".
//!
//! Then what dropshot's documents need of the server half, with real inputs: a `NameOrId`
//! parameter (a `oneOf` of strings), bodies holding tagged unions (`oneOf`) behind single-member
//! `allOf` wrappers, a nullable wrapper and a schema that holds itself (propolis'
//! `VolumeConstructionRequest`), and a query parameter given once or several times (buildomat's
//! `id`): valid inputs reach the implementation (its 500), invalid ones are refused first.

use axum::body::Body;
use axum::http::Request;
use roma_assets_corpus_check::ALL;
use serde_json::json;
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
    send(router, method, path, None).await
}

/// The answer to a request, with a JSON body when one is given.
async fn send(
    router: axum::Router,
    method: &str,
    path: &str,
    json: Option<&serde_json::Value>,
) -> (u16, String, serde_json::Value) {
    let request = Request::builder().method(method).uri(path);
    let request = match json {
        Some(json) => request
            .header("content-type", "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    }
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
        ALL.len() >= 10,
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

/// Whether the request reached the implementation (the not-implemented 500), or the refusal's
/// status and details.
async fn outcome(
    router: axum::Router,
    method: &str,
    path: &str,
    json: Option<serde_json::Value>,
) -> Result<(), (u16, String)> {
    let (status, _, body) = send(router, method, path, json.as_ref()).await;
    if status == 500 && body["message"] == "not implemented" {
        return Ok(());
    }
    Err((
        status,
        body["details"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Asserts a refusal: a 400 whose details start with `details`.
fn assert_refused(outcome: Result<(), (u16, String)>, details: &str) {
    match outcome {
        Err((400, said)) if said.starts_with(details) => {}
        other => panic!("expected a 400 starting {details:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_or_id_parameter_is_a_name_or_a_uuid() {
    use roma_assets_corpus_check::nexus_json::server::{NotImplemented, router};
    let get = |path: &'static str| outcome(router(NotImplemented), "GET", path, None);
    assert_eq!(get("/system/certificates/my-cert").await, Ok(()));
    assert_eq!(
        get("/system/certificates/6e0c7a1c-2b6d-4bd5-9d8e-4a4b4bc5c0a1").await,
        Ok(())
    );
    // Neither alternative's pattern nor a uuid.
    assert_refused(get("/system/certificates/My_Cert").await, "certificate: ");
    // As a query parameter too.
    assert_eq!(
        outcome(
            router(NotImplemented),
            "GET",
            "/v1/instances?project=my-project",
            None
        )
        .await,
        Ok(())
    );
    assert_refused(
        outcome(
            router(NotImplemented),
            "GET",
            "/v1/instances?project=-",
            None,
        )
        .await,
        "project: ",
    );
}

#[tokio::test]
async fn a_tagged_union_behind_an_all_of_wrapper_is_checked_in_a_body() {
    use roma_assets_corpus_check::nexus_json::server::{NotImplemented, router};
    let create = |body: serde_json::Value| {
        outcome(
            router(NotImplemented),
            "POST",
            "/organizations/org/projects/proj/disks",
            Some(body),
        )
    };
    let disk = |source: serde_json::Value, size: serde_json::Value| json!({"description": "d", "name": "disk-1", "size": size, "disk_source": source});
    assert_eq!(
        create(disk(
            json!({"type": "blank", "block_size": 512}),
            json!(1024)
        ))
        .await,
        Ok(())
    );
    assert_eq!(
        create(disk(
            json!({"type": "snapshot", "snapshot_id": "6e0c7a1c-2b6d-4bd5-9d8e-4a4b4bc5c0a1"}),
            json!(1024)
        ))
        .await,
        Ok(())
    );
    assert_refused(
        create(disk(json!({"type": "nothing"}), json!(1024))).await,
        "disk_source: matches none of its 4 alternatives",
    );
    // The right tag, a required field missing: that alternative says so among the others.
    let refusal = create(disk(json!({"type": "blank"}), json!(1024))).await;
    assert_refused(refusal.clone(), "disk_source: matches none");
    assert!(
        refusal
            .unwrap_err()
            .1
            .contains("disk_source.block_size: is required"),
        "the blank alternative names its missing field"
    );
    // `size: {allOf: [ByteCount]}`: the wrapped integer's minimum.
    assert_refused(
        create(disk(json!({"type": "blank", "block_size": 512}), json!(-1))).await,
        "size: less than 0",
    );
}

#[tokio::test]
async fn a_nullable_wrapper_and_a_schema_that_holds_itself_are_checked_in_a_body() {
    use roma_assets_corpus_check::propolis_server_json::server::{NotImplemented, router};
    let uuid = "6e0c7a1c-2b6d-4bd5-9d8e-4a4b4bc5c0a1";
    let ensure = |migrate: serde_json::Value, parent: serde_json::Value| {
        let body = json!({
            "properties": {"bootrom_id": uuid, "description": "d", "id": uuid, "image_id": uuid,
                           "memory": 1024, "name": "vm", "vcpus": 2},
            "migrate": migrate,
            "disks": [{"device": "nvme", "gen": 1, "name": "d", "read_only": false, "slot": 0,
                       "volume_construction_request": {
                           "type": "volume", "block_size": 512, "id": uuid,
                           "sub_volumes": [{"type": "file", "block_size": 512, "id": uuid,
                                            "path": "/disk"}],
                           "read_only_parent": parent}}],
        });
        outcome(router(NotImplemented), "PUT", "/instance", Some(body))
    };
    let migrate = json!({"migration_id": uuid, "src_addr": "[::1]:1", "src_uuid": uuid});
    let parent = json!({"type": "url", "block_size": 512, "id": uuid, "url": "http://x"});
    assert_eq!(ensure(json!(null), json!(null)).await, Ok(()));
    assert_eq!(ensure(migrate.clone(), parent).await, Ok(()));
    assert_refused(
        ensure(json!({"src_addr": "[::1]:1"}), json!(null)).await,
        "migrate.migration_id: is required",
    );
    // The tags name the `volume` alternative at both depths: its problem alone is said.
    assert_refused(
        ensure(migrate, json!({"type": "volume", "block_size": -1})).await,
        "disks[0].volume_construction_request: matches none of its 4 alternatives \
         (disks[0].volume_construction_request.read_only_parent: matches none of its 4 \
         alternatives (disks[0].volume_construction_request.read_only_parent.block_size: less \
         than 0))",
    );
}

#[tokio::test]
async fn a_query_parameter_of_one_value_or_several_takes_both() {
    use roma_assets_corpus_check::buildomat_json::server::{NotImplemented, router};
    for path in ["/v1/things", "/v1/things?id=a", "/v1/things?id=a&id=b"] {
        assert_eq!(
            outcome(router(NotImplemented), "GET", path, None).await,
            Ok(()),
            "{path}"
        );
    }
}
