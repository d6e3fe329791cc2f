//! The notices of a request a clerk filed and accepted, which the township returned, and then
//! approved or rejected: what each says, in both languages, and what it never shows.

use automerge::AutoCommit;
use bianmin_domain::{Action, Identity, ReceiptNo, Role, Timestamp};
use chrono::NaiveDate;

use super::*;
use crate::model::NewRequest;
use crate::{Authoring, Document};

const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const BASE: &str = "https://hub.example.cn";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn person(role: Role, area: &str, device: &str) -> Identity {
    Identity {
        user: format!("{role:?}").to_lowercase(),
        role,
        area: area.into(),
        device: device.into(),
    }
}

fn clerk() -> Identity {
    person(Role::Clerk, "370883101201", "east-tablet")
}

fn reviewer() -> Identity {
    person(Role::Reviewer, "370883101", "console")
}

/// A social security card request of 王秀英 filed at East Village on 2 March 2026, then each of
/// `steps` (who, on which day of March, what).
fn request(steps: &[(Identity, u32, Action)]) -> RequestDetail {
    let reference = Reference::demo();
    let new = NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: ID_NUMBER.into(),
        phone: PHONE.into(),
        grid: "1组".into(),
        attributes: Default::default(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user: None,
        submit: true,
    };
    let actor = "0123456789abcdef0123456789abcdef";
    let (_, changes) = Document::file_request(
        actor,
        &clerk(),
        Timestamp::at_noon(day(2)),
        &reference,
        &new,
        &ReceiptNo::parse("370883101201-001-000042").unwrap(),
        &[],
    )
    .unwrap();
    let mut am = AutoCommit::new();
    let apply = |am: &mut AutoCommit, changes: Vec<Vec<u8>>| {
        am.apply_changes(
            changes
                .iter()
                .map(|c| automerge::Change::try_from(&c[..]).unwrap()),
        )
        .unwrap();
    };
    apply(&mut am, changes);
    for (who, on, action) in steps {
        let doc = Document::from_automerge(am.clone()).unwrap();
        let what = Authoring::RequestEvent(action.clone());
        let changes = doc
            .author(actor, who, Timestamp::at_noon(day(*on)), &reference, &what)
            .unwrap();
        apply(&mut am, changes);
    }
    Document::from_automerge(am)
        .unwrap()
        .request_detail(&reference, day(20))
        .unwrap()
}

fn accepted_and_forwarded() -> Vec<(Identity, u32, Action)> {
    vec![(clerk(), 2, Action::Accept), (clerk(), 3, Action::Forward)]
}

fn returned() -> Vec<(Identity, u32, Action)> {
    let mut steps = accepted_and_forwarded();
    steps.push((
        reviewer(),
        4,
        Action::ReturnForSupplement {
            missing: vec![
                "Recent photo".into(),
                "Household register (hukou) booklet".into(),
            ],
            note: "照片须为白底。联系电话 13812345678".into(),
        },
    ));
    steps
}

fn notice(kind: NoticeKind, d: &RequestDetail, lang: Lang) -> Result<Notice, NotPrintable> {
    Notice::build(kind, d, &Reference::demo(), lang, Some(BASE), day(20))
}

/// Nothing on the paper or in its text shows the whole ID number, phone or name.
fn assert_masked(n: &Notice) {
    for text in [n.sheet(), n.html_document(), n.text()] {
        for secret in [ID_NUMBER, PHONE, "王秀英"] {
            assert!(!text.contains(secret), "{secret} printed in {text}");
        }
        assert!(text.contains("110105********002X"), "{text}");
        assert!(text.contains("王*英"), "{text}");
    }
}

#[test]
fn the_receipt_names_the_township_the_item_the_dates_and_the_look_up_code() {
    let d = request(&accepted_and_forwarded());
    assert_eq!(available(&d), [NoticeKind::Receipt]);
    let n = notice(NoticeKind::Receipt, &d, Lang::Zh).unwrap();
    assert_eq!(n.township, "太平镇");
    assert_eq!(n.village, "东村");
    assert_eq!(n.accepted_on, day(2));
    assert_eq!(n.time_limit_days, 10);
    let Deadline::Due { due } = n.deadline else {
        panic!("{:?}", n.deadline);
    };
    assert!(due > day(2));
    let url = "https://hub.example.cn/lookup?receipt_no=370883101201-001-000042";
    assert_eq!(n.lookup_url.as_deref(), Some(url));
    let sheet = n.sheet();
    for words in [
        "太平镇便民服务中心",
        "<h1 class=\"notice-title\">受理回执</h1>",
        "受理回执号：<strong class=\"receipt-no\">370883101201-001-000042</strong>",
        "东村便民服务站",
        "2026-03-02",
        "10 个工作日",
        &format!("{due} 前办结"),
        url,
    ] {
        assert!(sheet.contains(words), "{words} missing in {sheet}");
    }
    let svg_at = sheet.find("<svg class=\"qr\"").expect("a QR code");
    let svg = &sheet[svg_at..sheet[svg_at..].find("</svg>").unwrap() + svg_at + 6];
    assert_eq!(qr::tests::decode(svg), url);
    assert_masked(&n);

    let en = notice(NoticeKind::Receipt, &d, Lang::En).unwrap();
    let sheet = en.sheet();
    for words in [
        "Taiping Town Convenience Service Center",
        "Acceptance receipt",
        "East Village service point",
        "10 working days",
    ] {
        assert!(sheet.contains(words), "{words} missing in {sheet}");
    }
    assert!(!sheet.contains("受理"), "{sheet}");
}

