//! The JSON shape statics: each request body's schema as a static `Shape` (the schema as data,
//! see the runtime's `Shape`), which the runtime checks a body against while deserializing it,
//! and the statics of their patterns. Also whether the Rust type of a schema already enforces
//! everything the shape checks ([`Enforced`]), which lets a body skip the checks on a first,
//! quick pass.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToShoutySnakeCase;
use openapiv3::{ObjectType, OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use super::ext;
use crate::Error;
use crate::spec;

/// The shapes (schemas as data, see the runtime's `Shape`) of the component schemas a body
/// refers to, one static each, in name order; and the statics of their patterns.
#[derive(Default)]
pub(super) struct Shapes {
    wanted: BTreeSet<String>,
    /// Pattern source -> its static's index, numbered in the order first met.
    patterns: BTreeMap<String, usize>,
}

impl Shapes {
    fn name(component: &str) -> syn::Ident {
        format_ident!("SHAPE_{}", component.to_shouty_snake_case())
    }

    /// The static of a component's shape, which [`Shapes::finish`] will write.
    pub(super) fn want(&mut self, component: &str) -> syn::Ident {
        self.wanted.insert(component.to_string());
        Self::name(component)
    }

    /// The static of a pattern (compiled by [`crate::validate`] already).
    pub(super) fn pattern(&mut self, source: &str) -> syn::Ident {
        let next = self.patterns.len();
        let index = *self.patterns.entry(source.to_string()).or_insert(next);
        format_ident!("PATTERN_{index}")
    }

    /// The statics of every wanted shape (and of the shapes they refer to), then of the patterns.
    pub(super) fn finish(mut self, spec: &OpenAPI) -> Result<TokenStream, Error> {
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

/// `Some(v)` or `None`, as tokens.
pub(super) fn opt_usize(v: Option<usize>) -> TokenStream {
    match v {
        Some(v) => quote!(Some(#v)),
        None => quote!(None),
    }
}

/// The lower and upper bounds of a number, each `Some((value, exclusive))` or `None`.
pub(super) fn number_bounds(
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
        SchemaKind::Type(Type::Object(o)) => object_shape(spec, schema, o, shapes, context)?,
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

/// The `ShapeKind::Object` of an object schema: its required and property names, each
/// property's shape, whether it is closed, and its `x-max-combined-items` rule.
fn object_shape(
    spec: &OpenAPI,
    schema: &Schema,
    o: &ObjectType,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
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
    Ok(quote! {
        ShapeKind::Object {
            required: &[#(#required),*],
            properties: &[#(#properties),*],
            closed: #closed,
            combined: #combined,
        }
    })
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

/// How an error names a schema kind the server does not read.
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
