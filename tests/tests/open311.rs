//! Open311 GeoReport v2 (`/open311/v2/`) against a real hub on a loopback port: a clerk's tablet
//! files requests for a resident (with her name, ID number and phone, a bank account, a text
//! about her emergency and a comment), syncs, and then anyone, without signing in, reads the
//! catalog as services and the requests by receipt number, in JSON and in XML, and finds none
//! of her data in any answer. A published GeoReport client (the Python package `georeport`
//! 0.3.1) then makes every call it offers against the same hub.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, AttrValue, Timestamp, demo};
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

    // Discovery: one production endpoint, both formats, read only.
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
    assert!(
        en["key_service"]
            .as_str()
            .unwrap()
            .contains("not offered yet"),
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
    // Filing is not offered yet: 405, saying so.
    let r = reply(
        agent()
            .post(&format!("{}/open311/v2/requests.json", hub.url))
            .send_form([("service_code", "SOC-CARD"), ("api_key", "x")])
            .unwrap(),
    );
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD"));
    let v: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(v[0]["code"], 405);
    assert!(
        v[0]["description"]
            .as_str()
            .unwrap()
            .contains("not offered yet")
    );
    let r = reply(
        agent()
            .post(&format!("{}/open311/v2/requests.xml", hub.url))
            .send_form([("service_code", "SOC-CARD")])
            .unwrap(),
    );
    assert_eq!(r.status, 405);
    assert!(r.text.contains("<code>405</code>"), "{}", r.text);
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
    let forbidden = serde_json::json!([
        NAME,
        MASKED_NAME,
        ID_NUMBER,
        PHONE,
        BANK_ACCOUNT,
        PENSION_ACCOUNT,
        EMERGENCY,
        COMMENT,
        "1组"
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
    // Shown with --nocapture: what the client checked.
    println!("{stdout}");
}
