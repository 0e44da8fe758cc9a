//! The client generator: progenitor for every operation it supports, our own code for the
//! `multipart/form-data` operations progenitor rejects (its issue #518).
//!
//! Must not diverge from progenitor's shape: the multipart methods take their parameters the way
//! progenitor's positional methods do (same order, same types, same names), return the same
//! `ResponseValue<T>` / `Error<E>` types, send the same headers (progenitor's `api-version`
//! header is taken out of its methods, see [`without_api_version`]) and run the same client hooks, so
//! a caller cannot tell which generator wrote a method. Parameter and response types are the ones
//! progenitor generated for the document's components; an inline schema progenitor never saw (it
//! only sees the document without the multipart operations) is refused unless it maps to a plain
//! Rust type, with an error that says to make it a component.

use heck::{ToPascalCase, ToSnakeCase};
use openapiv3::{
    IntegerFormat, IntegerType, MediaType, OpenAPI, Parameter, ParameterData,
    ParameterSchemaOrContent, ReferenceOr, Response, Schema, SchemaKind, StringFormat, StringType,
    Type, VariantOrUnknownOrEmpty,
};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

use crate::{
    Error,
    spec::{self, Op},
};

/// `UploadFile` and `UploadProgress`: a real Rust file so it is read, formatted and reviewed as
/// code; emitted once into clients that have a multipart operation.
const UPLOAD_TEMPLATE: &str = include_str!("templates/client_upload.rs");

/// The media type this generator handles itself.
const MULTIPART: &str = "multipart/form-data";

/// Content type of a file part whose `encoding` gives none.
const DEFAULT_FILE_CONTENT_TYPE: &str = "application/octet-stream";

/// progenitor's settings. Positional interface: one `async fn` per operation with its parameters
/// in document order. Chosen over the builder style because the multipart methods we write
/// ourselves mirror it with little code, and because the operations have few parameters.
///
/// A document with a request-signature scheme (`x-signature`) gets a client that holds a
/// `roma_assets_runtime::sign::Signer` as progenitor's inner value and signs every request in its
/// `pre` hook ([`signing_hook`]), so the multipart methods we write sign the same way.
fn settings(signed: bool) -> progenitor_impl::GenerationSettings {
    let mut settings = progenitor_impl::GenerationSettings::new();
    settings.with_interface(progenitor_impl::InterfaceStyle::Positional);
    if signed {
        settings.with_inner_type(quote!(roma_assets_runtime::sign::Signer));
    }
    settings
}

/// `ClientHooks::pre` for `Client` itself (preferred over progenitor's default impl for
/// `&Client`): signs the request with the inner signer, which does nothing without a key.
fn signing_hook() -> TokenStream {
    quote! {
        impl ClientHooks<roma_assets_runtime::sign::Signer> for Client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                _info: &OperationInfo,
            ) -> std::result::Result<(), Error<E>> {
                self.inner
                    .sign_request(request)
                    .map_err(|e| Error::InvalidRequest(format!("signing the request: {e}")))
            }
        }
    }
}

pub(crate) fn generate(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let ops = spec::operations(spec)?;
    let mut multipart = Vec::new();
    for op in &ops {
        if op.is_multipart(spec)? {
            multipart.push(op);
        }
    }
    let multipart_ids: Vec<String> = multipart
        .iter()
        .map(|op| op.operation_id.to_string())
        .collect();
    let progenitor_spec = without_operations(spec, &multipart_ids);
    let signed = spec::signature_scheme(spec).is_some();
    let mut generator = progenitor_impl::Generator::new(&settings(signed));
    let generated = guarded(|| generator.generate_tokens(&progenitor_spec))
        .map_err(|panic| locate_panic(&progenitor_spec, signed, &panic))?;
    let mut tokens = without_api_version(generated?)?;
    if signed {
        tokens.extend(signing_hook());
    }
    if multipart.is_empty() {
        return Ok(tokens);
    }

    let types = ComponentTypes::new(&generator);
    let methods = multipart
        .iter()
        .map(|op| multipart_method(spec, op, &types))
        .collect::<Result<Vec<_>, _>>()?;
    let support = syn::parse_file(UPLOAD_TEMPLATE)?.items;
    tokens.extend(quote! {
        #[allow(clippy::all)]
        impl Client {
            #(#methods)*
        }

        #(#support)*
    });
    Ok(tokens)
}

