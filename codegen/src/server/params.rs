//! Parameters (path, query, header): how each is read from the request, checked against its
//! schema and converted to the type of its field in the operation's `<Op>Params` struct.

use openapiv3::{OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, SchemaKind, Type};
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
    let loc = quote!(loc);

    // The raw text: path parameters always exist (axum matched the route); query and header
    // parameters may be absent.
    let raw = match parameter {
        Parameter::Path { .. } => quote!(Some(path.get(#name)?)),
        Parameter::Query { .. } => quote!(query.get(#name)),
        Parameter::Header { .. } => {
            let lower = name.to_ascii_lowercase();
            quote!(header_param(&parts.headers, #lower)?)
        }
        Parameter::Cookie { .. } => return Err(op.unsupported(format!("cookie parameter {name}"))),
    };

    // Checks on the raw text, then its conversion to the field's type.
    let (checks, base_ty, convert) = match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            let checks = string_checks(s, &quote!(raw), &loc);
            match schema_ref {
                ReferenceOr::Reference { reference } => {
                    let ty = type_ident(spec::ref_name(reference, "schemas")?);
                    (
                        checks,
                        quote!(types::#ty),
                        quote! {
                            types::#ty::try_from(raw.to_string())
                                .map_err(|e| ApiError::invalid_parameter(#loc, e))?
                        },
                    )
                }
                ReferenceOr::Item(_) => (checks, quote!(String), quote!(raw.to_string())),
            }
        }
        SchemaKind::Type(Type::Integer(i)) => {
            let (min, max) = number_bounds(
                i.minimum.map(|v| v as f64),
                i.exclusive_minimum,
                i.maximum.map(|v| v as f64),
                i.exclusive_maximum,
            );
            if matches!(schema_ref, ReferenceOr::Reference { .. }) {
                return Err(
                    op.unsupported(format!("parameter {name}: a $ref to a non-string schema"))
                );
            }
            (
                quote! {},
                quote!(i64),
                quote! {{
                    let number: i64 = parse_param(#loc, raw, "an integer")?;
                    check_number(#loc, number as f64, #min, #max)?;
                    number
                }},
            )
        }
        SchemaKind::Type(Type::Number(n)) => {
            let (min, max) = number_bounds(
                n.minimum,
                n.exclusive_minimum,
                n.maximum,
                n.exclusive_maximum,
            );
            if matches!(schema_ref, ReferenceOr::Reference { .. }) {
                return Err(
                    op.unsupported(format!("parameter {name}: a $ref to a non-string schema"))
                );
            }
            (
                quote! {},
                quote!(f64),
                quote! {{
                    let number: f64 = parse_param(#loc, raw, "a number")?;
                    check_number(#loc, number, #min, #max)?;
                    number
                }},
            )
        }
        SchemaKind::Type(Type::Boolean(_)) => (
            quote! {},
            quote!(bool),
            quote!(parse_param::<bool>(#loc, raw, "true or false")?),
        ),
        // A `oneOf` of string enums (dropshot writes its sort modes so): one enum of their values,
        // converted to the component's type as a string enum is.
        SchemaKind::OneOf { one_of } if matches!(schema_ref, ReferenceOr::Reference { .. }) => {
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
            let ReferenceOr::Reference { reference } = schema_ref else {
                unreachable!("matched above");
            };
            let ty = type_ident(spec::ref_name(reference, "schemas")?);
            (
                quote! { check_enum(#loc, raw, &[#(#values),*])?; },
                quote!(types::#ty),
                quote! {
                    types::#ty::try_from(raw.to_string())
                        .map_err(|e| ApiError::invalid_parameter(#loc, e))?
                },
            )
        }
        _ => {
            return Err(op.unsupported(format!(
                "parameter {name}: only string, integer, number and boolean schemas"
            )));
        }
    };

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
