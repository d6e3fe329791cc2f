//! Open311 GeoReport v2 (`/open311/v2/`) against a real hub on a loopback port: a clerk's tablet
//! files requests for a resident (with her name, ID number and phone, a bank account, a text
//! about her emergency and a comment), syncs, and then anyone, without signing in, reads the
//! catalog as services and the requests by receipt number, in JSON and in XML, and finds none
//! of her data in any answer. A published GeoReport client (the Python package `georeport`
//! 0.3.1) then makes every call it offers against the same hub.
//!
//! Registered applications file requests with `POST requests` and an API key, form-encoded as
//! the specification says: the request is numbered in the hub's series, read back by receipt
//! number (by our HTTP and by `georeport`), reaches the village clerk's tablet at its next sync
//! with the person's data, and shows none of it in any answer. A missing, unknown or revoked key,
//! a key of another township, an unknown service, a missing or wrong field: each refused in the
//! specification's error format, and nothing stored.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_document::model::FieldEdit;
use bianmin_domain::{Action, AttrValue, Role, Status, Timestamp, demo};
use bianmin_server::admin;
use bianmin_server::engine::{ApplicationFiling, OPEN311_DEVICE, application_user};
use bianmin_tests::hub::{CLERK, TestHub, quick};
use bianmin_tests::raw::agent;
use chrono::Days;
use serde_json::Value;
use uuid::Uuid;

const EAST: &str = "370883101201";
const COUNTY: &str = "370883";
const TAIPING: &str = "370883101";
const SHIQIANG: &str = "370883102";
const NAME: &str = "王秀英";
const MASKED_NAME: &str = "王*英";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const BANK_ACCOUNT: &str = "6222021234567890123";
const PENSION_ACCOUNT: &str = "PA-88776655";
const EMERGENCY: &str = "房屋失火，全家暂住亲戚家";
const COMMENT: &str = "邻居反映其子长期在外务工";

/// One answer: status, content type and body.
struct Reply {
    status: u16,
    content_type: String,
    allow_origin: Option<String>,
    allow: Option<String>,
    text: String,
}

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (content_type, allow_origin, allow) = (
        header("content-type").unwrap_or_default(),
        header("access-control-allow-origin"),
        header("allow"),
    );
    Reply {
        status: resp.status().as_u16(),
        content_type,
        allow_origin,
        allow,
        text: resp.body_mut().read_to_string().expect("a readable body"),
    }
}

/// `GET {hub}/open311/v2/{path}`.
fn get(hub: &TestHub, path: &str) -> Reply {
    reply(
        agent()
            .get(&format!("{}/open311/v2/{path}", hub.url))
            .call()
            .expect("the hub answers"),
    )
}

