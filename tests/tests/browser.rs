//! The hub's web pages in a real headless Chromium, driven through chromedriver (WebDriver):
//! a reviewer signs in through the real form and returns a request a tablet filed, and the
//! tablet receives it; anyone reads a village's notices without signing in; the language link
//! switches to English and the choice sticks; the hub's address opens a front page leading to
//! each of its sides.
//!
//! Chromium and chromedriver are not on a fresh developer machine, so these tests are ignored
//! by `cargo test --workspace`; `.ci/run` installs both and runs them with
//! `cargo test -p bianmin-tests --test browser --test browser_resident -- --ignored`.
//! The browser itself (chromedriver, sessions, element helpers) is `tests/webdriver/mod.rs`.

mod webdriver;

use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, Status, Timestamp};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::{EAST, agenda_to_resolution_notice, social_card_request};
use fantoccini::{Client, Locator};
use webdriver::{WAIT, click, css, heading, in_browser, keep_screenshot, text, type_into};

/// Signs in through the sign-in form shown now, as the demo reviewer.
async fn sign_in(c: &Client) {
    type_into(c, "form.sign-in #name", REVIEWER).await;
    type_into(c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
    click(c, "form.sign-in button[type=submit]").await;
}

/// A hub with the demo data and the demo console passwords, as `serve --demo` has them.
fn demo_hub() -> TestHub {
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    hub
}

fn sync_ok(store: &Mutex<Store>) {
    let report = sync(store, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_reviewer_returns_a_tablets_request_in_the_browser_and_the_tablet_receives_it() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    // Filed with the ID card only: the photo is missing, waived at the village to accept it
    // (容缺受理).
    let (id, receipt_no) = {
        let mut s = clerk.lock().unwrap();
        let r = s
            .file_request(NewRequest {
                materials_received: vec!["ID card".into()],
                ..social_card_request()
            })
            .unwrap();
        let waiver = Action::WaiveMaterial {
            material: "Recent photo".into(),
            reason: "申请人承诺补交".into(),
        };
        s.apply(r.id, waiver).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        (r.id, r.receipt_no.as_str().to_string())
    };
    sync_ok(&clerk);

    const NOTE: &str = "请带一张近期免冠照片";
    let url = hub.url.clone();
    in_browser(move |c| async move {
        // The console sends a signed-out browser to the sign-in form.
        c.goto(&format!("{url}/console")).await.unwrap();
        heading(&c, "审核台登录").await;
        sign_in(&c).await;

        // The work queue lists the forwarded request; its receipt number opens its page.
        heading(&c, "待办办件").await;
        let link = format!("table.queue a[href='/console/requests/{id}']");
        assert_eq!(text(&c, &link).await, receipt_no);
        assert!(text(&c, "table.queue").await.contains("王*英"), "masked");
        click(&c, &link).await;

        // Return for supplement: the missing photo is offered ticked, the ID card is not.
        let form = format!("form[action='/console/requests/{id}/return']");
        let photo = css(
            &c,
            &format!("{form} input[name=missing][value='Recent photo']"),
        )
        .await;
        let id_card = css(&c, &format!("{form} input[name=missing][value='ID card']")).await;
        assert!(!id_card.is_selected().await.unwrap(), "the ID card came");
        if !photo.is_selected().await.unwrap() {
            photo.click().await.unwrap();
        }
        assert!(photo.is_selected().await.unwrap());
        type_into(&c, &format!("{form} #return-note"), NOTE).await;
        click(&c, &format!("{form} button[type=submit]")).await;

        // The page comes back with the notice, and no return form any more.
        let notice = text(&c, "p.notice[role=status]").await;
        assert!(notice.contains("已退回补正"), "{notice}");
        assert!(
            c.current_url()
                .await
                .unwrap()
                .as_str()
                .ends_with(&format!("/console/requests/{id}?done=return"))
        );
        assert!(
            c.find(Locator::Css(&form)).await.is_err(),
            "a returned request cannot be returned again"
        );
        let asked = text(&c, "section.card p strong").await;
        assert_eq!(asked, "已告知补正：");
        let page = text(&c, "main").await;
        assert!(
            page.contains("已告知补正：近期免冠照片"),
            "asked for the photo: {page}"
        );
    });

    // The clerk's tablet receives the return on its next sync.
    sync_ok(&clerk);
    let detail = clerk.lock().unwrap().request(id).unwrap();
    assert_eq!(detail.status, Status::Returned);
    assert_eq!(detail.missing_materials, ["Recent photo"]);
    match &detail.history.last().unwrap().action {
        Action::ReturnForSupplement { missing, note } => {
            assert_eq!(missing, &["Recent photo"]);
            assert_eq!(note, NOTE);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn anyone_reads_a_villages_notice_without_signing_in() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    const TITLE: &str = "村道硬化工程方案";
    const NOTICE: &str = "决议：村道硬化工程由村集体出资";
    let today = Timestamp::now().china_date();
    let item = agenda_to_resolution_notice(&mut clerk.lock().unwrap(), TITLE, NOTICE, today);
    sync_ok(&clerk);

    let url = hub.url.clone();
    in_browser(move |c| async move {
        // No cookies at all: not signed in (the console would ask to sign in).
        c.goto(&format!("{url}/public")).await.unwrap();
        c.delete_all_cookies().await.unwrap();
        c.goto(&format!("{url}/console")).await.unwrap();
        heading(&c, "审核台登录").await;

        // From the county's list to East Village's notices.
        c.goto(&format!("{url}/public")).await.unwrap();
        click(&c, &format!("a[href='/public/villages/{EAST}']")).await;
        let section = format!("section#item-{}", item.id);
        assert_eq!(text(&c, &format!("{section} h2")).await, TITLE);
        let shown = text(&c, &section).await;
        for expected in [NOTICE, "决议公开", "公示中", "村务公开栏", "通过"] {
            assert!(shown.contains(expected), "{expected} in {shown}");
        }
        let ends = today.checked_add_days(chrono::Days::new(9)).unwrap();
        assert!(shown.contains(&format!("{today} – {ends}")), "{shown}");
        let page = c.source().await.unwrap();
        assert!(!page.contains("会议记录") && !page.contains("sign-in-sheet"));
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_language_link_switches_to_english_and_the_choice_sticks() {
    let hub = demo_hub();
    let url = hub.url.clone();
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/sign-in")).await.unwrap();
        heading(&c, "审核台登录").await;
        assert_eq!(text(&c, "label[for=name]").await, "用户名");

        // The link at the top right.
        click(&c, "header.top a[lang|=en]").await;
        heading(&c, "Console sign-in").await;
        assert_eq!(text(&c, "label[for=name]").await, "User name");
        assert_eq!(text(&c, "label[for=password]").await, "Password");
        assert_eq!(text(&c, "form.sign-in button").await, "Sign in");
        assert_eq!(text(&c, "header.top a[lang|=zh]").await, "中文");
        assert_eq!(
            c.get_named_cookie("lang").await.unwrap().value(),
            "en",
            "remembered in a cookie"
        );

        // The next pages, without `?lang=`, stay in English: the work queue after signing in...
        sign_in(&c).await;
        heading(&c, "Work queue").await;
        assert!(!c.current_url().await.unwrap().as_str().contains("lang="));
        assert_eq!(text(&c, "label[for=f-status]").await, "Status");
        assert!(
            text(&c, "main").await.contains("No request matches."),
            "nothing is forwarded yet"
        );
        // ...and the public pages.
        c.goto(&format!("{url}/public")).await.unwrap();
        css(&c, &format!("a[href='/public/villages/{EAST}']")).await;
        let title = c.title().await.unwrap();
        assert!(title.contains("Village notices"), "{title}");

        // And back to Chinese, which sticks too.
        click(&c, "header.top a[lang|=zh]").await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::XPath("//h1[contains(., '村务公开')]"))
            .await
            .expect("Chinese again");
        c.goto(&format!("{url}/console")).await.unwrap();
        heading(&c, "待办办件").await;
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_hubs_address_opens_a_front_page_with_every_way_in() {
    let hub = demo_hub();
    let url = hub.url.clone();
    in_browser(move |c| async move {
        // The brand in every page's top bar leads here too.
        c.goto(&format!("{url}/lookup")).await.unwrap();
        click(&c, "header.top a.brand").await;
        heading(&c, "示范县 · 便民服务").await;
        keep_screenshot(&c, "front-page.png", None).await;
        let ways = [
            ("/resident", "居民自助办事", "居民登录"),
            ("/lookup", "办件查询", "办件查询"),
            ("/public", "村务公开", "示范县 · 村务公开"),
            ("/console", "审核台", "审核台登录"),
        ];
        for (href, name, arrives) in ways {
            let link = format!("section.card h2 a[href='{href}']");
            assert_eq!(text(&c, &link).await, name);
            click(&c, &link).await;
            heading(&c, arrives).await;
            c.back().await.unwrap();
            heading(&c, "示范县 · 便民服务").await;
        }
        // In English, the same ways in.
        click(&c, "header.top a[lang=en]").await;
        heading(&c, "Demo County · Bianmin services").await;
        let shown = text(&c, "main").await;
        for words in [
            "Residents: file and follow",
            "Check a request",
            "Village notices",
            "Console",
        ] {
            assert!(shown.contains(words), "{words} in {shown}");
        }
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn an_approval_with_a_material_missing_is_refused_with_the_list_and_each_decision_is_confirmed() {
    const BOOKLET: &str = "Household register (hukou) booklet";
    const BOOKLET_ZH: &str = "户口簿";
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(social_card_request()).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    sync_ok(&clerk);
    // After it was forwarded, the county asks for one more material.
    let mut catalog: serde_json::Value =
        serde_json::from_str(bianmin_domain::demo::CATALOG_JSON).unwrap();
    let card = catalog["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["code"] == "SOC-CARD")
        .unwrap();
    card["materials"]
        .as_array_mut()
        .unwrap()
        .push(BOOKLET.into());
    card["materials_zh"]
        .as_array_mut()
        .unwrap()
        .push(BOOKLET_ZH.into());
    admin::load_catalog(hub.storage.as_ref(), &catalog.to_string()).unwrap();
    hub.state.engine.forget_reference();

    let url = hub.url.clone();
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/requests/{id}"))
            .await
            .unwrap();
        sign_in(&c).await;
        c.goto(&format!("{url}/console/requests/{id}"))
            .await
            .unwrap();
        let approve = format!("form[action='/console/requests/{id}/approve']");

        // The missing material is named above a greyed approval.
        let outstanding = text(&c, "#outstanding").await;
        assert!(outstanding.contains(BOOKLET_ZH), "{outstanding}");
        let button = css(&c, &format!("{approve} button[type=submit]")).await;
        assert!(!button.is_enabled().await.unwrap(), "greyed");
        assert_eq!(button.text().await.unwrap(), "确认审核通过");
        let reject = text(
            &c,
            &format!("form[action='/console/requests/{id}/reject'] button"),
        )
        .await;
        assert_eq!(reject, "确认不予批准", "told apart");
        let colour = |selector: String| {
            let c = c.clone();
            async move {
                let v = c
                    .execute(
                        "return getComputedStyle(document.querySelector(arguments[0])).backgroundColor",
                        vec![selector.into()],
                    )
                    .await
                    .unwrap();
                v.as_str().unwrap().to_string()
            }
        };
        let (green, red) = (
            colour(format!("{approve} button")).await,
            colour(format!(
                "form[action='/console/requests/{id}/reject'] button"
            ))
            .await,
        );
        assert_ne!(green, red, "approve and reject look apart");

        // Sent all the same (the button forced back on, as a stale or forged form): refused,
        // with the list; nothing stored.
        c.execute(
            "document.querySelector(arguments[0]).disabled = false",
            vec![format!("{approve} button").into()],
        )
        .await
        .unwrap();
        click(&c, &format!("{approve} #approve-confirm")).await;
        click(&c, &format!("{approve} button[type=submit]")).await;
        let refused = text(&c, "#error-approve").await;
        assert!(refused.contains("尚有材料未收，不能审核通过"), "{refused}");
        assert!(refused.contains(BOOKLET_ZH), "{refused}");
        keep_screenshot(&c, "console-approval-refused.png", Some("#error-approve")).await;

        // Waived with a reason, it can be approved, once the confirmation is ticked.
        type_into(&c, "#waive-reason", "户口簿已在镇里备案").await;
        click(
            &c,
            &format!("form[action='/console/requests/{id}/waive'] button"),
        )
        .await;
        notice_saying(&c, "已记录容缺").await;
        let button = css(&c, &format!("{approve} button[type=submit]")).await;
        assert!(button.is_enabled().await.unwrap());
        let before = c.current_url().await.unwrap();
        button.click().await.unwrap();
        // Not ticked: the browser keeps the form (the tick is required), nothing is sent.
        assert_eq!(c.current_url().await.unwrap(), before);
        notice_saying(&c, "已记录容缺").await;
        click(&c, &format!("{approve} #approve-confirm")).await;
        click(&c, &format!("{approve} button[type=submit]")).await;
        notice_saying(&c, "已审核通过").await;
    });
    sync_ok(&clerk);
    assert_eq!(
        clerk.lock().unwrap().request(id).unwrap().status,
        Status::Approved
    );
}

/// Waits for the page's notice saying `words` (the page that answers a form, not the one
/// before it, which may show another notice).
async fn notice_saying(c: &Client, words: &str) {
    let xpath = format!("//p[@role='status' and contains(., '{words}')]");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no notice saying {words} ({e})"));
}

/// How the dashboard shown fits the window: the page's width beyond the window's (sideways
/// scrolling), the charts that pass their card's edge, the legend entries that pass their
/// chart's drawing, and the smallest scale a chart is drawn at (1 = as designed, 720 px).
async fn dashboard_fit(c: &Client) -> (f64, Vec<String>, Vec<String>, f64) {
    let measured = c
        .execute(
            r#"
            const page = document.documentElement;
            const beyond = page.scrollWidth - page.clientWidth;
            const charts = [...document.querySelectorAll('svg.chart')];
            const overflowing = charts.filter(svg => {
                const r = svg.getBoundingClientRect(), card = svg.parentElement.getBoundingClientRect();
                return r.left < card.left - 0.5 || r.right > card.right + 0.5;
            }).map(svg => svg.id);
            const cut = [...document.querySelectorAll('svg.chart text.legend')].filter(t => {
                const b = t.getBBox(), width = t.ownerSVGElement.viewBox.baseVal.width;
                return b.x < 0 || b.x + b.width > width;
            }).map(t => t.textContent);
            const scale = Math.min(...charts.map(svg =>
                svg.getBoundingClientRect().width / svg.viewBox.baseVal.width));
            return [beyond, overflowing, cut, charts.length ? scale : 0];
            "#,
            vec![],
        )
        .await
        .expect("measuring the dashboard");
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    (
        measured[0].as_f64().unwrap(),
        strings(&measured[1]),
        strings(&measured[2]),
        measured[3].as_f64().unwrap(),
    )
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_dashboard_fits_a_laptop_and_a_tablet_without_sideways_scrolling_or_cut_legends() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    {
        let mut s = clerk.lock().unwrap();
        for forward in [false, true, true] {
            let r = s.file_request(social_card_request()).unwrap();
            s.apply(r.id, Action::Accept).unwrap();
            if forward {
                s.apply(r.id, Action::Forward).unwrap();
            }
        }
    }
    sync_ok(&clerk);
    let url = hub.url.clone();
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/dashboard")).await.unwrap();
        sign_in(&c).await;
        for (width, height) in [(1024, 768), (768, 1024)] {
            c.set_window_size(width, height).await.unwrap();
            for lang in ["zh", "en"] {
                c.goto(&format!("{url}/console/dashboard?lang={lang}"))
                    .await
                    .unwrap();
                css(&c, "svg#chart-ratings").await;
                let inner: f64 = c
                    .execute("return window.innerWidth", vec![])
                    .await
                    .unwrap()
                    .as_f64()
                    .unwrap();
                assert_eq!(inner, f64::from(width), "the window is {width} wide");
                let (beyond, overflowing, cut, scale) = dashboard_fit(&c).await;
                let at = format!("{width}×{height}, {lang}");
                assert!(
                    beyond <= 0.0,
                    "{at}: the page scrolls sideways by {beyond} px"
                );
                assert!(
                    overflowing.is_empty(),
                    "{at}: charts past their card: {overflowing:?}"
                );
                assert!(cut.is_empty(), "{at}: legends cut: {cut:?}");
                assert!(
                    scale >= 0.9,
                    "{at}: a chart is shrunk to {scale:.2} of its size"
                );
                if lang == "zh" {
                    let name = format!("console-dashboard-{width}x{height}.png");
                    keep_screenshot(&c, &name, None).await;
                }
            }
        }
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_administrator_is_warned_on_every_page_while_next_years_calendar_is_missing() {
    // The demo's calendar is 2026's: from November 2026 the next 60 days reach into 2027.
    let today = bianmin_domain::Timestamp::now().china_date();
    let ahead = today.checked_add_days(chrono::Days::new(60)).unwrap();
    let missing: Vec<i32> = (chrono::Datelike::year(&today)..=chrono::Datelike::year(&ahead))
        .filter(|y| *y != 2026)
        .collect();
    assert!(!missing.is_empty(), "needs a date from 2026-11-02 on");
    let hub = demo_hub();
    let (url, storage, engine) = (
        hub.url.clone(),
        hub.storage.clone(),
        hub.state.engine.clone(),
    );
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/sign-in")).await.unwrap();
        type_into(&c, "form.sign-in #name", "admin").await;
        type_into(&c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&c, "form.sign-in button[type=submit]").await;
        for page in [
            "/console/requests",
            "/console/dashboard",
            "/console/admin/users",
        ] {
            c.goto(&format!("{url}{page}")).await.unwrap();
            let warning = text(&c, "p.calendar-gap[role=alert]").await;
            assert!(
                warning.contains(&format!("节假日日历缺少 {} 年", missing[0])),
                "{page}: {warning}"
            );
            if page == "/console/requests" {
                keep_screenshot(&c, "console-calendar-warning.png", None).await;
            }
        }
        // Its link leads to the calendar page, where the year is loaded.
        click(&c, "p.calendar-gap a").await;
        heading(&c, "节假日安排").await;
        tokio::task::spawn_blocking(move || {
            for year in missing {
                let json =
                    format!(r#"{{"year": {year}, "holidays": [], "adjusted_working_days": []}}"#);
                admin::load_calendar(storage.as_ref(), &json).unwrap();
            }
            engine.forget_reference();
        })
        .await
        .unwrap();
        c.goto(&format!("{url}/console/requests")).await.unwrap();
        css(&c, "header.top").await;
        assert!(
            c.find(Locator::Css("p.calendar-gap")).await.is_err(),
            "no warning once it is loaded"
        );
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_look_up_field_holds_a_whole_receipt_number_and_an_approval_is_not_called_completed() {
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "taiping-tablet"));
    let (id, receipt_no) = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(social_card_request()).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        (r.id, r.receipt_no.as_str().to_string())
    };
    sync_ok(&clerk);
    sync_ok(&reviewer);
    reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap();
    sync_ok(&reviewer);

    let url = hub.url.clone();
    in_browser(move |c| async move {
        for (width, height) in [(1280, 800), (768, 1024)] {
            c.set_window_size(width, height).await.unwrap();
            c.goto(&format!("{url}/lookup")).await.unwrap();
            heading(&c, "办件查询").await;
            assert_eq!(text(&c, "label[for=receipt_no]").await, "受理回执号");
            type_into(&c, "#receipt_no", &receipt_no).await;
            // The whole number shows in the field: nothing scrolled out of sight.
            let fits = c
                .execute(
                    "const f = document.querySelector('#receipt_no'); \
                     return [f.scrollWidth, f.clientWidth]",
                    vec![],
                )
                .await
                .unwrap();
            let (needed, shown) = (fits[0].as_f64().unwrap(), fits[1].as_f64().unwrap());
            assert!(
                needed <= shown,
                "{width} px: {needed} px of text in a {shown} px field"
            );
            type_into(&c, "#id_last4", "002X").await;
            click(&c, "form[action='/lookup'] button[type=submit]").await;
            let shown = text(&c, "main").await;
            assert!(
                shown.contains(&format!("受理回执号 {receipt_no}")),
                "{shown}"
            );
            assert!(shown.contains("审核通过，等待送达"), "{shown}");
            assert!(shown.contains("作出决定"), "{shown}");
            assert!(
                !shown.contains("办结（"),
                "an approval is not the end: {shown}"
            );
        }
    });
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_bank_account_is_starred_until_the_reviewer_reveals_it_and_the_reveal_is_recorded() {
    const ACCOUNT: &str = "6222021234567890123";
    let hub = demo_hub();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let (id, title) = {
        let mut s = clerk.lock().unwrap();
        let r = s
            .file_request(NewRequest {
                item_code: "AID-ELDER-ALLOWANCE".into(),
                attributes: [(
                    "bank_account".to_string(),
                    bianmin_domain::AttrValue::Text(ACCOUNT.into()),
                )]
                .into(),
                materials_received: vec!["ID card".into(), "Bank account booklet".into()],
                ..social_card_request()
            })
            .unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        (r.id, format!("办件 {}", r.receipt_no.as_str()))
    };
    sync_ok(&clerk);
    let (url, storage) = (hub.url.clone(), hub.storage.clone());
    let page = format!("{url}/console/requests/{id}");
    in_browser(move |c| async move {
        c.goto(&page).await.unwrap();
        sign_in(&c).await;
        heading(&c, &title).await;
        // Starred whole, the ID number and phone masked; nothing in full.
        let shown = text(&c, "main").await;
        assert!(shown.contains(&"*".repeat(ACCOUNT.len())), "{shown}");
        assert!(shown.contains("110105********002X") && shown.contains("138****5678"));
        assert!(
            !c.source().await.unwrap().contains(ACCOUNT),
            "not even in the source"
        );
        // The reviewer reveals it on purpose: shown once, and said to be recorded.
        let reveal = "form.reveal:has(input[name=field][value='attributes.bank_account']) button";
        click(&c, reveal).await;
        let revealed = text(&c, "strong.revealed").await;
        assert_eq!(revealed, ACCOUNT);
        assert!(text(&c, "main").await.contains("已显示完整信息，已记录"));
        let record = text(&c, "table.reveals").await;
        assert!(
            record.contains("银行账号") && record.contains("张伟"),
            "{record}"
        );
        keep_screenshot(&c, "console-reveal.png", Some("strong.revealed")).await;
        // The next time the page is opened it is starred again; the record stays.
        c.goto(&page).await.unwrap();
        heading(&c, &title).await;
        assert!(!c.source().await.unwrap().contains(ACCOUNT));
        assert!(text(&c, "table.reveals").await.contains("银行账号"));
        let reveals = tokio::task::spawn_blocking(move || storage.reveals(id).unwrap())
            .await
            .unwrap();
        assert_eq!(reveals.len(), 1, "one reveal, recorded once");
    });
}
