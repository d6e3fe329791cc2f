//! How the hub's data reads as GeoReport v2: the service-item catalog as services and service
//! definitions, the request index as service requests (see `docs/open311.md` for the mapping).
//!
//! Pure functions from reference data and index rows to [`Document`]s. A service request is made
//! from a [`RequestRow`] by [`service_request`] alone, which reads only the receipt number, the
//! service item, the village, the status, the clock and the three dates: never the applicant
//! (not even masked), the grid, the document id, attribute values, materials, comments or who
//! did what.

use bianmin_document::model::RequestRow;
use bianmin_domain::catalog::{Township, Village};
use bianmin_domain::{
    AttributeSpec, AttributeType, Catalog, Directory, ServiceItem, Status, labels,
};

use super::format::{Document, Value};
use crate::web::i18n::{Lang, tr};
use crate::web::public::lookup::status_label;

/// The specification this API follows (discovery's `specification`).
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

/// When this API last changed (discovery's `changeset`): raise it with every change to what the
/// API offers or how it maps the hub's data.
pub const CHANGESET: &str = "2026-12-08T00:00:00+08:00";

/// `GET discovery`: one production endpoint at `url`, in both formats; reading open to
/// anyone, filing to applications with an API key.
pub fn discovery(url: &str, lang: Lang) -> Document {
    Document {
        root: "discovery",
        value: Value::Record(vec![
            ("changeset", CHANGESET.into()),
            (
                "contact",
                tr(
                    lang,
                    "本县乡镇便民服务中心。任何人可查询服务事项和办件进度；登记的应用可凭 API 密钥提交办件（POST requests）。",
                    "The county's township convenience service centers. Anyone may read the \
                     services and the progress of requests; registered applications file \
                     requests (POST requests) with an API key.",
                )
                .into(),
            ),
            (
                "key_service",
                tr(
                    lang,
                    "查询无需 API 密钥。提交办件需要县里为应用发放的 API 密钥，每个密钥只限一个乡镇的村；请向县中心平台的运维人员申请。",
                    "Reading needs no API key. Filing requests needs an API key that the county \
                     issues to an application, each for the villages of one township: ask the \
                     people who run the county's hub.",
                )
                .into(),
            ),
            (
                "endpoints",
                Value::List {
                    item: "endpoint",
                    items: vec![Value::Record(vec![
                        ("specification", SPECIFICATION.into()),
                        ("url", url.into()),
                        ("changeset", CHANGESET.into()),
                        ("type", "production".into()),
                        (
                            "formats",
                            Value::List {
                                item: "format",
                                items: vec!["text/xml".into(), "application/json".into()],
                            },
                        ),
                    ])],
                },
            ),
        ]),
    }
}

fn item_name(item: &ServiceItem, lang: Lang) -> &str {
    match lang {
        Lang::Zh => &item.name_zh,
        Lang::En => &item.name_en,
    }
}

/// The committed time limit in words.
fn time_limit(item: &ServiceItem, lang: Lang) -> String {
    match (item.time_limit_days, lang) {
        (0, Lang::Zh) => "承诺时限：即办".to_string(),
        (0, Lang::En) => "Committed time limit: on the spot".to_string(),
        (n, Lang::Zh) => format!("承诺时限：{n} 个工作日"),
        (n, Lang::En) => format!("Committed time limit: {n} working days"),
    }
}

fn level(item: &ServiceItem, lang: Lang) -> &'static str {
    let label = labels::handling_level(item.level);
    match lang {
        Lang::Zh => label.zh,
        Lang::En => label.en,
    }
}

/// A service's description: who handles it, the time limit and the materials to bring.
fn service_description(item: &ServiceItem, lang: Lang) -> String {
    let mut text = match lang {
        Lang::Zh => format!("{}。{}。", level(item, lang), time_limit(item, lang)),
        Lang::En => format!(
            "Handled: {}. {}.",
            level(item, lang),
            time_limit(item, lang)
        ),
    };
    if !item.materials.is_empty() {
        match lang {
            Lang::Zh => text.push_str(&format!("申请材料：{}。", item.materials.join("、"))),
            Lang::En => text.push_str(&format!(" Materials: {}.", item.materials.join("; "))),
        }
    }
    text
}

/// `GET services`: every item of the catalog, in published order.
pub fn services(catalog: &Catalog, lang: Lang) -> Document {
    Document {
        root: "services",
        value: Value::List {
            item: "service",
            items: catalog
                .items
                .iter()
                .map(|item| {
                    Value::Record(vec![
                        ("service_code", item.code.as_str().into()),
                        ("service_name", item_name(item, lang).into()),
                        ("description", service_description(item, lang).into()),
                        ("metadata", Value::Bool(!item.attributes.is_empty())),
                        // A receipt number is printed at filing: a request's id is known at once.
                        ("type", "realtime".into()),
                        (
                            "keywords",
                            format!("{}, {}", item.name_zh, item.name_en).into(),
                        ),
                        ("group", level(item, lang).into()),
                    ])
                })
                .collect(),
        },
    }
}

