//! Reading the parts of an OpenAPI document the generators need: operations in document order,
//! with `$ref`s resolved. Shared by the client and server generators so they agree on what an
//! operation is. Only local references (`#/components/...`) are supported.

use openapiv3::{
    OpenAPI, Operation, Parameter, ParameterData, ReferenceOr, RequestBody, Response, Schema,
    SecurityScheme,
};

use crate::Error;

/// One operation of the document, with the path item's parameters merged in.
#[derive(Debug, Clone)]
pub struct Op<'a> {
    /// The operationId (required by both generators).
    pub operation_id: &'a str,
    /// Lower-case HTTP method (`get`, `post`, ...).
    pub method: &'static str,
    /// The path template, e.g. `/v2/{project_id}/assets`.
    pub path: &'a str,
    /// The operation itself.
    pub operation: &'a Operation,
    /// Path-item parameters followed by the operation's own, `$ref`s resolved. An operation
    /// parameter replaces a path-item parameter of the same name and location.
    pub parameters: Vec<&'a Parameter>,
}

impl Op<'_> {
    /// The request body, resolved, if the operation has one.
    pub fn request_body<'s>(&self, spec: &'s OpenAPI) -> Result<Option<&'s RequestBody>, Error>
    where
        Self: 's,
    {
        self.operation
            .request_body
            .as_ref()
            .map(|body| resolve(spec, body, "requestBodies", |c| &c.request_bodies))
            .transpose()
    }

    /// Whether the request body is `multipart/form-data`.
    pub fn is_multipart(&self, spec: &OpenAPI) -> Result<bool, Error> {
        Ok(self
            .request_body(spec)?
            .is_some_and(|body| body.content.contains_key("multipart/form-data")))
    }

    /// The documented responses as (status, resolved response), in ascending status order.
    /// `default` and range statuses (`4XX`) are refused: the generators need exact statuses.
    pub fn responses<'s>(&self, spec: &'s OpenAPI) -> Result<Vec<(u16, &'s Response)>, Error>
    where
        Self: 's,
    {
        if self.operation.responses.default.is_some() {
            return Err(self.unsupported("a `default` response (list exact statuses instead)"));
        }
        let mut out = Vec::new();
        for (status, response) in &self.operation.responses.responses {
            let openapiv3::StatusCode::Code(code) = status else {
                return Err(self.unsupported(format!("range status {status}")));
            };
            out.push((
                *code,
                resolve(spec, response, "responses", |c| &c.responses)?,
            ));
        }
        out.sort_by_key(|(code, _)| *code);
        Ok(out)
    }

    /// Every documented response, exact statuses (ascending) first, then ranges (`4XX`), then
    /// `default`: for the server generator, which gives each a reply variant.
    pub fn all_responses<'s>(
        &self,
        spec: &'s OpenAPI,
    ) -> Result<Vec<(ResponseStatus, &'s Response)>, Error>
    where
        Self: 's,
    {
        let mut out = Vec::new();
        for (status, response) in &self.operation.responses.responses {
            let status = match status {
                openapiv3::StatusCode::Code(code) => ResponseStatus::Code(*code),
                openapiv3::StatusCode::Range(range) => ResponseStatus::Range(*range),
            };
            out.push((
                status,
                resolve(spec, response, "responses", |c| &c.responses)?,
            ));
        }
        if let Some(response) = &self.operation.responses.default {
            out.push((
                ResponseStatus::Default,
                resolve(spec, response, "responses", |c| &c.responses)?,
            ));
        }
        out.sort_by_key(|(status, _)| *status);
        Ok(out)
    }

    /// An [`Error::Unsupported`] naming this operation.
    pub fn unsupported(&self, message: impl Into<String>) -> Error {
        Error::Unsupported {
            operation_id: self.operation_id.to_string(),
            message: message.into(),
        }
    }
}

/// A response's key: an exact status, a range (`4XX` is `Range(4)`), or `default`. Ordered as
/// the server generator lists them: exact statuses, ranges, `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResponseStatus {
    /// `"404"`
    Code(u16),
    /// `"4XX"`
    Range(u16),
    /// `default`
    Default,
}

impl ResponseStatus {
    /// Whether an answer with `status` falls under this key.
    pub fn covers(self, status: u16) -> bool {
        match self {
            ResponseStatus::Code(code) => code == status,
            ResponseStatus::Range(range) => status / 100 == range,
            ResponseStatus::Default => true,
        }
    }
}

/// The parameter's common data, whatever its location.
pub fn parameter_data(parameter: &Parameter) -> &ParameterData {
    parameter.parameter_data_ref()
}

