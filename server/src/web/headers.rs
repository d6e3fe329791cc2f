//! The one layer that sets the response headers every answer of the hub carries: a
//! Content-Security-Policy with no inline script or style (and no script at all but on the
//! resident pages, whose scripts come from the hub), no framing, `nosniff`, no referrer,
//! `no-store` on everything a session or a device token can see, and, with secure cookies,
//! HSTS and `Secure` on every cookie whoever set it.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// What the layer needs to know.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    /// Browsers reach the hub over HTTPS: send HSTS and mark every cookie `Secure`.
    pub secure: bool,
}

/// The policy of every page: nothing from elsewhere, no script at all, styles and images from
/// the hub only, forms posting to the hub only, never inside a frame.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of the resident pages (`/resident`, its service worker included): [`CSP`], and
/// scripts, their requests and the service worker from the hub only, none inline. `blob:`
/// images: a photo decoded for scaling on the phone when `createImageBitmap` is missing.
pub const RESIDENT_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     worker-src 'self'; style-src 'self'; img-src 'self' data: blob:; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Whether answers under `path` are the resident pages (see [`RESIDENT_CSP`]).
fn resident(path: &str) -> bool {
    path == "/resident" || path.starts_with("/resident/")
}

/// Whether answers under `path` may carry personal data or a session's page (never cached).
fn private(path: &str) -> bool {
    path.starts_with("/console")
        || path.starts_with("/lookup")
        || (path.starts_with("/api/") && !path.starts_with("/api/v1/public/"))
}

/// Sets the headers on every response (see the module's documentation).
pub async fn set_headers(State(policy): State<HeaderPolicy>, req: Request, next: Next) -> Response {
    let private = private(req.uri().path());
    let csp = match resident(req.uri().path()) {
        true => RESIDENT_CSP,
        false => CSP,
    };
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if private || h.contains_key(header::SET_COOKIE) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if policy.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        secure_cookies(h);
    }
    response
}

/// Adds `Secure` to every `Set-Cookie` that lacks it.
fn secure_cookies(h: &mut HeaderMap) {
    let cookies: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    h.remove(header::SET_COOKIE);
    for c in cookies {
        let text = c.to_str().unwrap_or_default();
        let secured = if text
            .split(';')
            .any(|a| a.trim().eq_ignore_ascii_case("secure"))
        {
            c
        } else {
            HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(c)
        };
        h.append(header::SET_COOKIE, secured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_is_made_secure_once() {
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("lang=en; Path=/"),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("a=b; Path=/; Secure"),
        );
        secure_cookies(&mut h);
        let all: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["lang=en; Path=/; Secure", "a=b; Path=/; Secure"]);
    }

    #[test]
    fn scripts_run_on_the_resident_pages_only_and_never_inline() {
        for p in ["/resident", "/resident/file/X", "/resident/sw.js"] {
            assert!(resident(p), "{p}");
        }
        for p in ["/residents", "/console", "/public", "/assets/bianmin.css"] {
            assert!(!resident(p), "{p}");
        }
        assert!(
            !CSP.contains("script-src"),
            "default-src 'none' forbids scripts"
        );
        assert!(RESIDENT_CSP.contains("script-src 'self';"));
        assert!(!RESIDENT_CSP.contains("unsafe-inline") && !RESIDENT_CSP.contains("unsafe-eval"));
    }

    #[test]
    fn sessions_lookups_and_device_answers_are_private_public_notices_are_not() {
        for p in ["/console", "/console/requests/x", "/lookup", "/api/v1/sync"] {
            assert!(private(p), "{p}");
        }
        for p in [
            "/public",
            "/public/villages/1",
            "/api/v1/public/villages",
            "/healthz",
        ] {
            assert!(!private(p), "{p}");
        }
    }
}
