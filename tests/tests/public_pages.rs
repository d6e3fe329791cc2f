//! The public side of the hub, against a real hub on a loopback port: a clerk's tablet takes an
//! agenda item through its four meetings to the resolution notice and files requests, syncs,
//! and then anyone, without signing in, reads the village's notices (page and JSON) and a
//! resident checks a request with the receipt number and the ID number's last four characters.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewAgendaItem, NewRequest};
use bianmin_domain::{
    Action, AgendaAction, AttrValue, Body, Meeting, Notice, Objection, Stage, Timestamp,
};
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::raw::{agent, lookup_form};
use chrono::{Days, NaiveDate};
use serde_json::Value;

const EAST: &str = "370883101201";
const NAME: &str = "王秀英";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const NOTICE_PHONE: &str = "13987654321";

struct Reply {
    status: u16,
    text: String,
    retry_after: Option<String>,
    allow_origin: Option<String>,
}

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (retry_after, allow_origin) =
        (header("retry-after"), header("access-control-allow-origin"));
    Reply {
        status: resp.status().as_u16(),
        text: resp.body_mut().read_to_string().expect("a readable body"),
        retry_after,
        allow_origin,
    }
}

fn get(url: &str) -> Reply {
    reply(agent().get(url).call().expect("the hub answers"))
}

fn lookup(hub: &TestHub, receipt_no: &str, last4: &str) -> Reply {
    let (cookie, token) = lookup_form(&hub.url);
    reply(
        agent()
            .post(&format!("{}/lookup?lang=en", hub.url))
            .header("Cookie", &cookie)
            .send_form([
                ("receipt_no", receipt_no),
                ("id_last4", last4),
                ("token", &token),
            ])
            .expect("the hub answers"),
    )
}

fn meeting(body: Body, held_on: NaiveDate, entitled: u32, present: u32, for_: u32) -> Meeting {
    Meeting {
        body,
        held_on,
        entitled,
        present,
        households: None,
        households_represented: None,
        votes_for: for_,
        votes_against: present - for_ - 1,
        abstentions: 1,
        minutes: format!("会议记录（记录人 {NAME}）"),
        sign_in_photos: vec!["photo-of-sign-in-sheet".into()],
    }
}

