//! Reading and setting the hub's cookies. Every cookie is for the whole site, `HttpOnly` and
//! `SameSite=Strict` unless said otherwise; `Secure` is added to every cookie by
//! [`super::headers`] when the hub is told browsers reach it over HTTPS.

use axum::http::{HeaderMap, HeaderValue, header};

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// A `Set-Cookie` value for the whole site, `HttpOnly; SameSite=Strict`, kept `max_age`
/// seconds (`Some(0)` removes it; `None` until the browser closes).
pub(crate) fn set(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}
