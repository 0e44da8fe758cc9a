//! An operation's reply enum: one variant per documented status, how each is answered
//! (`IntoResponse`), and which variant an `ApiError` of a given status becomes
//! (`From<ApiError>`); and whether the operation declares a status the generated layer sends.

use heck::ToUpperCamelCase;
use openapiv3::{OpenAPI, ReferenceOr, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::errors::ErrorBody;
use super::{Names, type_ident};
use crate::Error;
use crate::spec::{self, Op, ResponseStatus};

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

/// The variant of an exact status: its reason phrase (`NotFound`), else `Status<code>`.
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

/// The reply enum of an operation: one variant per documented status (ranges and `default`
/// first, then exact statuses, ascending), how each is answered, and which status an
/// `ApiError` turns into which variant. Only made when the operation declares 500.
pub(super) struct Reply {
    /// The exact statuses, ascending.
    pub(super) statuses: Vec<u16>,
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
    /// The reply of `op`; refused when it does not declare 500 or a response cannot be read.
    pub(super) fn generate(
        spec: &OpenAPI,
        op: &Op<'_>,
        error_body: &ErrorBody,
    ) -> Result<Self, Error> {
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
    pub(super) fn declares(&self, status: u16) -> bool {
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
    pub(super) fn items(&self, names: &Names<'_>) -> TokenStream {
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
