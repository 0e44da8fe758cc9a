//! The validation pass: what must hold of a document before any code is written, checked once,
//! first, by each entry point (`generate`, `generate_client`, `generate_server`), so that an
//! inconsistent document is refused with one clear [`Error::Invalid`] instead of failing
//! somewhere inside a generator, and the generators need not check it again.
//!
//! Here are the checks about the document's own consistency: its OpenAPI version, its
//! operationIds, the well-formedness of the document-level extensions the server reads
//! (`x-error-body`, `x-error-codes`) when present (without them the server uses its defaults),
//! header names, and every `pattern`. What a generator *supports* (media types, schema kinds,
//! security schemes, the statuses an operation must declare...) is checked where the feature is
//! generated, as an [`Error::Unsupported`] naming the operation: a valid document may still be
//! refused there.
//!
//! Readers that must fail on a malformed value anyway (`spec::operations`, the server's
//! `ErrorBody::read` and `ErrorCodes::read`) are called here, so that their refusals come out
//! of this pass too; the generators read the same values again later without new failures.

use std::collections::BTreeSet;

use openapiv3::{
    AdditionalProperties, Content, OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr,
    Schema, SchemaKind, SecurityScheme, Type,
};
use serde_json::Value;

use crate::Error;
use crate::server::{ErrorBody, ErrorCodes, REJECTIONS};
use crate::spec::{self, Op};

/// Checks `spec` (see the module comment); the first problem found is the error.
pub(crate) fn validate(spec: &OpenAPI) -> Result<(), Error> {
    version(spec)?;
    let ops = operations(spec)?;
    error_body(spec)?;
    error_codes(spec, &ops)?;
    header_names(spec, &ops)?;
    patterns(spec)
}

/// `openapi` is 3.0.x, the one version progenitor (which writes the client) and this generator
/// read (progenitor's own test: the version starts with `3.0.`). A 3.1 document differs in
/// ways neither would notice before failing somewhere deep (`type` lists, no `nullable`).
fn version(spec: &OpenAPI) -> Result<(), Error> {
    if spec.openapi.trim().starts_with("3.0.") {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "openapi: {}: only 3.0.x is supported (the client's progenitor and this generator read OpenAPI 3.0)",
        spec.openapi
    )))
}

/// Every operation can be read (path items are not references, each operation has an
/// operationId, its parameters resolve) and no operationId is used twice: both halves name
/// their methods, types and routes after it.
fn operations(spec: &OpenAPI) -> Result<Vec<Op<'_>>, Error> {
    let ops = spec::operations(spec)?;
    let mut seen = BTreeSet::new();
    for op in &ops {
        if !seen.insert(op.operation_id) {
            return Err(Error::Invalid(format!(
                "operationId {} is used twice",
                op.operation_id
            )));
        }
    }
    Ok(ops)
}

/// `x-error-body`, when present: its fields are strings naming properties of an object schema
/// of the document (see `ErrorBody::read`), and its request-id header is a header name.
fn error_body(spec: &OpenAPI) -> Result<(), Error> {
    if !spec.extensions.contains_key("x-error-body") {
        return Ok(());
    }
    header_name(ErrorBody::read(spec)?.request_id_header())
}

