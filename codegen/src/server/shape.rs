//! The JSON shape statics: each request body's schema as a static `Shape` (the schema as data,
//! see the runtime's `Shape`), which the runtime checks a body against while deserializing it,
//! and the statics of their patterns. Also whether the Rust type of a schema already enforces
//! everything the shape checks ([`Enforced`]), which lets a body skip the checks on a first,
//! quick pass.
//!
//! Compositions, as the generators of other people's documents write them (dropshot, schemars):
//! - a single-member `allOf` (`{description, nullable, allOf: [X]}`, how a documented reference
//!   is written) is X's shape, accepting `null` too when the wrapper says `nullable` (a
//!   referenced X then gets a second static that does, `NULLABLE_SHAPE_X`);
//! - an `allOf` of several objects is one object merged from them ([`all_of_kind`]; anything
//!   else in an `allOf` is refused);
//! - a `oneOf` or `anyOf` is the runtime's `ShapeKind::AnyOf`: a value at least one alternative
//!   allows (a `oneOf` is not checked for "exactly one": see the runtime), or one string kind
//!   when every alternative is a plain string enum.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToShoutySnakeCase;
use openapiv3::{ObjectType, OpenAPI, ReferenceOr, Schema, SchemaData, SchemaKind, Type};
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
    /// Component name, and whether it is the static that also accepts `null`.
    wanted: BTreeSet<(String, bool)>,
    /// Pattern source -> its static's index, numbered in the order first met.
    patterns: BTreeMap<String, usize>,
}

impl Shapes {
    fn name(component: &str, or_null: bool) -> syn::Ident {
        let name = component.to_shouty_snake_case();
        if or_null {
            format_ident!("NULLABLE_SHAPE_{name}")
        } else {
            format_ident!("SHAPE_{name}")
        }
    }

    /// The static of a component's shape, which [`Shapes::finish`] will write.
    pub(super) fn want(&mut self, component: &str) -> syn::Ident {
        self.wanted.insert((component.to_string(), false));
        Self::name(component, false)
    }

