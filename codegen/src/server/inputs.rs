//! An operation's inputs: its security (an API key, a request signature, or either), its
//! parameters and its body, as the trait method's arguments and as the handler's statements
//! that read and check them, in order: the credential first, then the parameters, then the body
//! (and a signature over it). An operation with inputs must declare the statuses the generated
//! layer answers when they fail their checks (400, 401, 413): refused here otherwise.

use openapiv3::{OpenAPI, Parameter};
use proc_macro2::TokenStream;
use quote::quote;

use super::body::{BodyKind, body_kind};
use super::errors::ErrorCodes;
use super::params::{Param, param};
use super::reply::Reply;
use super::security::{Security, security};
use super::shape::Shapes;
use super::{Names, ext};
use crate::Error;
use crate::spec::Op;

/// Body limit of operations whose document states none: axum's default.
const DEFAULT_BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// What an operation takes (credential, parameters, body), as the trait method's arguments and
/// as the handler's statements that read and check them.
pub(super) struct Inputs {
    /// The trait method's arguments: `ctx`, then `credential`, `params`, `body` as present.
    pub(super) args: Vec<TokenStream>,
    /// The handler's values for them.
    pub(super) call_args: Vec<TokenStream>,
    /// The handler's statements, in order: credential, parameters, body.
    pub(super) extract: Vec<TokenStream>,
    /// The items they need: the parameters struct, a multipart body's form.
    pub(super) items: Vec<TokenStream>,
    /// Whether the operation has a request body.
    pub(super) has_body: bool,
    /// The operation's field of `BodyLimits`, when it has a body.
    pub(super) limit_field: Option<TokenStream>,
    /// Its default.
    pub(super) limit_default: Option<TokenStream>,
}

impl Inputs {
    /// Reads the operation's security, parameters and body, and refuses an operation that does
    /// not declare the statuses the generated layer sends when it checks them.
    pub(super) fn generate(
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
            .map(|p| param(spec, op, p, shapes))
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