/// Runs `f`, turning a panic into its message. progenitor and typify panic (`todo!`, `assert!`)
/// on some documents they do not support, e.g. a response with several media types or a
/// multipart `encoding` without a schema; a generator must answer those with an error.
/// (The default panic hook still prints the message to stderr as it happens.)
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// After progenitor panicked on `spec`: the operation that makes it panic, found by handing it
/// each operation alone, as [`Error::Unsupported`] naming it; the whole document when none does
/// on its own.
fn locate_panic(spec: &OpenAPI, signed: bool, panic: &str) -> Error {
    let first_line = |text: &str| {
        text.lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>()
    };
    let ids: Vec<String> = spec::operations(spec)
        .map(|ops| ops.iter().map(|op| op.operation_id.to_string()).collect())
        .unwrap_or_default();
    for id in &ids {
        let others: Vec<String> = ids.iter().filter(|other| *other != id).cloned().collect();
        let alone = without_operations(spec, &others);
        let mut generator = progenitor_impl::Generator::new(&settings(signed));
        if let Err(message) = guarded(|| generator.generate_tokens(&alone)) {
            return Error::Unsupported {
                operation_id: id.clone(),
                message: format!(
                    "progenitor cannot generate it (it panicked: {})",
                    first_line(&message)
                ),
            };
        }
    }
    Error::Unsupported {
        operation_id: "(the document)".to_string(),
        message: format!(
            "progenitor panicked on the whole document: {}",
            first_line(panic)
        ),
    }
}

