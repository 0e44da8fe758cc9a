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
//!
//! This file assembles the server file and each operation (names, trait method, handler) from
//! the parts its submodules generate: `reply` (the reply enum), `inputs` (security, then
//! `params` and `body`: the trait method's arguments and the handler's checks), `shape` (the
//! JSON shape statics), `errors` (`x-error-body`, `x-error-codes`, their defaults) and
//! `contract` (the contract's `limits` and `headers`).

mod body;
mod contract;
mod errors;
mod inputs;
mod params;
mod reply;
mod security;
mod shape;

use heck::{ToSnakeCase, ToUpperCamelCase};
use openapiv3::OpenAPI;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::Error;
use crate::spec::{self, Op};
use contract::{headers_module, limits_module};
use errors::with_error_defaults;
pub(crate) use errors::{ErrorBody, ErrorCodes, REJECTIONS};
use inputs::Inputs;
use reply::Reply;
use shape::Shapes;

/// The document-specific glue (error type, router state), emitted verbatim ahead of the generated
/// items; the generic support code is `roma_assets_runtime::server`, compiled once.
const GLUE: &str = include_str!("templates/server_glue.rs");

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

/// The server file: the glue, `ERROR_BODY` and `REJECT`, the `Api` trait and its
/// `NotImplemented` stub, the router, and each operation's items.
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

    let signed = ops.iter().any(|op| spec::is_signed(spec, op));
    let api = api_trait(&operations, signed);
    let router = router_items(&operations);
    let runtime_items = &runtime.items;
    let items = operations.iter().map(|o| &o.items);
    Ok(quote! {
        #(#runtime_items)*

        #error_body_tokens
        #reject_tokens

        #api
        #router

        #(#items)*

        #shape_statics
    })
}

/// The `Api` trait, one method per operation (it also requires `SigningKeys` when an operation
/// may be signed), and `NotImplemented`, its implementation that answers 500 to everything.
fn api_trait(operations: &[Operation], signed: bool) -> TokenStream {
    let trait_methods = operations.iter().map(|o| &o.trait_method);
    let stub_methods = operations.iter().map(|o| &o.stub_method);
    let signing_keys = if signed {
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
    quote! {
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
    }
}

/// `BodyLimits`, `RouterConfig`, `router` and `router_with` serving every operation, and the
/// `OPERATIONS` table that describes them.
fn router_items(operations: &[Operation]) -> TokenStream {
    let limit_fields = operations.iter().filter_map(|o| o.limit_field.as_ref());
    let limit_defaults = operations.iter().filter_map(|o| o.limit_default.as_ref());
    let routes = routes(operations);
    let descriptions = operations.iter().map(|o| &o.description);
    quote! {
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
    }
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

/// An extension's value, if the document has it.
fn ext<'a>(extensions: &'a indexmap::IndexMap<String, Value>, key: &str) -> Option<&'a Value> {
    extensions.get(key)
}

/// A string field of an extension's value, refused with `what` when it is not one.
fn ext_str(value: &Value, key: &str, what: &str) -> Result<String, Error> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Invalid(format!("{what}: `{key}` must be a string")))
}

/// The Rust field (or variable) of a property or parameter: snake case, a keyword suffixed.
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

/// The Rust type of a component schema (as typify names it).
fn type_ident(component: &str) -> syn::Ident {
    format_ident!("{}", component.to_upper_camel_case())
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
}
