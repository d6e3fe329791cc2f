//! The resident pages on a phone (issue 16), in a real headless Chromium emulating a phone of
//! 390×844 CSS pixels: an administrator issues an activation code in the console, a clerk's
//! tablet files a request for the resident, and on her phone she activates her account, sees
//! her request (receipt number, status, deadline), signs out and in again; another resident
//! sees none of her requests; the pages fit the phone (no sideways scrolling, text of 18 px and
//! up, buttons a finger can hit), are in Chinese until the language link switches them to
//! English, and work with JavaScript turned off. The whole story on a phone beside a desk:
//! she activates, files with a photo from the camera, the clerk's tablet receives it, returns
//! it for a missing material, she supplements it with another photo, the reviewer approves it
//! in the console, the clerk delivers, she rates; every step on her page, and another resident
//! sees none of it.
//!
//! Chromium and chromedriver are not on a fresh developer machine, so these tests are ignored
//! by `cargo test --workspace`; `.ci/run` installs both and runs them with
//! `cargo test -p bianmin-tests --test browser --test browser_resident -- --ignored`.

mod webdriver;

use std::sync::{Arc, Mutex};

use bianmin_client_core::client::sync;
use bianmin_client_core::transfer::transfer_attachments;
use bianmin_client_core::{NewRequest, Store};
use bianmin_document::model::FieldEdit;
use bianmin_domain::{Action, Clock, Rating, Role, Status};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::{EAST, social_card_request};
use fantoccini::{Client, Locator};
use webdriver::{
    Fit, PHONE, PHONE_MIN_TEXT_PX, click, css, fill, fit, heading, in_browser, in_phone,
    in_phone_and_desk, in_phone_without_javascript, javascript_runs, keep_screenshot, page_text,
    text, type_into,
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

/// A JPEG photo of `width` × `height` written to `dir` as a phone's camera would leave it; its
/// path.
fn photo_file(dir: &std::path::Path, name: &str, (width, height): (u32, u32)) -> String {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x / 7) as u8, (y / 5) as u8, (x ^ y) as u8])
    });
    let path = dir.join(name);
    img.save(&path).expect("a photo");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// Runs `step` on the clerk's tablet, off the browsers' runtime (a tablet's calls block).
async fn on_tablet<T: Send + 'static>(
    clerk: &Arc<Mutex<Store>>,
    step: impl FnOnce(&Mutex<Store>) -> T + Send + 'static,
) -> T {
    let clerk = Arc::clone(clerk);
    tokio::task::spawn_blocking(move || step(&clerk))
        .await
        .expect("a tablet step")
}

/// The history the request's page shows, one line per step.
async fn history_shown(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for li in c
        .find_all(Locator::Css("section.history li"))
        .await
        .expect("the history")
    {
        out.push(li.text().await.expect("a step's text"));
    }
    out
}

