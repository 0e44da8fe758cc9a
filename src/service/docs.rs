//! `/docs`: the OpenAPI document rendered for people by swagger-ui, with "Try it out" sending
//! requests to this server.
//!
//! The page is ours and small; the renderer is swagger-ui-dist, vendored under
//! `assets/swagger-ui/` (its README says which version, from where, and how to update it) and
//! embedded in the binary, so serving the page needs no file at run time. This module must not
//! fetch or link anything from outside the server (no CDN, no swagger.io validator badge), must
//! not serve anything but the page and its two assets, and must not copy the document: the page
//! reads `/openapi.json`, which `Service::router` serves.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::get;

/// The vendored swagger-ui-dist's version. The page asks for the assets with `?v=` this, so that
/// a browser holding an older build's copy (they are cached for a week) fetches the new one.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// swagger-ui's JavaScript bundle (React and its dependencies included), as the npm package has it.
pub const SWAGGER_UI_BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");

/// swagger-ui's style sheet, as the npm package has it.
pub const SWAGGER_UI_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

/// The page; `{VERSION}` becomes [`SWAGGER_UI_VERSION`].
///
/// Try it out: the document's `servers` name the real cloud first and then the reference
/// server's default address (`http://127.0.0.1:8080`); neither is necessarily where this page
/// came from (another port, another host). So the page fetches `/openapi.json` itself and hands
/// swagger-ui the document with `servers` replaced by the page's own origin. That is preferred to
/// a `requestInterceptor` rewriting each request's URL: there the Servers list and the curl
/// command swagger-ui shows would still name the cloud while requests went elsewhere; here what
/// is shown is what is sent. The token goes in through the Authorize button (the `token` apiKey
/// scheme, `X-Auth-Token`); AK/SK signing cannot be done by swagger-ui.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>roma-assets API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css?v={VERSION}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js?v={VERSION}"></script>
<script>
fetch("/openapi.json")
  .then(function (response) {
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  })
  .then(function (spec) {
    // Try it out goes to the server this page came from (see src/service/docs.rs).
    spec.servers = [{ url: window.location.origin, description: "this server" }];
    window.ui = SwaggerUIBundle({
      spec: spec,
      dom_id: "#swagger-ui",
      tryItOutEnabled: true,
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  })
  .catch(function (error) {
    document.getElementById("swagger-ui").textContent =
      "Could not load /openapi.json: " + error.message;
  });
</script>
</body>
</html>
"##;

/// `GET /docs` (the page), `GET /docs/swagger-ui-bundle.js` and `GET /docs/swagger-ui.css`.
pub fn router() -> Router {
    let page = PAGE.replace("{VERSION}", SWAGGER_UI_VERSION);
    Router::new()
        .route(
            "/docs",
            get(move || async move {
                (
                    [
                        (CONTENT_TYPE, "text/html; charset=utf-8"),
                        // The page names the assets' version: always revalidate it.
                        (CACHE_CONTROL, "no-cache"),
                    ],
                    page,
                )
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (CACHE_CONTROL, "public, max-age=604800"),
                    ],
                    SWAGGER_UI_BUNDLE,
                )
            }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/css; charset=utf-8"),
                        (CACHE_CONTROL, "public, max-age=604800"),
                    ],
                    SWAGGER_UI_CSS,
                )
            }),
        )
}
