//! Raw HTTP to a hub, as an attacker with a stolen device token would send it: the tests that
//! push hand-made changes share this one client.

/// An HTTP client that returns every status as an answer (never as an error).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Posts `body` as JSON to `url`, with `token` as the bearer token if given: the status and the
/// body as text, or `Err` when the hub does not answer at all (a dropped connection).
pub fn post_json(url: &str, token: Option<&str>, body: &[u8]) -> Result<(u16, String), String> {
    let mut req = agent().post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req
        .send(body)
        .map_err(|e| format!("the hub did not answer: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("an unreadable body: {e}"))?;
    Ok((status, text))
}

/// The residents' look-up form as a phone gets it: the `Cookie` header to send back and the
/// form's token.
pub fn lookup_form(hub_url: &str) -> (String, String) {
    let mut resp = agent()
        .get(&format!("{hub_url}/lookup"))
        .call()
        .expect("the look-up form");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("bianmin_lookup="))
        .and_then(|c| c.split(';').next())
        .expect("the form's cookie")
        .to_string();
    let body = resp.body_mut().read_to_string().expect("the form");
    let at = body
        .find(r#"name="token" value=""#)
        .expect("the form's token")
        + 20;
    (cookie, body[at..at + 32].to_string())
}
