//! The validation pass: an inconsistent document is refused before any code is written, with
//! one `Error::Invalid` saying what is wrong, by each entry point alike (`generate`,
//! `generate_client`, `generate_server`).

use roma_assets_codegen::{Error, generate, generate_client, generate_server};

/// A small valid document: one operation, no error extensions (the server uses its defaults).
fn document() -> serde_json::Value {
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "validation", "version": "1"},
        "paths": {"/things/{id}": {"get": {
            "operationId": "GetThing",
            "parameters": [{"name": "id", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[a-z]+$"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Thing"},
            }}}},
        }}},
        "components": {"schemas": {"Thing": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 20}},
        }}},
    })
}

fn parse(document: serde_json::Value) -> openapiv3::OpenAPI {
    serde_json::from_value(document).expect("a document openapiv3 reads")
}

/// The message of the `Error::Invalid` each entry point answers `document` with (all three the
/// same: the validation pass runs first in each).
fn refusal(document: serde_json::Value) -> String {
    let spec = parse(document);
    let messages: Vec<String> = [
        generate(&spec).map(|_| ()),
        generate_client(&spec).map(|_| ()),
        generate_server(&spec).map(|_| ()),
    ]
    .into_iter()
    .map(|result| match result {
        Err(Error::Invalid(message)) => message,
        other => panic!("expected Error::Invalid, got {other:?}"),
    })
    .collect();
    assert!(
        messages.iter().all(|m| *m == messages[0]),
        "the entry points disagree: {messages:?}"
    );
    messages[0].clone()
}

/// The `x-error-codes` of a document that marks every rejection, plus `extra` entries.
fn error_codes(extra: &[serde_json::Value]) -> serde_json::Value {
    let mut codes: Vec<serde_json::Value> = [
        ("E401", 401, "missing_credential"),
        ("E400", 400, "invalid_parameter"),
        ("E400B", 400, "missing_body"),
        ("E413", 413, "payload_too_large"),
        ("E500", 500, "internal"),
        ("E404", 404, "no_route"),
        ("E405", 405, "method_not_allowed"),
    ]
    .into_iter()
    .map(|(code, status, rejection)| {
        serde_json::json!({"code": code, "status": status, "rejection": rejection, "meaning": code})
    })
    .collect();
    codes.extend(extra.iter().cloned());
    serde_json::Value::Array(codes)
}

#[test]
fn a_3_0_document_is_accepted() {
    let spec = parse(document());
    generate(&spec).expect("an OpenAPI 3.0.3 document generates");
}

#[test]
fn an_openapi_3_1_document_is_refused_with_the_version_it_has() {
    let mut doc = document();
    doc["openapi"] = "3.1.0".into();
    let message = refusal(doc);
    assert!(message.starts_with("openapi: 3.1.0: "), "{message}");
    assert!(message.contains("only 3.0.x is supported"), "{message}");
}

#[test]
fn an_operation_id_used_twice_is_refused() {
    let mut doc = document();
    doc["paths"]["/other"] =
        serde_json::json!({"get": doc["paths"]["/things/{id}"]["get"].clone()});
    doc["paths"]["/other"]["get"]["parameters"] = serde_json::json!([]);
    assert_eq!(refusal(doc), "operationId GetThing is used twice");
}

/// Checks the server made while writing its own half, made first now: the client half refuses
/// an inconsistent `x-error-codes` too.
#[test]
fn an_inconsistent_x_error_codes_is_refused_before_either_half_is_written() {
    let mut doc = document();
    doc["x-error-codes"] = error_codes(&[serde_json::json!(
        {"code": "E500", "status": 503, "meaning": "again"}
    )]);
    assert_eq!(refusal(doc.clone()), "x-error-codes: E500 is listed twice");

    doc["x-error-codes"] = error_codes(&[]);
    doc["x-error-codes"].as_array_mut().unwrap().remove(4);
    assert_eq!(
        refusal(doc),
        "x-error-codes: no code is marked `rejection: internal`"
    );
}

#[test]
fn an_x_error_body_must_name_an_object_schema_and_a_valid_header() {
    let mut doc = document();
    doc["x-error-body"] = serde_json::json!({
        "schema": "Thing", "code": "name", "message": "name", "request_id": "name",
        "request_id_header": "X Request Id",
    });
    assert_eq!(
        refusal(doc.clone()),
        "`x request id` is not a valid header name"
    );

    doc["x-error-body"]["message"] = "text".into();
    assert_eq!(refusal(doc), "x-error-body: Thing has no property text");
}

/// Every pattern of the document is compiled once, here: the error names where it is, even deep
/// inside a schema the server never reads (the client's types compile it too).
#[test]
fn a_pattern_that_does_not_compile_is_refused_with_its_place() {
    let mut doc = document();
    doc["components"]["schemas"]["Thing"]["properties"]["tags"] = serde_json::json!({
        "type": "array", "items": {"type": "string", "pattern": "[a-z"},
    });
    let message = refusal(doc);
    assert!(
        message.starts_with("schema Thing.tags.items: pattern \"[a-z\" does not compile: "),
        "{message}"
    );

    let mut doc = document();
    doc["paths"]["/things/{id}"]["get"]["parameters"][0]["schema"]["pattern"] = "(".into();
    let message = refusal(doc);
    assert!(
        message.starts_with("GET /things/{id} parameter id: pattern \"(\" does not compile: "),
        "{message}"
    );
}
