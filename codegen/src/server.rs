//! The axum server generator: openapiv3 in, tokens out (formatted by the caller).
//!
//! For every operation it emits a method on one `Api` trait with typed inputs, a `<Op>Reply` enum
//! with exactly the documented statuses, and a handler that enforces every constraint the document
//! states before the method runs. It also emits `router(impl Api) -> axum::Router`.
//!
//! It must not know any operation by name: codes, field names, limits and routes come from the
//! document (`x-error-body`, `x-error-codes`, `x-max-body-bytes`, `x-max-combined-items`,
//! `x-min-length`/`x-max-length` on API-key schemes). Unsupported features are refused with
//! [`Error::Unsupported`] naming the operation, never silently skipped.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use openapiv3::{
    OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, Schema, SchemaKind, SecurityScheme,
    Type,
};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::Error;
use crate::spec::{self, Op, ResponseStatus};

/// The document-specific glue (error type, router state), emitted verbatim ahead of the generated
/// items; the generic support code is `roma_assets_runtime::server`, compiled once.
const GLUE: &str = include_str!("templates/server_glue.rs");

/// Body limit of operations whose document states none: axum's default.
const DEFAULT_BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// What the contract module holds beside the types: `codes` (`x-error-codes`, or the defaults),
/// `limits` and `headers`. Read from the same view of the document as the server half, so the
/// codes the server sends are these constants.
pub(crate) fn contract_items(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let defaulted = with_error_defaults(spec)?;
    let spec = defaulted.as_ref().unwrap_or(spec);
    let codes = ErrorCodes::read(spec)?.module();
    let limits = limits_module(spec)?;
    let headers = headers_module(spec)?;
    Ok(quote! {
        #codes
        #limits
        #headers
    })
}

pub(crate) fn generate(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let defaulted = with_error_defaults(spec)?;
    let spec = defaulted.as_ref().unwrap_or(spec);
    let mut runtime: syn::File = syn::parse_str(GLUE)?;
    allow_unused_private_items(&mut runtime);
    let error_body = ErrorBody::read(spec)?;
    let codes = ErrorCodes::read(spec)?;
    let ops = spec::operations(spec)?;

    let mut shapes = Shapes::default();
    let mut operations = Vec::new();
    for op in &ops {
        operations.push(Operation::generate(
            spec,
            op,
            &error_body,
            &codes,
            &mut shapes,
        )?);
    }

    let error_body_tokens = error_body.tokens();
    let reject_tokens = codes.reject()?;
    let shape_statics = shapes.finish(spec)?;

    let items = operations.iter().map(|o| &o.items);
    let trait_methods = operations.iter().map(|o| &o.trait_method);
    let stub_methods = operations.iter().map(|o| &o.stub_method);
    let signing_keys = if ops.iter().any(|op| spec::is_signed(spec, op)) {
        quote!(+ SigningKeys)
    } else {
        quote!()
    };
    let stub_signing_keys = if signing_keys.is_empty() {
        quote!()
    } else {
        quote! {
            impl SigningKeys for NotImplemented {
                fn secret_key(&self, _access_key: &str) -> Option<String> {
                    None
                }
            }
        }
    };
    let limit_fields = operations.iter().filter_map(|o| o.limit_field.as_ref());
    let limit_defaults = operations.iter().filter_map(|o| o.limit_default.as_ref());
    let routes = routes(&operations);
    let runtime_items = &runtime.items;
    let descriptions = operations.iter().map(|o| &o.description);

    Ok(quote! {
        #(#runtime_items)*

        #error_body_tokens
        #reject_tokens

        /// The API as one trait: implement it and hand it to [`router`]. Each method receives its
        /// inputs already checked against the document and answers with its operation's reply
        /// enum, which lists exactly the statuses the document declares.
        pub trait Api: Send + Sync + 'static #signing_keys {
            #(#trait_methods)*
        }

        /// An implementation of [`Api`] that answers every operation with a 500 "not
        /// implemented" in the error body: a starting point, and a router to probe before the
        /// real implementation exists.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct NotImplemented;

        impl Api for NotImplemented {
            #(#stub_methods)*
        }

        #stub_signing_keys

        /// Per-operation request body limits, in bytes. Defaults come from each operation's
        /// `x-max-body-bytes` in the document, else axum's 2 MiB.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct BodyLimits {
            #(#limit_fields)*
        }

        impl Default for BodyLimits {
            fn default() -> Self {
                BodyLimits { #(#limit_defaults)* }
            }
        }

        /// Settings of the generated router.
        #[derive(Debug, Clone, Default)]
        pub struct RouterConfig {
            /// Request body limits.
            pub body_limits: BodyLimits,
        }

        /// The router serving every operation of the document with the default [`RouterConfig`].
        pub fn router(api: impl Api) -> axum::Router {
            router_with(api, RouterConfig::default())
        }

        /// The router serving every operation of the document. Unknown paths and methods get the
        /// document's error body too; every response carries the request-id header.
        pub fn router_with<A: Api>(api: A, config: RouterConfig) -> axum::Router {
            let shared = Arc::new(Shared { api, config });
            axum::Router::new()
                #routes
                .fallback(answer_no_route)
                .method_not_allowed_fallback(answer_method_not_allowed)
                .with_state(shared)
                .layer(axum::middleware::from_fn(request_id))
        }

        /// One operation as the generated router serves it: for comparing back to the document.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct OperationDescription {
            /// The operationId.
            pub operation_id: &'static str,
            /// Upper-case HTTP method.
            pub method: &'static str,
            /// The axum route (same syntax as the document's path template).
            pub path: &'static str,
            /// The statuses of the reply enum, ascending.
            pub statuses: &'static [u16],
        }

        /// Every operation the generated router serves.
        pub const OPERATIONS: &[OperationDescription] = &[#(#descriptions),*];

        #(#items)*

        #shape_statics
    })
}

/// The error body's schema the server generator adds to a document without `x-error-body`.
const DEFAULT_ERROR_SCHEMA: &str = "GeneratedErrorBody";

/// The server's view of a document written without this project's error extensions (`None`
/// when it has them: it is read as it is). Without `x-error-body`, errors get a small body of
/// their own, `{code, message, details, request_id}` with the `X-Request-Id` header, added as a
/// schema only the server sees. Without `x-error-codes`, the generated layer's refusals get one
/// code each (`InvalidParameter`, `MissingCredential`, ...). And since the generated layer
/// answers some statuses by itself (400 for a bad input, 401 for a missing credential, 413 for a
/// body over its limit, 500 always), an operation that does not declare one of those gets it,
/// with the error body, in the server's view only: the client is generated from the document as
/// written. Documented in README ("Other people's documents").
fn with_error_defaults(spec: &OpenAPI) -> Result<Option<OpenAPI>, Error> {
    let has_body = ext(&spec.extensions, "x-error-body").is_some();
    let has_codes = ext(&spec.extensions, "x-error-codes").is_some();
    if has_body && has_codes {
        return Ok(None);
    }
    let mut view = spec.clone();
    if !has_body {
        let components = view.components.get_or_insert_with(Default::default);
        if components.schemas.contains_key(DEFAULT_ERROR_SCHEMA) {
            return Err(Error::Invalid(format!(
                "no x-error-body, and the schema name {DEFAULT_ERROR_SCHEMA} the generator would give its own is taken"
            )));
        }
        let schema: Schema = serde_json::from_value(serde_json::json!({
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "maxLength": 128},
                "message": {"type": "string", "maxLength": 512},
                "details": {"type": "string", "maxLength": 1024},
                "request_id": {"type": "string", "maxLength": 128},
            },
        }))
        .expect("a valid schema");
        components
            .schemas
            .insert(DEFAULT_ERROR_SCHEMA.into(), ReferenceOr::Item(schema));
        view.extensions.insert(
            "x-error-body".into(),
            serde_json::json!({
                "schema": DEFAULT_ERROR_SCHEMA, "code": "code", "message": "message",
                "details": "details", "request_id": "request_id",
                "request_id_header": "X-Request-Id",
            }),
        );
        add_layer_statuses(&mut view)?;
    }
    if !has_codes {
        let codes: Vec<Value> = [
            ("MissingCredential", 401, "missing_credential", "no credential in the request"),
            ("BadSignature", 401, "bad_signature", "the request signature is not valid"),
            ("InvalidParameter", 400, "invalid_parameter", "a parameter or field is not valid"),
            ("MissingBody", 400, "missing_body", "the request body is missing"),
            ("PayloadTooLarge", 413, "payload_too_large", "the request body is too large"),
            ("Internal", 500, "internal", "internal error; the server log has the cause"),
            ("NoRoute", 404, "no_route", "no such operation"),
            ("MethodNotAllowed", 405, "method_not_allowed", "method not allowed on this path"),
        ]
        .into_iter()
        .map(|(code, status, rejection, meaning)| {
            serde_json::json!({"code": code, "status": status, "rejection": rejection, "meaning": meaning})
        })
        .collect();
        view.extensions
            .insert("x-error-codes".into(), Value::Array(codes));
    }
    Ok(Some(view))
}

/// Adds to each operation of `view` the statuses the generated layer may answer by itself,
/// where the operation does not declare them, with the error body (see [`with_error_defaults`]).
fn add_layer_statuses(view: &mut OpenAPI) -> Result<(), Error> {
    let error_response = |description: &str| -> ReferenceOr<openapiv3::Response> {
        ReferenceOr::Item(
            serde_json::from_value(serde_json::json!({
                "description": description,
                "content": {"application/json": {"schema": {
                    "$ref": format!("#/components/schemas/{DEFAULT_ERROR_SCHEMA}")
                }}},
            }))
            .expect("a valid response"),
        )
    };
    let snapshot = view.clone();
    let ops = spec::operations(&snapshot)?;
    let mut wanted: Vec<(String, Vec<u16>)> = Vec::new();
    for op in &ops {
        let mut statuses = vec![500];
        let has_inputs = !op.parameters.is_empty() || op.request_body(&snapshot)?.is_some();
        if has_inputs {
            statuses.push(400);
        }
        if op.request_body(&snapshot)?.is_some() {
            statuses.push(413);
        }
        if security(&snapshot, op)?.is_some() {
            statuses.push(401);
        }
        wanted.push((op.operation_id.to_string(), statuses));
    }
    for operation in spec::operation_slots_mut(view).flatten() {
        let Some((_, statuses)) = wanted
            .iter()
            .find(|(id, _)| operation.operation_id.as_deref() == Some(id.as_str()))
        else {
            continue;
        };
        for status in statuses {
            let code = openapiv3::StatusCode::Code(*status);
            if !operation.responses.responses.contains_key(&code) {
                operation
                    .responses
                    .responses
                    .insert(code, error_response("answered by the generated layer"));
            }
        }
    }
    Ok(())
}