/// What must never appear on a public page: personal data and who did what.
fn assert_nothing_personal(hub: &TestHub, text: &str) {
    for secret in [
        NAME,
        ID_NUMBER,
        "002X",
        PHONE,
        NOTICE_PHONE,
        "photo-of-sign-in-sheet",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for user in hub.storage.users().unwrap() {
        assert!(!text.contains(&user.id), "a user id leaked: {text}");
        assert!(!text.contains(&user.name), "a user name leaked: {text}");
    }
    for device in hub.storage.devices().unwrap() {
        assert!(!text.contains(&device.id), "a device id leaked: {text}");
    }
}

#[test]
fn village_notices_and_the_status_look_up_are_public_and_hold_no_personal_data() {
    let started = Instant::now();
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));

    // An agenda item through four meetings (one representatives' meeting without its quorum)
    // to its resolution notice, posted today for ten days.
    let today = Timestamp::now().china_date();
    let day = |n: u64| today.checked_sub_days(Days::new(n)).unwrap();
    let (item, draft, rejected, running) = {
        let mut s = clerk.lock().unwrap();
        let item = s
            .create_agenda(NewAgendaItem {
                title: "村集体鱼塘承包方案".into(),
                category: "collective assets".into(),
                description: "东村集体鱼塘五年承包方案".into(),
            })
            .unwrap();
        for m in [
            meeting(Body::PartyBranch, day(20), 5, 5, 4),
            meeting(Body::TwoCommittees, day(18), 9, 8, 6),
            meeting(Body::PartyMembers, day(15), 30, 24, 20),
            meeting(Body::RepresentativesMeeting, day(12), 35, 23, 22),
            meeting(Body::RepresentativesMeeting, day(10), 35, 27, 21),
        ] {
            s.record_agenda(item.id, AgendaAction::Meeting(m)).unwrap();
        }
        let noticed = s
            .record_agenda(
                item.id,
                AgendaAction::ResolutionNotice(Notice {
                    text: format!("决议：鱼塘承包给出价最高者，咨询电话{NOTICE_PHONE}"),
                    posted_on: today,
                    period_days: 10,
                    place: "村务公开栏".into(),
                }),
            )
            .unwrap();
        assert_eq!(noticed.stage, Stage::ResultsNotice);
        // Another item still at its first discussion: not public.
        let draft = s
            .create_agenda(NewAgendaItem {
                title: "尚在提议的事项".into(),
                category: "land".into(),
                description: "未公开".into(),
            })
            .unwrap();

        let filing = |n: &str| NewRequest {
            item_code: "SOC-CARD".into(),
            applicant_name: n.into(),
            id_number: ID_NUMBER.into(),
            phone: PHONE.into(),
            grid: "1组".into(),
            attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
            materials_received: vec!["ID card".into(), "Recent photo".into()],
            resident_user: None,
            submit: true,
        };
        let rejected = s.file_request(filing(NAME)).unwrap();
        s.apply(rejected.id, Action::Accept).unwrap();
        s.apply(rejected.id, Action::Forward).unwrap();
        let running = s.file_request(filing(NAME)).unwrap();
        s.apply(running.id, Action::Accept).unwrap();
        (item, draft, rejected, running)
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    sync(&reviewer, &quick(), &mut |_| {}).unwrap();
    reviewer
        .lock()
        .unwrap()
        .apply(
            rejected.id,
            Action::Reject {
                reason: "照片不符合要求".into(),
            },
        )
        .unwrap();
    sync(&reviewer, &quick(), &mut |_| {}).unwrap();

    // The county's villages, without signing in.
    let index = get(&format!("{}/public", hub.url));
    assert_eq!(index.status, 200);
    assert!(index.text.contains("太平镇") && index.text.contains("东村"));
    assert!(index.text.contains(&format!("/public/villages/{EAST}")));

    // The village's page: the item, its votes and its notice period.
    let page = get(&format!("{}/public/villages/{EAST}?lang=en", hub.url));
    assert_eq!(page.status, 200, "{}", page.text);
    let t = &page.text;
    assert!(t.contains("村集体鱼塘承包方案") && t.contains("东村集体鱼塘五年承包方案"));
    assert!(
        t.contains("决议：鱼塘承包给出价最高者"),
        "the resolution's text"
    );
    assert!(t.contains("Resolution made public; results to follow"));
    assert!(t.contains("Notice of the resolution"));
    let ends = today.checked_add_days(Days::new(9)).unwrap();
    assert!(
        t.contains(&format!("Notice period: {today} – {ends} (10 days)")),
        "{t}"
    );
    assert!(t.contains("On notice now"));
    assert!(t.contains("Villagers' representatives' meeting (resolution)"));
    assert!(t.contains("No quorum") && t.contains("Passed"));
    assert!(
        t.contains(&format!(
            "<td>{}</td><td>35</td><td>27</td><td>21</td><td>5</td><td>1</td><td>Passed</td>",
            day(10)
        )),
        "the resolution's attendance and votes: {t}"
    );
    assert!(
        !t.contains("尚在提议的事项"),
        "an item before its resolution is not public"
    );
    assert!(!t.contains(&draft.id.to_string()));
    assert_nothing_personal(&hub, t);

    // The same as JSON.
    let json = get(&format!(
        "{}/api/v1/public/villages/{EAST}/notices",
        hub.url
    ));
    assert_eq!(json.status, 200, "{}", json.text);
    assert_eq!(json.allow_origin.as_deref(), Some("*"));
    assert_nothing_personal(&hub, &json.text);
    let v: Value = serde_json::from_str(&json.text).unwrap();
    assert_eq!(v["village"]["code"], EAST);
    assert_eq!(v["village"]["name_zh"], "东村");
    assert_eq!(v["village"]["township_code"], "370883101");
    assert_eq!(v["as_of"], today.to_string());
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the item past its resolution");
    let it = &items[0];
    assert_eq!(it["id"], item.id.to_string());
    assert_eq!(it["stage"], "results_notice");
    assert_eq!(it["disputed"], false);
    let meetings = it["meetings"].as_array().unwrap();
    assert_eq!(meetings.len(), 5);
    assert_eq!(meetings[0]["stage"], 1);
    assert_eq!(meetings[0]["body"], "party_branch");
    assert_eq!(meetings[3]["result"], "no_quorum");
    assert_eq!(meetings[3]["quorate"], false);
    let resolution = &meetings[4];
    assert_eq!(resolution["body"], "representatives_meeting");
    assert_eq!(resolution["held_on"], day(10).to_string());
    assert_eq!(
        (
            &resolution["entitled"],
            &resolution["present"],
            &resolution["votes_for"],
            &resolution["votes_against"],
            &resolution["abstentions"]
        ),
        (
            &Value::from(35),
            &Value::from(27),
            &Value::from(21),
            &Value::from(5),
            &Value::from(1)
        )
    );
    assert_eq!(resolution["quorate"], true);
    assert_eq!(resolution["passed"], true);
    assert_eq!(resolution["result"], "passed");
    assert!(resolution.get("minutes").is_none() && resolution.get("sign_in_photos").is_none());
    let notices = it["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(n["kind"], "resolution");
    assert_eq!(n["posted_on"], today.to_string());
    assert_eq!(n["ends_on"], ends.to_string());
    assert_eq!(n["period_days"], 10);
    assert_eq!(n["state"], "posted");
    assert_eq!(n["place"], "村务公开栏");
    assert_eq!(
        n["text"], "决议：鱼塘承包给出价最高者，咨询电话***********",
        "a phone number typed into a notice is starred out"
    );
    let villages = get(&format!("{}/api/v1/public/villages", hub.url));
    assert_eq!(villages.status, 200);
    let list: Value = serde_json::from_str(&villages.text).unwrap();
    assert_eq!(list["county_code"], "370883");
    assert_eq!(list["villages"].as_array().unwrap().len(), 5);

    // Unknown villages.
    let missing = get(&format!("{}/public/villages/370883101299", hub.url));
    assert_eq!(missing.status, 404);
    assert!(missing.text.contains("<html"), "an HTML page");
    let missing = get(&format!(
        "{}/api/v1/public/villages/370883101299/notices",
        hub.url
    ));
    assert_eq!(missing.status, 404);
    let err: Value = serde_json::from_str(&missing.text).unwrap();
    assert_eq!(err["error"]["code"], "not_found");

    // The look-up: a form, then status, deadline and decision, and nothing personal.
    let form = get(&format!("{}/lookup?lang=en", hub.url));
    assert_eq!(form.status, 200);
    assert!(
        form.text
            .contains(r#"<label for="receipt_no">Receipt number</label>"#)
    );
    assert!(
        form.text
            .contains("Last four characters of the applicant&#39;s ID number")
            || form
                .text
                .contains("Last four characters of the applicant's ID number")
    );
    let receipt = rejected.receipt_no.as_str();
    let found = lookup(&hub, receipt, "002x");
    assert_eq!(found.status, 200, "{}", found.text);
    assert!(found.text.contains(receipt));
    assert!(
        found.text.contains("<th>Status</th><td>Rejected</td>"),
        "{}",
        found.text
    );
    assert!(found.text.contains("Reason: 照片不符合要求"));
    assert!(
        found.text.contains(&format!("Decided on {today}")),
        "{}",
        found.text
    );
    assert_nothing_personal(&hub, &found.text);
    let found = lookup(&hub, running.receipt_no.as_str(), "002X");
    assert_eq!(found.status, 200);
    assert!(found.text.contains("Accepted, being handled"));
    let due = hub
        .state
        .engine
        .lookup_receipt(running.receipt_no.as_str(), "002X")
        .unwrap()
        .unwrap()
        .clock
        .due()
        .unwrap();
    assert!(
        found
            .text
            .contains(&format!("To be decided by: <strong>{due}</strong>"))
    );
    assert!(found.text.contains("No decision yet."));
    assert_nothing_personal(&hub, &found.text);

    // Wrong ID ending and unknown receipt: one answer, slowed down.
    let generic = "No request matches both the receipt number and the ID number";
    let t0 = Instant::now();
    let wrong_id = lookup(&hub, receipt, "0021");
    let wrong_receipt = lookup(&hub, "370883101201-999-000001", "002X");
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "each failure waits"
    );
    for r in [&wrong_id, &wrong_receipt] {
        assert_eq!(r.status, 200);
        assert!(r.text.contains(generic), "{}", r.text);
        assert!(!r.text.contains("Rejected") && !r.text.contains("Status"));
        assert_nothing_personal(&hub, &r.text);
    }
    let malformed = lookup(&hub, "not-a-receipt", "002X");
    assert_eq!(
        malformed.status, 400,
        "a malformed receipt number is not a guess"
    );

    // Five failures within 15 minutes: further attempts are refused, the right answer too.
    for last4 in ["1111", "2222", "3333"] {
        assert_eq!(lookup(&hub, receipt, last4).status, 200);
    }
    let blocked = lookup(&hub, receipt, "002X");
    assert_eq!(blocked.status, 429, "{}", blocked.text);
    let wait: u64 = blocked.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "about 15 minutes: {wait}");
    assert!(blocked.text.contains("Too many unsuccessful look-ups"));
    assert!(!blocked.text.contains("Rejected"));
    assert_eq!(
        lookup(&hub, running.receipt_no.as_str(), "002X").status,
        429
    );
    eprintln!("public pages test took {:?}", started.elapsed());
}

