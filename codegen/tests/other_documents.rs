//! Documents written elsewhere, in the shapes they come in. progenitor and typify panic on some
//! (`todo!("media type encoding, no schema")`, `assert!(response_types.len() <= 1)`): `generate`
//! must answer those with an error naming the operation, never let the panic through to a build
//! script. Inline schemas and JSON media types with parameters must generate on both halves.

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

/// A document with inline request and response schemas, a JSON media type with parameters, and
/// this project's error extensions: both halves generate, and agree on the hoisted names.
#[test]
fn inline_schemas_and_json_with_parameters_generate_on_both_halves() {
    let mut spec = serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "pets", "version": "1"},
        "paths": {"/pets": {"post": {
            "operationId": "AddPet",
            "requestBody": {"required": true, "content": {"application/json; charset=utf-8": {"schema": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string", "maxLength": 20}},
            }}}},
            "responses": {
                "201": {"description": "added", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"id": {"type": "integer"}},
                }}}},
                "400": {"description": "bad", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "413": {"description": "big", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "500": {"description": "oops", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }}},
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["code", "message", "trace"],
            "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "trace": {"type": "string"},
            },
        }}},
    });
    spec["x-error-body"] = serde_json::json!({
        "schema": "Error", "code": "code", "message": "message", "request_id": "trace",
        "request_id_header": "X-Trace-Id",
    });
    spec["x-error-codes"] = serde_json::json!([
        {"code": "E401", "status": 401, "rejection": "missing_credential", "meaning": "no key"},
        {"code": "E400", "status": 400, "rejection": "invalid_parameter", "meaning": "bad"},
        {"code": "E400B", "status": 400, "rejection": "missing_body", "meaning": "no body"},
        {"code": "E413", "status": 413, "rejection": "payload_too_large", "meaning": "big"},
        {"code": "E500", "status": 500, "rejection": "internal", "meaning": "oops"},
        {"code": "E404", "status": 404, "rejection": "no_route", "meaning": "no route"},
        {"code": "E405", "status": 405, "rejection": "method_not_allowed", "meaning": "method"},
    ]);
    let spec: openapiv3::OpenAPI = serde_json::from_value(spec).expect("a valid document");
    let generated = generate(&spec).expect("both halves generate");
    assert!(
        generated.contract.contains("pub struct AddPetBody"),
        "the contract names the body"
    );
    assert!(
        generated.server.contains("types::AddPetBody"),
        "the server uses the same name"
    );
    assert!(
        generated.server.contains("types::AddPetResponse"),
        "and the response's"
    );
}