fn datatype(t: AttributeType) -> &'static str {
    match t {
        AttributeType::String => "string",
        AttributeType::Text => "text",
        AttributeType::Number => "number",
        AttributeType::Datetime => "datetime",
        AttributeType::Singlevaluelist => "singlevaluelist",
    }
}

/// What an attribute's type needs said besides its name: the date format, and that a value is
/// personal data. Only the definition is published: no attribute's value ever is.
fn datatype_description(a: &AttributeSpec, lang: Lang) -> Value {
    let mut notes = Vec::new();
    if a.datatype == AttributeType::Datetime {
        notes.push(tr(
            lang,
            "日期，格式 YYYY-MM-DD",
            "A date, written YYYY-MM-DD",
        ));
    }
    if a.sensitive {
        notes.push(tr(
            lang,
            "个人信息：只给经办人员，从不公开",
            "Personal data: for the staff handling the request only, never published",
        ));
    }
    if notes.is_empty() {
        Value::Null
    } else {
        notes
            .join(match lang {
                Lang::Zh => "；",
                Lang::En => "; ",
            })
            .into()
    }
}

/// `GET services/{code}`: the item's form attributes, in the form's order.
pub fn service_definition(item: &ServiceItem, lang: Lang) -> Document {
    let attributes = item
        .attributes
        .iter()
        .zip(1..)
        .map(|(a, order)| {
            Value::Record(vec![
                // Every attribute is asked of the person filing (none is informational only).
                ("variable", Value::Bool(true)),
                ("code", a.code.as_str().into()),
                ("datatype", datatype(a.datatype).into()),
                ("required", Value::Bool(a.required)),
                ("datatype_description", datatype_description(a, lang)),
                ("order", Value::Int(order)),
                // The catalog names attributes in English only.
                ("description", a.name_en.as_str().into()),
                (
                    "values",
                    Value::List {
                        item: "value",
                        items: a
                            .values
                            .iter()
                            .map(|v| {
                                Value::Record(vec![
                                    ("key", v.as_str().into()),
                                    ("name", v.as_str().into()),
                                ])
                            })
                            .collect(),
                    },
                ),
            ])
        })
        .collect();
    Document {
        root: "service_definition",
        value: Value::Record(vec![
            ("service_code", item.code.as_str().into()),
            (
                "attributes",
                Value::List {
                    item: "attribute",
                    items: attributes,
                },
            ),
        ]),
    }
}

/// Whether a request is listed at all: a draft was never submitted, so it is no request yet.
pub fn is_public(row: &RequestRow) -> bool {
    row.status != Status::Draft
}

/// GeoReport's `open` or `closed`: closed once nothing more will be done, the statuses where
/// the domain says a request no longer waits for anyone ([`Status::is_open`]): not accepted,
/// rejected, completed (done at the village, or the result delivered) or withdrawn. An approved
/// request is still open: its result is still to be delivered.
pub fn open_or_closed(status: Status) -> &'static str {
    if status.is_open() { "open" } else { "closed" }
}

/// The end of the due day, China Standard Time: "decided by that day".
fn end_of_day(date: chrono::NaiveDate) -> String {
    format!("{date}T23:59:59+08:00")
}

fn find_village<'a>(directory: &'a Directory, code: &str) -> Option<(&'a Township, &'a Village)> {
    directory
        .townships
        .iter()
        .find_map(|t| t.villages.iter().find(|v| v.code == code).map(|v| (t, v)))
}

/// One service request, as the public may read it (see the module docs).
pub fn service_request(
    row: &RequestRow,
    catalog: &Catalog,
    directory: &Directory,
    lang: Lang,
) -> Value {
    let item = catalog.item(&row.item_code);
    let place = find_village(directory, &row.village);
    let mut notes = status_label(row.status, lang).to_string();
    if row.conflict {
        notes.push_str(tr(
            lang,
            "；有同时录入的不同记录，工作人员正在核定以哪一条为准",
            "; records made at the same time disagree, and staff are settling which one stands",
        ));
    }
    let expected = match (row.clock.as_str(), row.due) {
        ("running", Some(due)) => Value::Text(end_of_day(due)),
        _ => Value::Null,
    };
    Value::Record(vec![
        ("service_request_id", row.receipt_no.as_str().into()),
        ("status", open_or_closed(row.status).into()),
        ("status_notes", notes.into()),
        (
            "service_name",
            Value::text_or_null(item.map(|i| item_name(i, lang).to_string())),
        ),
        ("service_code", row.item_code.as_str().into()),
        // What the applicant asked is theirs: it is not published.
        ("description", Value::Null),
        (
            "agency_responsible",
            Value::text_or_null(place.map(|(t, _)| match lang {
                Lang::Zh => format!("{}便民服务中心", t.name_zh),
                Lang::En => format!("{} convenience service center", t.name_en),
            })),
        ),
        (
            "service_notice",
            Value::text_or_null(item.map(|i| time_limit(i, lang))),
        ),
        ("requested_datetime", row.filed_at.to_rfc3339().into()),
        ("updated_datetime", row.updated_at.to_rfc3339().into()),
        ("expected_datetime", expected),
        // The village, never a household's address.
        (
            "address",
            Value::text_or_null(place.map(|(t, v)| match lang {
                Lang::Zh => format!("{}{}", t.name_zh, v.name_zh),
                Lang::En => format!("{}, {}", v.name_en, t.name_en),
            })),
        ),
        ("address_id", row.village.as_str().into()),
        ("zipcode", Value::Null),
        ("lat", Value::Null),
        ("long", Value::Null),
        // Photos and scans of materials are personal documents.
        ("media_url", Value::Null),
    ])
}