/// `GET` of a `.json` path: 200 and the parsed body.
fn json(hub: &TestHub, path: &str) -> Value {
    let r = get(hub, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert_eq!(r.content_type, "application/json; charset=utf-8", "{path}");
    assert_eq!(r.allow_origin.as_deref(), Some("*"), "{path}");
    serde_json::from_str(&r.text).expect("JSON")
}

/// `GET` of a `.xml` path: 200 and the body (checked to be well-formed).
fn xml(hub: &TestHub, path: &str) -> String {
    let r = get(hub, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert_eq!(r.content_type, "text/xml; charset=utf-8", "{path}");
    assert!(
        r.text
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    roxmltree::Document::parse(&r.text).expect("well-formed XML");
    r.text
}

/// The texts of the `field` child of each `entry` element under the root of `doc`.
fn xml_fields(doc: &str, entry: &str, field: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(doc).expect("well-formed XML");
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name(entry))
        .map(|n| {
            n.children()
                .find(|c| c.has_tag_name(field))
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The `service_request_id`s of a JSON list of requests.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

/// An error in the specification's format: the status, and the one `{code, description}` with
/// the status as its code; returns the description.
fn error(hub: &TestHub, path: &str, status: u16) -> String {
    let r = get(hub, path);
    assert_eq!(r.status, status, "{path}: {}", r.text);
    if path.contains(".xml") {
        assert_eq!(r.content_type, "text/xml; charset=utf-8", "{path}");
        let codes = xml_fields(&r.text, "error", "code");
        assert_eq!(codes, [status.to_string()], "{}", r.text);
        xml_fields(&r.text, "error", "description").remove(0)
    } else {
        assert_eq!(r.content_type, "application/json; charset=utf-8", "{path}");
        let v: Value = serde_json::from_str(&r.text).expect("JSON");
        let list = v.as_array().expect("a list of errors");
        assert_eq!(list.len(), 1, "{}", r.text);
        assert_eq!(list[0]["code"], status, "{}", r.text);
        list[0]["description"].as_str().unwrap().to_string()
    }
}

/// What a clerk filed, as the hub holds it.
struct Filed {
    /// The social security card request (accepted, open).
    card: String,
    /// The old-age allowance request with a bank account (submitted, open).
    allowance: String,
    /// The pension certification with a pension account (completed: closed).
    pension: String,
    /// The temporary assistance request with the emergency described (withdrawn: closed).
    assistance: String,
    /// A draft, never submitted.
    draft: String,
    /// The requests' document ids.
    doc_ids: Vec<Uuid>,
}

fn filing(item_code: &str, attributes: &[(&str, AttrValue)], materials: &[&str]) -> NewRequest {
    NewRequest {
        item_code: item_code.into(),
        applicant_name: NAME.into(),
        id_number: ID_NUMBER.into(),
        phone: PHONE.into(),
        grid: "1组".into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        materials_received: materials.iter().map(|m| m.to_string()).collect(),
        resident_user: None,
        submit: true,
    }
}

/// East Village's clerk files five requests for 王秀英 and syncs them to the hub.
fn file_requests(hub: &TestHub, dir: &Path) -> Filed {
    let clerk: Mutex<Store> = Mutex::new(hub.enrol(CLERK, dir, "east-tablet"));
    let filed = {
        let mut s = clerk.lock().unwrap();
        let card = s
            .file_request(filing(
                "SOC-CARD",
                &[("reason", AttrValue::Text("lost".into()))],
                &["ID card", "Recent photo"],
            ))
            .unwrap();
        s.apply(card.id, Action::Accept).unwrap();
        s.comment(card.id, COMMENT).unwrap();
        let allowance = s
            .file_request(filing(
                "AID-ELDER-ALLOWANCE",
                &[("bank_account", AttrValue::Text(BANK_ACCOUNT.into()))],
                &["ID card", "Bank account booklet"],
            ))
            .unwrap();
        let pension = s
            .file_request(filing(
                "SOC-PENSION-CERT",
                &[("pension_account", AttrValue::Text(PENSION_ACCOUNT.into()))],
                &["ID card"],
            ))
            .unwrap();
        s.apply(pension.id, Action::Accept).unwrap();
        s.apply(pension.id, Action::Complete).unwrap();
        let assistance = s
            .file_request(filing(
                "AID-TEMP",
                &[("emergency", AttrValue::Text(EMERGENCY.into()))],
                &["ID card"],
            ))
            .unwrap();
        s.apply(
            assistance.id,
            Action::Withdraw {
                reason: format!("{NAME}自行撤回"),
            },
        )
        .unwrap();
        let mut draft = filing(
            "SOC-CARD",
            &[("reason", AttrValue::Text("damaged".into()))],
            &["ID card"],
        );
        draft.submit = false;
        let draft = s.file_request(draft).unwrap();
        let doc_ids = vec![card.id, allowance.id, pension.id, assistance.id, draft.id];
        Filed {
            card: card.receipt_no.to_string(),
            allowance: allowance.receipt_no.to_string(),
            pension: pension.receipt_no.to_string(),
            assistance: assistance.receipt_no.to_string(),
            draft: draft.receipt_no.to_string(),
            doc_ids,
        }
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    filed
}

/// Personal data, and who did what, must appear in no answer.
fn assert_nothing_personal(hub: &TestHub, filed: &Filed, path: &str, text: &str) {
    for secret in [
        NAME,
        MASKED_NAME,
        "秀英",
        ID_NUMBER,
        "002X",
        PHONE,
        BANK_ACCOUNT,
        PENSION_ACCOUNT,
        EMERGENCY,
        COMMENT,
        "自行撤回",
        "1组",
        "east-tablet",
    ] {
        assert!(!text.contains(secret), "{secret} leaked by {path}: {text}");
    }
    for id in &filed.doc_ids {
        assert!(
            !text.contains(&id.to_string()),
            "a document id leaked by {path}"
        );
    }
    for user in hub.storage.users().unwrap() {
        assert!(!text.contains(&user.id), "a user id leaked by {path}");
        assert!(!text.contains(&user.name), "a user name leaked by {path}");
        assert!(
            !text.contains(&user.display_name),
            "a user's name leaked by {path}"
        );
    }
    for device in hub.storage.devices().unwrap() {
        assert!(!text.contains(&device.id), "a device id leaked by {path}");
        assert!(
            !text.contains(&device.actor),
            "a device actor leaked by {path}"
        );
    }
}

#[test]
fn the_catalog_reads_as_services_and_service_definitions_in_json_and_xml() {
    let hub = TestHub::start();
    let catalog = demo::catalog();
    let codes: Vec<&str> = catalog.items.iter().map(|i| i.code.as_str()).collect();

    // Discovery: one production endpoint, both formats, who needs a key.
    let d = json(&hub, "discovery.json");
    let endpoint = &d["endpoints"][0];
    assert_eq!(
        endpoint["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(endpoint["url"], format!("{}/open311/v2", hub.url));
    assert_eq!(endpoint["type"], "production");
    assert_eq!(
        endpoint["formats"],
        serde_json::json!(["text/xml", "application/json"])
    );
    let en = json(&hub, "discovery.json?lang=en");
    let keys = en["key_service"].as_str().unwrap();
    assert!(
        keys.contains("Reading needs no API key") && keys.contains("one township"),
        "{en}"
    );
    let d = xml(&hub, "discovery.xml");
    assert!(d.contains("<endpoints>\n    <endpoint>"), "{d}");
    assert!(d.contains("<format>application/json</format>"), "{d}");

    // Services: the whole catalog, in published order, in either format.
    let services = json(&hub, "services.json");
    let listed: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert_eq!(listed, codes);
    let card = &services[codes.iter().position(|c| *c == "SOC-CARD").unwrap()];
    assert_eq!(card["service_name"], "社会保障卡申领补换");
    assert_eq!(card["metadata"], true);
    assert_eq!(card["type"], "realtime");
    assert_eq!(card["group"], "村收镇办");
    assert!(
        card["description"]
            .as_str()
            .unwrap()
            .contains("承诺时限：10 个工作日"),
        "{card}"
    );
    let no_form = catalog
        .items
        .iter()
        .find(|i| i.attributes.is_empty())
        .unwrap();
    let entry = &services[codes.iter().position(|c| *c == no_form.code).unwrap()];
    assert_eq!(entry["metadata"], false);
    let en = json(&hub, "services.json?lang=en");
    assert_eq!(
        en[codes.iter().position(|c| *c == "SOC-CARD").unwrap()]["service_name"],
        "Social security card application or replacement"
    );
    let services = xml(&hub, "services.xml");
    assert_eq!(xml_fields(&services, "service", "service_code"), codes);
    assert!(services.contains("<metadata>true</metadata>"));

    // A jurisdiction is the county or one of its townships: the same catalog.
    for j in [COUNTY, TAIPING, SHIQIANG] {
        let listed = json(&hub, &format!("services.json?jurisdiction_id={j}"));
        assert_eq!(listed.as_array().unwrap().len(), codes.len());
    }
    error(&hub, "services.json?jurisdiction_id=110105", 404);
    error(&hub, "services.xml?jurisdiction_id=370883101201", 404);

    // Service definitions: the form's attributes, in order, with list values keyed.
    let def = json(&hub, "services/SOC-CARD.json");
    assert_eq!(def["service_code"], "SOC-CARD");
    let attribute = &def["attributes"][0];
    assert_eq!(attribute["code"], "reason");
    assert_eq!(attribute["variable"], true);
    assert_eq!(attribute["datatype"], "singlevaluelist");
    assert_eq!(attribute["required"], true);
    assert_eq!(attribute["order"], 1);
    assert_eq!(attribute["description"], "Reason");
    assert_eq!(
        attribute["values"],
        serde_json::json!([
            {"key": "first card", "name": "first card"},
            {"key": "lost", "name": "lost"},
            {"key": "damaged", "name": "damaged"}
        ])
    );
    let def = xml(&hub, "services/SOC-CARD.xml");
    assert!(def.contains("<service_definition>\n  <service_code>SOC-CARD</service_code>"));
    assert!(def.contains("<value>\n          <key>lost</key>\n          <name>lost</name>"));
    // A personal attribute is defined (a form needs it) and marked: its values never appear.
    let def = json(&hub, "services/AID-ELDER-ALLOWANCE.json?lang=en");
    assert_eq!(def["attributes"][0]["code"], "bank_account");
    assert!(
        def["attributes"][0]["datatype_description"]
            .as_str()
            .unwrap()
            .contains("Personal data"),
        "{def}"
    );
    let def = json(&hub, &format!("services/{}.json", no_form.code));
    assert_eq!(def["attributes"], serde_json::json!([]));
    assert!(xml(&hub, &format!("services/{}.xml", no_form.code)).contains("<attributes/>"));
    let why = error(&hub, "services/NO-SUCH-ITEM.json", 404);
    assert!(why.contains("service_code"), "{why}");
    error(&hub, "services/NO-SUCH-ITEM.xml", 404);
}

#[test]
fn filed_requests_read_back_by_receipt_number_with_public_fields_only() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let f = file_requests(&hub, dir.path());
    let filed = [&f.card, &f.allowance, &f.pension, &f.assistance];

    // The last 90 days by default, newest first, drafts never.
    let all = json(&hub, "requests.json");
    let listed = ids(&all);
    let mut newest_first: Vec<&String> = filed.to_vec();
    newest_first.reverse();
    assert_eq!(listed.iter().collect::<Vec<_>>(), newest_first);
    assert!(!listed.contains(&f.draft), "a draft is no request yet");
    let xml_list = xml(&hub, "requests.xml");
    assert_eq!(
        xml_fields(&xml_list, "request", "service_request_id"),
        listed
    );

    // One request: a list of one, every field of the specification, public ones filled.
    let one = json(&hub, &format!("requests/{}.json", f.card));
    let one = one.as_array().unwrap();
    assert_eq!(one.len(), 1);
    let r = &one[0];
    let today = Timestamp::now().china_date();
    assert_eq!(r["service_request_id"], f.card.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["status_notes"], "已受理，正在办理");
    assert_eq!(r["service_code"], "SOC-CARD");
    assert_eq!(r["service_name"], "社会保障卡申领补换");
    assert_eq!(r["agency_responsible"], "太平镇便民服务中心");
    assert_eq!(r["service_notice"], "承诺时限：10 个工作日");
    assert_eq!(r["address"], "太平镇东村");
    assert_eq!(r["address_id"], EAST);
    assert!(
        r["requested_datetime"]
            .as_str()
            .unwrap()
            .starts_with(&today.to_string()),
        "{r}"
    );
    assert!(
        r["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );
    assert!(r["updated_datetime"].is_string());
    assert!(
        r["expected_datetime"]
            .as_str()
            .unwrap()
            .ends_with("T23:59:59+08:00"),
        "the deadline of an accepted request: {r}"
    );
    for field in ["description", "zipcode", "lat", "long", "media_url"] {
        assert!(r[field].is_null(), "{field}: {r}");
    }
    let fields: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields.len(),
        17,
        "the specification's fields and no others: {fields:?}"
    );
    let en = json(&hub, &format!("requests/{}.json?lang=en", f.card));
    assert_eq!(en[0]["address"], "East Village, Taiping Town");
    assert_eq!(en[0]["status_notes"], "Accepted, being handled");
    let one_xml = xml(&hub, &format!("requests/{}.xml", f.card));
    assert_eq!(
        xml_fields(&one_xml, "request", "service_request_id"),
        [f.card.as_str()]
    );
    assert!(one_xml.contains("<media_url/>"), "{one_xml}");

    // Open and closed.
    let pension = json(&hub, &format!("requests/{}.json", f.pension));
    assert_eq!(pension[0]["status"], "closed");
    assert_eq!(pension[0]["status_notes"], "已办结");
    assert!(pension[0]["expected_datetime"].is_null());
    let assistance = json(&hub, &format!("requests/{}.json?lang=en", f.assistance));
    assert_eq!(assistance[0]["status"], "closed");
    assert_eq!(assistance[0]["status_notes"], "Withdrawn");
    let open: BTreeSet<String> = ids(&json(&hub, "requests.json?status=open"))
        .into_iter()
        .collect();
    assert_eq!(open, BTreeSet::from([f.card.clone(), f.allowance.clone()]));
    let closed: BTreeSet<String> = ids(&json(&hub, "requests.json?status=closed"))
        .into_iter()
        .collect();
    assert_eq!(
        closed,
        BTreeSet::from([f.pension.clone(), f.assistance.clone()])
    );
    assert_eq!(
        ids(&json(&hub, "requests.json?status=open,closed")).len(),
        4
    );

    // By service code (one, several) and by receipt numbers (which override the rest).
    assert_eq!(
        ids(&json(&hub, "requests.json?service_code=SOC-CARD")),
        [f.card.as_str()]
    );
    let two: BTreeSet<String> = ids(&json(
        &hub,
        "requests.json?service_code=SOC-CARD,AID-TEMP&service_code=NO-SUCH",
    ))
    .into_iter()
    .collect();
    assert_eq!(two, BTreeSet::from([f.card.clone(), f.assistance.clone()]));
    let by_id = json(
        &hub,
        &format!(
            "requests.json?service_request_id={},{},{},370883101201-999-000001&status=closed",
            f.allowance, f.pension, f.draft
        ),
    );
    assert_eq!(ids(&by_id), [f.allowance.clone(), f.pension.clone()]);
    let by_id = xml(&hub, &format!("requests.xml?service_request_id={}", f.card));
    assert_eq!(
        xml_fields(&by_id, "request", "service_request_id"),
        [f.card.as_str()]
    );

    // Dates: a range with today, one in the past, W3C date-times or dates alone.
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap();
    let yesterday = today.checked_sub_days(Days::new(1)).unwrap();
    assert_eq!(
        ids(&json(
            &hub,
            &format!("requests.json?start_date={yesterday}T00:00:00Z&end_date={tomorrow}T00:00:00%2B08:00")
        ))
        .len(),
        4
    );
    assert_eq!(
        ids(&json(&hub, &format!("requests.json?start_date={today}"))).len(),
        4
    );
    let past = today.checked_sub_days(Days::new(30)).unwrap();
    assert_eq!(
        json(&hub, &format!("requests.json?end_date={past}")),
        serde_json::json!([])
    );
    assert!(xml(&hub, &format!("requests.xml?end_date={past}")).contains("<service_requests/>"));

    // Jurisdictions: the county, the village's township; another township holds none of them.
    assert_eq!(
        ids(&json(
            &hub,
            &format!("requests.json?jurisdiction_id={COUNTY}")
        ))
        .len(),
        4
    );
    assert_eq!(
        ids(&json(
            &hub,
            &format!("requests.json?jurisdiction_id={TAIPING}")
        ))
        .len(),
        4
    );
    assert_eq!(
        json(&hub, &format!("requests.json?jurisdiction_id={SHIQIANG}")),
        serde_json::json!([])
    );
    error(
        &hub,
        &format!("requests/{}.json?jurisdiction_id={SHIQIANG}", f.card),
        404,
    );
    error(&hub, "requests.xml?jurisdiction_id=999999", 404);

    // Not found: a draft, an unknown receipt number, something that is none.
    error(&hub, &format!("requests/{}.json", f.draft), 404);
    error(&hub, "requests/370883101201-999-000001.xml", 404);
    let why = error(&hub, "requests/not-a-receipt.json", 404);
    assert!(why.contains("receipt number"), "{why}");

    // Crawl every GET of the API: none holds anything personal.
    let mut paths: Vec<String> = Vec::new();
    for format in ["json", "xml"] {
        for lang in ["", "?lang=en"] {
            paths.push(format!("discovery.{format}{lang}"));
            paths.push(format!("services.{format}{lang}"));
            paths.push(format!("requests.{format}{lang}"));
            for item in &demo::catalog().items {
                paths.push(format!("services/{}.{format}{lang}", item.code));
            }
            for id in filed.into_iter().chain([&f.draft]) {
                paths.push(format!("requests/{id}.{format}{lang}"));
            }
        }
        paths.push(format!(
            "requests.{format}?service_request_id={}",
            filed
                .into_iter()
                .chain([&f.draft])
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
        paths.push(format!("requests.{format}?status=open&lang=en"));
        paths.push(format!("requests.{format}?status=closed"));
        paths.push(format!(
            "requests.{format}?jurisdiction_id={TAIPING}&service_code=AID-ELDER-ALLOWANCE"
        ));
    }
    for path in &paths {
        let r = get(&hub, path);
        assert!(
            r.status == 200 || r.status == 404,
            "{path}: {} {}",
            r.status,
            r.text
        );
        assert_nothing_personal(&hub, &f, path, &r.text);
    }
}

#[test]
fn errors_come_in_the_specifications_format() {
    let hub = TestHub::start();
    // Bad parameters: 400.
    let why = error(&hub, "requests.json?status=pending", 400);
    assert!(why.contains("open or closed"), "{why}");
    error(&hub, "requests.xml?status=pending", 400);
    let why = error(&hub, "requests.json?start_date=yesterday", 400);
    assert!(why.contains("W3C"), "{why}");
    let why = error(
        &hub,
        "requests.xml?start_date=2026-01-01&end_date=2026-06-01",
        400,
    );
    assert!(why.contains("90 days"), "{why}");
    error(
        &hub,
        "requests.json?start_date=2026-03-02&end_date=2026-03-01",
        400,
    );
    error(
        &hub,
        "requests.json?jurisdiction_id=370883&jurisdiction_id=370883101",
        400,
    );
    error(&hub, "services.csv", 400);
    // Unknown paths under /open311/: 404, in XML when XML was asked for.
    error(&hub, "services", 404);
    error(&hub, "tokens/1.xml", 404);
    error(&hub, "requests/a/b.xml", 404);
    let r = reply(
        agent()
            .get(&format!("{}/open311/v3/services.xml", hub.url))
            .call()
            .unwrap(),
    );
    assert_eq!(r.status, 404);
    assert!(
        r.text.contains("<errors>\n  <error>\n    <code>404</code>"),
        "{}",
        r.text
    );
    // Methods a path does not take: 405, saying which it does.
    let r = reply(
        agent()
            .put(&format!("{}/open311/v2/requests.json", hub.url))
            .send_empty()
            .unwrap(),
    );
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD, POST"));
    let v: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(v[0]["code"], 405);
    let r = post(&hub, "services.xml", &[("service_code", "SOC-CARD")]);
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD"));
    assert!(r.text.contains("<code>405</code>"), "{}", r.text);
    assert!(r.text.contains("read only"), "{}", r.text);
}

// ---------------------------------------------------------------------------------------------
// Filing: POST requests

/// The person an application files for, and what they write.
const POSTED_FIRST: &str = "桂英";
const POSTED_LAST: &str = "李";
const POSTED_NAME: &str = "李桂英";
const POSTED_ID: &str = "370883196207150045";
const POSTED_PHONE: &str = "13912345678";
const POSTED_DESCRIPTION: &str = "老人卧床不便，社保卡遗失，请上门代办";
const POSTED_ADDRESS: &str = "东村二组十二号";
const POSTED_MEDIA: &str = "https://photos.example/card-20261207.jpg";
const POSTED_EMAIL: &str = "gui.ying.li@example.com";
/// The application's name, as its key was issued.
const APP: &str = "12345 便民热线";
const WEST: &str = "370883101202";

/// `POST {hub}/open311/v2/{file}` with `fields`, form-encoded as the specification says.
fn post(hub: &TestHub, file: &str, fields: &[(&str, &str)]) -> Reply {
    reply(
        agent()
            .post(&format!("{}/open311/v2/{file}", hub.url))
            .send_form(fields.iter().copied())
            .expect("the hub answers"),
    )
}

/// A refused `POST`: the status, and every `{code, description}` with the status as its code
/// (in the format the path asked for); returns the descriptions.
fn refused(hub: &TestHub, file: &str, fields: &[(&str, &str)], status: u16) -> Vec<String> {
    let r = post(hub, file, fields);
    assert_eq!(r.status, status, "{file} {fields:?}: {}", r.text);
    errors_of(file, status, &r)
}

fn errors_of(file: &str, status: u16, r: &Reply) -> Vec<String> {
    if file.ends_with(".xml") {
        assert_eq!(r.content_type, "text/xml; charset=utf-8");
        let codes = xml_fields(&r.text, "error", "code");
        assert!(!codes.is_empty(), "{}", r.text);
        assert!(codes.iter().all(|c| *c == status.to_string()), "{}", r.text);
        xml_fields(&r.text, "error", "description")
    } else {
        assert_eq!(r.content_type, "application/json; charset=utf-8");
        let v: Value = serde_json::from_str(&r.text).expect("JSON");
        let list = v.as_array().expect("a list of errors");
        assert!(!list.is_empty(), "{}", r.text);
        list.iter()
            .map(|e| {
                assert_eq!(e["code"], status, "{}", r.text);
                e["description"].as_str().unwrap().to_string()
            })
            .collect()
    }
}

/// A filing for 李桂英 of East Village's group 2, with `key`: a social security card she lost.
fn card_form(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("api_key", key),
        ("service_code", "SOC-CARD"),
        ("jurisdiction_id", EAST),
        ("first_name", POSTED_FIRST),
        ("last_name", POSTED_LAST),
        ("phone", POSTED_PHONE),
        ("email", POSTED_EMAIL),
        ("attribute[id_number]", POSTED_ID),
        ("attribute[grid]", "2组"),
        ("attribute[reason]", "lost"),
        ("description", POSTED_DESCRIPTION),
        ("address_string", POSTED_ADDRESS),
        ("media_url", POSTED_MEDIA),
        ("lat", "36.1"),
        ("long", "117.6"),
        ("device_id", "phone-7"),
    ]
}

/// `fields` with `name` left out.
fn without<'a>(fields: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    fields.iter().copied().filter(|(n, _)| *n != name).collect()
}

/// `fields` with `name` set to `value` (added if absent).
fn with<'a>(
    fields: &[(&'a str, &'a str)],
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out = without(fields, name);
    out.push((name, value));
    out
}

/// The person's data, the key and the application's pseudo-user appear in no `GET`.
fn assert_nothing_posted(path: &str, text: &str, secrets: &[&str]) {
    for secret in [
        POSTED_NAME,
        "桂英",
        "李*英",
        POSTED_ID,
        "0045",
        POSTED_PHONE,
        POSTED_DESCRIPTION,
        POSTED_ADDRESS,
        POSTED_MEDIA,
        POSTED_EMAIL,
        APP,
        "open311:",
        "2组",
    ]
    .iter()
    .chain(secrets)
    {
        assert!(!text.contains(secret), "{secret} leaked by {path}: {text}");
    }
}

#[test]
fn an_application_files_with_its_key_and_the_clerk_receives_the_request() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk: Mutex<Store> = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let issued = admin::issue_open311_key(hub.storage.as_ref(), TAIPING, APP).unwrap();
    let key = issued.key.as_str();

    // Filed in JSON: the receipt number of the hub's series, the item's time limit, no account.
    let r = post(&hub, "requests.json", &card_form(key));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    let answer: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(
        answer,
        serde_json::json!([{
            "service_request_id": "370883101201-000-000001",
            "service_notice": "承诺时限：10 个工作日",
            "account_id": null
        }])
    );
    let card = "370883101201-000-000001";

    // Filed in XML, the village as attribute[village] within the township, in English.
    let residence = [
        ("api_key", key),
        ("service_code", "CIV-RESIDENCE-CERT"),
        ("jurisdiction_id", TAIPING),
        ("attribute[village]", EAST),
        ("first_name", POSTED_FIRST),
        ("last_name", POSTED_LAST),
        ("phone", "+86 139-1234-5678"),
        ("attribute[id_number]", POSTED_ID),
        ("attribute[grid]", "2组"),
        ("attribute[purpose]", "低保复核"),
        ("lang", "en"),
    ];
    let r = post(&hub, "requests.xml", &residence);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type, "text/xml; charset=utf-8");
    assert_eq!(
        xml_fields(&r.text, "request", "service_request_id"),
        ["370883101201-000-000002"]
    );
    assert_eq!(
        xml_fields(&r.text, "request", "service_notice"),
        ["Committed time limit: on the spot"]
    );
    assert!(r.text.contains("<account_id/>"), "{}", r.text);
    let certificate = "370883101201-000-000002";

    // Read back as anyone reads requests, in both formats: public fields only.
    let one = json(&hub, &format!("requests/{card}.json"));
    assert_eq!(one[0]["service_request_id"], card);
    assert_eq!(one[0]["service_code"], "SOC-CARD");
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["address"], "太平镇东村");
    assert!(one[0]["expected_datetime"].is_null(), "not accepted yet");
    for field in ["description", "media_url", "lat", "long"] {
        assert!(one[0][field].is_null(), "{field}: {one}");
    }
    let listed = ids(&json(&hub, "requests.json"));
    assert_eq!(listed, [certificate, card], "newest first");
    let one = xml(&hub, &format!("requests/{certificate}.xml"));
    assert_eq!(
        xml_fields(&one, "request", "service_code"),
        ["CIV-RESIDENCE-CERT"]
    );

    // On the hub: written by the application's pseudo-resident of East Village, on Open311's
    // pseudo-device.
    let doc = hub
        .storage
        .request_by_receipt(card)
        .unwrap()
        .expect("stored");
    let pseudo = application_user(issued.record.id, EAST);
    let audit = hub.storage.audit(doc).unwrap();
    assert!(!audit.is_empty());
    assert!(
        audit
            .iter()
            .all(|e| e.device_id == OPEN311_DEVICE && e.user_id == pseudo),
        "{audit:?}"
    );

    // The clerk's tablet receives both at its next sync, self-filed, with the person's data.
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let store = clerk.lock().unwrap();
    let row = store
        .find_by_receipt(card)
        .unwrap()
        .expect("in the clerk's queue");
    assert!(row.self_filed());
    assert_eq!(row.status, Status::Submitted);
    let d = store.request(doc).unwrap();
    assert_eq!(d.applicant.name, POSTED_NAME, "family name first");
    assert_eq!(d.applicant.id_number, POSTED_ID);
    assert_eq!(d.applicant.phone, POSTED_PHONE);
    assert_eq!(d.grid, "2组");
    assert_eq!(d.attributes["reason"], AttrValue::Text("lost".into()));
    assert!(d.materials_received.is_empty());
    assert_eq!(d.resident_user.as_deref(), Some(pseudo.as_str()));
    assert_eq!(
        (d.created.role, d.created.device.as_str()),
        (Role::Resident, OPEN311_DEVICE)
    );
    assert_eq!(d.comments.len(), 1, "the person's words, for the staff");
    let note = &d.comments[0].text;
    for said in [APP, POSTED_DESCRIPTION, POSTED_ADDRESS, POSTED_MEDIA] {
        assert!(note.contains(said), "{said} in {note}");
    }
    assert!(
        !note.contains(POSTED_EMAIL),
        "an e-mail address is not kept"
    );
    let other = store
        .find_by_receipt(certificate)
        .unwrap()
        .expect("in the clerk's queue");
    let d = store.request(other.id).unwrap();
    assert_eq!(d.applicant.phone, POSTED_PHONE, "+86 is the country's code");
    assert_eq!(d.attributes["purpose"], AttrValue::Text("低保复核".into()));
    drop(store);

    // The person brings the materials; the clerk accepts it as any other, and the public
    // answer follows.
    {
        let mut s = clerk.lock().unwrap();
        for m in ["ID card", "Recent photo"] {
            s.edit(
                doc,
                FieldEdit::Material {
                    name: m.into(),
                    received: true,
                },
            )
            .unwrap();
        }
        s.apply(doc, Action::Accept).unwrap();
    }
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let one = json(&hub, &format!("requests/{card}.json"));
    assert!(one[0]["expected_datetime"].is_string(), "{one}");

    // Crawl every GET: nothing the application sent, nor its key, appears.
    let mut paths = vec![];
    for format in ["json", "xml"] {
        for lang in ["", "?lang=en"] {
            paths.push(format!("discovery.{format}{lang}"));
            paths.push(format!("requests.{format}{lang}"));
            paths.push(format!("services/SOC-CARD.{format}{lang}"));
            for id in [card, certificate] {
                paths.push(format!("requests/{id}.{format}{lang}"));
            }
        }
        paths.push(format!(
            "requests.{format}?service_request_id={card},{certificate}"
        ));
        paths.push(format!(
            "requests.{format}?jurisdiction_id={TAIPING}&status=open"
        ));
    }
    for path in &paths {
        let r = get(&hub, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_nothing_posted(path, &r.text, &[key]);
    }
}

#[test]
fn bad_filings_are_refused_in_the_specifications_format_and_store_nothing() {
    let hub = TestHub::start();
    let s = hub.storage.as_ref();
    let taiping = admin::issue_open311_key(s, TAIPING, APP).unwrap().key;
    let shiqiang = admin::issue_open311_key(s, SHIQIANG, "石墙镇网格通")
        .unwrap()
        .key;
    let old = admin::issue_open311_key(s, TAIPING, "旧版热线").unwrap();
    assert!(admin::revoke_open311_key(s, old.record.id).unwrap());
    let before = s.counts().unwrap();
    let series = "370883101201-000-";
    let good = card_form(&taiping);

    // Keys: missing, unknown, revoked, another township's: 403.
    let why = refused(&hub, "requests.json", &without(&good, "api_key"), 403);
    assert!(why[0].contains("api_key is required"), "{why:?}");
    let why = refused(
        &hub,
        "requests.xml",
        &with(&good, "api_key", "0123456789abcdef"),
        403,
    );
    assert!(why[0].contains("unknown api_key"), "{why:?}");
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "api_key", &old.key),
        403,
    );
    assert!(why[0].contains("revoked"), "{why:?}");
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "api_key", &shiqiang),
        403,
    );
    assert!(why[0].contains("township 370883102"), "{why:?}");
    let beishan = with(
        &with(&good, "api_key", &shiqiang),
        "jurisdiction_id",
        "370883102201",
    );
    assert_eq!(
        refused(
            &hub,
            "requests.json",
            &with(&beishan, "attribute[grid]", "9组"),
            400
        )
        .len(),
        1,
        "its own township's village passes the key: only the grid is wrong"
    );

    // The service: missing 400, unknown 404.
    let why = refused(&hub, "requests.json", &without(&good, "service_code"), 400);
    assert!(why[0].contains("service_code is required"), "{why:?}");
    let why = refused(
        &hub,
        "requests.xml",
        &with(&good, "service_code", "NO-SUCH"),
        404,
    );
    assert!(why[0].contains("service_code"), "{why:?}");

    // The village: none, unknown, contradictory, outside the jurisdiction.
    let why = refused(
        &hub,
        "requests.json",
        &without(&good, "jurisdiction_id"),
        400,
    );
    assert!(why[0].contains("name the village"), "{why:?}");
    refused(
        &hub,
        "requests.json",
        &with(&good, "jurisdiction_id", "999999"),
        404,
    );
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "attribute[village]", WEST),
        400,
    );
    assert!(why[0].contains("different villages"), "{why:?}");
    let shiqiang_area = with(
        &with(&good, "jurisdiction_id", SHIQIANG),
        "attribute[village]",
        EAST,
    );
    let why = refused(&hub, "requests.json", &shiqiang_area, 400);
    assert!(why[0].contains("not within jurisdiction_id"), "{why:?}");

    // The form: every mistake at once, each naming its field.
    let why = refused(
        &hub,
        "requests.json",
        &without(&good, "attribute[reason]"),
        400,
    );
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("attribute[reason] is required"), "{why:?}");
    let why = refused(
        &hub,
        "requests.xml",
        &with(&good, "attribute[reason]", "stolen"),
        400,
    );
    assert!(
        why[0].contains("attribute[reason]") && why[0].contains("first card, lost, damaged"),
        "{why:?}"
    );
    assert!(!why[0].contains("stolen"), "no value sent is quoted");
    let bad_id = "370883196207150046";
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "attribute[id_number]", bad_id),
        400,
    );
    assert!(
        why[0].contains("attribute[id_number]") && why[0].contains("check digit"),
        "{why:?}"
    );
    assert!(!why.concat().contains(bad_id), "no value sent is quoted");
    let nobody = without(
        &without(
            &without(&without(&good, "phone"), "first_name"),
            "last_name",
        ),
        "attribute[grid]",
    );
    let why = refused(&hub, "requests.json", &nobody, 400);
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why.iter().any(|w| w.contains("first_name and last_name")));
    assert!(why.iter().any(|w| w.contains("phone is required")));
    assert!(
        why.iter()
            .any(|w| w.contains("attribute[grid] is required") && w.contains("1组, 2组, 3组"))
    );
    let why = refused(&hub, "requests.json", &with(&good, "phone", "12345"), 400);
    assert!(why[0].starts_with("phone "), "{why:?}");
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "attribute[colour]", "red"),
        400,
    );
    assert!(
        why[0].contains("attribute[colour] is not an attribute of service SOC-CARD"),
        "{why:?}"
    );
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "media_url", "javascript:alert(1)"),
        400,
    );
    assert!(why[0].contains("media_url"), "{why:?}");
    let long = "长".repeat(1001);
    let why = refused(
        &hub,
        "requests.json",
        &with(&good, "description", &long),
        400,
    );
    assert!(
        why[0].contains("description must be at most 1000"),
        "{why:?}"
    );
    let mut twice = good.clone();
    twice.push(("service_code", "AID-TEMP"));
    let why = refused(&hub, "requests.json", &twice, 400);
    assert!(
        why[0].contains("service_code is sent more than once"),
        "{why:?}"
    );

    // Not a form, or too large a one.
    let r = reply(
        agent()
            .post(&format!("{}/open311/v2/requests.json", hub.url))
            .header("Content-Type", "application/json")
            .send(r#"{"api_key": "x", "service_code": "SOC-CARD"}"#)
            .unwrap(),
    );
    assert_eq!(r.status, 415, "{}", r.text);
    assert!(errors_of("requests.json", 415, &r)[0].contains("x-www-form-urlencoded"));
    let huge = "x".repeat(80 * 1024);
    let r = post(&hub, "requests.xml", &with(&good, "description", &huge));
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(errors_of("requests.xml", 413, &r)[0].contains("larger than the hub takes"));

    // Nothing of it was stored, and no number of the series was used.
    assert_eq!(s.counts().unwrap(), before);
    assert_eq!(s.last_receipt(series).unwrap(), None);
    assert_eq!(ids(&json(&hub, "requests.json")), Vec::<String>::new());

    // The good form is filed, with the series' first number.
    let r = post(&hub, "requests.json", &good);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("370883101201-000-000001"), "{}", r.text);
}

