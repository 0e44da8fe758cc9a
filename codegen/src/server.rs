//! The axum server generator (in progress).

use openapiv3::OpenAPI;
use proc_macro2::TokenStream;

use crate::Error;

pub(crate) fn generate(_spec: &OpenAPI) -> Result<TokenStream, Error> {
    Ok(TokenStream::new())
}