fn lookup_from(hub: &TestHub, forwarded_for: &str, receipt_no: &str) -> u16 {
    let (cookie, token) = lookup_form(&hub.url);
    agent()
        .post(&format!("{}/lookup?lang=en", hub.url))
        .header("X-Forwarded-For", forwarded_for)
        .header("Cookie", &cookie)
        .send_form([
            ("receipt_no", receipt_no),
            ("id_last4", "1234"),
            ("token", &token),
        ])
        .expect("the hub answers")
        .status()
        .as_u16()
}

/// Five wrong guesses from one client through the trusted proxy, each at its own receipt
/// number (so only the client's budget runs out).
fn exhaust(hub: &TestHub, forwarded_for: &str) {
    for n in 1..=5 {
        let receipt = format!("370883101201-099-{n:06}");
        assert_eq!(lookup_from(hub, forwarded_for, &receipt), 200);
    }
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_lookup_budget() {
    let hub = TestHub::start_with(|s| s.with_trusted_proxies(vec!["127.0.0.1".parse().unwrap()]));
    exhaust(&hub, "203.0.113.5");
    assert_eq!(
        lookup_from(&hub, "203.0.113.5", "370883101201-099-000009"),
        429,
        "the guessing client is stopped"
    );
    // A client that wrote its own header in front of the proxy's is still the same client.
    assert_eq!(
        lookup_from(
            &hub,
            "198.51.100.77, 203.0.113.5",
            "370883101201-099-000010"
        ),
        429
    );
    assert_eq!(
        lookup_from(&hub, "203.0.113.6", "370883101201-099-000011"),
        200,
        "another resident behind the same proxy is not"
    );

    // Without trusting the proxy the header is anyone's: one budget for the proxy's address.
    let hub = TestHub::start();
    exhaust(&hub, "203.0.113.5");
    assert_eq!(
        lookup_from(&hub, "203.0.113.6", "370883101201-099-000011"),
        429
    );
}

/// Personal numbers however a clerk or an input method typed them, and the pieces of each that
/// must not survive on a public page (digits as typed and as ASCII; none short enough to occur
/// by chance in an item's id).
const TYPED_ANY_WAY: [(&str, &[&str]); 6] = [
    (
        "１３９１２３４５６７８",
        &["１３９１２３４５６７８", "13912345678", "５６７８"],
    ),
    ("137 1234 5678", &["137 1234", "1234 5678", "13712345678"]),
    ("+86 136-1234-5678", &["136-1234", "13612345678", "+86 1"]),
    (
        "6222 0212 3456 7890 123",
        &["6222 0212", "0212 3456", "7890 123", "6222021234567890123"],
    ),
    ("110105 19491231 002X", &["110105", "19491231", "002X"]),
    (
        "（0531）8888 6666",
        &["0531）8888", "8888 6666", "88886666"],
    ),
];

/// Whether `text` holds any digit, ASCII or full-width.
fn has_digit(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c))
}

