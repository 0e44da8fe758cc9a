//! The contract module's `limits` and `headers`: the document's bounds and the header names it
//! gives meaning to, as constants, so that hand-written code uses them instead of restating them.

use heck::ToShoutySnakeCase;
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, SecurityScheme, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::{ext, ext_str};
use crate::Error;

/// `pub mod limits`: the document's bounds as constants, for hand-written code that must agree
/// with what the generated layer enforces (a store refusing what the router would, a command
/// line checking a token before it is sent) instead of restating the numbers, in document order:
/// - string and array bounds of a component schema and of its inline properties
///   (`<SCHEMA>_MAX_LENGTH`, `<SCHEMA>_<PROPERTY>_MAX_ITEMS`...; a `minLength`/`minItems` of 0
///   says nothing and gets none);
/// - `x-max-combined-items` (`<SCHEMA>_MAX_COMBINED_ITEMS`);
/// - an API-key security scheme's `x-min-length`/`x-max-length` (`<SCHEME>_MIN_LENGTH`...).
pub(super) fn limits_module(spec: &OpenAPI) -> Result<TokenStream, Error> {
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
pub(super) fn headers_module(spec: &OpenAPI) -> Result<TokenStream, Error> {
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
