//! The two formats of GeoReport v2, written from one tree of values: an answer is built once as a
//! [`Value`] and written as JSON or XML by the file name's suffix (`services.json`,
//! `services.xml`), so the two can never say different things.
//!
//! The XML is written here, by hand, rather than with a serialiser crate: the documents are
//! small, every element name is a constant of this module's callers, and the one thing that
//! needs care, the text, goes through [`escape`] (markup characters escaped, characters XML 1.0
//! forbids replaced).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::AppError;

/// The format an answer is written in, chosen by the path's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: `application/json`.
    Json,
    /// `.xml`: `text/xml`.
    Xml,
}

impl Format {
    /// Splits a path's last segment at its last dot: `SOC-CARD.json` is `("SOC-CARD", Json)`.
    /// `None` when there is no dot; `Err` (with the format the error itself is written in) when
    /// the suffix is neither `json` nor `xml`.
    pub fn split(file: &str) -> Option<Result<(&str, Format), AppError>> {
        let (name, suffix) = file.rsplit_once('.')?;
        Some(match suffix {
            "json" => Ok((name, Format::Json)),
            "xml" => Ok((name, Format::Xml)),
            _ => Err(AppError::bad_request(
                "the format must be .json or .xml (e.g. services.json)",
            )),
        })
    }

