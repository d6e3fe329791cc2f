//! A browser over plain HTTP, as the HTTP tests of the web pages use it (a resident's phone, a
//! reviewer's desk): it keeps cookies, never follows redirects, reads every answer whole, and
//! posts forms plain or `multipart/form-data` as a browser sends them.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::hub::TestHub;

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// Every header that is text, by lower-case name (the last of repeated ones).
    pub headers: BTreeMap<String, String>,
    /// Every `Set-Cookie`, in order.
    pub set_cookies: Vec<String>,
    /// The body as text (invalid UTF-8 replaced), for pages.
    pub body: String,
    /// The body as it came (up to 64 MiB), for downloads.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// `Retry-After` in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after")?.parse().ok()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The error message of a JSON refusal.
    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {}", self.body))
            .to_string()
    }
}

/// One part of a multipart form.
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// Field and value.
    Text(&'a str, &'a str),
    /// Field, file name, content type, bytes.
    File(&'a str, &'a str, &'a str, &'a [u8]),
}

/// A browser: its cookies and the hub it talks to.
#[derive(Debug, Clone)]
pub struct Phone {
    base: String,
    /// The cookies it holds, by name (a test may look at them, drop or restore them).
    pub cookies: BTreeMap<String, String>,
}

/// An HTTP client that answers every status and never follows a redirect.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

impl Phone {
    /// A browser without cookies, talking to the hub at `base`.
    pub fn new(base: &str) -> Phone {
        Phone {
            base: base.to_string(),
            cookies: BTreeMap::new(),
        }
    }

    /// The same browser (its cookies) talking to `base` (another hub process, or a proxy).
    pub fn via(&self, base: &str) -> Phone {
        Phone {
            base: base.to_string(),
            cookies: self.cookies.clone(),
        }
    }

    /// The hub's address it talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `Cookie` header it sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn read(&mut self, resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut resp = resp.expect("the hub answers");
        let headers: BTreeMap<String, String> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().expect("a text cookie").to_string())
            .collect();
        for c in &set_cookies {
            let (k, v) = c
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .expect("name=value");
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        Answer {
            status: resp.status().as_u16(),
            location: headers.get("location").cloned(),
            headers,
            set_cookies,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Answer {
        let mut req = agent().get(&format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = req.call();
        self.read(resp)
    }

    /// Posts a plain (URL-encoded) form.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut req = agent().post(&format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = req.send_form(fields.iter().copied());
        self.read(resp)
    }

    /// Posts a `multipart/form-data` form, as a phone's browser sends one with photos.
    pub fn post_multipart(&mut self, path: &str, parts: &[Part<'_>]) -> Answer {
        let boundary = format!("----bianmin{}", Uuid::new_v4().simple());
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                Part::Text(name, value) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                            .as_bytes(),
                    );
                    body.extend_from_slice(value.as_bytes());
                }
                Part::File(name, file, content_type, bytes) => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                             Content-Type: {content_type}\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut req = agent().post(&format!("{}{path}", self.base)).header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = req.send(&body[..]);
        self.read(resp)
    }

    /// `PUT path` with `bytes`, as a script sends a piece of a photo: `X-CSRF-Token` with
    /// `token` (none if empty).
    pub fn put(&mut self, path: &str, token: &str, bytes: &[u8]) -> Answer {
        let mut req = agent()
            .put(&format!("{}{path}", self.base))
            .header("Content-Type", "application/octet-stream");
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        if !token.is_empty() {
            req = req.header("X-CSRF-Token", token);
        }
        let resp = req.send(bytes);
        self.read(resp)
    }

    /// Posts a form of the page at `page` with that page's CSRF token.
    pub fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let token = field(&self.get(page).body, "csrf");
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }

    /// Activates the resident `name`'s account with `code` and `password` on
    /// `/resident/activate`; the answer (303 and signed in when it worked).
    pub fn activate(&mut self, name: &str, code: &str, password: &str) -> Answer {
        self.submit(
            "/resident/activate",
            "/resident/activate",
            &[
                ("name", name),
                ("code", code),
                ("password", password),
                ("again", password),
            ],
        )
    }

    /// Signs in on the resident pages.
    pub fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.submit(
            "/resident/sign-in",
            "/resident/sign-in",
            &[("name", name), ("password", password)],
        )
    }

    /// Signs in to the console.
    pub fn console_sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.submit(
            "/console/sign-in",
            "/console/sign-in",
            &[("name", name), ("password", password), ("next", "")],
        )
    }

    /// A phone on which the resident `name` activated the account (with a fresh code from
    /// the administrator) with `password`, and stays signed in.
    pub fn activated(hub: &TestHub, name: &str, password: &str) -> Phone {
        let code = bianmin_server::admin::issue_activation_code(
            hub.storage.as_ref(),
            name,
            bianmin_server::admin::ACTIVATION_VALIDITY,
        )
        .expect("code")
        .code;
        let mut p = Phone::new(&hub.url);
        let a = p.activate(name, &code, password);
        assert_eq!(a.status, 303, "{}", a.body);
        p
    }
}

/// The value of the field `name` of the first form on a page that has it.
pub fn field(body: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {body}"));
    let rest = &body[at + marker.len()..];
    rest[..rest.find('"').expect("a closing quote")].to_string()
}

/// The CSRF token of the first form on a page.
pub fn csrf(body: &str) -> String {
    field(body, "csrf")
}

/// The text of the page's error box.
pub fn error_of(body: &str) -> String {
    let at = body
        .find(r#"class="error""#)
        .unwrap_or_else(|| panic!("no error in {body}"));
    let end = at
        + body[at..]
            .find("</div>")
            .or(body[at..].find("</p>"))
            .expect("the end of the error box");
    body[at..end].to_string()
}