#[test]
fn a_key_revoked_while_a_filing_is_under_way_is_refused_by_the_check() {
    let hub = TestHub::start();
    let issued = admin::issue_open311_key(hub.storage.as_ref(), TAIPING, APP).unwrap();
    let filing = ApplicationFiling {
        village: EAST.into(),
        item_code: "SOC-CARD".into(),
        applicant_name: POSTED_NAME.into(),
        id_number: POSTED_ID.into(),
        phone: POSTED_PHONE.into(),
        grid: "2组".into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        note: None,
    };
    // The key as the filing read it, then revoked before the check ran.
    let stale = issued.record.clone();
    admin::revoke_open311_key(hub.storage.as_ref(), issued.record.id).unwrap();
    let before = hub.storage.counts().unwrap();
    let e = hub
        .state
        .engine
        .application_file(&stale, &filing)
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 422, "{e}");
    assert!(e.message.contains("resident_user"), "{e}");
    assert_eq!(hub.storage.counts().unwrap(), before, "nothing stored");
    // And a key of another township cannot file in East Village even if asked directly.
    let shiqiang = admin::issue_open311_key(hub.storage.as_ref(), SHIQIANG, "x").unwrap();
    let e = hub
        .state
        .engine
        .application_file(&shiqiang.record, &filing)
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 403, "{e}");
    assert_eq!(hub.storage.counts().unwrap(), before, "nothing stored");
}

