//! progenitor and typify panic on some documents (`todo!("media type encoding, no schema")`,
//! `assert!(response_types.len() <= 1)`); `generate` must answer those with an error naming the
//! operation, never let the panic through to a build script.

use roma_assets_codegen::{Error, generate};

fn document(paths: serde_json::Value) -> openapiv3::OpenAPI {
    serde_json::from_value(serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "panics", "version": "1"},
        "paths": paths,
        "components": {"schemas": {
            "A": {"type": "object", "properties": {"a": {"type": "string"}}},
            "B": {"type": "object", "properties": {"b": {"type": "integer"}}},
        }},
    }))
    .expect("a valid document")
}

fn fine() -> serde_json::Value {
    serde_json::json!({"get": {"operationId": "Fine", "responses": {"200": {
        "description": "ok",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}},
    }}}})
}

fn unsupported_operation(result: Result<roma_assets_codegen::Generated, Error>) -> String {
    match result {
        Err(Error::Unsupported {
            operation_id,
            message,
        }) => {
            assert!(message.contains("panicked"), "{message}");
            operation_id
        }
        other => panic!("expected Error::Unsupported, got {other:?}"),
    }
}

#[test]
fn a_json_response_without_a_schema_is_an_error_naming_its_operation() {
    let spec = document(serde_json::json!({
        "/fine": fine(),
        "/no-schema": {"get": {"operationId": "NoSchema", "responses": {"200": {
            "description": "ok", "content": {"application/json": {}},
        }}}},
    }));
    assert_eq!(unsupported_operation(generate(&spec)), "NoSchema");
}

#[test]
fn two_success_types_are_an_error_naming_their_operation() {
    let spec = document(serde_json::json!({
        "/two": {"get": {"operationId": "TwoTypes", "responses": {
            "200": {"description": "a", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
            "201": {"description": "b", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/B"}}}},
        }}},
        "/fine": fine(),
    }));
    assert_eq!(unsupported_operation(generate(&spec)), "TwoTypes");
}
