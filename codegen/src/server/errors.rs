//! The server's error vocabulary, read from the document: `x-error-body` (which schema is the
//! error body and where its fields are) and `x-error-codes` (the codes, and which one each
//! refusal of the generated layer sends), with the defaults the server uses for a document
//! written without them ([`with_error_defaults`]). Their consistency is checked first, by
//! [`crate::validate`], which calls the readers here.

use heck::ToShoutySnakeCase;
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::security::security;
use super::{ext, ext_str};
use crate::Error;
use crate::spec;

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
pub(super) fn with_error_defaults(spec: &OpenAPI) -> Result<Option<OpenAPI>, Error> {
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

    /// `#/components/schemas/<schema>`: how a response refers to the error body.
    pub(super) fn schema_ref(&self) -> String {
        format!("#/components/schemas/{}", self.schema)
    }

    /// The header the request id is sent in, lower case.
    pub(crate) fn request_id_header(&self) -> &str {
        &self.request_id_header
    }

    /// `ERROR_BODY`: where the generated layer writes each field, cut to its length.
    pub(super) fn tokens(&self) -> TokenStream {
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
    pub(super) fn module(&self) -> TokenStream {
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
    pub(super) fn reject(&self) -> Result<TokenStream, Error> {
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