/// Waits for the page shown to show `words`, reloading it now and then (after a form is sent,
/// or when the hub has just changed what the page shows); the page's text.
async fn reload_until(c: &Client, words: &str) -> String {
    let deadline = std::time::Instant::now() + webdriver::WAIT;
    let mut shown = String::new();
    for tries in 1.. {
        // The page may be changing under the look (a form's answer arriving): look again.
        if let Ok(body) = c.find(Locator::Css("body")).await {
            shown = body.text().await.unwrap_or_default();
        }
        if shown.contains(words) {
            return shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed {words}: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if tries % 5 == 0 {
            c.refresh().await.expect("reload");
        }
    }
    unreachable!()
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_resident_files_with_a_photo_and_follows_it_to_her_rating_on_the_phone() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let li = add_li(&hub);
    let (wang_code, li_code) = (code_for(&hub, RESIDENT), code_for(&hub, LI));
    let clerk = Arc::new(Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet")));
    let id_card = photo_file(dir.path(), "IMG_0001.jpg", (1200, 800));
    let portrait = photo_file(dir.path(), "IMG_0002.jpg", (2400, 3200));
    let white_backed = photo_file(dir.path(), "IMG_0003.jpg", (900, 1200));
    let receipt = format!("{EAST}-000-000001");

    let (url, tablet) = (hub.url.clone(), Arc::clone(&clerk));
    let id = in_phone_and_desk(move |phone, desk| async move {
        let clerk = tablet;
        // Wang activates her account on her phone and opens the social security card's form.
        phone
            .goto(&format!("{url}/resident/activate"))
            .await
            .unwrap();
        activate(&phone, RESIDENT, &wang_code, PASSWORD).await;
        heading(&phone, "我的办件").await;
        assert!(requests_shown(&phone).await.is_empty());
        click(&phone, "a[href='/resident/file']").await;
        click(&phone, "a[href='/resident/file/SOC-CARD']").await;
        let form = "form[action='/resident/file/SOC-CARD']";
        css(
            &phone,
            &format!("{form} input#photo-0[accept='image/*'][capture]"),
        )
        .await;

        // She fills it in and photographs her ID card and a portrait with the camera.
        fill(&phone, &format!("{form} #id_number"), "11010519491231002x").await;
        fill(&phone, &format!("{form} #phone"), "138 1234 5678").await;
        click(&phone, &format!("{form} #grid option[value='1组']")).await;
        click(&phone, &format!("{form} #attr-reason option[value='lost']")).await;
        keep_screenshot(
            &phone,
            "resident-file-form.png",
            Some(&format!("{form} #attr-reason")),
        )
        .await;
        css(&phone, &format!("{form} #photo-0"))
            .await
            .send_keys(&id_card)
            .await
            .expect("choosing the photo");
        css(&phone, &format!("{form} #photo-1"))
            .await
            .send_keys(&portrait)
            .await
            .expect("choosing the photo");
        click(&phone, &format!("{form} button[type=submit]")).await;

        // Her request's page: the hub's receipt number, self-filed, waiting to be accepted.
        let shown = reload_until(&phone, &receipt).await;
        for words in [
            "自助办理",
            "已提交，等待受理",
            "居民身份证 ×1",
            "近期免冠照片 ×1",
            "您提交了申请",
        ] {
            assert!(shown.contains(words), "{words} in {shown}");
        }
        assert!(!shown.contains("11010519491231002"), "ID masked: {shown}");
        let at = phone.current_url().await.unwrap();
        let id = uuid::Uuid::parse_str(
            at.path()
                .strip_prefix("/resident/requests/")
                .expect("her request's page"),
        )
        .unwrap();

        // The clerk's tablet receives it at its next sync, marked self-filed, with the photo;
        // the clerk checks them, accepts it, and returns it for a portrait on white.
        let on_the_tablet = on_tablet(&clerk, move |clerk| {
            sync_ok(clerk);
            let moved = transfer_attachments(clerk, &quick(), &mut |_| {}).unwrap();
            assert!(moved.failed.is_empty(), "{moved:?}");
            let mut s = clerk.lock().unwrap();
            let d = s.request(id).unwrap();
            for m in ["ID card", "Recent photo"] {
                s.edit(
                    id,
                    FieldEdit::Material {
                        name: m.into(),
                        received: true,
                    },
                )
                .unwrap();
            }
            s.apply(id, Action::Accept).unwrap();
            s.apply(
                id,
                Action::ReturnForSupplement {
                    missing: vec!["Recent photo".into()],
                    note: "照片须为白底，请重拍".into(),
                },
            )
            .unwrap();
            drop(s);
            sync_ok(clerk);
            (d, moved.downloaded.len())
        })
        .await;
        let (d, downloaded) = on_the_tablet;
        assert!(d.self_filed(), "marked self-filed on the tablet");
        assert_eq!(d.status, Status::Submitted);
        assert_eq!(d.receipt_no.as_str(), receipt);
        assert_eq!(downloaded, 2, "both photos");

        // Her page says what is missing; she photographs it and hands it in.
        phone.refresh().await.unwrap();
        let shown = reload_until(&phone, "退回补正").await;
        assert!(shown.contains("需要补交：近期免冠照片"), "{shown}");
        assert!(shown.contains("照片须为白底，请重拍"), "{shown}");
        let supplement = format!("form[action='/resident/requests/{id}/supplement']");
        css(&phone, &format!("{supplement} #photo-0"))
            .await
            .send_keys(&white_backed)
            .await
            .expect("choosing the photo");
        click(&phone, &format!("{supplement} button[type=submit]")).await;
        let shown = reload_until(&phone, "材料已补交").await;
        assert!(shown.contains("已受理，正在办理"), "{shown}");
        assert!(shown.contains("您补交了材料：近期免冠照片"), "{shown}");
        assert!(shown.contains("近期免冠照片 ×2"), "{shown}");
        keep_screenshot(&phone, "resident-request-supplemented.png", None).await;

        // The clerk forwards it to the township.
        on_tablet(&clerk, move |clerk| {
            sync_ok(clerk);
            let mut s = clerk.lock().unwrap();
            assert_eq!(s.request(id).unwrap().status, Status::Accepted);
            s.apply(id, Action::Forward).unwrap();
            drop(s);
            sync_ok(clerk);
        })
        .await;
        phone.refresh().await.unwrap();
        reload_until(&phone, "上报镇里审核").await;

        // The reviewer approves it in the console.
        desk.goto(&format!("{url}/console/sign-in")).await.unwrap();
        type_into(&desk, "form.sign-in #name", REVIEWER).await;
        type_into(&desk, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&desk, "form.sign-in button[type=submit]").await;
        let link = format!("table.queue a[href='/console/requests/{id}']");
        assert_eq!(text(&desk, &link).await, receipt);
        click(&desk, &link).await;
        let approve = format!("form[action='/console/requests/{id}/approve']");
        click(&desk, &format!("{approve} #approve-confirm")).await;
        click(&desk, &format!("{approve} button[type=submit]")).await;
        let notice = text(&desk, "p.notice[role=status]").await;
        assert!(notice.contains("已审核通过"), "{notice}");

        // The clerk delivers the result.
        on_tablet(&clerk, move |clerk| {
            sync_ok(clerk);
            let mut s = clerk.lock().unwrap();
            assert_eq!(s.request(id).unwrap().status, Status::Approved);
            s.apply(id, Action::Deliver).unwrap();
            drop(s);
            sync_ok(clerk);
        })
        .await;

        // Finished: she rates it, and every step is on her page.
        phone.refresh().await.unwrap();
        let shown = reload_until(&phone, "已办结").await;
        assert!(shown.contains("审核通过"), "{shown}");
        click(&phone, "input[name=rating][value=very_satisfied]").await;
        type_into(&phone, "#comment", "不用跑腿，谢谢").await;
        click(
            &phone,
            &format!("form[action='/resident/requests/{id}/rate'] button[type=submit]"),
        )
        .await;
        let shown = reload_until(&phone, "谢谢您的评价").await;
        assert!(
            shown.contains("您评价：非常满意：不用跑腿，谢谢"),
            "{shown}"
        );
        let steps = history_shown(&phone).await.join("\n");
        for step in [
            "您提交了申请",
            "受理了申请",
            "退回补正",
            "您补交了材料",
            "上报镇里审核",
            "审核通过",
            "送达办理结果",
            "您评价",
        ] {
            assert!(steps.contains(step), "{step} in {steps}");
        }
        click(&phone, "a[href='/resident']").await;
        card_of(&requests_shown(&phone).await, &receipt);

        // Li, on her own phone (this one, after Wang signs out), sees none of it.
        click(&phone, ".whoami button[type=submit]").await;
        heading(&phone, "居民登录").await;
        phone
            .goto(&format!("{url}/resident/activate"))
            .await
            .unwrap();
        activate(&phone, LI, &li_code, LI_PASSWORD).await;
        heading(&phone, "我的办件").await;
        assert!(requests_shown(&phone).await.is_empty());
        assert!(!page_text(&phone).await.contains(&receipt));
        phone
            .goto(&format!("{url}/resident/requests/{id}"))
            .await
            .unwrap();
        let shown = page_text(&phone).await;
        assert!(
            !shown.contains(&receipt) && !shown.contains("王"),
            "{shown}"
        );
        id
    });
    // On the clerk's tablet: rated, by Wang, and Li holds nothing.
    sync_ok(&clerk);
    let d = clerk.lock().unwrap().request(id).unwrap();
    assert_eq!(d.status, Status::Completed);
    assert_eq!(d.rating, Some(Rating::VerySatisfied));
    assert_ne!(d.resident_user.as_deref(), Some(li.as_str()));
}
