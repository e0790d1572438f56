//! The explorer: three static files compiled into the binary (no CDN, no external tiles;
//! it works offline) and served by the node at `/`. The pages read the index's API
//! (`/v1/index/…`) on the same origin.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX_HTML: &str = include_str!("../explorer/index.html");
const APP_JS: &str = include_str!("../explorer/app.js");
const APP_CSS: &str = include_str!("../explorer/app.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The pages change with the binary: revalidate rather than cache for long.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// `/` (and `/explorer`), `/explorer/app.js`, `/explorer/app.css`.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/explorer",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/explorer/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/explorer/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}
