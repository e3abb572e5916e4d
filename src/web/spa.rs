//! The embedded admin web app: the files Vite built into `assets/dist/`,
//! compiled into the binary with rust-embed, so serving it needs no Node
//! and no files on disk.
//!
//! - `/` and any other path whose last segment has no extension is a
//!   client-side route: `index.html`, never cached.
//! - A path with an extension is a file: hashed build output under
//!   `assets/` is immutable for a year; other files are revalidated. A
//!   missing file is the usual JSON 404, never `index.html`.
//! - `/api/…` and `/v1/…` paths that no route matched stay JSON 404s, as
//!   do non-GET requests, so API clients never receive HTML.
//!
//! Every answer carries a strict Content-Security-Policy: the app loads
//! only its own files and runs no inline script or style.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/dist/"]
struct Dist;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX: &str = "index.html";
/// Replaced in `index.html` by the server's version.
const VERSION_PLACEHOLDER: &str = "__LOOKOUT_VERSION__";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The default service: the web app for every path no route matched.
pub async fn serve(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return super::not_found().await;
    }
    let path = percent_decode(request.path());
    if is_reserved(&path) {
        return super::not_found().await;
    }
    let relative = path.trim_start_matches('/');
    match classify(relative) {
        Target::Route => Ok(index(&request)),
        Target::File(name) => file(&request, name),
        Target::Invalid => Err(ApiError::NotFound("no such file".into())),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// A client-side route: answered with `index.html`.
    Route,
    /// A file of the build, by its path inside `dist/`.
    File(&'a str),
    /// A path that can name no file (`..`, empty or hidden segments).
    Invalid,
}

fn classify(relative: &str) -> Target<'_> {
    let segments: Vec<&str> = relative.split('/').collect();
    if segments
        .iter()
        .any(|segment| *segment == ".." || *segment == ".")
    {
        return Target::Invalid;
    }
    let last = segments.last().copied().unwrap_or("");
    if !last.contains('.') {
        return Target::Route;
    }
    if segments.iter().any(|segment| segment.is_empty()) || last.starts_with('.') {
        return Target::Invalid;
    }
    Target::File(relative)
}

/// Paths that belong to the API: an unknown one is an API error, not a page.
fn is_reserved(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ["/api", "/v1"]
        .iter()
        .any(|prefix| lower == *prefix || lower.starts_with(&format!("{prefix}/")))
}

fn index(request: &HttpRequest) -> HttpResponse {
    let Some(file) = Dist::get(INDEX) else {
        // A build without the web app (the dist folder was empty).
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, REVALIDATE))
            .body("the web app is not part of this build: run `npm run build` in assets/");
    };
    let html = String::from_utf8_lossy(&file.data).replace(
        VERSION_PLACEHOLDER,
        &escape_attribute(env!("CARGO_PKG_VERSION")),
    );
    let etag = format!(
        "\"{}-{}\"",
        hex::encode(&file.metadata.sha256_hash()[..8]),
        env!("CARGO_PKG_VERSION")
    );
    respond(
        request,
        "text/html; charset=utf-8",
        REVALIDATE,
        &etag,
        html.into_bytes(),
    )
}

fn file(request: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    if name == INDEX {
        return Ok(index(request));
    }
    let Some(file) = Dist::get(name) else {
        return Err(ApiError::NotFound(format!("no such file: /{name}")));
    };
    let cache = if is_hashed_asset(name) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    Ok(respond(
        request,
        content_type(name),
        cache,
        &etag,
        file.data.into_owned(),
    ))
}

fn respond(
    request: &HttpRequest,
    content_type: &str,
    cache: &str,
    etag: &str,
    body: Vec<u8>,
) -> HttpResponse {
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

/// Vite names build output `assets/<name>-<hash>.<ext>`, the hash being
/// 8 URL-safe base64 characters (which may themselves contain `-`).
fn is_hashed_asset(name: &str) -> bool {
    const HASH_LEN: usize = 8;
    let Some(file_name) = name.strip_prefix("assets/") else {
        return false;
    };
    if file_name.contains('/') {
        return false;
    }
    let stem = file_name.split('.').next().unwrap_or("").as_bytes();
    if stem.len() < HASH_LEN + 2 {
        return false;
    }
    let (head, hash) = stem.split_at(stem.len() - HASH_LEN);
    head.ends_with(b"-")
        && hash
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-')
}

fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// `%XX` escapes decoded; invalid escapes kept as they are. Decoding here
/// matches what the router sees, so `/%61pi/x` counts as `/api/x`.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let high = hex_value(bytes[index + 1]);
            let low = hex_value(bytes[index + 2]);
            if let (Some(high), Some(low)) = (high, low) {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_files_and_invalid_paths() {
        assert_eq!(classify(""), Target::Route);
        assert_eq!(classify("traces"), Target::Route);
        assert_eq!(
            classify("traces/0123456789abcdef0123456789abcdef"),
            Target::Route
        );
        assert_eq!(classify("logs/"), Target::Route);
        assert_eq!(
            classify("assets/index-D0upTHbC.js"),
            Target::File("assets/index-D0upTHbC.js")
        );
        assert_eq!(classify("favicon.svg"), Target::File("favicon.svg"));
        assert_eq!(classify("assets/../Cargo.toml"), Target::Invalid);
        assert_eq!(classify("../secret"), Target::Invalid);
        assert_eq!(classify(".env"), Target::Invalid);
        assert_eq!(classify("assets//x.js"), Target::Invalid);
    }

    #[test]
    fn reserved_prefixes_stay_api() {
        assert!(is_reserved("/api"));
        assert!(is_reserved("/api/nope"));
        assert!(is_reserved("/API/nope"));
        assert!(is_reserved("/v1/nope"));
        assert!(!is_reserved("/apiary"));
        assert!(!is_reserved("/traces"));
        assert!(is_reserved(&percent_decode("/%61pi/traces")));
        assert!(is_reserved(&percent_decode("/%761/x")));
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("/a%20b"), "/a b");
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("/a%zz"), "/a%zz");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("/%e2%9c%93"), "/✓");
    }

    #[test]
    fn hashed_assets_are_recognised() {
        assert!(is_hashed_asset("assets/index-D0upTHbC.js"));
        assert!(is_hashed_asset("assets/style-CJ0u7JyV.css"));
        assert!(is_hashed_asset("assets/index-CXZnRz-B.js"));
        assert!(is_hashed_asset("assets/a-b-_x-Y1234.js"));
        assert!(!is_hashed_asset("assets/index.js"));
        assert!(!is_hashed_asset("favicon.svg"));
        assert!(!is_hashed_asset("assets/x-short.js"));
        assert!(!is_hashed_asset("other/index-D0upTHbC.js"));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("blob.bin"), "application/octet-stream");
    }
}