/// `POST requests`: the request just filed, as the specification answers it (a list of one:
/// its `service_request_id`, the receipt number; the item's committed time limit as
/// `service_notice`; no `account_id`, the person having no account of the hub's).
pub fn posted(receipt_no: &str, item: &ServiceItem, lang: Lang) -> Document {
    service_requests(vec![Value::Record(vec![
        ("service_request_id", receipt_no.into()),
        ("service_notice", time_limit(item, lang).into()),
        ("account_id", Value::Null),
    ])])
}

/// `GET requests` and `GET requests/{id}`: a list of service requests.
pub fn service_requests(requests: Vec<Value>) -> Document {
    Document {
        root: "service_requests",
        value: Value::List {
            item: "request",
            items: requests,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bianmin_domain::{Timestamp, demo};
    use uuid::Uuid;

    fn row(status: Status) -> RequestRow {
        RequestRow {
            id: Uuid::from_u128(7),
            receipt_no: "370883101201-007-000042".into(),
            item_code: "SOC-CARD".into(),
            village: "370883101201".into(),
            grid: "1组".into(),
            applicant_masked: "王*英".into(),
            status,
            conflict: false,
            clock: "running".into(),
            due: Some("2026-03-16".parse().unwrap()),
            decided_on: None,
            filed_at: Timestamp::at_noon("2026-03-02".parse().unwrap()),
            updated_at: Timestamp::at_noon("2026-03-03".parse().unwrap()),
        }
    }

    #[test]
    fn a_request_reads_as_georeport_without_the_applicant_the_grid_or_the_document_id() {
        let v = service_request(
            &row(Status::Accepted),
            &demo::catalog(),
            &demo::directory(),
            Lang::En,
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["service_request_id"], "370883101201-007-000042");
        assert_eq!(json["status"], "open");
        assert_eq!(json["status_notes"], "Accepted, being handled");
        assert_eq!(
            json["service_name"],
            "Social security card application or replacement"
        );
        assert_eq!(
            json["agency_responsible"],
            "Taiping Town convenience service center"
        );
        assert_eq!(
            json["service_notice"],
            "Committed time limit: 10 working days"
        );
        assert_eq!(json["requested_datetime"], "2026-03-02T12:00:00+08:00");
        assert_eq!(json["updated_datetime"], "2026-03-03T12:00:00+08:00");
        assert_eq!(json["expected_datetime"], "2026-03-16T23:59:59+08:00");
        assert_eq!(json["address"], "East Village, Taiping Town");
        assert_eq!(json["address_id"], "370883101201");
        assert!(json["description"].is_null() && json["media_url"].is_null());
        let text = json.to_string();
        for private in ["王", "1组", &Uuid::from_u128(7).to_string()] {
            assert!(!text.contains(private), "{private} in {text}");
        }
    }

    #[test]
    fn closed_means_nothing_more_will_be_done() {
        let closed: Vec<Status> = Status::ALL
            .into_iter()
            .filter(|s| open_or_closed(*s) == "closed")
            .collect();
        assert_eq!(
            closed,
            [
                Status::NotAccepted,
                Status::Rejected,
                Status::Completed,
                Status::Withdrawn
            ]
        );
        assert!(!is_public(&row(Status::Draft)));
        let mut paused = row(Status::Returned);
        paused.clock = "paused".into();
        let v = serde_json::to_value(service_request(
            &paused,
            &demo::catalog(),
            &demo::directory(),
            Lang::Zh,
        ))
        .unwrap();
        assert!(v["expected_datetime"].is_null(), "no date while paused");
        assert_eq!(v["address"], "太平镇东村");
    }

    #[test]
    fn a_sensitive_attribute_is_defined_but_marked_and_list_values_are_keyed() {
        let catalog = demo::catalog();
        let sensitive = catalog
            .items
            .iter()
            .find(|i| i.attributes.iter().any(|a| a.sensitive))
            .unwrap();
        let def = serde_json::to_value(&service_definition(sensitive, Lang::En).value).unwrap();
        let attr = &def["attributes"][0];
        assert_eq!(attr["order"], 1);
        assert!(
            attr["datatype_description"]
                .as_str()
                .unwrap()
                .contains("never published")
        );
        let card = catalog.item("SOC-CARD").unwrap();
        let def = serde_json::to_value(&service_definition(card, Lang::En).value).unwrap();
        assert_eq!(def["service_code"], "SOC-CARD");
        assert_eq!(def["attributes"][0]["datatype"], "singlevaluelist");
        assert_eq!(def["attributes"][0]["values"][1]["key"], "lost");
    }
}