/// Which runtime helpers a document needs varies (a document without integer parameters never
/// parses one), so the private ones may go unused; that is expected, not dead code to remove.
fn allow_unused_private_items(file: &mut syn::File) {
    let allow: syn::Attribute = syn::parse_quote!(#[allow(dead_code)]);
    for item in &mut file.items {
        let (vis, attrs) = match item {
            syn::Item::Fn(f) => (&f.vis, &mut f.attrs),
            syn::Item::Struct(s) => (&s.vis, &mut s.attrs),
            syn::Item::Enum(e) => (&e.vis, &mut e.attrs),
            syn::Item::Const(c) => (&c.vis, &mut c.attrs),
            syn::Item::Type(t) => (&t.vis, &mut t.attrs),
            _ => continue,
        };
        if matches!(vis, syn::Visibility::Inherited) {
            attrs.push(allow.clone());
        }
    }
}

/// The document's `x-error-body`: which schema is the error body and where its fields are,
/// each with the length it is cut to.
pub(crate) struct ErrorBody {
    schema: String,
    code: BodyField,
    message: BodyField,
    details: Option<BodyField>,
    request_id: BodyField,
    request_id_header: String,
}

/// One field of the error body: its property name and the most characters it holds (its
/// `maxLength`, else 1024).
struct BodyField {
    name: String,
    max_chars: usize,
}

fn ext<'a>(extensions: &'a indexmap::IndexMap<String, Value>, key: &str) -> Option<&'a Value> {
    extensions.get(key)
}

fn ext_str(value: &Value, key: &str, what: &str) -> Result<String, Error> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Invalid(format!("{what}: `{key}` must be a string")))
}

impl ErrorBody {
    /// Reads `x-error-body` and the fields of the schema it names: each field must be a string,
    /// the schema an object with those properties. Run first by [`crate::validate`].
    pub(crate) fn read(spec: &OpenAPI) -> Result<Self, Error> {
        let value = ext(&spec.extensions, "x-error-body").ok_or_else(|| {
            Error::Invalid("the server generator needs a top-level `x-error-body` (schema, code, message, request_id, request_id_header)".into())
        })?;
        let what = "x-error-body";
        let schema = ext_str(value, "schema", what)?;
        let code = ext_str(value, "code", what)?;
        let message = ext_str(value, "message", what)?;
        let details = value
            .get("details")
            .and_then(Value::as_str)
            .map(str::to_string);
        let request_id = ext_str(value, "request_id", what)?;
        let request_id_header = ext_str(value, "request_id_header", what)?.to_ascii_lowercase();

        let object = spec
            .components
            .as_ref()
            .and_then(|c| c.schemas.get(&schema))
            .ok_or_else(|| Error::Invalid(format!("x-error-body: no schema {schema}")))?;
        let SchemaKind::Type(Type::Object(object)) =
            &spec::resolve_schema(spec, object)?.schema_kind
        else {
            return Err(Error::Invalid(format!(
                "x-error-body: {schema} is not an object schema"
            )));
        };
        let field = |name: String| -> Result<BodyField, Error> {
            let property = object.properties.get(&name).ok_or_else(|| {
                Error::Invalid(format!("x-error-body: {schema} has no property {name}"))
            })?;
            let max_chars = match &spec::resolve_boxed(spec, property)?.schema_kind {
                SchemaKind::Type(Type::String(s)) => s.max_length.unwrap_or(1024),
                _ => 1024,
            };
            Ok(BodyField { name, max_chars })
        };
        Ok(ErrorBody {
            code: field(code)?,
            message: field(message)?,
            details: details.map(field).transpose()?,
            request_id: field(request_id)?,
            request_id_header,
            schema,
        })
    }

    fn schema_ref(&self) -> String {
        format!("#/components/schemas/{}", self.schema)
    }

    /// The header the request id is sent in, lower case.
    pub(crate) fn request_id_header(&self) -> &str {
        &self.request_id_header
    }