/// Every operation in document order (paths as written, methods in a fixed order). Refuses a
/// path item that is a reference and an operation without an operationId (it could not be
/// named); that no operationId is used twice is checked by the validation pass.
pub fn operations(spec: &OpenAPI) -> Result<Vec<Op<'_>>, Error> {
    let mut ops = Vec::new();
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else {
            return Err(Error::Invalid(format!(
                "path {path}: external path items are not supported"
            )));
        };
        let methods: [(&'static str, &Option<Operation>); 8] = [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("options", &item.options),
            ("head", &item.head),
            ("patch", &item.patch),
            ("trace", &item.trace),
        ];
        for (method, operation) in methods {
            let Some(operation) = operation else { continue };
            let operation_id = operation.operation_id.as_deref().ok_or_else(|| {
                Error::Invalid(format!(
                    "{} {path}: every operation needs an operationId",
                    method.to_uppercase()
                ))
            })?;
            let mut parameters: Vec<&Parameter> = Vec::new();
            for p in item.parameters.iter().chain(&operation.parameters) {
                let p = resolve(spec, p, "parameters", |c| &c.parameters)?;
                let data = parameter_data(p);
                parameters.retain(|q| {
                    let qd = parameter_data(q);
                    !(qd.name == data.name
                        && std::mem::discriminant(*q) == std::mem::discriminant(p))
                });
                parameters.push(p);
            }
            ops.push(Op {
                operation_id,
                method,
                path,
                operation,
                parameters,
            });
        }
    }
    Ok(ops)
}

/// Resolves a `ReferenceOr<T>` against `#/components/<section>/<name>`.
pub fn resolve<'s, T>(
    spec: &'s OpenAPI,
    item: &'s ReferenceOr<T>,
    section: &str,
    pick: impl Fn(&'s openapiv3::Components) -> &'s indexmap::IndexMap<String, ReferenceOr<T>>,
) -> Result<&'s T, Error> {
    let mut item = item;
    // A reference may point at another reference; follow a few, refuse cycles.
    for _ in 0..8 {
        match item {
            ReferenceOr::Item(t) => return Ok(t),
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference, section)?;
                item = spec
                    .components
                    .as_ref()
                    .and_then(|c| pick(c).get(name))
                    .ok_or_else(|| Error::Invalid(format!("dangling reference {reference}")))?;
            }
        }
    }
    Err(Error::Invalid(format!(
        "reference chain too long in #/components/{section}"
    )))
}

/// Resolves a schema reference.
pub fn resolve_schema<'s>(
    spec: &'s OpenAPI,
    schema: &'s ReferenceOr<Schema>,
) -> Result<&'s Schema, Error> {
    resolve(spec, schema, "schemas", |c| &c.schemas)
}

/// Resolves a boxed schema reference (as used by `items` and `properties`).
pub fn resolve_boxed<'s>(
    spec: &'s OpenAPI,
    schema: &'s ReferenceOr<Box<Schema>>,
) -> Result<&'s Schema, Error> {
    match schema {
        ReferenceOr::Item(s) => Ok(s),
        ReferenceOr::Reference { reference } => {
            let name = ref_name(reference, "schemas")?;
            let target = spec
                .components
                .as_ref()
                .and_then(|c| c.schemas.get(name))
                .ok_or_else(|| Error::Invalid(format!("dangling reference {reference}")))?;
            resolve_schema(spec, target)
        }
    }
}

/// The component name of a local reference into `#/components/<section>/`.
pub fn ref_name<'r>(reference: &'r str, section: &str) -> Result<&'r str, Error> {
    reference
        .strip_prefix("#/components/")
        .and_then(|rest| rest.strip_prefix(section))
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unsupported reference {reference} (expected #/components/{section}/...)"
            ))
        })
}

/// The name of the document's request-signature scheme: a security scheme marked
/// `x-signature` (see the server generator for what it must be), if any.
pub fn signature_scheme(spec: &OpenAPI) -> Option<&str> {
    spec.components
        .as_ref()?
        .security_schemes
        .iter()
        .find_map(|(name, scheme)| match scheme {
            ReferenceOr::Item(SecurityScheme::APIKey { extensions, .. })
                if extensions.contains_key("x-signature") =>
            {
                Some(name.as_str())
            }
            _ => None,
        })
}

/// Whether `op` may be signed: one of its security requirements (its own, else the document's)
/// names an API-key scheme marked `x-signature`.
pub fn is_signed(spec: &OpenAPI, op: &Op<'_>) -> bool {
    let schemes = spec.components.as_ref().map(|c| &c.security_schemes);
    op.operation
        .security
        .as_ref()
        .or(spec.security.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|requirement| requirement.keys())
        .any(|name| {
            matches!(
                schemes.and_then(|s| s.get(name)),
                Some(ReferenceOr::Item(SecurityScheme::APIKey { extensions, .. }))
                    if extensions.contains_key("x-signature")
            )
        })
}

/// Whether `media` is a JSON media type: `application/json`, with parameters
/// (`application/json; charset=utf-8`) or a `+json` suffix (`application/problem+json`).
pub fn is_json_media(media: &str) -> bool {
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Every operation slot (`get` … `trace`) of every path item written in place, for the passes
/// that rewrite the document (normalize, the server's view, the client's copy for progenitor).
pub fn operation_slots_mut(
    spec: &mut OpenAPI,
) -> impl Iterator<Item = &mut Option<openapiv3::Operation>> {
    spec.paths.paths.values_mut().flat_map(|item| match item {
        ReferenceOr::Item(item) => vec![
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ],
        ReferenceOr::Reference { .. } => vec![],
    })
}