    /// The format an error about the path `file` is written in: XML when it asked for XML.
    pub fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// A value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text: a JSON string, the text of an XML element.
    Text(String),
    /// A whole number.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// Nothing known: JSON `null`, an empty XML element (which XML readers such as `xmltodict`
    /// read as `None`, as JSON readers read `null`).
    Null,
    /// A list: a JSON array; in XML, one element named `item` per entry.
    List {
        /// The XML element name of each entry (`service`, `attribute`, `request`...).
        item: &'static str,
        /// The entries.
        items: Vec<Value>,
    },
    /// A record: a JSON object with its fields in this order; in XML, one element per field.
    Record(Vec<(&'static str, Value)>),
}

impl Value {
    /// Text, or [`Value::Null`] for `None`.
    pub fn text_or_null(text: Option<String>) -> Value {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Text(t) => s.serialize_str(t),
            Value::Int(n) => s.serialize_i64(*n),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Null => s.serialize_none(),
            Value::List { items, .. } => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Record(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

/// A whole answer: the XML root element's name and its value (in JSON, the value alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The XML root element (`services`, `service_definition`, `service_requests`...).
    pub root: &'static str,
    /// What it holds.
    pub value: Value,
}

impl Document {
    /// The document as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.value).unwrap_or_else(|_| "null".to_string())
    }

    /// The document as XML, with its declaration, indented.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        write_element(&mut out, self.root, &self.value, 0);
        out
    }

    /// The answer in `format`, with `status`.
    pub fn respond(&self, format: Format, status: StatusCode) -> Response {
        let body = match format {
            Format::Json => self.to_json(),
            Format::Xml => self.to_xml(),
        };
        let mut response = (status, body).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        // Public data, for any other system or web page to read.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        response
    }
}

fn write_element(out: &mut String, name: &str, value: &Value, depth: usize) {
    let indent = "  ".repeat(depth);
    out.push_str(&indent);
    match value {
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>\n");
        }
        Value::Text(_) | Value::Int(_) | Value::Bool(_) => {
            let text = match value {
                Value::Text(t) => escape(t),
                Value::Int(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            };
            out.push_str(&format!("<{name}>{text}</{name}>\n"));
        }
        Value::List { items, .. } if items.is_empty() => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>\n");
        }
        Value::List { item, items } => {
            out.push_str(&format!("<{name}>\n"));
            for entry in items {
                write_element(out, item, entry, depth + 1);
            }
            out.push_str(&format!("{indent}</{name}>\n"));
        }
        Value::Record(fields) => {
            out.push_str(&format!("<{name}>\n"));
            for (field, v) in fields {
                write_element(out, field, v, depth + 1);
            }
            out.push_str(&format!("{indent}</{name}>\n"));
        }
    }
}

/// Text as XML element content: `&`, `<` and `>` escaped, and the characters XML 1.0 does not
/// allow in a document (control characters other than tab and line breaks, U+FFFE, U+FFFF)
/// replaced by U+FFFD, so that no stored text can break the document.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An error in the specification's format: a list of one `{code, description}`, `code` being
/// the HTTP status (in XML `<errors><error><code>…</code><description>…</description></error>
/// </errors>`), answered with that status. `AppError`'s message never carries personal data or
/// internal detail (see [`crate::error`]), so it is the description as it is.
pub fn error_response(format: Format, error: &AppError) -> Response {
    errors_response(format, error.status, std::slice::from_ref(&error.message))
}

/// Several errors of one status in the specification's format (a list of `{code, description}`,
/// one per description, each with the status as its code): every mistake of a request at once.
/// The descriptions must carry no personal data (they name fields and rules, never values).
pub fn errors_response(format: Format, status: StatusCode, descriptions: &[String]) -> Response {
    let document = Document {
        root: "errors",
        value: Value::List {
            item: "error",
            items: descriptions
                .iter()
                .map(|d| {
                    Value::Record(vec![
                        ("code", Value::Int(i64::from(status.as_u16()))),
                        ("description", Value::Text(d.clone())),
                    ])
                })
                .collect(),
        },
    };
    document.respond(format, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
        Document {
            root: "services",
            value: Value::List {
                item: "service",
                items: vec![Value::Record(vec![
                    ("service_code", "SOC-CARD".into()),
                    ("service_name", "社会保障卡 <补换> & more\u{1}".into()),
                    ("metadata", Value::Bool(true)),
                    ("order", Value::Int(2)),
                    ("group", Value::Null),
                    (
                        "values",
                        Value::List {
                            item: "value",
                            items: vec![],
                        },
                    ),
                ])],
            },
        }
    }

    #[test]
    fn one_tree_written_as_json_keeps_the_field_order_and_types() {
        assert_eq!(
            sample().to_json(),
            r#"[{"service_code":"SOC-CARD","service_name":"社会保障卡 <补换> & more\u0001","metadata":true,"order":2,"group":null,"values":[]}]"#
        );
    }

    #[test]
    fn one_tree_written_as_xml_is_escaped_and_well_formed() {
        let xml = sample().to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<services>\n"));
        assert!(
            xml.contains("<service_name>社会保障卡 &lt;补换&gt; &amp; more\u{FFFD}</service_name>")
        );
        assert!(xml.contains("<group/>") && xml.contains("<values/>"));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let service = doc.root_element().first_element_child().unwrap();
        assert_eq!(service.tag_name().name(), "service");
        let name = service
            .children()
            .find(|n| n.has_tag_name("service_name"))
            .unwrap();
        assert_eq!(name.text(), Some("社会保障卡 <补换> & more\u{FFFD}"));
    }

    #[test]
    fn the_suffix_chooses_the_format() {
        assert_eq!(
            Format::split("SOC-CARD.json").unwrap().unwrap(),
            ("SOC-CARD", Format::Json)
        );
        assert_eq!(
            Format::split("a.b.xml").unwrap().unwrap(),
            ("a.b", Format::Xml)
        );
        assert!(Format::split("services").is_none());
        assert_eq!(
            Format::split("services.csv").unwrap().unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(Format::of_path("/open311/v2/x.xml"), Format::Xml);
        assert_eq!(Format::of_path("/open311/v2/x"), Format::Json);
    }

    #[test]
    fn an_error_is_a_list_of_code_and_description() {
        let e = AppError::new(StatusCode::NOT_FOUND, "not_found", "no such service_code");
        let json = error_response(Format::Json, &e);
        assert_eq!(json.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            json.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let xml = error_response(Format::Xml, &e);
        assert_eq!(
            xml.headers()[header::CONTENT_TYPE],
            "text/xml; charset=utf-8"
        );
    }
}