/// progenitor's methods without the `api-version` header it sends with every request (the
/// document's `info.version`): the document declares no such header, and the real service has
/// no use for it. Each method builds `let mut header_map = HeaderMap::with_capacity(n);` and
/// appends `api-version` first, then the document's header parameters; the append goes, and the
/// `mut` is allowed to be unused when nothing else is appended.
fn without_api_version(tokens: TokenStream) -> Result<TokenStream, Error> {
    use quote::ToTokens;
    let mut file: syn::File = syn::parse2(tokens)?;
    let mut removed = 0;
    for item in &mut file.items {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        for member in &mut block.items {
            let syn::ImplItem::Fn(method) = member else {
                continue;
            };
            let before = method.block.stmts.len();
            method.block.stmts.retain(|stmt| {
                let text = stmt.to_token_stream().to_string();
                !(text.starts_with("header_map . append") && text.contains("\"api-version\""))
            });
            if method.block.stmts.len() == before {
                continue;
            }
            removed += 1;
            for stmt in &mut method.block.stmts {
                if let syn::Stmt::Local(local) = stmt
                    && local.pat.to_token_stream().to_string() == "mut header_map"
                {
                    local.attrs.push(syn::parse_quote!(#[allow(unused_mut)]));
                }
            }
        }
    }
    if removed == 0
        && file
            .to_token_stream()
            .to_string()
            .contains("\"api-version\"")
    {
        return Err(Error::Invalid(
            "progenitor sends its api-version header in a shape this generator cannot take out (a newer progenitor?)".into(),
        ));
    }
    Ok(file.into_token_stream())
}

/// A copy of the document without the named operations (progenitor sees only what it supports).
fn without_operations(spec: &OpenAPI, operation_ids: &[String]) -> OpenAPI {
    let mut copy = spec.clone();
    for slot in crate::spec::operation_slots_mut(&mut copy) {
        if slot
            .as_ref()
            .and_then(|op| op.operation_id.as_ref())
            .is_some_and(|id| operation_ids.contains(id))
        {
            *slot = None;
        }
    }
    copy
}

/// The types progenitor (typify) generated for the document's component schemas, by Rust name.
/// Every component is converted whether or not an operation progenitor saw uses it.
struct ComponentTypes {
    named: BTreeMap<String, ComponentType>,
}

struct ComponentType {
    /// `types::Name`, as a field or return type.
    ident: TokenStream,
    /// As progenitor passes it: by value for `Copy`-like simple enums, `&'a types::Name` otherwise.
    parameter: TokenStream,
}

impl ComponentTypes {
    fn new(generator: &progenitor_impl::Generator) -> Self {
        let mut named = BTreeMap::new();
        for ty in generator.get_type_space().iter_types() {
            let name = ty.name();
            let ident = ty.ident();
            // Only named types (structs, enums, newtypes) live in the `types` module; built-in
            // types such as `String` or `Vec<..>` are not components.
            if ident.to_string() == format!("types :: {name}") {
                named.insert(
                    name,
                    ComponentType {
                        ident,
                        parameter: ty.parameter_ident_with_lifetime("a"),
                    },
                );
            }
        }
        Self { named }
    }

    /// The generated type of `#/components/schemas/<name>`.
    fn get(&self, reference: &str) -> Result<&ComponentType, Error> {
        let component = spec::ref_name(reference, "schemas")?;
        let rust_name = sanitize(component, Case::Pascal, "X");
        self.named.get(&rust_name).ok_or_else(|| {
            Error::Invalid(format!(
                "schema {component}: progenitor generated no type types::{rust_name}"
            ))
        })
    }
}

/// What an argument of a multipart method is, and so how it is sent.
enum Role {
    Path,
    Query,
    Header {
        required: bool,
    },
    /// A `type: string, format: binary` property: an `UploadFile`.
    File {
        required: bool,
        content_type: String,
    },
    /// Any other string property.
    Text {
        required: bool,
        content_type: Option<String>,
    },
}

struct Arg {
    ident: Ident,
    /// The name on the wire (parameter or part name).
    api_name: String,
    description: Option<String>,
    ty: TokenStream,
    role: Role,
}

/// What a response's body becomes, as progenitor decides it: JSON is typed, any other content is
/// a byte stream, no content is `()`.
#[derive(Clone)]
enum Body {
    Json(TokenStream),
    Raw,
    Empty,
}

impl Body {
    fn tokens(&self) -> TokenStream {
        match self {
            Body::Json(ty) => ty.clone(),
            Body::Raw => quote! { ByteStream },
            Body::Empty => quote! { () },
        }
    }
}

/// The `impl Client` method of one multipart operation, written like progenitor's positional one.
fn multipart_method(
    spec: &OpenAPI,
    op: &Op<'_>,
    types: &ComponentTypes,
) -> Result<TokenStream, Error> {
    let args = multipart_args(spec, op, types)?;
    let fn_name = sanitize(op.operation_id, Case::Snake, "_");
    let fn_ident = format_ident!("{fn_name}");
    let doc = doc_comment(op, &args);
    let signature = args.iter().map(|arg| {
        let Arg { ident, ty, .. } = arg;
        quote! { #ident: #ty }
    });

    let taken: Vec<Ident> = args.iter().map(|arg| arg.ident.clone()).collect();
    let url = unique_ident("url", &taken);
    let request = unique_ident("request", &taken);
    let response = unique_ident("response", &taken);
    let result = unique_ident("result", &taken);
    let header_map = unique_ident("header_map", &taken);
    let form = unique_ident("form", &taken);
    let info = unique_ident("info", &taken);

    let url_expr = url_expression(op, &args)?;
    let headers = header_statements(&args, &header_map);
    let header_capacity = headers.len();
    let form_parts = args.iter().filter_map(|arg| form_part(arg, &form));
    let queries = args
        .iter()
        .filter(|arg| matches!(arg.role, Role::Query))
        .map(|arg| {
            let (name, ident) = (&arg.api_name, &arg.ident);
            quote! { .query(&progenitor_client::QueryParam::new(#name, &#ident)) }
        });
    let ResponseArms {
        success_arms,
        error_arms,
        success,
        error,
    } = response_arms(spec, op, types, &response)?;
    let accept = matches!(
        (&success, &error),
        (Body::Json(_), _) | (Body::Empty, Body::Json(_))
    )
    .then(|| {
        quote! {
            .header(
                ::reqwest::header::ACCEPT,
                ::reqwest::header::HeaderValue::from_static("application/json"),
            )
        }
    });
    let success_ty = success.tokens();
    let error_ty = error.tokens();
    let method = format_ident!("{}", op.method);

    Ok(quote! {
        #[doc = #doc]
        pub async fn #fn_ident<'a>(
            &'a self,
            #(#signature),*
        ) -> Result<ResponseValue<#success_ty>, Error<#error_ty>> {
            let #url = #url_expr;
            #[allow(unused_mut)]
            let mut #header_map = ::reqwest::header::HeaderMap::with_capacity(#header_capacity);
            #(#headers)*
            #[allow(unused_mut)]
            let mut #form = ::reqwest::multipart::Form::new();
            #(#form_parts)*
            #[allow(unused_mut)]
            let mut #request = self
                .client
                .#method(#url)
                #accept
                .multipart(#form)
                #(#queries)*
                .headers(#header_map)
                .build()?;
            let #info = OperationInfo {
                operation_id: #fn_name,
            };
            self.pre(&mut #request, &#info).await?;
            let #result = self.exec(#request, &#info).await;
            self.post(&#result, &#info).await?;
            let #response = #result?;
            match #response.status().as_u16() {
                #(#success_arms)*
                #(#error_arms)*
                _ => Err(Error::UnexpectedResponse(#response)),
            }
        }
    })
}

/// The method's arguments: the operation's parameters, then the form's parts, each with a Rust
/// name of its own.
fn multipart_args(spec: &OpenAPI, op: &Op<'_>, types: &ComponentTypes) -> Result<Vec<Arg>, Error> {
    let mut args = parameters(op, types)?;
    let body = op
        .request_body(spec)?
        .ok_or_else(|| op.unsupported("a multipart operation without a request body"))?;
    if body.content.len() != 1 {
        return Err(op.unsupported(format!(
            "a request body with {MULTIPART} and other media types"
        )));
    }
    // The body-level `required` flag is not read: a multipart request is always sent with its form,
    // and which parts may be left out is said by the schema's `required` list.
    args.extend(parts(spec, op, &body.content[MULTIPART])?);
    let mut seen = std::collections::BTreeSet::new();
    for arg in &args {
        if !seen.insert(arg.ident.to_string()) {
            return Err(op.unsupported(format!(
                "two parameters or parts are both named `{}` in Rust",
                arg.ident
            )));
        }
    }
    Ok(args)
}

/// The statements adding the header parameters to `header_map` (an optional one when set).
fn header_statements(args: &[Arg], header_map: &Ident) -> Vec<TokenStream> {
    args.iter()
        .filter_map(|arg| {
            let Role::Header { required } = arg.role else {
                return None;
            };
            let (name, ident) = (&arg.api_name, &arg.ident);
            Some(if required {
                quote! { #header_map.append(#name, #ident.to_string().try_into()?); }
            } else {
                quote! {
                    if let Some(value) = #ident {
                        #header_map.append(#name, value.to_string().try_into()?);
                    }
                }
            })
        })
        .collect()
}

/// How the method answers each documented status, and the one success and one error body type
/// (progenitor's `ResponseValue<T>` and `Error<E>`).
struct ResponseArms {
    success_arms: Vec<TokenStream>,
    error_arms: Vec<TokenStream>,
    success: Body,
    error: Body,
}

/// The match arms on the response's status (`response` names it): successes decoded into the
/// success type, 4xx and 5xx into `Error::ErrorResponse`; other statuses are unexpected.
fn response_arms(
    spec: &OpenAPI,
    op: &Op<'_>,
    types: &ComponentTypes,
    response: &Ident,
) -> Result<ResponseArms, Error> {
    let responses = op.responses(spec)?;
    let mut success_arms = Vec::new();
    let mut error_arms = Vec::new();
    let mut success_bodies = Vec::new();
    let mut error_bodies = Vec::new();
    for (status, resp) in &responses {
        let status = *status;
        let body = response_body(op, types, status, resp)?;
        let decode = match &body {
            Body::Json(_) => quote! { ResponseValue::from_response(#response).await },
            Body::Raw => quote! { Ok(ResponseValue::stream(#response)) },
            Body::Empty => quote! { Ok(ResponseValue::empty(#response)) },
        };
        match status {
            101 => return Err(op.unsupported("a 101 (upgrade) response")),
            200..=299 => {
                success_arms.push(quote! { #status => { #decode } });
                success_bodies.push(body);
            }
            400..=599 => {
                let decode = match &body {
                    Body::Json(_) => {
                        quote! { Err(Error::ErrorResponse(ResponseValue::from_response(#response).await?)) }
                    }
                    Body::Raw => {
                        quote! { Err(Error::ErrorResponse(ResponseValue::stream(#response))) }
                    }
                    Body::Empty => {
                        quote! { Err(Error::ErrorResponse(ResponseValue::empty(#response))) }
                    }
                };
                error_arms.push(quote! { #status => { #decode } });
                error_bodies.push(body);
            }
            // progenitor neither accepts nor rejects other statuses: they are unexpected responses.
            _ => {}
        }
    }
    if success_arms.is_empty() {
        // As progenitor does when a document lists no success: any 2xx, as raw bytes.
        success_arms.push(quote! { 200 ..= 299 => { Ok(ResponseValue::stream(#response)) } });
        success_bodies.push(Body::Raw);
    }
    Ok(ResponseArms {
        success_arms,
        error_arms,
        success: single_body(op, "success", &success_bodies)?,
        error: single_body(op, "error", &error_bodies)?,
    })
}

/// The operation's path, query and header parameters in progenitor's order: path parameters as
/// they appear in the path, then query parameters by name, then header parameters by name.
fn parameters(op: &Op<'_>, types: &ComponentTypes) -> Result<Vec<Arg>, Error> {
    let template = path_names(op)?;
    let mut path = Vec::new();
    let mut query = Vec::new();
    let mut header = Vec::new();
    for parameter in &op.parameters {
        let data = spec::parameter_data(parameter);
        let (role, required) = match parameter {
            Parameter::Path {
                style: openapiv3::PathStyle::Simple,
                ..
            } => {
                if !data.required {
                    return Err(Error::Invalid(format!(
                        "operation {}: path parameter {} must be required",
                        op.operation_id, data.name
                    )));
                }
                (Role::Path, true)
            }
            Parameter::Query {
                style: openapiv3::QueryStyle::Form,
                ..
            } => (Role::Query, data.required),
            Parameter::Header {
                style: openapiv3::HeaderStyle::Simple,
                ..
            } => (
                Role::Header {
                    required: data.required,
                },
                data.required,
            ),
            Parameter::Cookie { .. } => {
                return Err(op.unsupported(format!("cookie parameter {}", data.name)));
            }
            _ => return Err(op.unsupported(format!("the style of parameter {}", data.name))),
        };
        let ty = parameter_type(op, data, types)?;
        let ty = if required {
            ty
        } else {
            quote! { Option<#ty> }
        };
        let arg = Arg {
            ident: format_ident!("{}", sanitize(&data.name, Case::Snake, "_")),
            api_name: data.name.clone(),
            description: data.description.clone(),
            ty,
            role,
        };
        match arg.role {
            Role::Path => path.push(arg),
            Role::Query => query.push(arg),
            _ => header.push(arg),
        }
    }
    for arg in &path {
        if !template.contains(&arg.api_name) {
            return Err(Error::Invalid(format!(
                "operation {}: path parameter {} is not in the path {}",
                op.operation_id, arg.api_name, op.path
            )));
        }
    }
    path.sort_by_key(|arg| template.iter().position(|name| *name == arg.api_name));
    query.sort_by(|a, b| a.api_name.cmp(&b.api_name));
    header.sort_by(|a, b| a.api_name.cmp(&b.api_name));
    path.extend(query);
    path.extend(header);
    Ok(path)
}

/// How a parameter is passed. A `$ref` gets progenitor's type for the component; an inline schema
/// only when it maps to a plain Rust type, because a constrained one would need a generated type
/// that progenitor, which never saw this operation, did not emit.
fn parameter_type(
    op: &Op<'_>,
    data: &ParameterData,
    types: &ComponentTypes,
) -> Result<TokenStream, Error> {
    let ParameterSchemaOrContent::Schema(schema) = &data.format else {
        return Err(op.unsupported(format!(
            "parameter {} uses `content` instead of `schema`",
            data.name
        )));
    };
    match schema {
        ReferenceOr::Reference { reference } => Ok(types.get(reference)?.parameter.clone()),
        ReferenceOr::Item(schema) => plain_parameter_type(schema).ok_or_else(|| {
            op.unsupported(format!(
                "parameter {} has an inline schema with constraints; a multipart operation needs it \
                 as a component schema referenced with $ref, so that its generated type exists",
                data.name
            ))
        }),
    }
}

/// The Rust type typify gives an unconstrained inline string, integer or boolean, as a parameter.
fn plain_parameter_type(schema: &Schema) -> Option<TokenStream> {
    if schema.schema_data.nullable {
        return None;
    }
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) if *string == StringType::default() => {
            Some(quote! { &'a str })
        }
        SchemaKind::Type(Type::Integer(integer)) => {
            let IntegerType {
                format,
                multiple_of,
                exclusive_minimum,
                exclusive_maximum,
                minimum,
                maximum,
                enumeration,
            } = integer;
            if multiple_of.is_some()
                || *exclusive_minimum
                || *exclusive_maximum
                || minimum.is_some()
                || maximum.is_some()
                || !enumeration.is_empty()
            {
                return None;
            }
            match format {
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => Some(quote! { i32 }),
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64)
                | VariantOrUnknownOrEmpty::Empty => Some(quote! { i64 }),
                VariantOrUnknownOrEmpty::Unknown(_) => None,
            }
        }
        SchemaKind::Type(Type::Boolean(boolean)) if boolean.enumeration.is_empty() => {
            Some(quote! { bool })
        }
        _ => None,
    }
}

/// The form's parts, in the schema's property order: `format: binary` strings are files, other
/// strings text. The part's content type is the first of `encoding.<name>.contentType`.
fn parts(spec: &OpenAPI, op: &Op<'_>, media: &MediaType) -> Result<Vec<Arg>, Error> {
    let schema = media
        .schema
        .as_ref()
        .ok_or_else(|| op.unsupported(format!("a {MULTIPART} body without a schema")))?;
    let schema = spec::resolve_schema(spec, schema)?;
    let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
        return Err(op.unsupported(format!(
            "a {MULTIPART} schema that is not an object with properties"
        )));
    };
    for (name, encoding) in &media.encoding {
        if !object.properties.contains_key(name) {
            return Err(Error::Invalid(format!(
                "operation {}: the encoding of {name} names no property of the {MULTIPART} schema",
                op.operation_id
            )));
        }
        if !encoding.headers.is_empty() {
            return Err(op.unsupported(format!("headers in the encoding of part {name}")));
        }
    }
    let mut args = Vec::new();
    for (name, property) in &object.properties {
        let property = spec::resolve_boxed(spec, property)?;
        let SchemaKind::Type(Type::String(string)) = &property.schema_kind else {
            return Err(op.unsupported(format!(
                "part {name} is not a string (only file and text parts are supported)"
            )));
        };
        let required = object.required.contains(name);
        let content_type = media
            .encoding
            .get(name)
            .and_then(|encoding| encoding.content_type.as_deref())
            .and_then(|list| list.split(',').map(str::trim).find(|ct| !ct.is_empty()))
            .map(str::to_string);
        let (role, ty) = if matches!(
            string.format,
            VariantOrUnknownOrEmpty::Item(StringFormat::Binary)
        ) {
            let content_type =
                content_type.unwrap_or_else(|| DEFAULT_FILE_CONTENT_TYPE.to_string());
            (
                Role::File {
                    required,
                    content_type,
                },
                quote! { UploadFile },
            )
        } else {
            (
                Role::Text {
                    required,
                    content_type,
                },
                quote! { &'a str },
            )
        };
        args.push(Arg {
            ident: format_ident!("{}", sanitize(name, Case::Snake, "_")),
            api_name: name.clone(),
            description: property.schema_data.description.clone(),
            ty: if required {
                ty
            } else {
                quote! { Option<#ty> }
            },
            role,
        });
    }
    Ok(args)
}

/// The statement adding one part to the form, or `None` for a non-part argument.
fn form_part(arg: &Arg, form: &Ident) -> Option<TokenStream> {
    let (name, ident) = (&arg.api_name, &arg.ident);
    let message = format!("part {}: {{}}", name.replace('{', "{{").replace('}', "}}"));
    let invalid = quote! { |e| Error::InvalidRequest(format!(#message, e)) };
    let add = |value: TokenStream| match &arg.role {
        Role::File { content_type, .. } => {
            quote! { #form = #form.part(#name, #value.into_part(#content_type).map_err(#invalid)?); }
        }
        Role::Text {
            content_type: None, ..
        } => quote! { #form = #form.text(#name, #value.to_string()); },
        Role::Text {
            content_type: Some(content_type),
            ..
        } => quote! {
            #form = #form.part(
                #name,
                ::reqwest::multipart::Part::text(#value.to_string())
                    .mime_str(#content_type)
                    .map_err(#invalid)?,
            );
        },
        Role::Path | Role::Query | Role::Header { .. } => {
            unreachable!("only parts are added to the form")
        }
    };
    match &arg.role {
        Role::File { required: true, .. } | Role::Text { required: true, .. } => {
            Some(add(quote! { #ident }))
        }
        Role::File {
            required: false, ..
        }
        | Role::Text {
            required: false, ..
        } => {
            let add = add(quote! { value });
            Some(quote! {
                if let Some(value) = #ident {
                    #add
                }
            })
        }
        Role::Path | Role::Query | Role::Header { .. } => None,
    }
}

/// `format!("{}/v2/{}/...", self.baseurl, encode_path(&project_id.to_string()), ...)`.
fn url_expression(op: &Op<'_>, args: &[Arg]) -> Result<TokenStream, Error> {
    let mut fmt = String::from("{}");
    let mut values = Vec::new();
    let mut rest = op.path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map(|end| start + end)
            .ok_or_else(|| Error::Invalid(format!("path {}: unclosed {{", op.path)))?;
        fmt.push_str(&rest[..start]);
        fmt.push_str("{}");
        let name = &rest[start + 1..end];
        let arg = args
            .iter()
            .find(|arg| matches!(arg.role, Role::Path) && arg.api_name == name)
            .ok_or_else(|| Error::Invalid(format!("path {}: no path parameter {name}", op.path)))?;
        let ident = &arg.ident;
        values.push(quote! { encode_path(&#ident.to_string()) });
        rest = &rest[end + 1..];
    }
    if rest.contains('}') {
        return Err(Error::Invalid(format!("path {}: unexpected }}", op.path)));
    }
    fmt.push_str(rest);
    Ok(quote! { format!(#fmt, self.baseurl, #(#values,)*) })
}

/// The names of the path's `{parameters}`, in order.
fn path_names(op: &Op<'_>) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut rest = op.path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map(|end| start + end)
            .ok_or_else(|| Error::Invalid(format!("path {}: unclosed {{", op.path)))?;
        names.push(rest[start + 1..end].to_string());
        rest = &rest[end + 1..];
    }
    Ok(names)
}

/// What a documented response's body becomes (see [`Body`]). JSON must be a `$ref`: an inline
/// schema would need a type progenitor did not generate.
fn response_body(
    op: &Op<'_>,
    types: &ComponentTypes,
    status: u16,
    response: &Response,
) -> Result<Body, Error> {
    let json = response.content.iter().find(|(media_type, _)| {
        *media_type == "application/json" || media_type.starts_with("application/json;")
    });
    match json {
        Some((_, media)) => match &media.schema {
            Some(ReferenceOr::Reference { reference }) => Ok(Body::Json(types.get(reference)?.ident.clone())),
            Some(ReferenceOr::Item(_)) => Err(op.unsupported(format!(
                "the {status} response has an inline JSON schema; a multipart operation needs a component schema referenced with $ref"
            ))),
            None => Err(op.unsupported(format!("the {status} response has JSON content without a schema"))),
        },
        None if response.content.is_empty() => Ok(Body::Empty),
        None => Ok(Body::Raw),
    }
}

/// The one body type shared by all success (or all error) responses, as `ResponseValue<T>` and
/// `Error<E>` need: `()` when there are none.
fn single_body(op: &Op<'_>, what: &str, bodies: &[Body]) -> Result<Body, Error> {
    let mut distinct: Vec<&Body> = Vec::new();
    for body in bodies {
        if !distinct
            .iter()
            .any(|seen| seen.tokens().to_string() == body.tokens().to_string())
        {
            distinct.push(body);
        }
    }
    match distinct.as_slice() {
        [] => Ok(Body::Empty),
        [one] => Ok((*one).clone()),
        _ => Err(op.unsupported(format!("{what} responses with different body types"))),
    }
}

/// progenitor's doc comment: summary, description, the request line, then the arguments.
fn doc_comment(op: &Op<'_>, args: &[Arg]) -> String {
    let mut doc = String::new();
    if let Some(summary) = op.operation.summary.as_deref().filter(|s| !s.is_empty()) {
        doc.push_str(summary.trim_end_matches(['.', ',']));
        doc.push_str("\n\n");
    }
    if let Some(description) = op
        .operation
        .description
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        doc.push_str(description);
        doc.push_str("\n\n");
    }
    doc.push_str(&format!(
        "Sends a `{}` request to `{}`\n\n",
        op.method.to_ascii_uppercase(),
        op.path
    ));
    if args.iter().any(|arg| arg.description.is_some()) {
        doc.push_str("Arguments:\n");
        for arg in args {
            doc.push_str(&format!("- `{}`", arg.ident));
            if let Some(description) = &arg.description {
                doc.push_str(": ");
                doc.push_str(description);
            }
            doc.push('\n');
        }
    }
    doc
}

/// `name`, or `name_`, `name__`... whichever no argument uses (progenitor's `unique_ident_from`).
fn unique_ident(name: &str, taken: &[Ident]) -> Ident {
    let mut name = name.to_string();
    loop {
        let ident = format_ident!("{name}");
        if !taken.contains(&ident) {
            return ident;
        }
        name.push('_');
    }
}

#[derive(Clone, Copy)]
enum Case {
    Snake,
    Pascal,
}

/// A Rust identifier for a document name, as progenitor (`prefix` "_", for methods and arguments)
/// and typify (`prefix` "X", for type names) make them.
fn sanitize(input: &str, case: Case, prefix: &str) -> String {
    let to_case = |s: &str| match case {
        Case::Snake => s.to_snake_case(),
        Case::Pascal => s.to_pascal_case(),
    };
    let out = match input {
        "+1" => "plus1".to_string(),
        "-1" => "minus1".to_string(),
        _ => to_case(
            &input
                .replace('\'', "")
                .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-"),
        ),
    };
    let out = match out.chars().next() {
        None => to_case("x"),
        Some(c) if c.is_alphabetic() => out,
        Some(_) => format!("{prefix}{out}"),
    };
    if is_keyword(&out) {
        format!("{out}_")
    } else {
        out
    }
}

/// Words typify and progenitor refuse as identifiers (Rust's keywords, `gen` included).
fn is_keyword(ident: &str) -> bool {
    matches!(
        ident,
        "_" | "abstract"
            | "as"
            | "async"
            | "await"
            | "become"
            | "box"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "do"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "final"
            | "fn"
            | "for"
            | "gen"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "macro"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "override"
            | "priv"
            | "pub"
            | "ref"
            | "return"
            | "Self"
            | "self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "try"
            | "type"
            | "typeof"
            | "unsafe"
            | "unsized"
            | "use"
            | "virtual"
            | "where"
            | "while"
            | "yield"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-operation document: `POST /things/{id}/files`, multipart, with the given query
    /// parameter schema. (`json!` sorts keys, so the properties are named in the order meant.)
    fn upload_spec(query_schema: serde_json::Value) -> OpenAPI {
        serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": { "title": "t", "version": "1" },
            "paths": { "/things/{id}/files": { "post": {
                "operationId": "UploadThing",
                "parameters": [
                    { "name": "id", "in": "path", "required": true,
                      "schema": { "$ref": "#/components/schemas/ThingId" } },
                    { "name": "count", "in": "query", "schema": query_schema },
                ],
                "requestBody": { "required": true, "content": { "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "caption": { "type": "string", "description": "A caption." },
                            "data": { "type": "string", "format": "binary" },
                        },
                    },
                    "encoding": { "data": { "contentType": "text/csv, text/plain" } },
                } } },
                "responses": {
                    "201": { "description": "made", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Thing" } } } },
                    "409": { "description": "taken" },
                },
            } } },
            "components": { "schemas": {
                "ThingId": { "type": "string", "maxLength": 8 },
                "Thing": { "type": "object", "properties": { "id": { "type": "string" } } },
            } },
        }))
        .unwrap()
    }

    fn client_source(spec: &OpenAPI) -> Result<String, Error> {
        crate::format_file(generate(spec)?)
    }

    #[test]
    fn multipart_method_mirrors_progenitor_signature_and_parts() {
        let source = client_source(&upload_spec(serde_json::json!({ "type": "integer" }))).unwrap();
        let flat: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(
                "pub async fn upload_thing<'a>( &'a self, id: &'a types::ThingId, count: Option<i64>, \
                 caption: Option<&'a str>, data: UploadFile, ) -> Result<ResponseValue<types::Thing>, Error<()>>"
            ),
            "{source}"
        );
        // Parts in property order, the file with the first listed content type.
        let caption = flat
            .find("form.text(\"caption\", value.to_string())")
            .expect("caption part");
        let data = flat.find(".into_part(\"text/csv\")").expect("data part");
        assert!(caption < data);
        assert!(flat.contains("201u16 => ResponseValue::from_response(response).await"));
        assert!(
            flat.contains("409u16 => Err(Error::ErrorResponse(ResponseValue::empty(response)))")
        );
        assert!(
            flat.contains("pub struct UploadFile"),
            "support code is emitted"
        );
    }

    #[test]
    fn constrained_inline_parameter_of_a_multipart_operation_is_refused() {
        let spec = upload_spec(serde_json::json!({ "type": "integer", "minimum": 1 }));
        match client_source(&spec) {
            Err(Error::Unsupported {
                operation_id,
                message,
            }) => {
                assert_eq!(operation_id, "UploadThing");
                assert!(message.contains("count"), "{message}");
            }
            other => panic!("expected Error::Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn documents_without_multipart_get_no_upload_support() {
        let mut spec = upload_spec(serde_json::json!({ "type": "integer" }));
        let openapiv3::ReferenceOr::Item(item) = &mut spec.paths.paths["/things/{id}/files"] else {
            unreachable!()
        };
        item.post.as_mut().unwrap().request_body = None;
        let source = client_source(&spec).unwrap();
        assert!(source.contains("pub async fn upload_thing"));
        assert!(!source.contains("UploadFile"));
    }

    #[test]
    fn names_are_sanitized_like_progenitor_and_typify() {
        assert_eq!(sanitize("ImportAsset", Case::Snake, "_"), "import_asset");
        assert_eq!(sanitize("X-Trace-Id", Case::Snake, "_"), "x_trace_id");
        assert_eq!(sanitize("type", Case::Snake, "_"), "type_");
        assert_eq!(sanitize("1st", Case::Snake, "_"), "_1st");
        assert_eq!(
            sanitize("import_asset-prefix", Case::Pascal, "X"),
            "ImportAssetPrefix"
        );
    }
}