/// `x-error-codes`, when present: a list of well-formed entries (see `ErrorCodes::read`), no
/// code listed twice (their constants would clash), a code marked for each rejection the
/// generated layer sends, and one marked `bad_signature` when an operation may be signed.
fn error_codes(spec: &OpenAPI, ops: &[Op<'_>]) -> Result<(), Error> {
    if !spec.extensions.contains_key("x-error-codes") {
        return Ok(());
    }
    let codes = ErrorCodes::read(spec)?;
    let mut names = BTreeSet::new();
    for code in codes.codes() {
        if !names.insert(ErrorCodes::const_name(code).to_string()) {
            return Err(Error::Invalid(format!(
                "x-error-codes: {code} is listed twice"
            )));
        }
    }
    for kind in REJECTIONS {
        codes.required_rejection(kind)?;
    }
    if codes.rejection("bad_signature").is_none() && ops.iter().any(|op| spec::is_signed(spec, op))
    {
        return Err(Error::Invalid(
            "a signature scheme needs a code marked `rejection: bad_signature` in x-error-codes"
                .into(),
        ));
    }
    Ok(())
}

/// The header names the generated code matches on are valid ones: each API-key scheme's header
/// and each header parameter's name (compared in lower case).
fn header_names(spec: &OpenAPI, ops: &[Op<'_>]) -> Result<(), Error> {
    if let Some(components) = &spec.components {
        for scheme in components.security_schemes.values() {
            if let ReferenceOr::Item(SecurityScheme::APIKey {
                location: openapiv3::APIKeyLocation::Header,
                name,
                ..
            }) = scheme
            {
                header_name(&name.to_ascii_lowercase())?;
            }
        }
    }
    for op in ops {
        for parameter in &op.parameters {
            if let Parameter::Header { parameter_data, .. } = parameter {
                header_name(&parameter_data.name.to_ascii_lowercase())?;
            }
        }
    }
    Ok(())
}

/// `name` (lower case) is a header name the generated code can use as written.
fn header_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{name}` is not a valid header name"
        )))
    }
}

/// Every `pattern` compiles (the generated code compiles each when first used and must not fail
/// then): of string and untyped schemas, and of `x-file-name` rules, wherever a schema is
/// written: the components (schemas, parameters, request bodies, responses) and the operations
/// (parameters, request bodies, responses). A `$ref` is checked where it points.
fn patterns(spec: &OpenAPI) -> Result<(), Error> {
    if let Some(components) = &spec.components {
        for (name, schema) in &components.schemas {
            schema_ref(schema, &format!("schema {name}"))?;
        }
        for (name, parameter) in &components.parameters {
            if let ReferenceOr::Item(parameter) = parameter {
                parameter_patterns(parameter, &format!("parameter {name}"))?;
            }
        }
        for (name, body) in &components.request_bodies {
            if let ReferenceOr::Item(body) = body {
                content(&body.content, &format!("request body {name}"))?;
            }
        }
        for (name, response) in &components.responses {
            if let ReferenceOr::Item(response) = response {
                content(&response.content, &format!("response {name}"))?;
            }
        }
    }
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for parameter in &item.parameters {
            if let ReferenceOr::Item(parameter) = parameter {
                parameter_patterns(parameter, path)?;
            }
        }
        for (method, operation) in item.iter() {
            let at = format!("{} {path}", method.to_uppercase());
            for parameter in &operation.parameters {
                if let ReferenceOr::Item(parameter) = parameter {
                    parameter_patterns(parameter, &at)?;
                }
            }
            if let Some(ReferenceOr::Item(body)) = &operation.request_body {
                content(&body.content, &format!("{at} request body"))?;
            }
            let responses = operation.responses.responses.iter();
            let default = operation.responses.default.iter();
            for (status, response) in responses
                .map(|(status, r)| (status.to_string(), r))
                .chain(default.map(|r| ("default".to_string(), r)))
            {
                if let ReferenceOr::Item(response) = response {
                    content(&response.content, &format!("{at} response {status}"))?;
                }
            }
        }
    }
    Ok(())
}

fn parameter_patterns(parameter: &Parameter, at: &str) -> Result<(), Error> {
    let data = spec::parameter_data(parameter);
    let at = format!("{at} parameter {}", data.name);
    match &data.format {
        ParameterSchemaOrContent::Schema(schema) => schema_ref(schema, &at),
        ParameterSchemaOrContent::Content(media) => content(media, &at),
    }
}

fn content(content: &Content, at: &str) -> Result<(), Error> {
    for (media, media_type) in content {
        if let Some(schema) = &media_type.schema {
            schema_ref(schema, &format!("{at} {media}"))?;
        }
    }
    Ok(())
}

fn schema_ref(schema: &ReferenceOr<Schema>, at: &str) -> Result<(), Error> {
    match schema {
        ReferenceOr::Item(schema) => schema_patterns(schema, at),
        ReferenceOr::Reference { .. } => Ok(()),
    }
}

fn boxed(schema: &ReferenceOr<Box<Schema>>, at: &str) -> Result<(), Error> {
    match schema {
        ReferenceOr::Item(schema) => schema_patterns(schema, at),
        ReferenceOr::Reference { .. } => Ok(()),
    }
}

/// The patterns of one schema and of the schemas written inside it.
fn schema_patterns(schema: &Schema, at: &str) -> Result<(), Error> {
    // The rule's other fields are read, and refused if malformed, where it is used.
    if let Some(pattern) = schema
        .schema_data
        .extensions
        .get("x-file-name")
        .and_then(|rule| rule.get("pattern"))
        .and_then(Value::as_str)
    {
        compiles(pattern, &format!("{at}: x-file-name"))?;
    }
    let each = |schemas: &[ReferenceOr<Schema>], keyword: &str| -> Result<(), Error> {
        for (i, schema) in schemas.iter().enumerate() {
            schema_ref(schema, &format!("{at}.{keyword}[{i}]"))?;
        }
        Ok(())
    };
    let properties = |properties: &indexmap::IndexMap<String, ReferenceOr<Box<Schema>>>,
                      additional: &Option<AdditionalProperties>|
     -> Result<(), Error> {
        for (name, property) in properties {
            boxed(property, &format!("{at}.{name}"))?;
        }
        if let Some(AdditionalProperties::Schema(schema)) = additional {
            schema_ref(schema, &format!("{at}.additionalProperties"))?;
        }
        Ok(())
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            if let Some(pattern) = &s.pattern {
                compiles(pattern, at)?;
            }
        }
        SchemaKind::Type(Type::Object(o)) => properties(&o.properties, &o.additional_properties)?,
        SchemaKind::Type(Type::Array(a)) => {
            if let Some(items) = &a.items {
                boxed(items, &format!("{at}.items"))?;
            }
        }
        SchemaKind::Type(_) => {}
        SchemaKind::OneOf { one_of } => each(one_of, "oneOf")?,
        SchemaKind::AllOf { all_of } => each(all_of, "allOf")?,
        SchemaKind::AnyOf { any_of } => each(any_of, "anyOf")?,
        SchemaKind::Not { not } => schema_ref(not, &format!("{at}.not"))?,
        SchemaKind::Any(any) => {
            if let Some(pattern) = &any.pattern {
                compiles(pattern, at)?;
            }
            properties(&any.properties, &any.additional_properties)?;
            if let Some(items) = &any.items {
                boxed(items, &format!("{at}.items"))?;
            }
            each(&any.one_of, "oneOf")?;
            each(&any.all_of, "allOf")?;
            each(&any.any_of, "anyOf")?;
            if let Some(not) = &any.not {
                schema_ref(not, &format!("{at}.not"))?;
            }
        }
    }
    Ok(())
}

/// `pattern` compiles with the regex engine the generated code uses (`regress`, ECMAScript
/// syntax, as JSON Schema specifies).
fn compiles(pattern: &str, at: &str) -> Result<(), Error> {
    regress::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| Error::Invalid(format!("{at}: pattern {pattern:?} does not compile: {e}")))
}
