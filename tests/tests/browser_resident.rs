//! The resident pages on a phone (issue 16), in a real headless Chromium emulating a phone of
//! 390×844 CSS pixels: an administrator issues an activation code in the console, a clerk's
//! tablet files a request for the resident, and on her phone she activates her account, sees
//! her request (receipt number, status, deadline), signs out and in again; another resident
//! sees none of her requests; the pages fit the phone (no sideways scrolling, text of 18 px and
//! up, buttons a finger can hit), are in Chinese until the language link switches them to
//! English, and work with JavaScript turned off.
//!
//! Chromium and chromedriver are not on a fresh developer machine, so these tests are ignored
//! by `cargo test --workspace`; `.ci/run` installs both and runs them with
//! `cargo test -p bianmin-tests --test browser --test browser_resident -- --ignored`.

mod webdriver;

use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, Clock, Role};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, TestHub, quick};
use bianmin_tests::{EAST, social_card_request};
use fantoccini::{Client, Locator};
use webdriver::{
    Fit, PHONE, PHONE_MIN_TEXT_PX, click, css, fill, fit, heading, in_browser, in_phone,
    in_phone_without_javascript, javascript_runs, page_text, text, type_into,
};

/// The password Wang chooses on her phone.
const PASSWORD: &str = "wang's own 2026";
/// The demo county's administrator.
const ADMIN: &str = "admin";
/// A second resident of East Village, and the password she chooses.
const LI: &str = "resident-li";
const LI_PASSWORD: &str = "li guilan 1956";

/// A hub with the demo data and the demo console passwords, as `serve --demo` has them.
fn demo_hub() -> TestHub {
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    hub
}

fn user_id(hub: &TestHub, name: &str) -> String {
    hub.storage.user_by_name(name).unwrap().unwrap().id
}

/// A fresh activation code for `name`, as `bianmin-server user resident-code` prints it.
fn code_for(hub: &TestHub, name: &str) -> String {
    admin::issue_activation_code(hub.storage.as_ref(), name, admin::ACTIVATION_VALIDITY)
        .expect("an activation code")
        .code
}

/// Adds 李桂兰, a second resident of East Village; her user id.
fn add_li(hub: &TestHub) -> String {
    admin::add_user(hub.storage.as_ref(), LI, "李桂兰", Role::Resident, EAST)
        .expect("a second resident")
        .id
}

/// A social security card request for Wang (user id `wang`), as the clerk files it.
fn for_wang(wang: &str) -> NewRequest {
    NewRequest {
        resident_user: Some(wang.to_string()),
        ..social_card_request()
    }
}

/// The same request for 李桂兰 (user id `li`).
fn for_li(li: &str) -> NewRequest {
    NewRequest {
        applicant_name: "李桂兰".into(),
        id_number: "370883195603120046".into(),
        phone: "13912345678".into(),
        resident_user: Some(li.to_string()),
        ..social_card_request()
    }
}

/// A request as the clerk's tablet holds it after filing: its receipt number and deadline.
#[derive(Debug, Clone)]
struct Filed {
    receipt_no: String,
    clock: Clock,
}

impl Filed {
    /// The committed date while the clock runs.
    fn due(&self) -> chrono::NaiveDate {
        match self.clock {
            Clock::Running { due } => due,
            ref other => panic!("no running deadline: {other:?}"),
        }
    }
}

/// East Village's clerk enrols a tablet, files and accepts `requests` at the service point and
/// syncs them to the hub.
fn filed_at_the_service_point(
    hub: &TestHub,
    dir: &std::path::Path,
    requests: Vec<NewRequest>,
) -> Vec<Filed> {
    let clerk = Mutex::new(hub.enrol(CLERK, dir, "east-tablet"));
    let filed = {
        let mut s = clerk.lock().unwrap();
        requests
            .into_iter()
            .map(|new| {
                let r = s.file_request(new).unwrap();
                s.apply(r.id, Action::Accept).unwrap();
                Filed {
                    receipt_no: r.receipt_no.as_str().to_string(),
                    clock: s.request(r.id).unwrap().clock,
                }
            })
            .collect()
    };
    sync_ok(&clerk);
    filed
}

