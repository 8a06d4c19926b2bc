//! `/console/`: the escrow review page for approvers, embedded in the binary.
//!
//! The page and its assets hold no data, so they are served without a bearer token, like
//! `/healthz`. The script reads escrows through the `/v1` API with the token the person
//! enters, which every `/v1` handler checks as usual. The Content-Security-Policy lets the
//! page load scripts, styles and API responses only from this origin, and no inline script.

use crate::http::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Content-Security-Policy of every console response: same-origin only, no inline script or
/// style, no plugins, no framing, no form posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file the console serves; names not listed here get 404.
const ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../ui/console/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../ui/console/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../ui/console/style.css"),
    },
];

fn respond(asset: &Asset) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // The assets change only with the binary, so a browser must revalidate after an upgrade.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body)
}

/// `GET /console/`: the page.
pub async fn index() -> HttpResponse {
    respond(&ASSETS[0])
}

/// `GET /console/{file}`: `index.html`, `app.js` or `style.css`.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == file.as_str())
        .map(respond)
        .ok_or_else(|| ApiError::NotFound {
            what: "console file",
            id: file.chars().take(80).collect(),
        })
}
