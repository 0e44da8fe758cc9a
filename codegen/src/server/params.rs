//! Parameters (path, query, header): how each is read from the request, checked against its
//! schema and converted to the type of its field in the operation's `<Op>Params` struct.
//!
//! A query parameter that takes several values (an array of scalars, or a union of a scalar
//! and an array of it) is read as every value the query gives its name, the way OpenAPI writes
//! one by default (`style: form`, exploded: `id=a&id=b`), into a `Vec`.

use openapiv3::{
    OpenAPI, Parameter, ParameterSchemaOrContent, QueryStyle, ReferenceOr, Schema, SchemaKind, Type,
};
use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use super::shape::{Shapes, number_bounds, opt_usize, unwrap_all_of};
use super::{rust_field, type_ident};
use crate::Error;
use crate::spec::{self, Op};

/// Checks of a string value `s` (a `&str`) against a string schema (its pattern compiled by
/// [`crate::validate`] already).
pub(super) fn string_checks(
    s: &openapiv3::StringType,
    value: &TokenStream,
    loc: &TokenStream,
) -> TokenStream {
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

/// How one parameter is read, checked and typed.
pub(super) struct Param {
    /// The field of the parameters struct.
    pub(super) field: syn::Ident,
    /// Its type.
    pub(super) ty: TokenStream,
    /// Its doc comment.
    pub(super) doc: String,
    /// The expression reading, checking and converting it.
    pub(super) extract: TokenStream,
}

/// How `parameter` of `op` is read, checked and typed.
pub(super) fn param(
    spec: &OpenAPI,
    op: &Op<'_>,
    parameter: &Parameter,
    shapes: &mut Shapes,
) -> Result<Param, Error> {
    let data = spec::parameter_data(parameter);
    let name = data.name.as_str();
    let field = rust_field(name);
    let ParameterSchemaOrContent::Schema(schema_ref) = &data.format else {
        return Err(op.unsupported(format!("parameter {name}: `content` parameters")));
    };
    let schema = spec::resolve_schema(spec, schema_ref)?;
    if let Some(repeated) = repeated(spec, schema)? {
        return repeated_param(spec, op, parameter, schema, repeated, shapes);
    }
    let raw = raw_text(op, parameter, name)?;
    let Conversion {
        checks,
        ty: base_ty,
        convert,
    } = conversion(spec, op, name, schema, schema_ref, shapes)?;

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

/// The item schema of a parameter that takes several values, with the array's item counts.
struct Repeated {
    items: ReferenceOr<Schema>,
    min: Option<usize>,
    max: Option<usize>,
}

/// Whether a parameter of `schema` takes several values: an array (of what [`conversion`]
/// reads), or a `oneOf`/`anyOf` of one schema and an array of that same schema without item
/// counts (one value or several, which a query writes alike: buildomat's `id`).
fn repeated(spec: &OpenAPI, schema: &Schema) -> Result<Option<Repeated>, Error> {
    let unboxed = |items: &ReferenceOr<Box<Schema>>| match items {
        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
            reference: reference.clone(),
        },
        ReferenceOr::Item(schema) => ReferenceOr::Item((**schema).clone()),
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::Array(array)) => Ok(array.items.as_ref().map(|items| Repeated {
            items: unboxed(items),
            min: array.min_items,
            max: array.max_items,
        })),
        SchemaKind::OneOf {
            one_of: alternatives,
        }
        | SchemaKind::AnyOf {
            any_of: alternatives,
        } if alternatives.len() == 2 => {
            for (one, several) in [
                (&alternatives[0], &alternatives[1]),
                (&alternatives[1], &alternatives[0]),
            ] {
                if let SchemaKind::Type(Type::Array(array)) =
                    &spec::resolve_schema(spec, several)?.schema_kind
                    && let Some(items) = &array.items
                    && unboxed(items) == *one
                    && array.min_items.is_none()
                    && array.max_items.is_none()
                {
                    return Ok(Some(Repeated {
                        items: one.clone(),
                        min: None,
                        max: None,
                    }));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// A query parameter that takes several values: every value the query gives its name, in order
/// (`style: form`, exploded, OpenAPI's default for a query), each checked and converted as a
/// single value of the item schema is, into a `Vec`. Any other location or style is refused.
fn repeated_param(
    spec: &OpenAPI,
    op: &Op<'_>,
    parameter: &Parameter,
    schema: &Schema,
    repeated: Repeated,
    shapes: &mut Shapes,
) -> Result<Param, Error> {
    let data = spec::parameter_data(parameter);
    let name = data.name.as_str();
    let Parameter::Query { style, .. } = parameter else {
        return Err(op.unsupported(format!(
            "parameter {name}: several values outside the query"
        )));
    };
    if !matches!(style, QueryStyle::Form) || data.explode == Some(false) {
        return Err(op.unsupported(format!(
            "parameter {name}: several values in another style than `{name}=a&{name}=b`"
        )));
    }
    if schema.schema_data.default.is_some() {
        return Err(op.unsupported(format!("parameter {name}: a default for several values")));
    }
    let item = spec::resolve_schema(spec, &repeated.items)?;
    let Conversion {
        checks,
        ty,
        convert,
    } = conversion(spec, op, name, item, &repeated.items, shapes)?;
    let count = if repeated.min.is_some() || repeated.max.is_some() {
        let (min, max) = (opt_usize(repeated.min), opt_usize(repeated.max));
        quote!(check_items(loc, values.len(), #min, #max)?;)
    } else {
        quote!()
    };
    let read = quote! {{
        let loc = &Loc::Root(#name);
        #count
        let mut items = Vec::with_capacity(values.len());
        for (index, raw) in values.into_iter().enumerate() {
            let loc = &Loc::Index(loc, index);
            #checks
            items.push(#convert);
        }
        items
    }};
    let (ty, extract) = if data.required {
        (
            quote!(Vec<#ty>),
            quote! {{
                let values = required_values(&Loc::Root(#name), query.all(#name))?;
                #read
            }},
        )
    } else {
        (
            quote!(Option<Vec<#ty>>),
            quote! {{
                let values = query.all(#name);
                if values.is_empty() { None } else { Some(#read) }
            }},
        )
    };
    let mut doc = data.description.clone().unwrap_or_else(|| name.to_string());
    doc.push_str(&format!(
        "\n\nEvery value the query gives `{name}`, in order (`{name}=a&{name}=b`)."
    ));
    Ok(Param {
        field: rust_field(name),
        ty,
        doc,
        extract,
    })
}

/// The parameter's raw text, an `Option<&str>`: path parameters always exist (axum matched the
/// route); query and header parameters may be absent.
fn raw_text(op: &Op<'_>, parameter: &Parameter, name: &str) -> Result<TokenStream, Error> {
    Ok(match parameter {
        Parameter::Path { .. } => quote!(Some(path.get(#name)?)),
        Parameter::Query { .. } => quote!(query.get(#name)),
        Parameter::Header { .. } => {
            let lower = name.to_ascii_lowercase();
            quote!(header_param(&parts.headers, #lower)?)
        }
        Parameter::Cookie { .. } => return Err(op.unsupported(format!("cookie parameter {name}"))),
    })
}

/// The checks on a parameter's raw text (`raw`, a `&str`, at `loc`), and its conversion to the
/// field's type.
struct Conversion {
    checks: TokenStream,
    ty: TokenStream,
    convert: TokenStream,
}

/// How a parameter of `schema` is checked and converted: strings (a component's type when
/// referenced), integers, numbers, booleans, a referenced `oneOf` of string enums, and a
/// referenced `oneOf` or `anyOf` of strings (dropshot's `NameOrId`).
fn conversion(
    spec: &OpenAPI,
    op: &Op<'_>,
    name: &str,
    schema: &Schema,
    schema_ref: &ReferenceOr<Schema>,
    shapes: &mut Shapes,
) -> Result<Conversion, Error> {
    let loc = quote!(loc);
    Ok(match (&schema.schema_kind, schema_ref) {
        (SchemaKind::Type(Type::String(s)), _) => {
            let checks = string_checks(s, &quote!(raw), &loc);
            match schema_ref {
                ReferenceOr::Reference { reference } => {
                    let ty = type_ident(spec::ref_name(reference, "schemas")?);
                    Conversion {
                        checks,
                        ty: quote!(types::#ty),
                        convert: quote! {
                            types::#ty::try_from(raw.to_string())
                                .map_err(|e| ApiError::invalid_parameter(#loc, e))?
                        },
                    }
                }
                ReferenceOr::Item(_) => Conversion {
                    checks,
                    ty: quote!(String),
                    convert: quote!(raw.to_string()),
                },
            }
        }
        (SchemaKind::Type(Type::Integer(i)), _) => {
            let bounds = number_bounds(
                i.minimum.map(|v| v as f64),
                i.exclusive_minimum,
                i.maximum.map(|v| v as f64),
                i.exclusive_maximum,
            );
            let number = Number {
                ty: quote!(i64),
                what: "an integer",
                as_f64: quote!(number as f64),
            };
            number.conversion(op, name, schema_ref, bounds)?
        }
        (SchemaKind::Type(Type::Number(n)), _) => {
            let bounds = number_bounds(
                n.minimum,
                n.exclusive_minimum,
                n.maximum,
                n.exclusive_maximum,
            );
            let number = Number {
                ty: quote!(f64),
                what: "a number",
                as_f64: quote!(number),
            };
            number.conversion(op, name, schema_ref, bounds)?
        }
        (SchemaKind::Type(Type::Boolean(_)), _) => Conversion {
            checks: quote! {},
            ty: quote!(bool),
            convert: quote!(parse_param::<bool>(#loc, raw, "true or false")?),
        },
        (SchemaKind::OneOf { one_of }, ReferenceOr::Reference { reference })
            if all_string_enums(spec, one_of)? =>
        {
            one_of_enum(spec, op, name, one_of, reference)?
        }
        (
            SchemaKind::OneOf {
                one_of: alternatives,
            }
            | SchemaKind::AnyOf {
                any_of: alternatives,
            },
            ReferenceOr::Reference { reference },
        ) => string_union(spec, op, name, alternatives, reference, shapes)?,
        _ => {
            return Err(op.unsupported(format!(
                "parameter {name}: only string, integer, number and boolean schemas"
            )));
        }
    })
}

/// A numeric parameter's Rust type, what the refusal of an unparsable one calls it, and the
/// number as an `f64` for its bounds check.
struct Number {
    ty: TokenStream,
    what: &'static str,
    as_f64: TokenStream,
}

impl Number {
    /// Parsed, then checked against its bounds; written inline (a `$ref` is refused).
    fn conversion(
        &self,
        op: &Op<'_>,
        name: &str,
        schema_ref: &ReferenceOr<Schema>,
        (min, max): (TokenStream, TokenStream),
    ) -> Result<Conversion, Error> {
        if matches!(schema_ref, ReferenceOr::Reference { .. }) {
            return Err(op.unsupported(format!("parameter {name}: a $ref to a non-string schema")));
        }
        let (loc, ty, what, as_f64) = (quote!(loc), &self.ty, self.what, &self.as_f64);
        Ok(Conversion {
            checks: quote! {},
            ty: ty.clone(),
            convert: quote! {{
                let number: #ty = parse_param(#loc, raw, #what)?;
                check_number(#loc, #as_f64, #min, #max)?;
                number
            }},
        })
    }
}

/// Whether every alternative of a union is a string enum (see [`one_of_enum`]).
fn all_string_enums(spec: &OpenAPI, alternatives: &[ReferenceOr<Schema>]) -> Result<bool, Error> {
    for alternative in alternatives {
        match &spec::resolve_schema(spec, alternative)?.schema_kind {
            SchemaKind::Type(Type::String(s)) if !s.enumeration.is_empty() => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// A referenced `oneOf` or `anyOf` whose alternatives are all strings (through single-member
/// `allOf` wrappers): the text is checked against the component's shape (at least one
/// alternative allows it, as a JSON string would be), then read as the component's type reads
/// a JSON string, which also checks the formats the shape leaves to it (`uuid`...).
fn string_union(
    spec: &OpenAPI,
    op: &Op<'_>,
    name: &str,
    alternatives: &[ReferenceOr<Schema>],
    reference: &str,
    shapes: &mut Shapes,
) -> Result<Conversion, Error> {
    let component = spec::ref_name(reference, "schemas")?;
    for alternative in alternatives {
        let alternative = spec::resolve_schema(spec, alternative)?;
        let (alternative, _) = unwrap_all_of(spec, alternative, component)?;
        if !matches!(alternative.schema_kind, SchemaKind::Type(Type::String(_))) {
            return Err(op.unsupported(format!(
                "parameter {name}: a oneOf or anyOf of anything but strings"
            )));
        }
    }
    let (loc, ty, shape) = (quote!(loc), type_ident(component), shapes.want(component));
    Ok(Conversion {
        checks: quote! { check_text(#loc, raw, &#shape)?; },
        ty: quote!(types::#ty),
        convert: quote!(from_text::<types::#ty>(#loc, raw)?),
    })
}

/// A referenced `oneOf` of string enums (dropshot writes its sort modes so): one enum of their
/// values, converted to the component's type as a string enum is.
fn one_of_enum(
    spec: &OpenAPI,
    op: &Op<'_>,
    name: &str,
    one_of: &[ReferenceOr<Schema>],
    reference: &str,
) -> Result<Conversion, Error> {
    let loc = quote!(loc);
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
    let ty = type_ident(spec::ref_name(reference, "schemas")?);
    Ok(Conversion {
        checks: quote! { check_enum(#loc, raw, &[#(#values),*])?; },
        ty: quote!(types::#ty),
        convert: quote! {
            types::#ty::try_from(raw.to_string())
                .map_err(|e| ApiError::invalid_parameter(#loc, e))?
        },
    })
}

#[cfg(test)]
mod tests {
    /// The generated server of a document whose one operation has `parameters`, as one string
    /// of tokens without spaces, or the error's message.
    fn server(parameters: serde_json::Value) -> Result<String, String> {
        let spec: openapiv3::OpenAPI = serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/{id}": {"get": {
                "operationId": "GetThings",
                "parameters": parameters,
                "responses": {"204": {"description": "ok"}},
            }}},
            "components": {"schemas": {
                "NameOrId": {"oneOf": [
                    {"title": "id", "allOf": [{"type": "string", "format": "uuid"}]},
                    {"title": "name", "allOf": [{"$ref": "#/components/schemas/Name"}]},
                ]},
                "Name": {"type": "string", "pattern": "^[a-z]+$"},
                "NameOrNumber": {"oneOf": [{"$ref": "#/components/schemas/Name"}, {"type": "integer"}]},
            }},
        }))
        .expect("a valid document");
        crate::server::generate(&spec)
            .map(|tokens| tokens.to_string().replace(' ', ""))
            .map_err(|e| e.to_string())
    }

    fn path_id() -> serde_json::Value {
        serde_json::json!({"in": "path", "name": "id", "required": true, "schema": {"type": "string"}})
    }

    #[test]
    fn a_query_parameter_of_several_values_is_every_value_of_its_name() {
        let tokens = server(serde_json::json!([
            path_id(),
            {"in": "query", "name": "tags", "schema": {"type": "array", "maxItems": 2, "items": {"type": "integer"}}},
            {"in": "query", "name": "one", "required": true, "schema": {"oneOf": [
                {"type": "string"}, {"type": "array", "items": {"type": "string"}},
            ]}},
        ]))
        .expect("generates");
        for expected in [
            "pub tags : Option < Vec < i64 > >",
            "let values = query . all (\"tags\")",
            "check_items (loc , values . len () , None , Some (2usize)) ?",
            "pub one : Vec < String >",
            "let values = required_values (& Loc :: Root (\"one\") , query . all (\"one\")) ?",
        ] {
            let expected = expected.replace(' ', "");
            assert!(tokens.contains(&expected), "{expected}\nnot in\n{tokens}");
        }
    }

    #[test]
    fn several_values_outside_an_exploded_query_are_refused() {
        let in_header = server(serde_json::json!([
            path_id(),
            {"in": "header", "name": "x-tags", "schema": {"type": "array", "items": {"type": "string"}}},
        ]));
        assert!(
            in_header
                .as_ref()
                .is_err_and(|e| e.contains("parameter x-tags: several values outside the query")),
            "{in_header:?}"
        );
        let not_exploded = server(serde_json::json!([
            path_id(),
            {"in": "query", "name": "tags", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
        ]));
        assert!(
            not_exploded.as_ref().is_err_and(|e| e
                .contains("operation GetThings: parameter tags: several values in another style")),
            "{not_exploded:?}"
        );
    }

    #[test]
    fn a_referenced_union_of_strings_is_checked_against_its_shape_then_read_as_its_type() {
        let tokens = server(serde_json::json!([
            {"in": "path", "name": "id", "required": true, "schema": {"$ref": "#/components/schemas/NameOrId"}},
        ]))
        .expect("generates");
        for expected in [
            "pub id : types :: NameOrId",
            "check_text (loc , raw , & SHAPE_NAME_OR_ID) ?",
            "from_text :: < types :: NameOrId > (loc , raw) ?",
            "static SHAPE_NAME_OR_ID : Shape = Shape { kind : ShapeKind :: AnyOf",
        ] {
            let expected = expected.replace(' ', "");
            assert!(tokens.contains(&expected), "{expected}\nnot in\n{tokens}");
        }
        let mixed = server(serde_json::json!([
            {"in": "path", "name": "id", "required": true, "schema": {"$ref": "#/components/schemas/NameOrNumber"}},
        ]));
        assert!(
            mixed.as_ref().is_err_and(
                |e| e.contains("parameter id: a oneOf or anyOf of anything but strings")
            ),
            "{mixed:?}"
        );
    }
}
