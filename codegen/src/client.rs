//! The client generator: progenitor for every operation it supports, our own code for the
//! `multipart/form-data` operations progenitor rejects (its issue #518).
//!
//! Must not diverge from progenitor's shape: the multipart methods return the same
//! `ResponseValue<T>` / `Error<E>` types and run the same client hooks, so a caller cannot tell
//! which generator wrote a method.

use openapiv3::OpenAPI;
use proc_macro2::TokenStream;

use crate::{Error, spec};

/// progenitor's settings. Positional interface: one `async fn` per operation with its parameters
/// in document order. Chosen over the builder style because the multipart methods we write
/// ourselves mirror it with little code, and because the operations have few parameters.
fn settings() -> progenitor_impl::GenerationSettings {
    let mut settings = progenitor_impl::GenerationSettings::new();
    settings.with_interface(progenitor_impl::InterfaceStyle::Positional);
    settings
}

pub(crate) fn generate(spec: &OpenAPI) -> Result<TokenStream, Error> {
    let ops = spec::operations(spec)?;
    let mut multipart = Vec::new();
    for op in &ops {
        if op.is_multipart(spec)? {
            multipart.push(op.operation_id.to_string());
        }
    }
    let progenitor_spec = without_operations(spec, &multipart);
    let mut generator = progenitor_impl::Generator::new(&settings());
    let tokens = generator.generate_tokens(&progenitor_spec)?;
    Ok(tokens)
}

/// A copy of the document without the named operations (progenitor sees only what it supports).
fn without_operations(spec: &OpenAPI, operation_ids: &[String]) -> OpenAPI {
    let mut copy = spec.clone();
    for item in copy.paths.paths.values_mut() {
        let openapiv3::ReferenceOr::Item(item) = item else { continue };
        for slot in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ] {
            if slot
                .as_ref()
                .and_then(|op| op.operation_id.as_ref())
                .is_some_and(|id| operation_ids.contains(id))
            {
                *slot = None;
            }
        }
    }
    copy
}