#[test]
fn the_supplement_notice_lists_every_missing_material_the_note_and_the_stopped_clock() {
    let d = request(&returned());
    assert_eq!(available(&d), [NoticeKind::Receipt, NoticeKind::Supplement]);
    let n = notice(NoticeKind::Supplement, &d, Lang::Zh).unwrap();
    let sheet = n.sheet();
    assert!(sheet.contains("<h1 class=\"notice-title\">补正告知书</h1>"));
    // By their Chinese names where the catalog gives them (the booklet is not one of this
    // item's materials: its recorded name shows).
    assert!(sheet.contains(
        "<ol class=\"missing\"><li>近期免冠照片</li><li>Household register (hukou) booklet</li></ol>"
    ), "{sheet}");
    assert!(sheet.contains("乡镇审核意见：照片须为白底。"), "{sheet}");
    assert!(sheet.contains("补正期间不计入承诺办理时限"), "{sheet}");
    assert!(sheet.contains("2026-03-04 退回之日起暂停计算"), "{sheet}");
    assert!(sheet.contains("剩余"), "{sheet}");
    assert_masked(&n);
    let text = n.text();
    assert!(
        text.contains("  1. 近期免冠照片\n  2. Household register"),
        "{text}"
    );
    let en = notice(NoticeKind::Supplement, &d, Lang::En)
        .unwrap()
        .sheet();
    assert!(en.contains("Notice of materials to supply"));
    assert!(en.contains("does not count"));
    assert!(en.contains("<li>Recent photo</li>"), "{en}");
    assert_eq!(
        notice(NoticeKind::Decision, &d, Lang::Zh),
        Err(NotPrintable::NotDecided)
    );
}

#[test]
fn decision_notices_say_approved_or_not_and_why() {
    let mut steps = accepted_and_forwarded();
    steps.push((
        reviewer(),
        5,
        Action::Approve {
            note: "请到村里领卡".into(),
        },
    ));
    let approved = request(&steps);
    assert_eq!(
        available(&approved),
        [NoticeKind::Receipt, NoticeKind::Decision]
    );
    let n = notice(NoticeKind::Decision, &approved, Lang::Zh).unwrap();
    assert_eq!(n.title(), "准予批准决定书");
    let sheet = n.sheet();
    assert!(sheet.contains("决定准予批准"), "{sheet}");
    assert!(sheet.contains("审核意见：请到村里领卡"), "{sheet}");
    assert!(sheet.contains("已于 2026-03-05 办结"), "{sheet}");
    assert_masked(&n);

    let mut steps = accepted_and_forwarded();
    steps.push((
        reviewer(),
        5,
        Action::Reject {
            reason: "已在外地办理 <b>".into(),
        },
    ));
    let rejected = request(&steps);
    let n = notice(NoticeKind::Decision, &rejected, Lang::Zh).unwrap();
    assert_eq!(n.title(), "不予批准决定书");
    let sheet = n.sheet();
    assert!(sheet.contains("决定不予批准"), "{sheet}");
    assert!(sheet.contains("理由：已在外地办理 &lt;b&gt;"), "{sheet}");
    assert!(sheet.contains("行政复议"), "{sheet}");
    let en = notice(NoticeKind::Decision, &rejected, Lang::En).unwrap();
    assert_eq!(en.title(), "Decision notice: not approved");
    assert!(en.sheet().contains("Reason: "));
}

#[test]
fn nothing_is_printed_for_a_request_not_accepted() {
    let d = request(&[]);
    assert!(available(&d).is_empty());
    for kind in NoticeKind::ALL {
        assert_eq!(notice(kind, &d, Lang::Zh), Err(NotPrintable::NotAccepted));
    }
}

#[test]
fn without_a_look_up_address_the_receipt_says_so_and_has_no_code() {
    let d = request(&accepted_and_forwarded());
    let n = Notice::build(
        NoticeKind::Receipt,
        &d,
        &Reference::demo(),
        Lang::Zh,
        None,
        day(20),
    )
    .unwrap();
    assert!(!n.sheet().contains("<svg"));
    assert!(n.sheet().contains("未印二维码"));
    assert!(n.text().contains("不知道查询地址"));
}

#[test]
fn look_up_addresses_are_plain_http_addresses() {
    assert_eq!(
        lookup_base(" https://hub.example.cn/bianmin/ ").as_deref(),
        Some("https://hub.example.cn/bianmin")
    );
    assert_eq!(
        lookup_base("http://127.0.0.1:8080").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    for bad in [
        "",
        "hub.example.cn",
        "ftp://hub",
        "https://",
        "https://hub/?x=1",
        "https://hub/#a",
        "https://hub/a b",
        "https://hub/\"><script>",
        "javascript:alert(1)",
    ] {
        assert_eq!(lookup_base(bad), None, "{bad}");
    }
    assert_eq!(
        lookup_url("https://hub/", "370883101201-001-000042"),
        "https://hub/lookup?receipt_no=370883101201-001-000042"
    );
    assert_eq!(
        lookup_url("https://hub", "a b&c"),
        "https://hub/lookup?receipt_no=a%20b%26c"
    );
}

#[test]
fn values_are_escaped() {
    assert_eq!(
        escape("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}