/// Whether `python3` can import `georeport` 0.3.1 and `xmltodict`. When it cannot, a line on
/// stderr says the client test did not run, and it is `false`; under CI (`CI` set) it panics,
/// since CI installs them (`.ci/run`).
fn georeport_installed() -> bool {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import georeport, xmltodict; assert georeport.__version__ == '0.3.1', georeport.__version__",
        ])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("python3 cannot be run: {e}"),
    };
    if std::env::var_os("CI").is_some() {
        panic!(
            "the Open311 client test needs `python3 -m pip install georeport==0.3.1 xmltodict`, \
             which CI must have done: {why}"
        );
    }
    use std::io::Write;
    let line = format!(
        "Open311 client test not run: python3 cannot import georeport 0.3.1 and xmltodict \
         ({why}); install them with `python3 -m pip install georeport==0.3.1 xmltodict`\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

#[test]
fn a_published_georeport_client_makes_every_call_it_offers_in_json_and_xml() {
    if !georeport_installed() {
        return;
    }
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let f = file_requests(&hub, dir.path());
    let codes: Vec<String> = demo::catalog().items.into_iter().map(|i| i.code).collect();
    let key = admin::issue_open311_key(hub.storage.as_ref(), TAIPING, APP).unwrap();
    let revoked = admin::issue_open311_key(hub.storage.as_ref(), TAIPING, "旧版").unwrap();
    admin::revoke_open311_key(hub.storage.as_ref(), revoked.record.id).unwrap();
    let filing = serde_json::json!({
        "service_code": "SOC-CARD",
        "attribute[village]": EAST,
        "first_name": POSTED_FIRST,
        "last_name": POSTED_LAST,
        "phone": POSTED_PHONE,
        "email": POSTED_EMAIL,
        "attribute[id_number]": POSTED_ID,
        "attribute[grid]": "2组",
        "attribute[reason]": "lost",
        "address_string": POSTED_ADDRESS,
    });
    let forbidden = serde_json::json!([
        NAME,
        MASKED_NAME,
        ID_NUMBER,
        PHONE,
        BANK_ACCOUNT,
        PENSION_ACCOUNT,
        EMERGENCY,
        COMMENT,
        "1组",
        POSTED_NAME,
        "李*英",
        POSTED_ID,
        POSTED_PHONE,
        POSTED_EMAIL,
        POSTED_ADDRESS,
        "请尽快联系本人",
        "2组",
        APP,
        key.key,
        "open311:"
    ]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("open311/test_georeport.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("BIANMIN_OPEN311_URL", format!("{}/open311/v2", hub.url))
        .env("BIANMIN_OPEN311_JURISDICTION", COUNTY)
        .env("BIANMIN_OPEN311_CODES", codes.join(","))
        .env("BIANMIN_OPEN311_RECEIPT", &f.card)
        .env("BIANMIN_OPEN311_RECEIPT_CODE", "SOC-CARD")
        .env(
            "BIANMIN_OPEN311_ALL_RECEIPTS",
            [&f.card, &f.allowance, &f.pension, &f.assistance]
                .map(String::as_str)
                .join(","),
        )
        .env("BIANMIN_OPEN311_FORBIDDEN", forbidden.to_string())
        .env("BIANMIN_OPEN311_API_KEY", &key.key)
        .env("BIANMIN_OPEN311_REVOKED_KEY", &revoked.key)
        .env("BIANMIN_OPEN311_FILING", filing.to_string())
        // The client must reach the loopback hub directly, whatever proxy the machine sets.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .output()
        .expect("python3 runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the georeport client's checks failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("all georeport checks passed"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: filed"), "{stdout}\n{stderr}");
    // What the script filed is stored, once each, in the hub's series.
    assert_eq!(
        hub.storage
            .last_receipt("370883101201-000-")
            .unwrap()
            .as_deref(),
        Some("370883101201-000-000002")
    );
    // Shown with --nocapture: what the client checked.
    println!("{stdout}");
}