fn sync_ok(store: &Mutex<Store>) {
    let report = sync(store, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

const ACTIVATE: &str = "form[action='/resident/activate']";
const SIGN_IN: &str = "form[action='/resident/sign-in']";

/// Fills in the activation form shown now and sends it.
async fn activate(c: &Client, name: &str, code: &str, password: &str) {
    fill(c, &format!("{ACTIVATE} #name"), name).await;
    fill(c, &format!("{ACTIVATE} #code"), code).await;
    fill(c, &format!("{ACTIVATE} #password"), password).await;
    fill(c, &format!("{ACTIVATE} #again"), password).await;
    click(c, &format!("{ACTIVATE} button[type=submit]")).await;
}

/// Fills in the sign-in form shown now and sends it.
async fn sign_in(c: &Client, name: &str, password: &str) {
    fill(c, &format!("{SIGN_IN} #name"), name).await;
    fill(c, &format!("{SIGN_IN} #password"), password).await;
    click(c, &format!("{SIGN_IN} button[type=submit]")).await;
}

/// The requests the home page shows, each card's text.
async fn requests_shown(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for card in c
        .find_all(Locator::Css("section.card.request"))
        .await
        .expect("the cards")
    {
        out.push(card.text().await.expect("a card's text"));
    }
    out
}

/// The one card that shows `receipt_no`.
fn card_of<'a>(cards: &'a [String], receipt_no: &str) -> &'a str {
    let mut of = cards.iter().filter(|c| c.contains(receipt_no));
    match (of.next(), of.next()) {
        (Some(card), None) => card,
        _ => panic!("not exactly one card shows {receipt_no}: {cards:#?}"),
    }
}