#[test]
fn numbers_typed_full_width_spaced_or_with_plus_86_are_starred_on_the_page_and_in_json() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let today = Timestamp::now().china_date();
    let day = |n: u64| today.checked_sub_days(Days::new(n)).unwrap();
    let [wide, spaced, prefixed, card, id, landline] = TYPED_ANY_WAY.map(|(typed, _)| typed);
    let notice_text =
        format!("补偿款发放：联系人电话{wide}，备用{spaced}，外地请拨{prefixed}；打入账户{card}。");
    {
        let mut s = clerk.lock().unwrap();
        let item = s
            .create_agenda(NewAgendaItem {
                title: "土地补偿款发放".into(),
                category: "compensation".into(),
                description: format!("按户发放，户主身份证{id}已核实"),
            })
            .unwrap();
        for m in [
            meeting(Body::PartyBranch, day(20), 5, 5, 4),
            meeting(Body::TwoCommittees, day(18), 9, 8, 6),
            meeting(Body::PartyMembers, day(15), 30, 24, 20),
            meeting(Body::RepresentativesMeeting, day(10), 35, 27, 21),
        ] {
            s.record_agenda(item.id, AgendaAction::Meeting(m)).unwrap();
        }
        let notice = Notice {
            text: notice_text.clone(),
            posted_on: today,
            period_days: 10,
            place: format!("村委会{landline}"),
        };
        s.record_agenda(item.id, AgendaAction::ResolutionNotice(notice))
            .unwrap();
        let objection = Objection {
            received_on: today,
            summary: format!("请改用手机{wide}联系我"),
            response: format!("已回电{spaced}"),
        };
        s.record_agenda(item.id, AgendaAction::Objection(objection))
            .unwrap();
    }
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    let page = get(&format!("{}/public/villages/{EAST}", hub.url));
    let json = get(&format!(
        "{}/api/v1/public/villages/{EAST}/notices",
        hub.url
    ));
    assert_eq!((page.status, json.status), (200, 200), "{}", page.text);
    for text in [&page.text, &json.text] {
        for (typed, pieces) in TYPED_ANY_WAY {
            for piece in std::iter::once(&typed).chain(pieces) {
                assert!(!text.contains(piece), "{piece} of {typed} leaked: {text}");
            }
        }
    }
    let stars = |typed: &str| "*".repeat(typed.chars().count());
    let masked_notice = format!(
        "补偿款发放：联系人电话{}，备用{}，外地请拨+{}；打入账户{}。",
        stars(wide),
        stars(spaced),
        stars(&prefixed[1..]),
        stars(card)
    );
    assert!(page.text.contains(&masked_notice), "{}", page.text);

    let v: Value = serde_json::from_str(&json.text).unwrap();
    let it = &v["items"][0];
    assert_eq!(it["title"], "土地补偿款发放");
    assert_eq!(it["notices"][0]["text"], masked_notice.as_str());
    let free_texts = [
        &it["description"],
        &it["notices"][0]["text"],
        &it["notices"][0]["place"],
        &it["objections"][0]["summary"],
        &it["objections"][0]["response"],
    ];
    for text in free_texts {
        let text = text.as_str().expect("a text");
        assert!(text.contains('*') && !has_digit(text), "{text}");
    }
}