    /// `ERROR_BODY`: where the generated layer writes each field, cut to its length.
    fn tokens(&self) -> TokenStream {
        let field = |field: &BodyField| {
            let (name, max_chars) = (&field.name, field.max_chars);
            quote!(BodyField { name: #name, max_chars: #max_chars })
        };
        let code = field(&self.code);
        let message = field(&self.message);
        let details = match &self.details {
            Some(details) => {
                let details = field(details);
                quote!(Some(#details))
            }
            None => quote!(None),
        };
        let request_id = field(&self.request_id);
        let header = &self.request_id_header;
        quote! {
            const ERROR_BODY: ErrorBodyShape = ErrorBodyShape {
                code: #code,
                message: #message,
                details: #details,
                request_id: #request_id,
                request_id_header: #header,
            };
        }
    }
}

/// The document's `x-error-codes`.
pub(crate) struct ErrorCodes {
    codes: Vec<(String, u16, String, Option<String>)>,
}

/// The rejections the generated layer sends by itself; each needs one code marked in the document.
pub(crate) const REJECTIONS: [&str; 7] = [
    "missing_credential",
    "invalid_parameter",
    "missing_body",
    "payload_too_large",
    "internal",
    "no_route",
    "method_not_allowed",
];

/// Rejections a document needs only when it uses what they refuse, each with the rejection whose
/// code stands in when none is marked: `bad_signature` (a request signature that does not verify)
/// is required by a document with a signed operation (checked by [`crate::validate`]).
const OPTIONAL_REJECTIONS: [(&str, &str); 1] = [("bad_signature", "missing_credential")];

impl ErrorCodes {
    /// Reads `x-error-codes`: each entry a code, a status in 400..599, a meaning and an optional
    /// known rejection. Run first by [`crate::validate`], which checks the list as a whole.
    pub(crate) fn read(spec: &OpenAPI) -> Result<Self, Error> {
        let list = ext(&spec.extensions, "x-error-codes")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::Invalid("the server generator needs a top-level `x-error-codes` list".into())
            })?;
        let mut codes = Vec::new();
        for entry in list {
            let what = "x-error-codes entry";
            let code = ext_str(entry, "code", what)?;
            let status = entry
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (400..600).contains(s))
                .ok_or_else(|| {
                    Error::Invalid(format!("x-error-codes {code}: `status` must be 400..599"))
                })?;
            let meaning = ext_str(entry, "meaning", what)?;
            let rejection = entry
                .get("rejection")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(r) = &rejection
                && !REJECTIONS.contains(&r.as_str())
                && !OPTIONAL_REJECTIONS.iter().any(|(kind, _)| kind == r)
            {
                return Err(Error::Invalid(format!(
                    "x-error-codes {code}: unknown rejection `{r}`"
                )));
            }
            codes.push((code, status, meaning, rejection));
        }
        Ok(ErrorCodes { codes })
    }

    /// The codes, in document order.
    pub(crate) fn codes(&self) -> impl Iterator<Item = &str> {
        self.codes.iter().map(|(code, ..)| code.as_str())
    }

    /// The name of a code's constant in `codes`.
    pub(crate) fn const_name(code: &str) -> syn::Ident {
        let cleaned: String = code
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format_ident!("{}", cleaned.to_shouty_snake_case().replace("__", "_"))
    }

    /// The status and constant of the code marked `rejection: kind`, if one is.
    pub(crate) fn rejection(&self, kind: &str) -> Option<(u16, syn::Ident)> {
        self.codes
            .iter()
            .find(|(_, _, _, r)| r.as_deref() == Some(kind))
            .map(|(code, status, _, _)| (*status, Self::const_name(code)))
    }

    /// The constant of the code marked `rejection: kind`, a rejection the generated layer sends
    /// (one of [`REJECTIONS`]), which the document must mark.
    pub(crate) fn required_rejection(&self, kind: &str) -> Result<syn::Ident, Error> {
        self.rejection(kind).map(|(_, name)| name).ok_or_else(|| {
            Error::Invalid(format!(
                "x-error-codes: no code is marked `rejection: {kind}`"
            ))
        })
    }

    /// `pub mod codes`, for the contract module (each constant's name is unique: checked by
    /// [`crate::validate`]).
    fn module(&self) -> TokenStream {
        let mut consts = Vec::new();
        for (code, status, meaning, _) in &self.codes {
            let name = Self::const_name(code);
            let doc = format!("`{code}` ({status}): {meaning}");
            consts.push(quote! {
                #[doc = #doc]
                pub const #name: ErrorCode = ErrorCode { code: #code, status: #status, meaning: #meaning };
            });
        }
        let all = self.codes.iter().map(|(code, ..)| Self::const_name(code));
        quote! {
            /// The error codes of the document (`x-error-codes`); no other code can be sent.
            pub mod codes {
                pub use roma_assets_runtime::ErrorCode;
                #(#consts)*
                /// Every code, in document order.
                pub const ALL: &[ErrorCode] = &[#(#all),*];
            }
        }
    }

    /// `REJECT`, the codes of the generated layer's own refusals, for the server.
    fn reject(&self) -> Result<TokenStream, Error> {
        let mut reject_fields = Vec::new();
        for kind in REJECTIONS {
            let field = format_ident!("{kind}");
            let name = self.required_rejection(kind)?;
            reject_fields.push(quote!(#field: codes::#name,));
        }
        for (kind, fallback) in OPTIONAL_REJECTIONS {
            let field = format_ident!("{kind}");
            let (_, name) = self
                .rejection(kind)
                .or_else(|| self.rejection(fallback))
                .expect("the fallback is a required rejection, checked above");
            reject_fields.push(quote!(#field: codes::#name,));
        }
        Ok(quote! {
            const REJECT: Rejections = Rejections { #(#reject_fields)* };
        })
    }
}

/// `pub mod limits`: the document's bounds as constants, for hand-written code that must agree
/// with what the generated layer enforces (a store refusing what the router would, a command
/// line checking a token before it is sent) instead of restating the numbers, in document order:
/// - string and array bounds of a component schema and of its inline properties
///   (`<SCHEMA>_MAX_LENGTH`, `<SCHEMA>_<PROPERTY>_MAX_ITEMS`...; a `minLength`/`minItems` of 0
///   says nothing and gets none);
/// - `x-max-combined-items` (`<SCHEMA>_MAX_COMBINED_ITEMS`);
/// - an API-key security scheme's `x-min-length`/`x-max-length` (`<SCHEME>_MIN_LENGTH`...).
fn limits_module(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let mut consts = Vec::new();
    let mut push = |name: String, value: usize, doc: String| {
        let ident = format_ident!("{}", name.to_shouty_snake_case());
        consts.push(quote! {
            #[doc = #doc]
            pub const #ident: usize = #value;
        });
    };
    let mut strings = Vec::new();
    let Some(components) = spec.components.as_ref() else {
        return Ok(quote!());
    };
    for (name, scheme) in &components.security_schemes {
        if let ReferenceOr::Item(SecurityScheme::APIKey { extensions, .. }) = scheme {
            for (key, bound) in [
                ("x-min-length", "MIN_LENGTH"),
                ("x-max-length", "MAX_LENGTH"),
            ] {
                if let Some(value) = extensions.get(key).and_then(Value::as_u64) {
                    let doc = format!("Security scheme `{name}`: `{key}` of its key.");
                    push(format!("{name}_{bound}"), value as usize, doc);
                }
            }
        }
    }
    for (name, schema) in &components.schemas {
        let ReferenceOr::Item(schema) = schema else {
            continue;
        };
        let mut bounds = |what: String, schema: &Schema| {
            let found = match &schema.schema_kind {
                SchemaKind::Type(Type::String(s)) => [
                    (s.min_length.filter(|m| *m > 0), "minLength", "MIN_LENGTH"),
                    (s.max_length, "maxLength", "MAX_LENGTH"),
                ],
                SchemaKind::Type(Type::Array(a)) => [
                    (a.min_items.filter(|m| *m > 0), "minItems", "MIN_ITEMS"),
                    (a.max_items, "maxItems", "MAX_ITEMS"),
                ],
                _ => return,
            };
            for (value, key, bound) in found {
                if let Some(value) = value {
                    let doc = format!("`{what}`: `{key}`.");
                    push(format!("{what}_{bound}"), value, doc);
                }
            }
        };
        bounds(name.clone(), schema);
        // Inline properties of an object schema (a referenced one has its own constants).
        if let SchemaKind::Type(Type::Object(o)) = &schema.schema_kind {
            for (property, child) in &o.properties {
                if let ReferenceOr::Item(child) = child {
                    bounds(format!("{name}.{property}"), child);
                    if let Some(rule) = ext(&child.schema_data.extensions, "x-file-name") {
                        let what = format!("{name}.{property}: x-file-name");
                        for (key, suffix) in [
                            ("pattern", "FILE_NAME_PATTERN"),
                            ("description", "FILE_NAME_RULE"),
                        ] {
                            let value = ext_str(rule, key, &what)?;
                            let ident = format_ident!(
                                "{}",
                                format!("{name}.{property}_{suffix}").to_shouty_snake_case()
                            );
                            let doc = format!("`{name}.{property}`: `x-file-name` `{key}`.");
                            strings.push(quote! {
                                #[doc = #doc]
                                pub const #ident: &str = #value;
                            });
                        }
                    }
                }
            }
        }
        if let Some(rule) = ext(&schema.schema_data.extensions, "x-max-combined-items") {
            let max = rule.get("max").and_then(Value::as_u64).ok_or_else(|| {
                Error::Invalid(format!(
                    "{name}: x-max-combined-items needs `properties` and `max`"
                ))
            })?;
            let doc = format!(
                "Schema `{name}`: `x-max-combined-items`, items of the named arrays together."
            );
            push(format!("{name}_MAX_COMBINED_ITEMS"), max as usize, doc);
        }
    }
    Ok(quote! {
        /// The document's bounds as constants (string and array bounds of component schemas and
        /// their inline properties, `x-max-combined-items`, API-key schemes), for code that must
        /// agree with what this layer enforces.
        pub mod limits {
            #(#consts)*
            #(#strings)*
        }
    })
}

/// `pub mod headers`: the names of the headers the document gives meaning to, as it spells
/// them: each API-key scheme's header (`<SCHEME>`) and the request id's (`REQUEST_ID`, from
/// `x-error-body`), so client and service code never restate them.
fn headers_module(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let mut consts = Vec::new();
    if let Some(components) = &spec.components {
        for (name, scheme) in &components.security_schemes {
            if let ReferenceOr::Item(SecurityScheme::APIKey {
                location: openapiv3::APIKeyLocation::Header,
                name: header,
                ..
            }) = scheme
            {
                let ident = format_ident!("{}", name.to_shouty_snake_case());
                if ident == "REQUEST_ID" {
                    return Err(Error::Invalid(format!(
                        "security scheme `{name}`: its constant would be headers::REQUEST_ID, the request id's"
                    )));
                }
                let doc = format!("Security scheme `{name}`: the header its key is sent in.");
                consts.push(quote!(#[doc = #doc] pub const #ident: &str = #header;));
            }
        }
    }
    if let Some(body) = ext(&spec.extensions, "x-error-body") {
        let header = ext_str(body, "request_id_header", "x-error-body")?;
        let doc = "The header every response carries its request id in (`x-error-body`).";
        consts.push(quote!(#[doc = #doc] pub const REQUEST_ID: &str = #header;));
    }
    Ok(quote! {
        /// The names of the headers the document gives meaning to, as it spells them.
        pub mod headers {
            #(#consts)*
        }
    })
}

/// The shapes (schemas as data, see the runtime's `Shape`) of the component schemas a body
/// refers to, one static each, in name order; and the statics of their patterns.
#[derive(Default)]
struct Shapes {
    wanted: BTreeSet<String>,
    /// Pattern source -> its static's index, numbered in the order first met.
    patterns: BTreeMap<String, usize>,
}

impl Shapes {
    fn name(component: &str) -> syn::Ident {
        format_ident!("SHAPE_{}", component.to_shouty_snake_case())
    }

    fn want(&mut self, component: &str) -> syn::Ident {
        self.wanted.insert(component.to_string());
        Self::name(component)
    }

    /// The static of a pattern (compiled by [`crate::validate`] already).
    fn pattern(&mut self, source: &str) -> syn::Ident {
        let next = self.patterns.len();
        let index = *self.patterns.entry(source.to_string()).or_insert(next);
        format_ident!("PATTERN_{index}")
    }

    fn finish(mut self, spec: &OpenAPI) -> Result<TokenStream, Error> {
        let mut done = BTreeMap::new();
        while let Some(name) = self.wanted.iter().find(|n| !done.contains_key(*n)).cloned() {
            let schema = spec
                .components
                .as_ref()
                .and_then(|c| c.schemas.get(&name))
                .ok_or_else(|| {
                    Error::Invalid(format!("dangling reference #/components/schemas/{name}"))
                })?;
            let schema = spec::resolve_schema(spec, schema)?;
            let shape = shape(spec, schema, &mut self, &name)?;
            let ident = Self::name(&name);
            let doc = format!("What the document's `{name}` schema allows.");
            done.insert(
                name,
                quote! {
                    #[doc = #doc]
                    static #ident: Shape = #shape;
                },
            );
        }
        let mut patterns: Vec<(&String, &usize)> = self.patterns.iter().collect();
        patterns.sort_by_key(|(_, index)| **index);
        let patterns = patterns.into_iter().map(|(source, index)| {
            let ident = format_ident!("PATTERN_{index}");
            quote! {
                static #ident: Pattern = Pattern {
                    source: #source,
                    regex: std::sync::LazyLock::new(|| {
                        regress::Regex::new(#source).expect("the generator compiled this pattern")
                    }),
                };
            }
        });
        let shapes = done.values();
        Ok(quote!(#(#shapes)* #(#patterns)*))
    }
}

fn opt_usize(v: Option<usize>) -> TokenStream {
    match v {
        Some(v) => quote!(Some(#v)),
        None => quote!(None),
    }
}

/// Checks of a string value `s` (a `&str`) against a string schema (its pattern compiled by
/// [`crate::validate`] already).
fn string_checks(s: &openapiv3::StringType, value: &TokenStream, loc: &TokenStream) -> TokenStream {
    let mut checks = Vec::new();
    if s.min_length.is_some_and(|m| m > 0) || s.max_length.is_some() {
        let min = opt_usize(s.min_length.filter(|m| *m > 0));
        let max = opt_usize(s.max_length);
        checks.push(quote!(check_str_len(#loc, #value, #min, #max)?;));
    }
    if let Some(pattern) = &s.pattern {
        checks.push(quote! {
            {
                static RE: std::sync::LazyLock<regress::Regex> = std::sync::LazyLock::new(|| {
                    regress::Regex::new(#pattern).expect("the generator compiled this pattern")
                });
                check_pattern(#loc, #value, &RE, #pattern)?;
            }
        });
    }
    let allowed: Vec<&String> = s.enumeration.iter().flatten().collect();
    if !allowed.is_empty() {
        checks.push(quote!(check_enum(#loc, #value, &[#(#allowed),*])?;));
    }
    quote!(#(#checks)*)
}

fn number_bounds(
    min: Option<f64>,
    excl_min: bool,
    max: Option<f64>,
    excl_max: bool,
) -> (TokenStream, TokenStream) {
    let bound = |v: Option<f64>, excl: bool| match v {
        Some(v) => {
            let v = Literal::f64_suffixed(v);
            quote!(Some((#v, #excl)))
        }
        None => quote!(None),
    };
    (bound(min, excl_min), bound(max, excl_max))
}

/// The runtime `Shape` of `schema` (an expression usable in a static's initializer).
fn shape(
    spec: &OpenAPI,
    schema: &Schema,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    let kind = match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            let min = opt_usize(s.min_length.filter(|m| *m > 0));
            let max = opt_usize(s.max_length);
            let pattern = match &s.pattern {
                Some(source) => {
                    let ident = shapes.pattern(source);
                    quote!(Some(&#ident))
                }
                None => quote!(None),
            };
            let allowed: Vec<&String> = s.enumeration.iter().flatten().collect();
            quote!(ShapeKind::String { min: #min, max: #max, pattern: #pattern, allowed: &[#(#allowed),*] })
        }
        SchemaKind::Type(Type::Number(n)) => {
            let (min, max) = number_bounds(
                n.minimum,
                n.exclusive_minimum,
                n.maximum,
                n.exclusive_maximum,
            );
            quote!(ShapeKind::Number { integer: false, min: #min, max: #max })
        }
        SchemaKind::Type(Type::Integer(i)) => {
            let (min, max) = number_bounds(
                i.minimum.map(|v| v as f64),
                i.exclusive_minimum,
                i.maximum.map(|v| v as f64),
                i.exclusive_maximum,
            );
            quote!(ShapeKind::Number { integer: true, min: #min, max: #max })
        }
        SchemaKind::Type(Type::Boolean(_)) => quote!(ShapeKind::Boolean),
        SchemaKind::Type(Type::Object(o)) => {
            let required = &o.required;
            if required.len() > 64 {
                return Err(Error::Invalid(format!(
                    "{context}: more than 64 required properties in one object"
                )));
            }
            let mut properties = Vec::new();
            for (name, property) in &o.properties {
                let child = child_shape(spec, property, shapes, context)?;
                properties.push(quote!((#name, #child)));
            }
            let closed = matches!(
                &o.additional_properties,
                Some(openapiv3::AdditionalProperties::Any(false))
            );
            let combined = match ext(&schema.schema_data.extensions, "x-max-combined-items") {
                Some(rule) => {
                    let names: Vec<String> = rule
                        .get("properties")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    let max = rule.get("max").and_then(Value::as_u64).ok_or_else(|| {
                        Error::Invalid(format!(
                            "{context}: x-max-combined-items needs `properties` and `max`"
                        ))
                    })? as usize;
                    if names.is_empty() || names.iter().any(|n| !o.properties.contains_key(n)) {
                        return Err(Error::Invalid(format!(
                            "{context}: x-max-combined-items must name properties of the schema"
                        )));
                    }
                    quote!(Some((&[#(#names),*], #max)))
                }
                None => quote!(None),
            };
            quote! {
                ShapeKind::Object {
                    required: &[#(#required),*],
                    properties: &[#(#properties),*],
                    closed: #closed,
                    combined: #combined,
                }
            }
        }
        SchemaKind::Type(Type::Array(a)) => {
            let (min, max) = (opt_usize(a.min_items), opt_usize(a.max_items));
            let items = match &a.items {
                Some(items) => {
                    let child = child_shape(spec, items, shapes, context)?;
                    quote!(Some(#child))
                }
                None => quote!(None),
            };
            quote!(ShapeKind::Array { min: #min, max: #max, items: #items })
        }
        SchemaKind::Any(any)
            if any.typ.is_none() && any.properties.is_empty() && any.items.is_none() =>
        {
            quote!(ShapeKind::Any)
        }
        other => {
            return Err(Error::Invalid(format!(
                "{context}: the server generator supports typed schemas only, not {}",
                kind_name(other)
            )));
        }
    };
    let nullable = schema.schema_data.nullable;
    let typed = enforced_by_type(spec, schema, 0)?;
    Ok(quote!(Shape { kind: #kind, nullable: #nullable, typed: #typed }))
}

/// How far the Rust type made of `schema` (by typify, for the client and the server alike)
/// enforces by its own serde deserializer everything the runtime's `Shape` checks of it, apart
/// from refusing `null` for an optional property; the generated `parse_json` relies on it on its
/// quick pass. Deliberately narrow:
/// - `Whole`: strings, numbers and booleans without constraints, untyped values, and arrays of
///   such values without item counts;
/// - `AsMap`: an open object whose properties are all `Whole`, provided it is read as a JSON map
///   (a derived struct also accepts a JSON array of its fields in order, the document does not);
/// - `No`: anything else, and anything nullable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Enforced {
    No,
    Whole,
    AsMap,
}

impl quote::ToTokens for Enforced {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Enforced::No => quote!(Typed::No),
            Enforced::Whole => quote!(Typed::Whole),
            Enforced::AsMap => quote!(Typed::AsMap),
        });
    }
}

fn enforced_by_type(spec: &OpenAPI, schema: &Schema, depth: usize) -> Result<Enforced, Error> {
    let whole = |yes: bool| if yes { Enforced::Whole } else { Enforced::No };
    if schema.schema_data.nullable || depth > 16 {
        return Ok(Enforced::No);
    }
    let child = |child: &ReferenceOr<Box<Schema>>| -> Result<Enforced, Error> {
        enforced_by_type(spec, spec::resolve_boxed(spec, child)?, depth + 1)
    };
    Ok(match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => whole(
            s.min_length.is_none_or(|m| m == 0)
                && s.max_length.is_none()
                && s.pattern.is_none()
                && s.enumeration.is_empty(),
        ),
        SchemaKind::Type(Type::Number(n)) => whole(n.minimum.is_none() && n.maximum.is_none()),
        SchemaKind::Type(Type::Integer(i)) => whole(i.minimum.is_none() && i.maximum.is_none()),
        SchemaKind::Type(Type::Boolean(_)) => Enforced::Whole,
        SchemaKind::Type(Type::Array(a)) => {
            let items = match &a.items {
                Some(items) => child(items)?,
                None => Enforced::Whole,
            };
            whole(a.min_items.is_none() && a.max_items.is_none() && items == Enforced::Whole)
        }
        SchemaKind::Type(Type::Object(o)) => {
            let open = matches!(
                o.additional_properties,
                None | Some(openapiv3::AdditionalProperties::Any(true))
            );
            let mut all_whole = open
                && !o.properties.is_empty()
                && o.required.iter().all(|r| o.properties.contains_key(r))
                && ext(&schema.schema_data.extensions, "x-max-combined-items").is_none();
            for (name, property) in &o.properties {
                // A default lets serde fill in a missing property the document requires.
                let defaulted = o.required.contains(name)
                    && spec::resolve_boxed(spec, property)?
                        .schema_data
                        .default
                        .is_some();
                all_whole = all_whole && !defaulted && child(property)? == Enforced::Whole;
            }
            if all_whole {
                Enforced::AsMap
            } else {
                Enforced::No
            }
        }
        SchemaKind::Any(any) => {
            whole(any.typ.is_none() && any.properties.is_empty() && any.items.is_none())
        }
        _ => Enforced::No,
    })
}

fn kind_name(kind: &SchemaKind) -> &'static str {
    match kind {
        SchemaKind::OneOf { .. } => "oneOf",
        SchemaKind::AllOf { .. } => "allOf",
        SchemaKind::AnyOf { .. } => "anyOf",
        SchemaKind::Not { .. } => "not",
        _ => "an untyped schema with constraints",
    }
}

/// A reference to the `Shape` of a property or item schema: a component's static, or an inline
/// shape.
fn child_shape(
    spec: &OpenAPI,
    schema: &ReferenceOr<Box<Schema>>,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    match schema {
        ReferenceOr::Reference { reference } => {
            let ident = shapes.want(spec::ref_name(reference, "schemas")?);
            Ok(quote!(&#ident))
        }
        ReferenceOr::Item(schema) => {
            let shape = shape(spec, schema, shapes, context)?;
            Ok(quote!(&#shape))
        }
    }
}

/// How one parameter is read, checked and typed.
struct Param {
    field: syn::Ident,
    ty: TokenStream,
    doc: String,
    extract: TokenStream,
}

fn rust_field(name: &str) -> syn::Ident {
    let snake = name.to_snake_case();
    const KEYWORDS: [&str; 12] = [
        "type", "match", "ref", "self", "mod", "move", "where", "use", "loop", "fn", "struct",
        "enum",
    ];
    if KEYWORDS.contains(&snake.as_str()) {
        format_ident!("{snake}_")
    } else {
        format_ident!("{snake}")
    }
}

fn param(spec: &OpenAPI, op: &Op<'_>, parameter: &Parameter) -> Result<Param, Error> {
    let data = spec::parameter_data(parameter);
    let name = data.name.as_str();
    let field = rust_field(name);
    let ParameterSchemaOrContent::Schema(schema_ref) = &data.format else {
        return Err(op.unsupported(format!("parameter {name}: `content` parameters")));
    };
    let schema = spec::resolve_schema(spec, schema_ref)?;
    let loc = quote!(loc);

    // The raw text: path parameters always exist (axum matched the route); query and header
    // parameters may be absent.
    let raw = match parameter {
        Parameter::Path { .. } => quote!(Some(path.get(#name)?)),
        Parameter::Query { .. } => quote!(query.get(#name)),
        Parameter::Header { .. } => {
            let lower = name.to_ascii_lowercase();
            quote!(header_param(&parts.headers, #lower)?)
        }
        Parameter::Cookie { .. } => return Err(op.unsupported(format!("cookie parameter {name}"))),
    };

    // Checks on the raw text, then its conversion to the field's type.
    let (checks, base_ty, convert) = match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            let checks = string_checks(s, &quote!(raw), &loc);
            match schema_ref {
                ReferenceOr::Reference { reference } => {
                    let ty = type_ident(spec::ref_name(reference, "schemas")?);
                    (
                        checks,
                        quote!(types::#ty),
                        quote! {
                            types::#ty::try_from(raw.to_string())
                                .map_err(|e| ApiError::invalid_parameter(#loc, e))?
                        },
                    )
                }
                ReferenceOr::Item(_) => (checks, quote!(String), quote!(raw.to_string())),
            }
        }
        SchemaKind::Type(Type::Integer(i)) => {
            let (min, max) = number_bounds(
                i.minimum.map(|v| v as f64),
                i.exclusive_minimum,
                i.maximum.map(|v| v as f64),
                i.exclusive_maximum,
            );
            if matches!(schema_ref, ReferenceOr::Reference { .. }) {
                return Err(
                    op.unsupported(format!("parameter {name}: a $ref to a non-string schema"))
                );
            }
            (
                quote! {},
                quote!(i64),
                quote! {{
                    let number: i64 = parse_param(#loc, raw, "an integer")?;
                    check_number(#loc, number as f64, #min, #max)?;
                    number
                }},
            )
        }
        SchemaKind::Type(Type::Number(n)) => {
            let (min, max) = number_bounds(
                n.minimum,
                n.exclusive_minimum,
                n.maximum,
                n.exclusive_maximum,
            );
            if matches!(schema_ref, ReferenceOr::Reference { .. }) {
                return Err(
                    op.unsupported(format!("parameter {name}: a $ref to a non-string schema"))
                );
            }
            (
                quote! {},
                quote!(f64),
                quote! {{
                    let number: f64 = parse_param(#loc, raw, "a number")?;
                    check_number(#loc, number, #min, #max)?;
                    number
                }},
            )
        }
        SchemaKind::Type(Type::Boolean(_)) => (
            quote! {},
            quote!(bool),
            quote!(parse_param::<bool>(#loc, raw, "true or false")?),
        ),
        // A `oneOf` of string enums (dropshot writes its sort modes so): one enum of their values,
        // converted to the component's type as a string enum is.
        SchemaKind::OneOf { one_of } if matches!(schema_ref, ReferenceOr::Reference { .. }) => {
            let mut values: Vec<String> = Vec::new();
            for variant in one_of {
                let variant = spec::resolve_schema(spec, variant)?;
                let SchemaKind::Type(Type::String(s)) = &variant.schema_kind else {
                    return Err(op.unsupported(format!(
                        "parameter {name}: a oneOf of anything but string enums"
                    )));
                };
                if s.enumeration.is_empty() {
                    return Err(op.unsupported(format!(
                        "parameter {name}: a oneOf of strings without enum values"
                    )));
                }
                values.extend(s.enumeration.iter().flatten().cloned());
            }
            let ReferenceOr::Reference { reference } = schema_ref else {
                unreachable!("matched above");
            };
            let ty = type_ident(spec::ref_name(reference, "schemas")?);
            (
                quote! { check_enum(#loc, raw, &[#(#values),*])?; },
                quote!(types::#ty),
                quote! {
                    types::#ty::try_from(raw.to_string())
                        .map_err(|e| ApiError::invalid_parameter(#loc, e))?
                },
            )
        }
        _ => {
            return Err(op.unsupported(format!(
                "parameter {name}: only string, integer, number and boolean schemas"
            )));
        }
    };

    let default = schema.schema_data.default.as_ref().map(|d| match d {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let parse = quote! {{
        let loc = &Loc::Root(#name);
        #checks
        #convert
    }};
    let (ty, extract) = if data.required {
        (
            base_ty.clone(),
            quote! {{
                let raw = required_param(&Loc::Root(#name), #raw)?;
                #parse
            }},
        )
    } else if let Some(default) = default {
        (
            base_ty.clone(),
            quote! {{
                let raw = (#raw).unwrap_or(#default);
                #parse
            }},
        )
    } else {
        (
            quote!(Option<#base_ty>),
            quote! {
                match #raw {
                    Some(raw) => Some(#parse),
                    None => None,
                }
            },
        )
    };
    let mut doc = data.description.clone().unwrap_or_else(|| name.to_string());
    if !data.required
        && let Some(default) = &schema.schema_data.default
    {
        doc.push_str(&format!(
            "\n\nDefault (applied by the generated layer): `{default}`."
        ));
    }
    Ok(Param {
        field,
        ty,
        doc,
        extract,
    })
}

fn type_ident(component: &str) -> syn::Ident {
    format_ident!("{}", component.to_upper_camel_case())
}

/// The API-key header of an operation's security requirement, with its length limits.
struct ApiKey {
    header: String,
    min: usize,
    max: usize,
}

/// A request-signature scheme: an API-key scheme on the `Authorization` header marked with
/// `x-signature: SDK-HMAC-SHA256` (the one algorithm the runtime verifies), optionally with
/// `x-max-clock-skew-seconds` (default 900, Huawei's API gateway's 15 minutes).
struct Signature {
    max_skew_seconds: i64,
}

/// How an operation is secured: by an API key, by a request signature, or by either (the
/// document lists each as an alternative security requirement).
struct Security {
    key: Option<ApiKey>,
    signature: Option<Signature>,
}

/// The algorithm of `x-signature` that the runtime crate verifies.
const SIGNATURE_ALGORITHM: &str = "SDK-HMAC-SHA256";

fn security(spec: &OpenAPI, op: &Op<'_>) -> Result<Option<Security>, Error> {
    let requirements = op.operation.security.as_ref().or(spec.security.as_ref());
    let Some(requirements) = requirements else {
        return Ok(None);
    };
    let mut security = Security {
        key: None,
        signature: None,
    };
    for requirement in requirements {
        if requirement.len() > 1 {
            return Err(op.unsupported("a security requirement of several schemes at once"));
        }
        for scheme_name in requirement.keys() {
            let scheme = spec
                .components
                .as_ref()
                .and_then(|c| c.security_schemes.get(scheme_name))
                .ok_or_else(|| Error::Invalid(format!("no security scheme {scheme_name}")))?;
            let ReferenceOr::Item(scheme) = scheme else {
                return Err(op.unsupported("security scheme references"));
            };
            let SecurityScheme::APIKey {
                location: openapiv3::APIKeyLocation::Header,
                name,
                extensions,
                ..
            } = scheme
            else {
                return Err(op.unsupported(format!(
                    "security scheme {scheme_name}: only API keys in a header"
                )));
            };
            let bound = |key: &str| extensions.get(key).and_then(Value::as_u64);
            if let Some(algorithm) = extensions.get("x-signature") {
                if algorithm.as_str() != Some(SIGNATURE_ALGORITHM)
                    || !name.eq_ignore_ascii_case("authorization")
                {
                    return Err(op.unsupported(format!(
                        "security scheme {scheme_name}: x-signature is {SIGNATURE_ALGORITHM} on the Authorization header"
                    )));
                }
                let max_skew_seconds = bound("x-max-clock-skew-seconds").unwrap_or(900);
                let max_skew_seconds = i64::try_from(max_skew_seconds)
                    .map_err(|_| op.unsupported("x-max-clock-skew-seconds is too large"))?;
                if security
                    .signature
                    .replace(Signature { max_skew_seconds })
                    .is_some()
                {
                    return Err(op.unsupported("more than one signature scheme"));
                }
                continue;
            }
            let header = name.to_ascii_lowercase();
            let key = ApiKey {
                header,
                min: bound("x-min-length").map_or(1, |v| v as usize),
                max: bound("x-max-length").map_or(usize::MAX, |v| v as usize),
            };
            if security.key.replace(key).is_some() {
                return Err(op.unsupported("more than one API-key scheme"));
            }
        }
    }
    if security.key.is_none() && security.signature.is_none() {
        return Ok(None);
    }
    Ok(Some(security))
}

/// What an operation's request body is.
enum BodyKind {
    None,
    Json {
        ty: TokenStream,
        shape: syn::Ident,
        required: bool,
        /// `application/x-www-form-urlencoded`: the same typed body, read from form pairs.
        form: bool,
    },
    Multipart {
        form: syn::Ident,
        items: TokenStream,
        read: TokenStream,
    },
    /// `text/plain`: the body as a `String` (UTF-8, within the body limit).
    Text {
        required: bool,
    },
    /// Any other media type (`application/octet-stream`, `image/png`...): the body as a stream
    /// of bytes, cut at the body limit (413 past it), as a multipart file part is.
    Raw,
}

/// The `Content-Type` a raw response of `media` is sent with: the media type itself, or
/// `application/octet-stream` for a wildcard (`*/*`, `image/*`) or anything not a header value.
fn sendable_media(media: &str) -> String {
    let plain = media.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if media.contains('*') || !plain {
        "application/octet-stream".to_string()
    } else {
        media.to_string()
    }
}

fn status_variant(status: u16) -> syn::Ident {
    let reason = axum_reason(status);
    match reason {
        Some(reason) => format_ident!("{}", reason.replace(['-', '\''], " ").to_upper_camel_case()),
        None => format_ident!("Status{status}"),
    }
}

/// Canonical reason phrases (the subset of RFC 9110 the generator names variants after).
fn axum_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => return None,
    })
}

/// Everything generated for one operation.
struct Operation {
    method: &'static str,
    path: String,
    handler: syn::Ident,
    trait_method: TokenStream,
    /// The method of [`NotImplemented`]'s `impl Api`.
    stub_method: TokenStream,
    items: TokenStream,
    limit_field: Option<TokenStream>,
    limit_default: Option<TokenStream>,
    description: TokenStream,
}

/// The names generated for one operation, all derived from its operationId.
struct Names<'a> {
    /// The operationId.
    id: &'a str,
    /// The trait method (snake case).
    method: syn::Ident,
    /// The axum handler, `handle_<method>`.
    handler: syn::Ident,
    /// The reply enum, `<Op>Reply`.
    reply: syn::Ident,
    /// The parameters struct, `<Op>Params`.
    params: syn::Ident,
    /// The operation's field of `BodyLimits` (snake case).
    limit: syn::Ident,
}

impl<'a> Names<'a> {
    fn new(id: &'a str) -> Self {
        let snake = id.to_snake_case();
        let camel = id.to_upper_camel_case();
        Names {
            id,
            method: format_ident!("{snake}"),
            handler: format_ident!("handle_{snake}"),
            reply: format_ident!("{camel}Reply"),
            params: format_ident!("{camel}Params"),
            limit: format_ident!("{snake}"),
        }
    }
}

impl Operation {
    /// The reply enum, the inputs and the handler of `op`, and its method of the `Api` trait.
    fn generate(
        spec: &OpenAPI,
        op: &Op<'_>,
        error_body: &ErrorBody,
        codes: &ErrorCodes,
        shapes: &mut Shapes,
    ) -> Result<Self, Error> {
        let names = Names::new(op.operation_id);
        let reply = Reply::generate(spec, op, error_body)?;
        let inputs = Inputs::generate(spec, op, codes, shapes, &reply, &names)?;
        let (trait_method, stub_method) = trait_methods(op, &names, &inputs.args);
        let reply_items = reply.items(&names);
        let handler = handler(&names, &inputs);
        let input_items = &inputs.items;
        let (id, method, path) = (names.id, op.method.to_uppercase(), op.path);
        let statuses = &reply.statuses;
        let description = quote! {
            OperationDescription { operation_id: #id, method: #method, path: #path, statuses: &[#(#statuses),*] }
        };
        Ok(Operation {
            method: op.method,
            path: op.path.to_string(),
            handler: names.handler,
            trait_method,
            stub_method,
            items: quote!(#(#input_items)* #reply_items #handler),
            limit_field: inputs.limit_field,
            limit_default: inputs.limit_default,
            description,
        })
    }
}

/// The operation's method of the `Api` trait, and the same method of `NotImplemented`, which
/// answers a 500 "not implemented".
fn trait_methods(
    op: &Op<'_>,
    names: &Names<'_>,
    args: &[TokenStream],
) -> (TokenStream, TokenStream) {
    let (id, method, reply) = (names.id, &names.method, &names.reply);
    let summary = op
        .operation
        .summary
        .clone()
        .unwrap_or_else(|| id.to_string());
    let method_doc = format!(
        "{summary}\n\n`{} {}` (operationId `{id}`).",
        op.method.to_uppercase(),
        op.path
    );
    let trait_method = quote! {
        #[doc = #method_doc]
        fn #method(&self, #(#args),*) -> impl std::future::Future<Output = #reply> + Send;
    };
    let not_implemented = format!("{id} has no implementation");
    let stub_method = quote! {
        #[allow(unused_variables)]
        async fn #method(&self, #(#args),*) -> #reply {
            ApiError::new(REJECT.internal, "not implemented").with_details(#not_implemented).into()
        }
    };
    (trait_method, stub_method)
}

/// The axum handler: reads and checks the inputs, calls the trait method, answers its reply.
fn handler(names: &Names<'_>, inputs: &Inputs) -> TokenStream {
    let (handler, method) = (&names.handler, &names.method);
    let (extract, call_args) = (&inputs.extract, &inputs.call_args);
    let body_binding = if inputs.has_body {
        quote!(body)
    } else {
        quote!(_body)
    };
    quote! {
        #[allow(unused_mut, unused_variables)]
        async fn #handler<A: Api>(
            axum::extract::State(shared): State<A>,
            request: axum::extract::Request,
        ) -> Response {
            finish(async move {
                let (mut parts, #body_binding) = request.into_parts();
                #(#extract)*
                Ok(shared.api.#method(#(#call_args),*).await.into_response())
            }.await)
        }
    }
}

/// The reply enum of an operation: one variant per documented status (ranges and `default`
/// first, then exact statuses, ascending), how each is answered, and which status an
/// `ApiError` turns into which variant. Only made when the operation declares 500.
struct Reply {
    /// The exact statuses, ascending.
    statuses: Vec<u16>,
    /// The keys (range or default) whose variant carries the error body: where a refusal of a
    /// status not declared exactly goes.
    error_keys: Vec<(ResponseStatus, syn::Ident)>,
    variants: Vec<TokenStream>,
    /// The arms of `IntoResponse::into_response`.
    arms: Vec<TokenStream>,
    /// The arms of `From<ApiError>` for the declared statuses.
    from_arms: Vec<TokenStream>,
}

impl Reply {
    fn generate(spec: &OpenAPI, op: &Op<'_>, error_body: &ErrorBody) -> Result<Self, Error> {
        // Exactly the documented statuses; ranges (`4XX`) and `default` after them.
        let all = op.all_responses(spec)?;
        let mut reply = Reply {
            statuses: all
                .iter()
                .filter_map(|(s, _)| match s {
                    ResponseStatus::Code(code) => Some(*code),
                    _ => None,
                })
                .collect(),
            error_keys: Vec::new(),
            variants: Vec::new(),
            arms: Vec::new(),
            from_arms: Vec::new(),
        };
        let error_ref = error_body.schema_ref();
        for (key, response) in &all {
            if !matches!(key, ResponseStatus::Code(_)) {
                reply.range_or_default(op, *key, response, &error_ref)?;
            }
        }
        for (key, response) in &all {
            if let ResponseStatus::Code(status) = key {
                reply.exact(spec, op, *status, response, &error_ref)?;
            }
        }
        if !reply.declares(500) {
            return Err(
                op.unsupported("every operation must declare 500: the generated layer can send it")
            );
        }
        // Refusals of statuses no exact variant has: the first range or default that covers
        // them, else (a server bug) a 500.
        for (key, variant) in &reply.error_keys {
            if let ResponseStatus::Range(range) = key {
                let (low, high) = (range * 100, range * 100 + 99);
                reply
                    .from_arms
                    .push(quote!(#low..=#high => Self::#variant(error),));
            }
        }
        Ok(reply)
    }

    /// Whether a status the layer may send is declared: an exact status, a range with the
    /// error body, or a default with the error body covers it.
    fn declares(&self, status: u16) -> bool {
        self.statuses.contains(&status) || self.error_keys.iter().any(|(key, _)| key.covers(status))
    }

    /// The variant of a range (`Status4XX`) or `default` response, which carries its status.
    fn range_or_default(
        &mut self,
        op: &Op<'_>,
        key: ResponseStatus,
        response: &openapiv3::Response,
        error_ref: &str,
    ) -> Result<(), Error> {
        let (variant, doc) = match key {
            ResponseStatus::Range(range) => (
                format_ident!("Status{range}XX"),
                format!(
                    "{range}XX: {} (the status is the variant's)",
                    response.description
                ),
            ),
            _ => (
                format_ident!("Default"),
                format!(
                    "default: {} (the status is the variant's)",
                    response.description
                ),
            ),
        };
        let mut contents = response.content.iter();
        let Some((media, content)) = contents.next() else {
            self.variants
                .push(quote!(#[doc = #doc] #variant(StatusCode),));
            self.arms
                .push(quote!(Self::#variant(status) => status.into_response(),));
            return Ok(());
        };
        if contents.next().is_some() {
            return Err(
                op.unsupported("a range or default response with more than one content type")
            );
        }
        let schema_ref = content
            .schema
            .as_ref()
            .ok_or_else(|| op.unsupported("a range or default response without a schema"))?;
        let is_error =
            matches!(schema_ref, ReferenceOr::Reference { reference } if reference == error_ref);
        if is_error {
            self.variants
                .push(quote!(#[doc = #doc] #variant(ApiError),));
            self.arms
                .push(quote!(Self::#variant(error) => error.into_response(),));
            self.error_keys.push((key, variant));
        } else if spec::is_json_media(media) {
            let ReferenceOr::Reference { reference } = schema_ref else {
                return Err(op.unsupported("an inline range or default response schema"));
            };
            let ty = type_ident(spec::ref_name(reference, "schemas")?);
            self.variants
                .push(quote!(#[doc = #doc] #variant(StatusCode, types::#ty),));
            self.arms
                .push(quote!(Self::#variant(status, body) => json_response(status, &body),));
        } else {
            let media = sendable_media(media);
            self.variants
                .push(quote!(#[doc = #doc] #variant(StatusCode, axum::body::Body),));
            self.arms.push(
                quote!(Self::#variant(status, body) => binary_response(status, #media, body),),
            );
        }
        Ok(())
    }

    /// The variant of an exact status: none, the error body, bytes or a JSON type.
    fn exact(
        &mut self,
        spec: &OpenAPI,
        op: &Op<'_>,
        status: u16,
        response: &openapiv3::Response,
        error_ref: &str,
    ) -> Result<(), Error> {
        let variant = status_variant(status);
        let doc = format!("{status}: {}", response.description);
        let status_expr =
            quote!(StatusCode::from_u16(#status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        let mut contents = response.content.iter();
        let Some((media, content)) = contents.next() else {
            self.variants.push(quote!(#[doc = #doc] #variant,));
            self.arms
                .push(quote!(Self::#variant => #status_expr.into_response(),));
            return Ok(());
        };
        if contents.next().is_some() {
            return Err(op.unsupported(format!("status {status}: more than one content type")));
        }
        let schema_ref = content
            .schema
            .as_ref()
            .ok_or_else(|| op.unsupported(format!("status {status}: content without a schema")))?;
        let is_error =
            matches!(schema_ref, ReferenceOr::Reference { reference } if reference == error_ref);
        let schema = spec::resolve_schema(spec, schema_ref)?;
        let binary = matches!(&schema.schema_kind, SchemaKind::Type(Type::String(s))
            if matches!(&s.format, openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Binary)));
        if is_error {
            if status < 400 {
                return Err(op.unsupported(format!("status {status} carries the error body")));
            }
            self.variants
                .push(quote!(#[doc = #doc] #variant(ApiError),));
            self.arms.push(quote! {
                Self::#variant(error) => {
                    let mut response = error.into_response();
                    *response.status_mut() = #status_expr;
                    response
                }
            });
            self.from_arms
                .push(quote!(#status => Self::#variant(error),));
        } else if binary {
            let media = media.as_str();
            self.variants
                .push(quote!(#[doc = #doc] #variant(axum::body::Body),));
            self.arms
                .push(quote!(Self::#variant(body) => binary_response(#status_expr, #media, body),));
        } else if spec::is_json_media(media) {
            let ReferenceOr::Reference { reference } = schema_ref else {
                return Err(op.unsupported(format!(
                    "status {status}: inline response schemas (use a $ref)"
                )));
            };
            let ty = type_ident(spec::ref_name(reference, "schemas")?);
            self.variants
                .push(quote!(#[doc = #doc] #variant(types::#ty),));
            self.arms
                .push(quote!(Self::#variant(body) => json_response(#status_expr, &body),));
        } else {
            // Any other media type is bytes the handler produces, as progenitor's client reads
            // them; a wildcard (`*/*`) is sent as octet-stream.
            let media = sendable_media(media);
            self.variants
                .push(quote!(#[doc = #doc] #variant(axum::body::Body),));
            self.arms
                .push(quote!(Self::#variant(body) => binary_response(#status_expr, #media, body),));
        }
        Ok(())
    }

    /// The last arm of `From<ApiError>`: a status no variant declares goes to `default` if there
    /// is one, else it is a server bug answered as a 500.
    fn undeclared_arm(&self, id: &str) -> TokenStream {
        if let Some((_, variant)) = self
            .error_keys
            .iter()
            .find(|(key, _)| *key == ResponseStatus::Default)
        {
            return quote!(_ => Self::#variant(error),);
        }
        let internal = if self.statuses.contains(&500) {
            quote!(InternalServerError)
        } else {
            let (_, variant) = self
                .error_keys
                .iter()
                .find(|(key, _)| key.covers(500))
                .expect("a Reply declares 500, checked when it is made");
            quote!(#variant)
        };
        quote! {
            other => Self::#internal(ApiError::internal(format!(
                "{} answered {} with status {other}, which the document does not declare for it",
                #id, error.code().code
            ))),
        }
    }

    /// The enum with its `IntoResponse` and `From<ApiError>` impls.
    fn items(&self, names: &Names<'_>) -> TokenStream {
        let (id, reply) = (names.id, &names.reply);
        let (variants, arms, from_arms) = (&self.variants, &self.arms, &self.from_arms);
        let undeclared = self.undeclared_arm(id);
        let reply_doc = format!("The answers of {id}: one variant per documented status.");
        quote! {
            #[doc = #reply_doc]
            #[derive(Debug)]
            pub enum #reply { #(#variants)* }

            impl IntoResponse for #reply {
                fn into_response(self) -> Response {
                    match self { #(#arms)* }
                }
            }

            impl From<ApiError> for #reply {
                /// Picks the variant of the error's status. A status the operation does not
                /// declare is a server bug: it is logged and answered as a 500.
                fn from(error: ApiError) -> Self {
                    match error.code().status {
                        #(#from_arms)*
                        #undeclared
                    }
                }
            }
        }
    }
}

/// What an operation takes (credential, parameters, body), as the trait method's arguments and
/// as the handler's statements that read and check them.
struct Inputs {
    /// The trait method's arguments: `ctx`, then `credential`, `params`, `body` as present.
    args: Vec<TokenStream>,
    /// The handler's values for them.
    call_args: Vec<TokenStream>,
    /// The handler's statements, in order: credential, parameters, body.
    extract: Vec<TokenStream>,
    /// The items they need: the parameters struct, a multipart body's form.
    items: Vec<TokenStream>,
    has_body: bool,
    /// The operation's field of `BodyLimits` and its default, when it has a body.
    limit_field: Option<TokenStream>,
    limit_default: Option<TokenStream>,
}

impl Inputs {
    /// Reads the operation's security, parameters and body, and refuses an operation that does
    /// not declare the statuses the generated layer sends when it checks them.
    fn generate(
        spec: &OpenAPI,
        op: &Op<'_>,
        codes: &ErrorCodes,
        shapes: &mut Shapes,
        reply: &Reply,
        names: &Names<'_>,
    ) -> Result<Self, Error> {
        let security = security(spec, op)?;
        let credential_status = codes
            .rejection("missing_credential")
            .map(|r| r.0)
            .unwrap_or(401);
        if security.is_some() && !reply.declares(credential_status) {
            return Err(op.unsupported(
                "a secured operation must declare the missing-credential status (401)",
            ));
        }
        let params = op
            .parameters
            .iter()
            .map(|p| param(spec, op, p))
            .collect::<Result<Vec<_>, _>>()?;
        let body_kind = body_kind(spec, op, codes, shapes)?;
        let has_body = !matches!(body_kind, BodyKind::None);
        if (!params.is_empty() || has_body) && !reply.declares(400) {
            return Err(op.unsupported(
                "an operation with inputs must declare 400: the generated layer sends it",
            ));
        }
        if has_body && !reply.declares(413) {
            return Err(op.unsupported(
                "an operation with a body must declare 413: the generated layer sends it",
            ));
        }
        let default_limit = body_limit(op)?;

        let mut inputs = Inputs {
            args: vec![quote!(ctx: RequestContext)],
            call_args: vec![quote!(RequestContext::current())],
            extract: Vec::new(),
            items: Vec::new(),
            has_body,
            limit_field: None,
            limit_default: None,
        };
        if has_body {
            let (id, limit) = (names.id, &names.limit);
            let doc = format!(
                "{id}: at most this many bytes of request body (document default {default_limit})."
            );
            inputs.limit_field = Some(quote!(#[doc = #doc] pub #limit: usize,));
            inputs.limit_default = Some(quote!(#limit: #default_limit,));
        }
        let verify_after_body = inputs.credential(security.as_ref(), &body_kind);
        inputs.params(op, &params, names);
        inputs.body(body_kind, verify_after_body, &names.limit);
        Ok(inputs)
    }

    /// Reads the credential, first of all. A signature covers the body: it is checked once the
    /// body is at hand (a JSON or text body is read whole first; a streamed one is declared
    /// unsigned), before anything else is read; the check to run then is returned.
    fn credential(
        &mut self,
        security: Option<&Security>,
        body_kind: &BodyKind,
    ) -> Option<TokenStream> {
        let mut verify_after_body = None;
        match security {
            None => return None,
            Some(Security {
                key: Some(key),
                signature: None,
            }) => {
                let (header, min, max) = (&key.header, key.min, key.max);
                self.extract.push(
                    quote!(let credential = extract_api_key(&parts.headers, #header, #min, #max)?;),
                );
            }
            Some(Security {
                key,
                signature: Some(signature),
            }) => {
                let key = match key {
                    Some(key) => {
                        let (header, min, max) = (&key.header, key.min, key.max);
                        quote!(Some((#header, #min, #max)))
                    }
                    None => quote!(None),
                };
                let skew = signature.max_skew_seconds;
                self.extract
                    .push(quote!(let presented = present_credential(&parts.headers, #key)?;));
                let verify = |payload: TokenStream| quote!(let credential = authenticate(&shared.api, &parts, presented, #payload, #skew)?;);
                if matches!(body_kind, BodyKind::Json { .. } | BodyKind::Text { .. }) {
                    verify_after_body = Some(verify(quote!(sign::Payload::Bytes(&bytes))));
                } else {
                    let payload = match body_kind {
                        BodyKind::None => quote!(sign::Payload::Bytes(&[])),
                        _ => quote!(sign::Payload::Streamed),
                    };
                    self.extract.push(verify(payload));
                }
            }
            Some(Security {
                key: None,
                signature: None,
            }) => unreachable!("security() returns None then"),
        }
        self.args.push(quote!(credential: Credential));
        self.call_args.push(quote!(credential));
        verify_after_body
    }

    /// The parameters struct, and the statements filling it from the path, query and headers.
    fn params(&mut self, op: &Op<'_>, params: &[Param], names: &Names<'_>) {
        if params.is_empty() {
            return;
        }
        let (id, params_ty) = (names.id, &names.params);
        let fields = params.iter().map(|p| {
            let (field, ty, doc) = (&p.field, &p.ty, &p.doc);
            quote!(#[doc = #doc] pub #field: #ty,)
        });
        let inits = params.iter().map(|p| {
            let (field, extract) = (&p.field, &p.extract);
            quote!(#field: #extract,)
        });
        let doc = format!("The parameters of {id}, checked against the document.");
        self.items.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone)]
            pub struct #params_ty { #(#fields)* }
        });
        let needs_path = op
            .parameters
            .iter()
            .any(|p| matches!(p, Parameter::Path { .. }));
        let needs_query = op
            .parameters
            .iter()
            .any(|p| matches!(p, Parameter::Query { .. }));
        if needs_path {
            self.extract
                .push(quote!(let path = PathParams::extract(&mut parts).await?;));
        }
        if needs_query {
            self.extract
                .push(quote!(let query = QueryParams::parse(&parts);));
        }
        self.extract
            .push(quote!(let params = #params_ty { #(#inits)* };));
        self.args.push(quote!(params: #params_ty));
        self.call_args.push(quote!(params));
    }

    /// The statements reading the body within its limit (and checking a signature over it),
    /// and the body argument.
    fn body(
        &mut self,
        body_kind: BodyKind,
        mut verify_after_body: Option<TokenStream>,
        limit: &syn::Ident,
    ) {
        let read_bytes = quote! {
            let bytes = read_body(&parts.headers, body, shared.config.body_limits.#limit).await?;
        };
        match body_kind {
            BodyKind::None => {}
            BodyKind::Json {
                ty,
                shape,
                required,
                form: true,
            } => {
                self.extract.push(read_bytes);
                self.extract.extend(verify_after_body.take());
                let read = quote!(form_from_bytes::<#ty>(bytes, &#shape)?);
                self.bind_body(read, quote!(#ty), required, "a form body");
            }
            BodyKind::Json {
                ty,
                shape,
                required,
                form: false,
            } => {
                let read = match verify_after_body.take() {
                    None => quote! {
                        json_body::<#ty>(&parts.headers, body, shared.config.body_limits.#limit, &#shape).await?
                    },
                    Some(verify) => {
                        self.extract.push(quote! {
                            #read_bytes
                            #verify
                        });
                        quote!(json_from_bytes::<#ty>(&parts.headers, bytes, &#shape)?)
                    }
                };
                self.bind_body(read, quote!(#ty), required, "a JSON body");
            }
            BodyKind::Text { required } => {
                self.extract.push(read_bytes);
                self.extract.extend(verify_after_body.take());
                let read = quote!(text_from_bytes(bytes)?);
                self.bind_body(read, quote!(String), required, "a text body");
            }
            BodyKind::Raw => {
                self.extract.push(quote! {
                    let body = limited_body(&parts.headers, body, shared.config.body_limits.#limit)?;
                });
                self.args.push(quote!(body: axum::body::Body));
                self.call_args.push(quote!(body));
            }
            BodyKind::Multipart { form, items, read } => {
                self.items.push(items);
                self.extract.push(quote! {
                    let mut reader = MultipartReader::new(&parts.headers, body, shared.config.body_limits.#limit)?;
                    let body = #read;
                });
                self.args.push(quote!(body: #form));
                self.call_args.push(quote!(body));
            }
        }
    }

    /// Binds `body` from `read` (an `Option` of the body): a required body refuses its absence
    /// with `missing_body(what)`, an optional one stays an `Option`.
    fn bind_body(&mut self, read: TokenStream, ty: TokenStream, required: bool, what: &str) {
        if required {
            self.extract
                .push(quote!(let body = (#read).ok_or_else(|| missing_body(#what))?;));
            self.args.push(quote!(body: #ty));
        } else {
            self.extract.push(quote!(let body = #read;));
            self.args.push(quote!(body: Option<#ty>));
        }
        self.call_args.push(quote!(body));
    }
}

/// The operation's `x-max-body-bytes`, else axum's default.
fn body_limit(op: &Op<'_>) -> Result<usize, Error> {
    Ok(match ext(&op.operation.extensions, "x-max-body-bytes") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| op.unsupported("x-max-body-bytes must be a positive integer"))?,
        None => DEFAULT_BODY_LIMIT,
    } as usize)
}

fn body_kind(
    spec: &OpenAPI,
    op: &Op<'_>,
    codes: &ErrorCodes,
    shapes: &mut Shapes,
) -> Result<BodyKind, Error> {
    let Some(body) = op.request_body(spec)? else {
        return Ok(BodyKind::None);
    };
    let mut contents = body.content.iter();
    let Some((media, content)) = contents.next() else {
        return Ok(BodyKind::None);
    };
    if contents.next().is_some() {
        return Err(op.unsupported("a request body with more than one content type"));
    }
    let schema_ref = content
        .schema
        .as_ref()
        .ok_or_else(|| op.unsupported("a request body without a schema"))?;
    match media.as_str() {
        json if spec::is_json_media(json) => {
            let ReferenceOr::Reference { reference } = schema_ref else {
                return Err(
                    op.unsupported("an inline JSON body schema (use a $ref to a component)")
                );
            };
            let name = spec::ref_name(reference, "schemas")?;
            let ty = type_ident(name);
            Ok(BodyKind::Json {
                ty: quote!(types::#ty),
                shape: shapes.want(name),
                required: body.required,
                form: false,
            })
        }
        "multipart/form-data" => multipart(spec, op, schema_ref, body.required, codes, shapes),
        text if text
            .split(';')
            .next()
            .is_some_and(|t| t.trim() == "text/plain") =>
        {
            Ok(BodyKind::Text {
                required: body.required,
            })
        }
        "application/x-www-form-urlencoded" => {
            let ReferenceOr::Reference { reference } = schema_ref else {
                return Err(op.unsupported("an inline form body schema"));
            };
            let name = spec::ref_name(reference, "schemas")?;
            let ty = type_ident(name);
            Ok(BodyKind::Json {
                ty: quote!(types::#ty),
                shape: shapes.want(name),
                required: body.required,
                form: true,
            })
        }
        _ => Ok(BodyKind::Raw),
    }
}

fn multipart(
    spec: &OpenAPI,
    op: &Op<'_>,
    schema_ref: &ReferenceOr<Schema>,
    required: bool,
    codes: &ErrorCodes,
    shapes: &mut Shapes,
) -> Result<BodyKind, Error> {
    let id = op.operation_id;
    let form = format_ident!("{}Form", id.to_upper_camel_case());
    let schema = spec::resolve_schema(spec, schema_ref)?;
    let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
        return Err(op.unsupported("a multipart schema that is not an object"));
    };
    if !required {
        return Err(op.unsupported("an optional multipart body"));
    }
    let mut file: Option<(String, bool)> = None;
    let mut file_check = TokenStream::new();
    let mut fields = Vec::new();
    let mut text_slots = Vec::new();
    let mut text_stores = Vec::new();
    let mut text_names: Vec<String> = Vec::new();
    let mut text_finish = Vec::new();
    let names: Vec<&String> = object.properties.keys().collect();
    for (index, (name, property)) in object.properties.iter().enumerate() {
        let property_schema = spec::resolve_boxed(spec, property)?;
        let SchemaKind::Type(Type::String(s)) = &property_schema.schema_kind else {
            return Err(op.unsupported(format!(
                "multipart part {name}: only string and binary parts"
            )));
        };
        let is_required = object.required.contains(name);
        let field = rust_field(name);
        let doc = property_schema
            .schema_data
            .description
            .clone()
            .unwrap_or_else(|| name.clone());
        if matches!(
            &s.format,
            openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Binary)
        ) {
            if file.is_some() {
                return Err(op.unsupported("more than one binary part"));
            }
            if index + 1 != names.len() {
                return Err(op.unsupported(format!(
                    "binary part {name} must be the last property: it is streamed to the handler, so nothing after it can be read first"
                )));
            }
            file = Some((name.clone(), is_required));
            file_check = file_name_rule(property_schema, name, codes, shapes)?;
            let ty = if is_required {
                quote!(FilePart)
            } else {
                quote!(Option<FilePart>)
            };
            fields.push(quote!(#[doc = #doc] pub #field: #ty,));
        } else {
            let slot = format_ident!("text_{}", field.to_string().trim_end_matches('_'));
            let loc = quote!(loc);
            let checks = string_checks(s, &quote!(raw.as_str()), &loc);
            text_slots.push(quote!(let mut #slot: Option<String> = None;));
            text_stores.push(quote!(if name == #name { #slot = Some(text); }));
            text_names.push(name.clone());
            let value = if is_required {
                fields.push(quote!(#[doc = #doc] pub #field: String,));
                quote! {{
                    let loc = &Loc::Root(#name);
                    let raw = #slot.ok_or_else(|| ApiError::invalid_parameter(loc, "is required"))?;
                    #checks
                    raw
                }}
            } else {
                fields.push(quote!(#[doc = #doc] pub #field: Option<String>,));
                quote! {
                    match #slot {
                        Some(raw) => {
                            let loc = &Loc::Root(#name);
                            #checks
                            Some(raw)
                        }
                        None => None,
                    }
                }
            };
            text_finish.push(quote!(#field: #value,));
        }
    }
    let Some((file_name, file_required)) = file else {
        return Err(op.unsupported("a multipart body without a binary part"));
    };
    let file_field = rust_field(&file_name);
    let file_value = if file_required {
        let what = format!("the file part {file_name}");
        quote!(file.ok_or_else(|| missing_body(#what))?)
    } else {
        quote!(file)
    };
    // Parts the document does not name are skipped unread by the reader, whatever they hold
    // (text or binary), as OpenAPI allows; only the named text parts reach this arm. An `if` chain rather
    // than a `match`: with one text part, clippy would call a match a single-arm equality check.
    let text_arm = if text_stores.is_empty() {
        quote!(NextPart::Text(..) => {})
    } else {
        quote! {
            NextPart::Text(name, text) => {
                #(#text_stores)else*
            }
        }
    };
    let doc = format!("The multipart body of {id}: text parts checked, the file part as a stream.");
    let items = quote! {
        #[doc = #doc]
        #[derive(Debug)]
        pub struct #form { #(#fields)* }
    };
    let read = quote! {{
        #(#text_slots)*
        let file = loop {
            match reader.next(&[#file_name], &[#(#text_names),*]).await? {
                #text_arm
                NextPart::File(file) => {
                    #file_check
                    break Some(*file);
                }
                NextPart::End => break None,
            }
        };
        #form { #(#text_finish)* #file_field: #file_value }
    }};
    Ok(BodyKind::Multipart { form, items, read })
}

/// The check of a binary part's `x-file-name` rule, run as the part arrives (before the handler
/// sees it): `{pattern, error-code, description}`. The code must be one of `x-error-codes`; the
/// refusal carries its meaning as the message and the rule's description as the details.
fn file_name_rule(
    schema: &Schema,
    part: &str,
    codes: &ErrorCodes,
    shapes: &mut Shapes,
) -> Result<TokenStream, Error> {
    let Some(rule) = ext(&schema.schema_data.extensions, "x-file-name") else {
        return Ok(TokenStream::new());
    };
    let what = format!("part {part}: x-file-name");
    let pattern = ext_str(rule, "pattern", &what)?;
    let code = ext_str(rule, "error-code", &what)?;
    let description = ext_str(rule, "description", &what)?;
    if !codes.codes.iter().any(|(listed, ..)| *listed == code) {
        return Err(Error::Invalid(format!(
            "{what}: error-code {code} is not in x-error-codes"
        )));
    }
    let pattern = shapes.pattern(&pattern);
    let code = ErrorCodes::const_name(&code);
    Ok(quote! {
        check_file_name(#part, file.file_name.as_deref(), &#pattern, codes::#code, #description)?;
    })
}

/// `.route(path, method(handler).other(handler))` for each path, in document order.
fn routes(operations: &[Operation]) -> TokenStream {
    let mut by_path: Vec<(&str, Vec<&Operation>)> = Vec::new();
    for o in operations {
        match by_path.iter_mut().find(|(p, _)| *p == o.path) {
            Some((_, list)) => list.push(o),
            None => by_path.push((&o.path, vec![o])),
        }
    }
    let routes = by_path.iter().map(|(path, ops)| {
        let mut chain = TokenStream::new();
        for (i, o) in ops.iter().enumerate() {
            let method = format_ident!("{}", o.method);
            let handler = &o.handler;
            if i == 0 {
                chain = quote!(axum::routing::#method(#handler::<A>));
            } else {
                chain = quote!(#chain.#method(#handler::<A>));
            }
        }
        quote!(.route(#path, #chain))
    });
    quote!(#(#routes)*)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the generator decides for the component `Thing` of a document holding `schemas`.
    fn enforced(schemas: serde_json::Value) -> Enforced {
        let spec: OpenAPI = serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": schemas},
        }))
        .expect("a valid document");
        let thing = &spec.components.as_ref().unwrap().schemas["Thing"];
        let thing = spec::resolve_schema(&spec, thing).expect("resolves");
        enforced_by_type(&spec, thing, 0).expect("decides")
    }

    #[test]
    fn a_default_response_with_the_error_body_takes_every_undeclared_refusal() {
        let spec: OpenAPI = serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/x": {"get": {"operationId": "GetX", "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GeneratedErrorBody"}}}},
            }}}},
            "components": {"schemas": {"X": {"type": "object"}}},
        }))
        .expect("a valid document");
        // No x-error-body: the server's own error body, whose name the `default` refers to.
        let tokens = generate(&spec).expect("the server generates").to_string();
        assert!(tokens.contains("Default (ApiError)"), "{tokens}");
        assert!(tokens.contains("_ => Self :: Default (error)"), "{tokens}");
    }

    #[test]
    fn only_what_the_rust_type_enforces_itself_skips_the_checks() {
        let plain = serde_json::json!({"type": "string"});
        let cases = [
            (serde_json::json!({"Thing": plain}), Enforced::Whole),
            (
                serde_json::json!({"Thing": {"type": "array", "items": {"type": "integer"}}}),
                Enforced::Whole,
            ),
            (
                serde_json::json!({"Thing": {"type": "object", "required": ["a"],
                    "properties": {"a": plain, "b": {"$ref": "#/components/schemas/B"}}},
                    "B": {"type": "boolean"}}),
                Enforced::AsMap,
            ),
            // Constraints the Rust type does not check (or that typify may not make a newtype of).
            (
                serde_json::json!({"Thing": {"type": "string", "maxLength": 3}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "integer", "maximum": 3}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "array", "maxItems": 3, "items": plain}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "string", "nullable": true}}),
                Enforced::No,
            ),
            // An array of objects: the items would be read as structs, which accept arrays.
            (
                serde_json::json!({"Thing": {"type": "array", "items":
                    {"type": "object", "properties": {"a": plain}}}}),
                Enforced::No,
            ),
            // Closed, defaulted-required, or with a required name that is no property.
            (
                serde_json::json!({"Thing": {"type": "object", "additionalProperties": false,
                    "properties": {"a": plain}}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "object", "required": ["a"],
                    "properties": {"a": {"type": "string", "default": "x"}}}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "object", "required": ["z"],
                    "properties": {"a": plain}}}),
                Enforced::No,
            ),
            (
                serde_json::json!({"Thing": {"type": "object", "properties": {"a": plain},
                    "x-max-combined-items": {"properties": ["a"], "max": 1}}}),
                Enforced::No,
            ),
        ];
        for (schemas, expected) in cases {
            assert!(enforced(schemas.clone()) == expected, "for {schemas}");
        }
    }
}