/// Signs in to the console on a desk's browser as the administrator and issues Wang's
/// activation code on her page; the code shown.
fn code_from_the_console(hub: &TestHub) -> String {
    let (url, wang) = (hub.url.clone(), user_id(hub, RESIDENT));
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/sign-in")).await.unwrap();
        heading(&c, "审核台登录").await;
        type_into(&c, "form.sign-in #name", ADMIN).await;
        type_into(&c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&c, "form.sign-in button[type=submit]").await;
        css(&c, "header.top").await;
        c.goto(&format!("{url}/console/admin/users/{wang}"))
            .await
            .unwrap();
        click(&c, "form#issue-activation button[type=submit]").await;
        let card = text(&c, "section.activation").await;
        assert!(card.contains("只显示这一次"), "{card}");
        text(&c, "#activation-code").await
    })
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_resident_activates_on_her_phone_follows_her_request_and_signs_in_again() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let wang = user_id(&hub, RESIDENT);
    let [filed] = <[Filed; 1]>::try_from(filed_at_the_service_point(
        &hub,
        dir.path(),
        vec![for_wang(&wang)],
    ))
    .unwrap();
    let code = code_from_the_console(&hub);
    assert_eq!(code.len(), "ABCDE-FGHJK".len(), "{code}");

    let url = hub.url.clone();
    in_phone(move |c| async move {
        // Signed out, the resident pages ask her to sign in, in Chinese; the form links to
        // activation.
        c.goto(&format!("{url}/resident")).await.unwrap();
        heading(&c, "居民登录").await;
        click(&c, "main a[href='/resident/activate']").await;
        heading(&c, "激活居民账号").await;

        // The code as read out at the service point, typed in lower case without its dash.
        let typed = code.replace('-', "").to_lowercase();
        activate(&c, RESIDENT, &typed, PASSWORD).await;

        // Active and signed in: her request, with its receipt number, status and deadline.
        heading(&c, "我的办件").await;
        let notice = text(&c, "p.notice[role=status]").await;
        assert!(notice.contains("账号已激活"), "{notice}");
        assert!(text(&c, ".whoami").await.contains("王秀英"));
        let cards = requests_shown(&c).await;
        assert_eq!(cards.len(), 1, "{cards:#?}");
        let card = card_of(&cards, &filed.receipt_no);
        for expected in [
            "社会保障卡申领补换",
            "受理回执号",
            "已受理，正在办理",
            "办理时限",
            &format!("承诺在 {} 前办结", filed.due()),
            "王*英",
        ] {
            assert!(card.contains(expected), "{expected} in {card}");
        }
        assert!(!card.contains("11010519491231002X"), "ID masked: {card}");

        // She signs out: back to the sign-in form, and her page is closed to this phone.
        click(&c, ".whoami button[type=submit]").await;
        heading(&c, "居民登录").await;
        assert!(
            text(&c, "p.notice[role=status]")
                .await
                .contains("您已退出登录")
        );
        c.goto(&format!("{url}/resident")).await.unwrap();
        heading(&c, "居民登录").await;

        // A wrong password is refused; hers signs her in again.
        sign_in(&c, RESIDENT, "not my password").await;
        css(&c, "p.error[role=alert]").await;
        heading(&c, "居民登录").await;
        sign_in(&c, RESIDENT, PASSWORD).await;
        heading(&c, "我的办件").await;
        let cards = requests_shown(&c).await;
        card_of(&cards, &filed.receipt_no);
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn another_resident_sees_none_of_the_first_residents_requests() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let (wang, li) = (user_id(&hub, RESIDENT), add_li(&hub));
    let filed = filed_at_the_service_point(
        &hub,
        dir.path(),
        vec![for_wang(&wang), for_wang(&wang), for_li(&li)],
    );
    let (wangs, lis) = (
        [filed[0].receipt_no.clone(), filed[1].receipt_no.clone()],
        filed[2].receipt_no.clone(),
    );
    let (li_code, wang_code) = (code_for(&hub, LI), code_for(&hub, RESIDENT));

    let url = hub.url.clone();
    in_phone(move |c| async move {
        // Li: her own request only, nothing of Wang's.
        c.goto(&format!("{url}/resident/activate")).await.unwrap();
        activate(&c, LI, &li_code, LI_PASSWORD).await;
        heading(&c, "我的办件").await;
        let cards = requests_shown(&c).await;
        assert_eq!(cards.len(), 1, "{cards:#?}");
        assert!(card_of(&cards, &lis).contains("李*兰"), "{cards:#?}");
        let shown = page_text(&c).await;
        for receipt in &wangs {
            assert!(!shown.contains(receipt.as_str()), "{receipt} in {shown}");
        }
        assert!(
            !shown.contains("王*英") && !shown.contains("王秀英"),
            "{shown}"
        );

        // Wang, on the same phone after Li signs out: her two, not Li's.
        click(&c, ".whoami button[type=submit]").await;
        heading(&c, "居民登录").await;
        c.goto(&format!("{url}/resident/activate")).await.unwrap();
        activate(&c, RESIDENT, &wang_code, PASSWORD).await;
        heading(&c, "我的办件").await;
        let cards = requests_shown(&c).await;
        assert_eq!(cards.len(), 2, "{cards:#?}");
        for receipt in &wangs {
            card_of(&cards, receipt);
        }
        let shown = page_text(&c).await;
        assert!(!shown.contains(lis.as_str()), "{lis} in {shown}");
        assert!(
            !shown.contains("李*兰") && !shown.contains("李桂兰"),
            "{shown}"
        );
    });
}

/// Every resident page on a phone, measured ([`fit`]): the sign-in form, a refused sign-in and
/// the activation form in Chinese and in English, and the home page with Wang's requests in
/// several states (running; returned for a photo with a long note; accepted on her promise to
/// bring the photo, 容缺) in both languages.
fn resident_pages_measured_on_a_phone() -> Vec<Fit> {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let wang = user_id(&hub, RESIDENT);
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    {
        let mut s = clerk.lock().unwrap();
        let running = s.file_request(for_wang(&wang)).unwrap();
        s.apply(running.id, Action::Accept).unwrap();
        let returned = s.file_request(for_wang(&wang)).unwrap();
        s.apply(returned.id, Action::Accept).unwrap();
        let note = "照片须为白底彩色免冠近照，尺寸为二寸，请于十五个工作日内带到村便民服务站";
        s.apply(
            returned.id,
            Action::ReturnForSupplement {
                missing: vec!["Recent photo".into()],
                note: note.into(),
            },
        )
        .unwrap();
        let waived = s
            .file_request(NewRequest {
                materials_received: vec!["ID card".into()],
                ..for_wang(&wang)
            })
            .unwrap();
        let waiver = Action::WaiveMaterial {
            material: "Recent photo".into(),
            reason: "申请人承诺补交".into(),
        };
        s.apply(waived.id, waiver).unwrap();
        s.apply(waived.id, Action::Accept).unwrap();
    }
    sync_ok(&clerk);
    let code = code_for(&hub, RESIDENT);

    let url = hub.url.clone();
    let measured = in_phone(move |c| async move {
        let mut measured = Vec::new();
        for lang in ["zh", "en"] {
            c.goto(&format!("{url}/resident/sign-in?lang={lang}"))
                .await
                .unwrap();
            css(&c, SIGN_IN).await;
            measured.push(fit(&c).await);
            sign_in(&c, RESIDENT, "not my password").await;
            css(&c, "p.error[role=alert]").await;
            measured.push(fit(&c).await);
            c.goto(&format!("{url}/resident/activate")).await.unwrap();
            css(&c, ACTIVATE).await;
            measured.push(fit(&c).await);
        }
        c.goto(&format!("{url}/resident/activate?lang=zh"))
            .await
            .unwrap();
        activate(&c, RESIDENT, &code, PASSWORD).await;
        heading(&c, "我的办件").await;
        assert_eq!(requests_shown(&c).await.len(), 3);
        measured.push(fit(&c).await);
        c.goto(&format!("{url}/resident?lang=en")).await.unwrap();
        heading(&c, "My requests").await;
        measured.push(fit(&c).await);
        measured
    });
    for m in &measured {
        assert_eq!(m.screen_width, f64::from(PHONE.0), "a phone's width: {m:?}");
        assert!(m.buttons > 0, "each page has a button: {m:?}");
        eprintln!(
            "{}: content {} px wide, window {} px, screen {} px; <body> {} px, smallest text {} \
             px; {} button(s), the lowest {} px",
            m.url,
            m.scroll_width,
            m.inner_width,
            m.screen_width,
            m.body_font_px,
            m.smallest_text_px,
            m.buttons,
            m.lowest_button_px
        );
    }
    measured
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_resident_pages_fit_a_phones_width_and_a_fingers_tap() {
    let measured = resident_pages_measured_on_a_phone();
    let problems: Vec<String> = measured
        .iter()
        .flat_map(|m| [m.sideways(), m.short_buttons()])
        .flatten()
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_resident_pages_text_is_large_enough_for_a_phone() {
    let measured = resident_pages_measured_on_a_phone();
    let problems: Vec<String> = measured.iter().filter_map(Fit::small_type).collect();
    assert!(
        problems.is_empty(),
        "text smaller than {PHONE_MIN_TEXT_PX} px on the resident pages:\n{}",
        problems.join("\n")
    );
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_phone_measures_catch_a_page_that_does_not_fit() {
    // So that the checks above cannot pass for want of measuring: a page too wide, with small
    // print and a low button, fails each of them.
    let unfit = in_phone(|c| async move {
        c.goto(
            "data:text/html;charset=utf-8,<meta name=viewport content='width=device-width'>\
             <body style='font-size:18px'><div style='width:600px'>宽</div>\
             <p style='font-size:12px'>小字</p><button style='height:30px'>按钮</button>",
        )
        .await
        .unwrap();
        fit(&c).await
    });
    assert_eq!(unfit.screen_width, f64::from(PHONE.0));
    assert!(
        unfit.inner_width > unfit.screen_width,
        "zoomed out: {unfit:?}"
    );
    let sideways = unfit.sideways().expect("too wide");
    assert!(
        sideways.contains("on a 390 px screen") && sideways.contains(r#"div "宽""#),
        "{sideways}"
    );
    let small = unfit.small_type().expect("small print");
    assert!(small.contains(r#"p "小字" 12 px"#), "{small}");
    let low = unfit.short_buttons().expect("a low button");
    assert!(low.contains(r#""按钮" 30 px"#), "{low}");
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_resident_pages_are_chinese_until_the_language_link_switches_to_english() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let wang = user_id(&hub, RESIDENT);
    let [filed] = <[Filed; 1]>::try_from(filed_at_the_service_point(
        &hub,
        dir.path(),
        vec![for_wang(&wang)],
    ))
    .unwrap();
    let code = code_for(&hub, RESIDENT);

    let url = hub.url.clone();
    in_phone(move |c| async move {
        // This phone runs scripts (the test without them below is a real difference).
        assert!(javascript_runs(&c).await);

        c.goto(&format!("{url}/resident/sign-in")).await.unwrap();
        heading(&c, "居民登录").await;
        assert_eq!(text(&c, "label[for=name]").await, "用户名");
        assert_eq!(text(&c, "header.top a[lang|=en]").await, "English");

        click(&c, "header.top a[lang|=en]").await;
        heading(&c, "Resident sign-in").await;
        assert_eq!(text(&c, "label[for=name]").await, "User name");
        assert_eq!(text(&c, "label[for=password]").await, "Password");
        assert_eq!(text(&c, &format!("{SIGN_IN} button")).await, "Sign in");

        // The choice sticks: activation and her requests, in English.
        click(&c, "main a[href='/resident/activate']").await;
        heading(&c, "Activate your resident account").await;
        activate(&c, RESIDENT, &code, PASSWORD).await;
        heading(&c, "My requests").await;
        let cards = requests_shown(&c).await;
        let card = card_of(&cards, &filed.receipt_no);
        for expected in [
            "Social security card application or replacement",
            "Receipt number",
            "Accepted, being handled",
            &format!("To be decided by {}", filed.due()),
        ] {
            assert!(card.contains(expected), "{expected} in {card}");
        }
        assert_eq!(text(&c, ".whoami button").await, "Sign out");

        // And back to Chinese.
        click(&c, "header.top a[lang|=zh]").await;
        heading(&c, "我的办件").await;
        let cards = requests_shown(&c).await;
        assert!(card_of(&cards, &filed.receipt_no).contains("已受理，正在办理"));
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_resident_activates_follows_her_request_and_signs_in_again_without_javascript() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let wang = user_id(&hub, RESIDENT);
    let [filed] = <[Filed; 1]>::try_from(filed_at_the_service_point(
        &hub,
        dir.path(),
        vec![for_wang(&wang)],
    ))
    .unwrap();
    let code = code_for(&hub, RESIDENT);

    let url = hub.url.clone();
    in_phone_without_javascript(move |c| async move {
        assert!(!javascript_runs(&c).await, "scripts are off on this phone");

        c.goto(&format!("{url}/resident")).await.unwrap();
        heading(&c, "居民登录").await;
        click(&c, "main a[href='/resident/activate']").await;
        heading(&c, "激活居民账号").await;
        activate(&c, RESIDENT, &code, PASSWORD).await;
        heading(&c, "我的办件").await;
        let cards = requests_shown(&c).await;
        let card = card_of(&cards, &filed.receipt_no);
        assert!(card.contains("已受理，正在办理"), "{card}");
        assert!(
            card.contains(&format!("承诺在 {} 前办结", filed.due())),
            "{card}"
        );

        click(&c, "header.top a[lang|=en]").await;
        heading(&c, "My requests").await;
        click(&c, "header.top a[lang|=zh]").await;
        heading(&c, "我的办件").await;

        click(&c, ".whoami button[type=submit]").await;
        heading(&c, "居民登录").await;
        sign_in(&c, RESIDENT, PASSWORD).await;
        heading(&c, "我的办件").await;
        card_of(&requests_shown(&c).await, &filed.receipt_no);
    });
}
