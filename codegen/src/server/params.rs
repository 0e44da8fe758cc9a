//! Parameters (path, query, header): how each is read from the request, checked against its
//! schema and converted to the type of its field in the operation's `<Op>Params` struct.

use openapiv3::{
    OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, Schema, SchemaKind, Type,
};
use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use super::shape::{number_bounds, opt_usize};
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
pub(super) fn param(spec: &OpenAPI, op: &Op<'_>, parameter: &Parameter) -> Result<Param, Error> {
    let data = spec::parameter_data(parameter);
    let name = data.name.as_str();
    let field = rust_field(name);
    let ParameterSchemaOrContent::Schema(schema_ref) = &data.format else {
        return Err(op.unsupported(format!("parameter {name}: `content` parameters")));
    };
    let schema = spec::resolve_schema(spec, schema_ref)?;
    let raw = raw_text(op, parameter, name)?;
    let Conversion {
        checks,
        ty: base_ty,
        convert,
    } = conversion(spec, op, name, schema, schema_ref)?;

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
/// referenced), integers, numbers, booleans, and a referenced `oneOf` of string enums.
fn conversion(
    spec: &OpenAPI,
    op: &Op<'_>,
    name: &str,
    schema: &Schema,
    schema_ref: &ReferenceOr<Schema>,
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
        (SchemaKind::OneOf { one_of }, ReferenceOr::Reference { reference }) => {
            one_of_enum(spec, op, name, one_of, reference)?
        }
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