    /// The static of a component's shape that also accepts `null`: for a `nullable` wrapper of
    /// a reference to a component that does not.
    fn want_or_null(&mut self, component: &str) -> syn::Ident {
        self.wanted.insert((component.to_string(), true));
        Self::name(component, true)
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
        while let Some((name, or_null)) =
            self.wanted.iter().find(|n| !done.contains_key(*n)).cloned()
        {
            let schema = spec
                .components
                .as_ref()
                .and_then(|c| c.schemas.get(&name))
                .ok_or_else(|| {
                    Error::Invalid(format!("dangling reference #/components/schemas/{name}"))
                })?;
            let schema = spec::resolve_schema(spec, schema)?;
            let shape = shape(spec, schema, or_null, &mut self, &name)?;
            let ident = Self::name(&name, or_null);
            let doc = if or_null {
                format!("What the document's `{name}` schema allows, or `null`.")
            } else {
                format!("What the document's `{name}` schema allows.")
            };
            done.insert(
                (name, or_null),
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

/// The runtime `Shape` of `schema` (an expression usable in a static's initializer), seen
/// through its single-member `allOf` wrappers; `or_null`: accepting `null` too.
fn shape(
    spec: &OpenAPI,
    schema: &Schema,
    or_null: bool,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    let (schema, wrapped_nullable) = unwrap_all_of(spec, schema, context)?;
    let nullable = or_null || wrapped_nullable;
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
        SchemaKind::OneOf { one_of } => union_kind(spec, one_of, "oneOf", shapes, context)?,
        SchemaKind::AnyOf { any_of } => union_kind(spec, any_of, "anyOf", shapes, context)?,
        SchemaKind::AllOf { all_of } => all_of_kind(spec, all_of, shapes, context)?,
        other => {
            return Err(Error::Invalid(format!(
                "{context}: the server generator supports typed schemas only, not {}",
                kind_name(other)
            )));
        }
    };
    // A nullable value is never left to its Rust type (`enforced_by_type` says so of a nullable
    // schema; a wrapper's `nullable` is the same).
    let typed = if nullable {
        Enforced::No
    } else {
        enforced_by_type(spec, schema, 0)?
    };
    Ok(quote!(Shape { kind: #kind, nullable: #nullable, typed: #typed }))
}

/// `schema` seen through its single-member `allOf` wrappers (`{description, nullable, allOf:
/// [X]}`, how dropshot and schemars write a documented reference): the schema they wrap, and
/// whether it or a wrapper on the way says `nullable`. Wrappers that wrap one another without
/// end are refused.
pub(super) fn unwrap_all_of<'s>(
    spec: &'s OpenAPI,
    mut schema: &'s Schema,
    context: &str,
) -> Result<(&'s Schema, bool), Error> {
    let mut nullable = schema.schema_data.nullable;
    for _ in 0..16 {
        match &schema.schema_kind {
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => {
                schema = spec::resolve_schema(spec, &all_of[0])?;
                nullable |= schema.schema_data.nullable;
            }
            _ => return Ok((schema, nullable)),
        }
    }
    Err(Error::Invalid(format!(
        "{context}: single-member allOf wrappers that wrap one another without end"
    )))
}

/// The kind of a `oneOf` or `anyOf` (`which`): one string kind of all their values when every
/// alternative is a plain string enum (dropshot writes a documented enum so, one alternative per
/// value), else the runtime's `ShapeKind::AnyOf` of the alternatives' shapes.
fn union_kind(
    spec: &OpenAPI,
    alternatives: &[ReferenceOr<Schema>],
    which: &str,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    if alternatives.is_empty() {
        return Err(Error::Invalid(format!("{context}: an empty {which}")));
    }
    if let Some(values) = string_enum_values(spec, alternatives, context)? {
        return Ok(quote! {
            ShapeKind::String { min: None, max: None, pattern: None, allowed: &[#(#values),*] }
        });
    }
    let mut children = Vec::new();
    for alternative in alternatives {
        children.push(match alternative {
            ReferenceOr::Reference { reference } => {
                let ident = shapes.want(spec::ref_name(reference, "schemas")?);
                quote!(&#ident)
            }
            ReferenceOr::Item(schema) => inline_child(spec, schema, shapes, context)?,
        });
    }
    Ok(quote!(ShapeKind::AnyOf(&[#(#children),*])))
}

/// The values of a union whose every alternative (through references and wrappers) is a string
/// `enum` without `null` and with no other constraint; `None` when one is anything else.
fn string_enum_values(
    spec: &OpenAPI,
    alternatives: &[ReferenceOr<Schema>],
    context: &str,
) -> Result<Option<Vec<String>>, Error> {
    let mut values = Vec::new();
    for alternative in alternatives {
        let schema = spec::resolve_schema(spec, alternative)?;
        let (schema, nullable) = unwrap_all_of(spec, schema, context)?;
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(s))
                if !nullable
                    && !s.enumeration.is_empty()
                    && s.enumeration.iter().all(Option::is_some)
                    && s.min_length.is_none()
                    && s.max_length.is_none()
                    && s.pattern.is_none() =>
            {
                values.extend(s.enumeration.iter().flatten().cloned());
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(values))
}

/// The kind of an `allOf` of several schemas, each an object (through references and
/// wrappers): one object with every member's required names and properties. Refused: a member
/// that is no object; a property two members give different schemas; a member closed by
/// `additionalProperties: false` (it would refuse the other members' properties, which typify's
/// merged type reads); `x-max-combined-items` on more than one member.
fn all_of_kind(
    spec: &OpenAPI,
    members: &[ReferenceOr<Schema>],
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    if members.is_empty() {
        return Err(Error::Invalid(format!("{context}: an empty allOf")));
    }
    let mut merged = ObjectType::default();
    let mut data = SchemaData::default();
    for member in members {
        let schema = spec::resolve_schema(spec, member)?;
        let (schema, _) = unwrap_all_of(spec, schema, context)?;
        let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
            return Err(Error::Invalid(format!(
                "{context}: the server generator supports an allOf of objects only"
            )));
        };
        if matches!(
            object.additional_properties,
            Some(openapiv3::AdditionalProperties::Any(false))
        ) {
            return Err(Error::Invalid(format!(
                "{context}: an allOf member with additionalProperties: false"
            )));
        }
        if let Some(rule) = ext(&schema.schema_data.extensions, "x-max-combined-items") {
            if data.extensions.contains_key("x-max-combined-items") {
                return Err(Error::Invalid(format!(
                    "{context}: x-max-combined-items on more than one allOf member"
                )));
            }
            data.extensions
                .insert("x-max-combined-items".into(), rule.clone());
        }
        for (name, property) in &object.properties {
            match merged.properties.get(name) {
                Some(known) if known != property => {
                    return Err(Error::Invalid(format!(
                        "{context}: allOf members give property {name} different schemas"
                    )));
                }
                Some(_) => {}
                None => {
                    merged.properties.insert(name.clone(), property.clone());
                }
            }
        }
        for name in &object.required {
            if !merged.required.contains(name) {
                merged.required.push(name.clone());
            }
        }
    }
    let schema = Schema {
        schema_data: data,
        schema_kind: SchemaKind::Type(Type::Object(merged.clone())),
    };
    object_shape(spec, &schema, &merged, shapes, context)
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
        ReferenceOr::Item(schema) => inline_child(spec, schema, shapes, context),
    }
}

/// A reference to the `Shape` of an inline property, item or alternative. Wrappers of a
/// reference (`{nullable: true, allOf: [{$ref: X}]}`) refer to X's static (its twin that accepts
/// `null` when a wrapper adds `nullable`), never a copy of X's shape: a schema that holds itself
/// (propolis' `VolumeConstructionRequest`) would otherwise be copied without end.
fn inline_child(
    spec: &OpenAPI,
    schema: &Schema,
    shapes: &mut Shapes,
    context: &str,
) -> Result<TokenStream, Error> {
    let mut wrapper = schema;
    let mut nullable = schema.schema_data.nullable;
    for _ in 0..16 {
        let SchemaKind::AllOf { all_of } = &wrapper.schema_kind else {
            break;
        };
        match all_of.as_slice() {
            [ReferenceOr::Reference { reference }] => {
                let name = spec::ref_name(reference, "schemas")?;
                let target = spec
                    .components
                    .as_ref()
                    .and_then(|c| c.schemas.get(name))
                    .ok_or_else(|| Error::Invalid(format!("dangling reference {reference}")))?;
                let target = spec::resolve_schema(spec, target)?;
                let (_, target_nullable) = unwrap_all_of(spec, target, name)?;
                let ident = if nullable && !target_nullable {
                    shapes.want_or_null(name)
                } else {
                    shapes.want(name)
                };
                return Ok(quote!(&#ident));
            }
            [ReferenceOr::Item(inner)] => {
                wrapper = inner;
                nullable |= inner.schema_data.nullable;
            }
            _ => break,
        }
    }
    let shape = shape(spec, schema, false, shapes, context)?;
    Ok(quote!(&#shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document of no operations whose components are `schemas`.
    fn document(schemas: serde_json::Value) -> OpenAPI {
        serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": schemas},
        }))
        .expect("a valid document")
    }

    /// What the generator decides for the component `Thing` of a document holding `schemas`.
    fn enforced(schemas: serde_json::Value) -> Enforced {
        let spec = document(schemas);
        let thing = &spec.components.as_ref().unwrap().schemas["Thing"];
        let thing = spec::resolve_schema(&spec, thing).expect("resolves");
        enforced_by_type(&spec, thing, 0).expect("decides")
    }

    /// The shape statics of the components `Thing` (and what it refers to) in `schemas`, as
    /// one string of tokens, or the error.
    fn statics(schemas: serde_json::Value) -> Result<String, Error> {
        let spec = document(schemas);
        let mut shapes = Shapes::default();
        shapes.want("Thing");
        shapes.finish(&spec).map(|tokens| tokens.to_string())
    }

    #[test]
    fn a_single_member_all_of_is_the_shape_it_wraps_and_null_when_it_says_nullable() {
        let tokens = statics(serde_json::json!({
            "Thing": {"type": "object", "properties": {
                "plain": {"description": "d", "allOf": [{"$ref": "#/components/schemas/Name"}]},
                "or_null": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Name"}]},
                "inline": {"nullable": true, "allOf": [{"type": "integer", "minimum": 1}]},
                "myself": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Thing"}]},
            }},
            "Name": {"type": "string", "maxLength": 3},
        }))
        .expect("generates");
        for expected in [
            "(\"plain\" , & SHAPE_NAME)",
            "(\"or_null\" , & NULLABLE_SHAPE_NAME)",
            "static NULLABLE_SHAPE_NAME : Shape = Shape { kind : ShapeKind :: String { min : None , max : Some (3usize)",
            "(\"inline\" , & Shape { kind : ShapeKind :: Number { integer : true , min : Some ((1f64 , false)) , max : None } , nullable : true , typed : Typed :: No })",
            // A schema that holds itself refers to its own twin, never a copy of itself.
            "(\"myself\" , & NULLABLE_SHAPE_THING)",
            "static SHAPE_NAME : Shape = Shape { kind : ShapeKind :: String { min : None , max : Some (3usize) , pattern : None , allowed : & [] } , nullable : false",
        ] {
            assert!(tokens.contains(expected), "{expected}\nnot in\n{tokens}");
        }
        // A component that is only a wrapper is the wrapped kind.
        let tokens = statics(serde_json::json!({
            "Thing": {"allOf": [{"$ref": "#/components/schemas/Name"}]},
            "Name": {"type": "boolean"},
        }))
        .expect("generates");
        assert!(
            tokens.contains("static SHAPE_THING : Shape = Shape { kind : ShapeKind :: Boolean"),
            "{tokens}"
        );
        // Wrappers of each other without end are refused, not followed.
        let error = statics(serde_json::json!({
            "Thing": {"allOf": [{"$ref": "#/components/schemas/Other"}]},
            "Other": {"allOf": [{"$ref": "#/components/schemas/Thing"}]},
        }))
        .expect_err("refused");
        assert!(error.to_string().contains("without end"), "{error}");
    }

    #[test]
    fn a_one_of_is_any_of_its_alternatives_and_string_enums_are_one_enum() {
        let tokens = statics(serde_json::json!({
            "Thing": {"type": "object", "properties": {
                "either": {"oneOf": [{"$ref": "#/components/schemas/Name"}, {"type": "integer"}]},
                "mode": {"oneOf": [{"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["b", "c"]}]},
                "some": {"anyOf": [{"type": "boolean"}]},
            }},
            "Name": {"type": "string"},
        }))
        .expect("generates");
        for expected in [
            "(\"either\" , & Shape { kind : ShapeKind :: AnyOf (& [& SHAPE_NAME , & Shape { kind : ShapeKind :: Number { integer : true",
            "(\"mode\" , & Shape { kind : ShapeKind :: String { min : None , max : None , pattern : None , allowed : & [\"a\" , \"b\" , \"c\"] }",
            "(\"some\" , & Shape { kind : ShapeKind :: AnyOf (& [& Shape { kind : ShapeKind :: Boolean",
        ] {
            assert!(tokens.contains(expected), "{expected}\nnot in\n{tokens}");
        }
        let error = statics(serde_json::json!({"Thing": {"oneOf": []}})).expect_err("refused");
        assert!(error.to_string().contains("an empty oneOf"), "{error}");
    }

    #[test]
    fn an_all_of_of_objects_is_one_object_and_anything_else_is_refused() {
        let object = |required: serde_json::Value, properties: serde_json::Value| serde_json::json!({"type": "object", "required": required, "properties": properties});
        let tokens = statics(serde_json::json!({
            "Thing": {"allOf": [
                {"$ref": "#/components/schemas/Base"},
                object(serde_json::json!(["b"]), serde_json::json!({"b": {"type": "integer"}, "a": {"type": "string"}})),
            ]},
            "Base": object(serde_json::json!(["a"]), serde_json::json!({"a": {"type": "string"}})),
        }))
        .expect("generates");
        assert!(
            tokens.contains(
                "static SHAPE_THING : Shape = Shape { kind : ShapeKind :: Object { required : & [\"a\" , \"b\"] , properties : & [(\"a\" , & Shape { kind : ShapeKind :: String"
            ) && tokens.contains("(\"b\" , & Shape { kind : ShapeKind :: Number { integer : true"),
            "{tokens}"
        );
        let refused = |thing: serde_json::Value| {
            statics(serde_json::json!({"Thing": thing}))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let a = |schema: serde_json::Value| {
            object(serde_json::json!([]), serde_json::json!({"a": schema}))
        };
        assert!(
            refused(serde_json::json!({"allOf": [a(serde_json::json!({"type": "string"})), a(serde_json::json!({"type": "integer"}))]}))
                .contains("property a different schemas")
        );
        assert!(
            refused(serde_json::json!({"allOf": [a(serde_json::json!({"type": "string"})), {"type": "string"}]}))
                .contains("an allOf of objects only")
        );
        assert!(
            refused(serde_json::json!({"allOf": [
                {"type": "object", "additionalProperties": false, "properties": {}},
                a(serde_json::json!({"type": "string"})),
            ]}))
            .contains("additionalProperties: false")
        );
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
