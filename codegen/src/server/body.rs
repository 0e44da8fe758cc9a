//! Request bodies: what kind each is (JSON or form into a typed value checked against its
//! shape, text, `multipart/form-data`, raw bytes) and, for a multipart body, the form struct and
//! the reader that checks its text parts and hands the file part over as a stream.

use heck::ToUpperCamelCase;
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::errors::ErrorCodes;
use super::params::string_checks;
use super::shape::Shapes;
use super::{ext, ext_str, rust_field, type_ident};
use crate::Error;
use crate::spec::{self, Op};

/// What an operation's request body is.
pub(super) enum BodyKind {
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

/// What the request body of `op` is (`None` without one); a multipart body's form is
/// generated here.
pub(super) fn body_kind(
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
    // A JSON or form body: the component's type, checked against its shape (a form is read
    // into the same typed value).
    let mut typed = |inline: &str, form: bool| -> Result<BodyKind, Error> {
        let ReferenceOr::Reference { reference } = schema_ref else {
            return Err(op.unsupported(inline));
        };
        let name = spec::ref_name(reference, "schemas")?;
        let ty = type_ident(name);
        Ok(BodyKind::Json {
            ty: quote!(types::#ty),
            shape: shapes.want(name),
            required: body.required,
            form,
        })
    };
    match media.as_str() {
        json if spec::is_json_media(json) => typed(
            "an inline JSON body schema (use a $ref to a component)",
            false,
        ),
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
        "application/x-www-form-urlencoded" => typed("an inline form body schema", true),
        _ => Ok(BodyKind::Raw),
    }
}

/// A `multipart/form-data` body: its form struct (the text parts checked, the file part as a
/// stream) and the expression that reads it. The binary part must be the last property.
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
    let mut parts = FormParts::default();
    let count = object.properties.len();
    for (index, (name, property)) in object.properties.iter().enumerate() {
        let property_schema = spec::resolve_boxed(spec, property)?;
        let SchemaKind::Type(Type::String(s)) = &property_schema.schema_kind else {
            return Err(op.unsupported(format!(
                "multipart part {name}: only string and binary parts"
            )));
        };
        let part = Part {
            name,
            required: object.required.contains(name),
            field: rust_field(name),
            doc: property_schema
                .schema_data
                .description
                .clone()
                .unwrap_or_else(|| name.clone()),
        };
        if matches!(
            &s.format,
            openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Binary)
        ) {
            let last = index + 1 == count;
            parts.file(op, part, last, property_schema, codes, shapes)?;
        } else {
            parts.text(part, s);
        }
    }
    let Some((file_name, file_required)) = parts.file.take() else {
        return Err(op.unsupported("a multipart body without a binary part"));
    };
    let file_field = rust_field(&file_name);
    let file_value = if file_required {
        let what = format!("the file part {file_name}");
        quote!(file.ok_or_else(|| missing_body(#what))?)
    } else {
        quote!(file)
    };
    let FormParts {
        file_check,
        fields,
        text_slots,
        text_stores,
        text_names,
        text_finish,
        ..
    } = parts;
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

/// One part of a multipart form, as the document names it.
struct Part<'a> {
    name: &'a String,
    required: bool,
    field: syn::Ident,
    doc: String,
}

/// What a multipart form is made of, collected part by part in document order.
#[derive(Default)]
struct FormParts {
    /// The binary part: its name, and whether it is required.
    file: Option<(String, bool)>,
    /// The check of its `x-file-name` rule.
    file_check: TokenStream,
    /// The form struct's fields.
    fields: Vec<TokenStream>,
    /// Each text part's slot, filled as the part arrives...
    text_slots: Vec<TokenStream>,
    text_stores: Vec<TokenStream>,
    text_names: Vec<String>,
    /// ... and checked into its field once the file part is reached.
    text_finish: Vec<TokenStream>,
}

impl FormParts {
    /// The binary part: one only, and the last property (it is streamed to the handler).
    fn file(
        &mut self,
        op: &Op<'_>,
        part: Part<'_>,
        last: bool,
        schema: &Schema,
        codes: &ErrorCodes,
        shapes: &mut Shapes,
    ) -> Result<(), Error> {
        let Part {
            name,
            required,
            field,
            doc,
        } = part;
        if self.file.is_some() {
            return Err(op.unsupported("more than one binary part"));
        }
        if !last {
            return Err(op.unsupported(format!(
                "binary part {name} must be the last property: it is streamed to the handler, so nothing after it can be read first"
            )));
        }
        self.file = Some((name.clone(), required));
        self.file_check = file_name_rule(schema, name, codes, shapes)?;
        let ty = if required {
            quote!(FilePart)
        } else {
            quote!(Option<FilePart>)
        };
        self.fields.push(quote!(#[doc = #doc] pub #field: #ty,));
        Ok(())
    }

    /// A text part, checked against its string schema `s` once read.
    fn text(&mut self, part: Part<'_>, s: &openapiv3::StringType) {
        let Part {
            name,
            required,
            field,
            doc,
        } = part;
        let slot = format_ident!("text_{}", field.to_string().trim_end_matches('_'));
        let loc = quote!(loc);
        let checks = string_checks(s, &quote!(raw.as_str()), &loc);
        self.text_slots
            .push(quote!(let mut #slot: Option<String> = None;));
        self.text_stores
            .push(quote!(if name == #name { #slot = Some(text); }));
        self.text_names.push(name.clone());
        let value = if required {
            self.fields.push(quote!(#[doc = #doc] pub #field: String,));
            quote! {{
                let loc = &Loc::Root(#name);
                let raw = #slot.ok_or_else(|| ApiError::invalid_parameter(loc, "is required"))?;
                #checks
                raw
            }}
        } else {
            self.fields
                .push(quote!(#[doc = #doc] pub #field: Option<String>,));
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
        self.text_finish.push(quote!(#field: #value,));
    }
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
    if !codes.codes().any(|listed| listed == code) {
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
