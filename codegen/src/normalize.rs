//! What the generators read, made uniform before either runs: every inline JSON schema of a
//! request body or a response is moved to `components.schemas` under a deterministic name, and
//! referenced from where it was. Both halves then see named types only, and agree on their
//! names (the client's `types::ListPetsResponse` is the server's).
//!
//! Names: `{OperationId}Body` for a request body; `{OperationId}Response` for the first success
//! status, `{OperationId}Response{Status}` for the others (`Response404`, `Response4XX`,
//! `ResponseDefault`); a shared response or body of `components` is named after its key
//! (`{Key}Response`, `{Key}Body`). A name already taken gets `2`, `3`... appended, in document
//! order. A document without inline JSON schemas comes out unchanged.
//!
//! Must not: change a schema, or touch anything but JSON and form media types (multipart and
//! binary bodies keep their inline schemas: their generators read them in place).

use heck::ToUpperCamelCase;
use indexmap::IndexMap;
use openapiv3::{
    Components, Content, OpenAPI, Operation, ReferenceOr, RequestBody, Response, Schema, StatusCode,
};

use crate::spec::is_json_media;

/// `spec` with its inline JSON schemas named (see the module comment).
pub fn hoist_inline_schemas(spec: &OpenAPI) -> OpenAPI {
    let mut spec = spec.clone();
    let mut hoisted: IndexMap<String, ReferenceOr<Schema>> = IndexMap::new();
    let taken = |name: &str, hoisted: &IndexMap<String, ReferenceOr<Schema>>, spec: &OpenAPI| {
        hoisted.contains_key(name)
            || spec
                .components
                .as_ref()
                .is_some_and(|c| c.schemas.contains_key(name))
    };
    // Collect first (names in document order), then move, so `taken` sees every earlier name.
    let mut hoist = |stem: String, content: &mut Content, spec_view: &OpenAPI| {
        for (media, media_type) in content.iter_mut() {
            if !is_json_media(media) && media != "application/x-www-form-urlencoded" {
                continue;
            }
            let Some(ReferenceOr::Item(_)) = &media_type.schema else {
                continue;
            };
            let mut name = stem.clone();
            let mut n = 1;
            while taken(&name, &hoisted, spec_view) {
                n += 1;
                name = format!("{stem}{n}");
            }
            let schema = media_type.schema.take().expect("matched above");
            hoisted.insert(name.clone(), schema);
            media_type.schema = Some(ReferenceOr::Reference {
                reference: format!("#/components/schemas/{name}"),
            });
        }
    };

    let view = spec.clone();
    for operation in crate::spec::operation_slots_mut(&mut spec).flatten() {
        let Some(id) = operation.operation_id.clone() else {
            continue;
        };
        let id = id.to_upper_camel_case();
        if let Some(ReferenceOr::Item(body)) = &mut operation.request_body {
            hoist(format!("{id}Body"), &mut body.content, &view);
        }
        for (stem, response) in response_stems(&id, operation) {
            hoist(stem, &mut response.content, &view);
        }
    }
    if let Some(components) = &mut spec.components {
        for (key, body) in &mut components.request_bodies {
            if let ReferenceOr::Item(RequestBody { content, .. }) = body {
                hoist(format!("{}Body", key.to_upper_camel_case()), content, &view);
            }
        }
        for (key, response) in &mut components.responses {
            if let ReferenceOr::Item(Response { content, .. }) = response {
                hoist(
                    format!("{}Response", key.to_upper_camel_case()),
                    content,
                    &view,
                );
            }
        }
    }
    if hoisted.is_empty() {
        return spec;
    }
    let components = spec.components.get_or_insert_with(Components::default);
    components.schemas.extend(hoisted);
    spec
}

/// The inline responses of `operation` with their name stems: the first success status gets
/// `{id}Response`, every other status its code or range, `default` its word.
fn response_stems<'a>(id: &str, operation: &'a mut Operation) -> Vec<(String, &'a mut Response)> {
    let first_success = operation
        .responses
        .responses
        .keys()
        .find_map(|status| match status {
            StatusCode::Code(code) if (200..300).contains(code) => Some(status.clone()),
            _ => None,
        });
    let mut out = Vec::new();
    if let Some(ReferenceOr::Item(response)) = &mut operation.responses.default {
        out.push((format!("{id}ResponseDefault"), response));
    }
    for (status, response) in &mut operation.responses.responses {
        let ReferenceOr::Item(response) = response else {
            continue;
        };
        let stem = if Some(status) == first_success.as_ref() {
            format!("{id}Response")
        } else {
            format!("{id}Response{status}")
        };
        out.push((stem, response));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(paths: serde_json::Value) -> OpenAPI {
        serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": paths,
            "components": {"schemas": {"PetsResponse": {"type": "string"}}},
        }))
        .unwrap()
    }

    #[test]
    fn inline_json_schemas_get_deterministic_names_and_refs() {
        let object = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let doc = spec(serde_json::json!({"/pets": {"post": {
            "operationId": "pets",
            "requestBody": {"content": {"application/json; charset=utf-8": {"schema": object}}},
            "responses": {
                "201": {"description": "ok", "content": {"application/json": {"schema": object}}},
                "4XX": {"description": "no", "content": {"application/json": {"schema": object}}},
                "204": {"description": "none"},
            },
        }}}));
        let out = hoist_inline_schemas(&doc);
        let names: Vec<&String> = out.components.as_ref().unwrap().schemas.keys().collect();
        // `PetsResponse` was taken by the document itself: the hoisted one is `PetsResponse2`.
        assert_eq!(
            names,
            [
                "PetsResponse",
                "PetsBody",
                "PetsResponse2",
                "PetsResponse4XX"
            ]
        );
        assert_eq!(
            hoist_inline_schemas(&out),
            out,
            "a second pass changes nothing"
        );
    }

    #[test]
    fn a_document_without_inline_json_schemas_is_unchanged() {
        let doc = spec(serde_json::json!({"/f": {"put": {
            "operationId": "upload",
            "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "ok", "content": {"application/octet-stream":
                {"schema": {"type": "string", "format": "binary"}}}}},
        }}}));
        assert_eq!(hoist_inline_schemas(&doc), doc);
    }
}
