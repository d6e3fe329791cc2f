//! The township console, through the real router (`app(state)` with `oneshot`), on requests and
//! agenda items filed by real tablet stores that sync with the same hub served on a loopback
//! port: sign-in and roles, sessions, CSRF, lockout, the queue, a request's page and every
//! action, agenda items and the township review, another township's reviewer, languages.

mod common;

use common::*;

use std::time::Duration;

use axum::http::StatusCode;
use bianmin_document::model::{NewAgendaItem, NewRequest};
use bianmin_domain::{
    Action, AgendaAction, AttrValue, Body as MeetingBody, Meeting, ReviewKind, Role, Status,
    Timestamp, WorkingCalendar,
};
use bianmin_server::admin;
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::web::console::throttle::ThrottleConfig;
use chrono::{Days, NaiveDate};
use uuid::Uuid;

const OTHER_REVIEWER: &str = "reviewer-shiqiang";
const RESIDENT: &str = "resident-wang";

// ---------------------------------------------------------------------------------------------
// The hub and its requests

async fn hub() -> Hub {
    hub_with(ConsoleConfig::default()).await
}

/// The demo hub plus a reviewer of Shiqiang Town, everyone with [`PASSWORD`], served on a
/// loopback port for the tablets and as a router for the browser.
async fn hub_with(config: ConsoleConfig) -> Hub {
    serve_hub(config, |s| {
        admin::add_user(
            s,
            OTHER_REVIEWER,
            "石墙镇审核员",
            Role::Reviewer,
            "370883102",
        )
        .unwrap();
        for name in [REVIEWER, OTHER_REVIEWER, CLERK, RESIDENT, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    })
    .await
}

fn dibao(name: &str) -> NewRequest {
    NewRequest {
        item_code: "AID-DIBAO".into(),
        applicant_name: name.into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "2组".into(),
        attributes: [
            ("household_members".to_string(), AttrValue::Number(3.0)),
            ("monthly_income".to_string(), AttrValue::Number(900.0)),
        ]
        .into(),
        // Every material AID-DIBAO requires: `file` accepts it.
        materials_received: vec![
            "ID card".into(),
            "Household register (hukou) booklet".into(),
            "Income statement".into(),
            "Authorisation to check family finances".into(),
        ],
        resident_user: None,
        submit: true,
    }
}

fn status_on_hub(hub: &Hub, id: Uuid) -> Option<Status> {
    let doc = hub.storage.document(id).unwrap()?;
    bianmin_document::Document::load(&doc.bytes)
        .unwrap()
        .request_status()
}

// ---------------------------------------------------------------------------------------------
// Signing in

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_reviewers_and_administrators_sign_in_and_sessions_end_at_sign_out() {
    let hub = hub().await;
    let mut b = Browser::new(&hub);

    let a = b.get("/console/requests?status=all").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/sign-in?next=/console/requests%3Fstatus%3Dall")
    );
    let a = b.get("/console").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);

    let form = b.get("/console/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("审核台登录"), "Chinese by default");
    assert!(form.body.contains(r#"type="password""#));
    assert_labelled(&form.body);
    assert!(
        form.set_cookies[0].contains("HttpOnly") && form.set_cookies[0].contains("SameSite=Strict")
    );

    // Wrong password and unknown user: the same answer.
    let wrong = b.sign_in(REVIEWER, "not the password").await;
    let unknown = b.sign_in("nobody-here", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let message = |body: &str| {
        let at = body.find(r#"<p class="error""#).unwrap();
        body[at..at + body[at..].find("</p>").unwrap()].to_string()
    };
    assert_eq!(message(&wrong.body), message(&unknown.body));
    assert!(wrong.body.contains("用户名或密码不正确"));
    assert!(
        wrong.body.contains(&format!(r#"value="{REVIEWER}""#)),
        "the typed name is kept"
    );
    assert!(
        !wrong.body.contains("not the password"),
        "never the password"
    );
    assert!(!b.cookies.contains_key("bianmin_console"));

    // A clerk and a resident with the right password are refused with the very same answer:
    // nothing tells that the password was right or what role the name has.
    for name in [CLERK, RESIDENT] {
        let a = b.sign_in(name, PASSWORD).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(message(&a.body), message(&wrong.body), "{name}");
        assert!(!b.cookies.contains_key("bianmin_console"));
    }

    // The reviewer signs in: a fresh session cookie, HttpOnly, SameSite=Strict, Path=/.
    let a = b.sign_in(REVIEWER, PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/console/requests"));
    let cookie = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("bianmin_console="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback by default"
    );
    let id = &b.cookies["bianmin_console"];
    assert_eq!(id.len(), 32, "128 random bits");
    assert_eq!(hub.state.console.session_count(), 1);

    let queue = b.get("/console/requests").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("待办办件"));
    assert!(queue.body.contains("太平镇审核员"));
    assert_labelled(&queue.body);
    let a = b.get("/console/sign-in").await;
    assert_eq!(
        (a.status, a.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/requests")),
        "signed in already"
    );

    // A restart of the hub (a new process over the same data directory) signs nobody out.
    let before = b.app.clone();
    let reopened = bianmin_server::storage::sqlite::SqliteStorage::open(hub.dir.path()).unwrap();
    b.app = bianmin_server::app(bianmin_server::AppState::new(std::sync::Arc::new(reopened)));
    let queue = b.get("/console/requests").await;
    assert_eq!(
        queue.status,
        StatusCode::OK,
        "still signed in after a restart"
    );
    assert!(queue.body.contains("太平镇审核员"));
    b.app = before;

    // Sign-out ends the session on the hub, not only in the browser.
    let old_cookie = b.cookies.clone();
    let a = b
        .submit("/console/requests", "/console/sign-out", &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(!b.cookies.contains_key("bianmin_console"));
    assert_eq!(hub.state.console.session_count(), 0);
    b.cookies = old_cookie;
    let a = b.get("/console/requests").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "the old cookie is dead");
    let reopened = bianmin_server::storage::sqlite::SqliteStorage::open(hub.dir.path()).unwrap();
    b.app = bianmin_server::app(bianmin_server::AppState::new(std::sync::Arc::new(reopened)));
    let a = b.get("/console/requests").await;
    assert_eq!(
        a.status,
        StatusCode::SEE_OTHER,
        "and stays dead after a restart"
    );

    // The administrator may sign in too, and comes back to where they were going.
    let mut admin = Browser::new(&hub);
    let token = csrf(&admin.get("/console/sign-in").await.body);
    let a = admin
        .post(
            "/console/sign-in",
            &[
                ("csrf", &token),
                ("name", ADMIN),
                ("password", PASSWORD),
                ("next", "/console/agenda"),
            ],
        )
        .await;
    assert_eq!(a.location.as_deref(), Some("/console/agenda"));
    assert_eq!(admin.get("/console/agenda").await.status, StatusCode::OK);
    // ...but never to another site.
    let mut other = Browser::new(&hub);
    let token = csrf(&other.get("/console/sign-in").await.body);
    let a = other
        .post(
            "/console/sign-in",
            &[
                ("csrf", &token),
                ("name", ADMIN),
                ("password", PASSWORD),
                ("next", "//evil.example/console"),
            ],
        )
        .await;
    assert_eq!(a.location.as_deref(), Some("/console/requests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_without_its_form_token_is_refused() {
    let hub = hub().await;
    let mut b = Browser::new(&hub);
    // No sign-in cookie at all (a form posted from elsewhere).
    let a = b
        .post(
            "/console/sign-in",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("name", REVIEWER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("表单已过期"));
    // The cookie, but a wrong token.
    b.get("/console/sign-in").await;
    let a = b
        .post(
            "/console/sign-in",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("name", REVIEWER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(hub.state.console.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_make_a_name_wait_whether_or_not_it_exists() {
    let hub = hub_with(ConsoleConfig {
        throttle: ThrottleConfig {
            first_delay: Duration::from_millis(1500),
            ..ThrottleConfig::default()
        },
        ..ConsoleConfig::default()
    })
    .await;
    let mut b = Browser::new(&hub);
    for i in 1..=5 {
        let a = b.sign_in(REVIEWER, "guess").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i} checked");
        assert_eq!(a.body.contains("登录失败次数过多"), i == 5, "attempt {i}");
    }
    let locked = b.sign_in(REVIEWER, PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    assert!(locked.body.contains("登录失败次数过多"));
    assert!(!b.cookies.contains_key("bianmin_console"));

    // A name nobody has locks the same way, with the same words.
    let mut ghost = None;
    for _ in 0..6 {
        ghost = Some(b.sign_in("no-such-user", "guess").await);
    }
    let ghost = ghost.unwrap();
    assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);
    let words = |body: &str| {
        let at = body.find(r#"<p class="error""#).unwrap();
        body[at..at + body[at..].find("</p>").unwrap()].to_string()
    };
    assert_eq!(words(&ghost.body), words(&locked.body));

    // Other names are not affected; the lock ends.
    let mut admin = Browser::new(&hub);
    assert_eq!(
        admin.sign_in(ADMIN, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        b.sign_in(REVIEWER, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

// ---------------------------------------------------------------------------------------------
// The queue

/// The day whose acceptance makes a request of `days` working days due within two working days
/// from today (not overdue).
fn accepted_for_due_soon(cal: &WorkingCalendar, days: u32, today: NaiveDate) -> NaiveDate {
    (0..60)
        .map(|k| today - Days::new(k))
        .find(|d| {
            let due = cal.add_working_days(*d, days);
            due >= today && cal.working_days_between(today, due) <= 2
        })
        .expect("a day in the last two months")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_puts_the_nearest_deadline_first_marks_urgency_and_filters() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let cal = bianmin_client_core::Reference::demo().calendar;
    let today = Timestamp::now().china_date();
    let (late, late_no) = file(
        &clerk,
        soc_card("张三丰"),
        Some(today - Days::new(40)),
        true,
    )
    .await;
    let (soon, soon_no) = file(
        &clerk,
        soc_card("李四"),
        Some(accepted_for_due_soon(&cal, 10, today)),
        true,
    )
    .await;
    let (_, fresh_no) = file(&clerk, dibao("王五"), None, true).await;
    let (_, waiting_no) = file(&clerk, soc_card("赵六"), None, false).await;
    sync(&clerk).await;

    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let q = b.get("/console/requests").await;
    assert_eq!(q.status, StatusCode::OK);
    let pos = |body: &str, no: &str| body.find(no);
    let (a, s, f) = (
        pos(&q.body, &late_no).expect("overdue listed"),
        pos(&q.body, &soon_no).expect("due soon listed"),
        pos(&q.body, &fresh_no).expect("fresh listed"),
    );
    assert!(a < s && s < f, "nearest deadline first");
    assert!(
        pos(&q.body, &waiting_no).is_none(),
        "a reviewer starts with what was forwarded to them"
    );
    assert!(q.body.contains("已超期") && q.body.contains(r#"class="overdue""#));
    assert!(q.body.contains("即将到期") && q.body.contains(r#"class="due-soon""#));
    assert!(q.body.contains("张*丰"), "masked names in lists");
    assert!(!q.body.contains("张三丰"));
    assert!(!q.body.contains("11010519491231002X"));

    let all = b.get("/console/requests?status=all").await;
    assert!(
        pos(&all.body, &waiting_no).is_some(),
        "\"all\" shows everything"
    );
    let accepted = b.get("/console/requests?status=accepted").await;
    assert!(pos(&accepted.body, &waiting_no).is_some());
    assert!(pos(&accepted.body, &late_no).is_none());

    let by_item = b.get("/console/requests?item=AID-DIBAO").await;
    assert!(pos(&by_item.body, &fresh_no).is_some());
    assert!(pos(&by_item.body, &late_no).is_none());
    let west = b.get("/console/requests?village=370883101202").await;
    assert!(west.body.contains("没有符合条件的办件"));
    let east = b.get("/console/requests?village=370883101201").await;
    assert!(pos(&east.body, &late_no).is_some());
    let conflicts = b.get("/console/requests?conflict=yes").await;
    assert!(conflicts.body.contains("没有符合条件的办件"));
    let overdue = b.get("/console/requests?urgency=overdue").await;
    assert!(pos(&overdue.body, &late_no).is_some());
    assert!(pos(&overdue.body, &soon_no).is_none());

    // Paging.
    let p1 = b.get("/console/requests?limit=2").await;
    assert!(pos(&p1.body, &late_no).is_some() && pos(&p1.body, &fresh_no).is_none());
    assert!(p1.body.contains("offset=2"), "a next-page link");
    let p2 = b.get("/console/requests?limit=2&offset=2").await;
    assert!(pos(&p2.body, &fresh_no).is_some() && pos(&p2.body, &late_no).is_none());
    assert!(!p2.body.contains("下一页"));

    // English.
    let en = b.get("/console/requests?lang=en").await;
    assert!(en.body.contains("Work queue") && en.body.contains("Overdue"));
    assert!(en.set_cookies.iter().any(|c| c.starts_with("lang=en")));
    assert_labelled(&en.body);
    // Switching language keeps the queue's filters and page.
    let filtered = b
        .get("/console/requests?status=forwarded&limit=2&lang=en")
        .await;
    assert!(
        filtered
            .body
            .contains(r#"href="?status=forwarded&amp;limit=2&amp;lang=zh-CN""#),
        "the language switch keeps the filters"
    );

    // The links go to the pages.
    let page = b.get(&format!("/console/requests/{late}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = b.get(&format!("/console/requests/{soon}")).await;
    assert!(
        page.body.contains(r#"class="due-soon""#),
        "marked on its page too"
    );

    // The administrator sees every status by default.
    let mut admin = Browser::signed_in(&hub, ADMIN).await;
    let q = admin.get("/console/requests").await;
    assert!(pos(&q.body, &waiting_no).is_some());
}

// ---------------------------------------------------------------------------------------------
// A request's page and its actions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_page_shows_everything_and_each_action_is_stored_under_the_reviewer() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    // The photo is not brought: the village accepts without it (容缺受理).
    let without_photo = NewRequest {
        materials_received: vec!["ID card".into()],
        ..soc_card("王秀英")
    };
    let (id, receipt) = file_waiving(&clerk, without_photo, &["Recent photo"], None, true).await;
    let (other, _) = file(&clerk, soc_card("钱七"), None, true).await;
    on(&clerk, move |s| {
        s.comment(id, "老人行动不便，请尽快").unwrap()
    })
    .await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");

    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let page = b.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(&receipt));
    assert!(
        body.contains("王秀英"),
        "the full name on the request's own page"
    );
    assert!(body.contains("110105********002X"), "ID masked");
    assert!(body.contains("138****5678"), "phone masked");
    assert!(!body.contains("11010519491231002X") && !body.contains("13812345678"));
    assert!(body.contains("社会保障卡申领补换"));
    assert!(
        body.contains("<dt>申领原因</dt><dd>遗失补办</dd>"),
        "attributes, by their Chinese names"
    );
    assert!(body.contains("✓ 居民身份证 — 已收") && body.contains("○ 近期免冠照片 — 容缺"));
    assert!(
        body.contains(&format!("容缺：{WAIVER_REASON}")),
        "the missing material is marked as waived, with the reason"
    );
    for seen in [
        "受理",
        "上报",
        "东村代办员",
        "east-tablet (#1)",
        "老人行动不便，请尽快",
    ] {
        assert!(body.contains(seen), "{seen}");
    }
    assert!(body.contains("设备时间") && body.contains("服务器接收时间"));
    for form in ["approve", "reject", "return", "comment"] {
        assert!(
            body.contains(&format!(r#"action="/console/requests/{id}/{form}""#)),
            "{form} form"
        );
    }
    assert_labelled(body);
    let stored = hub.storage.audit(id).unwrap().len();

    // Refused before anything is written: the typed text comes back with the message.
    let a = b
        .submit(&url, &format!("{url}/reject"), &[("reason", "  ")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("不予批准必须写明理由"));
    let a = b
        .submit(&url, &format!("{url}/return"), &[("note", "请带原件来")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("请勾选所有缺少的材料"));
    assert!(a.body.contains("请带原件来"), "the typed note is kept");
    assert_labelled(&a.body);
    assert_eq!(hub.storage.audit(id).unwrap().len(), stored);

    // A comment, then approval.
    let a = b
        .submit(&url, &format!("{url}/comment"), &[("text", "材料齐全")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, Some(format!("{url}?done=comment")));
    let a = b
        .submit(
            &url,
            &format!("{url}/approve"),
            &[("note", "同意"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, Some(format!("{url}?done=approve")));
    let page = b.get(&format!("{url}?done=approve")).await;
    assert!(page.body.contains("已审核通过。村里的平板下次同步时会收到"));
    assert!(page.body.contains("材料齐全"));
    assert!(page.body.contains("太平镇审核员"));
    assert!(
        page.body.contains("审核台（网页）"),
        "the console as the device"
    );
    let received = |at: i64| {
        chrono::DateTime::from_timestamp_millis(at)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let history = &page.body
        [page.body.find("办理记录").unwrap()..page.body.find("中心平台接收记录").unwrap()];
    assert!(
        !history.contains("尚未写入"),
        "every event and comment is matched with the change that carried it"
    );
    let last = hub.storage.audit(id).unwrap().last().unwrap().received_at;
    let approve_row = &history[history.rfind("<tr").unwrap()..];
    assert!(
        approve_row.contains("审核通过") && approve_row.contains(&received(last)),
        "the approval's row shows when the hub received it: {approve_row}"
    );
    assert!(
        !page.body.contains(&format!("{url}/approve\"")),
        "decided: no more decisions"
    );
    assert_eq!(status_on_hub(&hub, id), Some(Status::Approved));
    let audit = hub.storage.audit(id).unwrap();
    assert_eq!(audit.len(), stored + 2);
    let reviewer = hub.storage.user_by_name(REVIEWER).unwrap().unwrap();
    assert!(
        audit[stored..]
            .iter()
            .all(|e| e.device_id == "console" && e.user_id == reviewer.id)
    );

    // The rules still decide: approving twice is refused, nothing stored.
    let token = csrf(&b.get(&url).await.body);
    let a = b
        .post(
            &format!("{url}/approve"),
            &[("csrf", &token), ("note", ""), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("未保存"));
    assert_eq!(hub.storage.audit(id).unwrap().len(), stored + 2);

    // The other request is rejected with a reason.
    let other_url = format!("/console/requests/{other}");
    let a = b
        .submit(
            &other_url,
            &format!("{other_url}/reject"),
            &[("reason", "不符合补换条件"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(status_on_hub(&hub, other), Some(Status::Rejected));
    assert!(b.get(&other_url).await.body.contains("不符合补换条件"));

    // The clerk's tablet receives both decisions and the comment on its next sync.
    sync(&clerk).await;
    let (mine, theirs) = on(&clerk, move |s| {
        (s.request(id).unwrap(), s.request(other).unwrap())
    })
    .await;
    assert_eq!(mine.status, Status::Approved);
    assert_eq!(theirs.status, Status::Rejected);
    assert!(mine.comments.iter().any(|c| c.text == "材料齐全"));
    assert_eq!(mine.history.last().unwrap().by.user, reviewer.id);

    // Nonsense addresses.
    assert_eq!(
        b.get("/console/requests/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get(&format!("/console/requests/{}", Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let token = csrf(&b.get(&url).await.body);
    assert_eq!(
        b.post(&format!("{url}/explode"), &[("csrf", &token)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let back = b.get(&format!("{url}/approve?lang=en")).await;
    assert_eq!(
        back.status,
        StatusCode::SEE_OTHER,
        "a reload after a refused form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_in_the_console_reaches_the_clerks_tablet() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    // Only the ID card is brought: the village accepts without the rest (容缺受理), which the
    // township then asks for.
    let id_card_only = NewRequest {
        materials_received: vec!["ID card".into()],
        ..dibao("孙八")
    };
    let (id, _) = file_waiving(
        &clerk,
        id_card_only,
        &[
            "Household register (hukou) booklet",
            "Income statement",
            "Authorisation to check family finances",
        ],
        None,
        true,
    )
    .await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let page = b.get(&url).await;
    // Every material not received is ticked at once.
    for m in [
        "Household register (hukou) booklet",
        "Income statement",
        "Authorisation to check family finances",
    ] {
        let at = page.body.find(&format!(r#"value="{m}""#)).expect(m);
        let tag = &page.body[..at + page.body[at..].find('>').unwrap()];
        let tag = &tag[tag.rfind('<').unwrap()..];
        assert!(tag.contains("checked"), "{m} is ticked: {tag}");
    }
    let a = b
        .submit(
            &url,
            &format!("{url}/return"),
            &[
                ("missing", "Household register (hukou) booklet"),
                ("missing", "Income statement"),
                ("missing", "Authorisation to check family finances"),
                ("note", "请一次带齐"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = b.get(&format!("{url}?done=return")).await;
    assert!(page.body.contains("已退回补正"));
    assert!(
        page.body.contains("补正期间停止计时"),
        "the clock is paused"
    );

    sync(&clerk).await;
    let detail = on(&clerk, move |s| s.request(id).unwrap()).await;
    assert_eq!(detail.status, Status::Returned);
    assert_eq!(
        detail.missing_materials,
        [
            "Household register (hukou) booklet",
            "Income statement",
            "Authorisation to check family finances"
        ]
    );
    match &detail.history.last().unwrap().action {
        Action::ReturnForSupplement { note, .. } => assert_eq!(note, "请一次带齐"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_shown_side_by_side_and_settled_in_the_console() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, _) = file(&clerk, soc_card("周九"), None, true).await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");
    let mut b = Browser::signed_in(&hub, REVIEWER).await;

    // Offline at the village the applicant withdraws; meanwhile the township approves.
    let withdraw = on(&clerk, move |s| {
        let d = s
            .apply(
                id,
                Action::Withdraw {
                    reason: "已在县里办好".into(),
                },
            )
            .unwrap();
        d.history.last().unwrap().id
    })
    .await;
    let a = b
        .submit(&url, &format!("{url}/approve"), &[("confirm", "yes")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    sync(&clerk).await;

    let page = b.get(&url).await;
    assert!(page.body.contains("冲突：离线时作出了不同的决定"));
    let conflict = &page.body[page.body.find("冲突：离线时").unwrap()..];
    assert!(conflict.contains("已撤回") && conflict.contains("审核通过"));
    assert!(conflict.contains("已在县里办好") && conflict.contains("东村代办员"));
    assert!(
        !page.body.contains("尚未写入"),
        "both branches' arrival times"
    );
    assert!(
        !page.body.contains(&format!("{url}/approve\"")),
        "settle first"
    );
    assert_labelled(&page.body);
    let q = b.get("/console/requests?status=all&conflict=yes").await;
    assert!(q.body.contains(&id.to_string()));

    let keep = withdraw.to_string();
    let a = b
        .submit(
            &url,
            &format!("{url}/settle"),
            &[("keep", &keep), ("note", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("处理冲突必须写明理由"));
    let a = b
        .submit(
            &url,
            &format!("{url}/settle"),
            &[("keep", &keep), ("note", "申请人已撤回，以撤回为准")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(status_on_hub(&hub, id), Some(Status::Withdrawn));
    let page = b.get(&url).await;
    assert!(!page.body.contains("冲突：离线时作出了不同的决定"));
    sync(&clerk).await;
    let detail = on(&clerk, move |s| s.request(id).unwrap()).await;
    assert_eq!(detail.status, Status::Withdrawn);
    assert!(detail.conflict.is_none());
}

// ---------------------------------------------------------------------------------------------
// Permissions and forgery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_session_token_are_refused_and_store_nothing() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, _) = file(&clerk, soc_card("吴十"), None, true).await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let stored = hub.storage.audit(id).unwrap().len();

    for fields in [
        vec![("note", "同意")],
        vec![
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("note", "同意"),
        ],
        vec![("csrf", ""), ("note", "同意")],
    ] {
        let a = b.post(&format!("{url}/approve"), &fields).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("表单已过期或不是从审核台提交的"));
    }
    let a = b
        .post(&format!("{url}/comment"), &[("text", "forged")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let other = Browser::signed_in(&hub, REVIEWER).await;
    let mut other = other;
    let foreign = csrf(&other.get(&url).await.body);
    let a = b
        .post(&format!("{url}/approve"), &[("csrf", &foreign)])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        hub.storage.audit(id).unwrap().len(),
        stored,
        "nothing stored"
    );
    assert_eq!(status_on_hub(&hub, id), Some(Status::Forwarded));

    // Signing out needs the token too.
    let a = b.post("/console/sign-out", &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&url).await.status, StatusCode::OK, "still signed in");

    // Without a session a POST goes to the sign-in page, and stores nothing.
    let mut stranger = Browser::new(&hub);
    let a = stranger
        .post(&format!("{url}/approve"), &[("csrf", &foreign)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/console/sign-in"));
    assert_eq!(hub.storage.audit(id).unwrap().len(), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_console_user_stays_in_their_area_and_role() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, receipt) = file(&clerk, soc_card("郑十一"), None, true).await;
    let agenda = on(&clerk, |s| {
        s.create_agenda(NewAgendaItem {
            title: "村集体鱼塘承包".into(),
            category: "collective assets".into(),
            description: "鱼塘承包期满，重新发包。".into(),
        })
        .unwrap()
        .id
    })
    .await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");
    let stored = hub.storage.audit(id).unwrap().len();

    // A reviewer of Shiqiang Town: not found, not listed, nothing stored.
    let mut shiqiang = Browser::signed_in(&hub, OTHER_REVIEWER).await;
    assert_eq!(shiqiang.get(&url).await.status, StatusCode::NOT_FOUND);
    let q = shiqiang.get("/console/requests?status=all").await;
    assert_eq!(q.status, StatusCode::OK);
    assert!(!q.body.contains(&receipt));
    let token = csrf(&q.body);
    let a = shiqiang
        .post(
            &format!("{url}/approve"),
            &[("csrf", &token), ("note", ""), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = shiqiang
        .post(
            &format!("{url}/comment"),
            &[("csrf", &token), ("text", "x")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        shiqiang
            .get(&format!("/console/agenda/{agenda}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !shiqiang
            .get("/console/agenda")
            .await
            .body
            .contains("村集体鱼塘承包")
    );
    assert_eq!(hub.storage.audit(id).unwrap().len(), stored);

    // The administrator reads the whole county but does not decide requests.
    let mut admin = Browser::signed_in(&hub, ADMIN).await;
    let page = admin.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&format!("{url}/approve\"")));
    let token = csrf(&page.body);
    let a = admin
        .post(
            &format!("{url}/approve"),
            &[("csrf", &token), ("note", ""), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(hub.storage.audit(id).unwrap().len(), stored);
    assert_eq!(status_on_hub(&hub, id), Some(Status::Forwarded));
    assert!(
        admin
            .get("/console/agenda")
            .await
            .body
            .contains("村集体鱼塘承包")
    );

    // Removing a password stops new sign-ins (a live session runs until sign-out or expiry:
    // the command line cannot reach the serving process's memory).
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    assert_eq!(b.get(&url).await.status, StatusCode::OK);
    let reviewer = hub.storage.user_by_name(REVIEWER).unwrap().unwrap();
    hub.storage.set_password(&reviewer.id, None).unwrap();
    assert_eq!(
        b.get(&url).await.status,
        StatusCode::OK,
        "a removed password ends no session"
    );
    let mut again = Browser::new(&hub);
    assert_eq!(
        again.sign_in(REVIEWER, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "but no new sign-in"
    );
}

// ---------------------------------------------------------------------------------------------
// Agenda items

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agenda_items_show_meetings_and_take_the_township_review() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let id = on(&clerk, |s| {
        let item = s
            .create_agenda(NewAgendaItem {
                title: "修建村道".into(),
                category: "projects".into(),
                description: "硬化东村至南岭村道路 1.2 公里。".into(),
            })
            .unwrap();
        s.record_agenda(
            item.id,
            AgendaAction::Meeting(Meeting {
                body: MeetingBody::PartyBranch,
                held_on: Timestamp::now().china_date(),
                entitled: 7,
                present: 6,
                households: None,
                households_represented: None,
                votes_for: 5,
                votes_against: 1,
                abstentions: 0,
                minutes: "支部提议修建村道".into(),
                sign_in_photos: vec!["photo-1".into()],
            }),
        )
        .unwrap();
        item.id
    })
    .await;
    sync(&clerk).await;

    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let list = b.get("/console/agenda").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("修建村道"));
    assert!(list.body.contains("2/6 两委会议商议"));
    assert_labelled(&list.body);
    let done = b.get("/console/agenda?stage=done").await;
    assert!(!done.body.contains("修建村道"));

    let url = format!("/console/agenda/{id}");
    let page = b.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    for seen in [
        "修建村道",
        "硬化东村至南岭村道路",
        "党支部会议",
        "7 / 6",
        "5 / 1 / 0",
        "通过",
        "支部提议修建村道",
        "东村代办员",
        "east-tablet (#1)",
    ] {
        assert!(page.body.contains(seen), "{seen}");
    }
    assert_labelled(&page.body);

    let a = b
        .submit(
            &url,
            &format!("{url}/review"),
            &[("review", "reviewed"), ("comment", " ")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("请填写乡镇意见"));
    let a = b
        .submit(
            &url,
            &format!("{url}/review"),
            &[("review", "recorded"), ("comment", "已备案，注意公开期")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location, Some(format!("{url}?done=review")));
    let a = b
        .submit(&url, &format!("{url}/comment"), &[("text", "请附预算")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let page = b.get(&format!("{url}?done=review")).await;
    assert!(page.body.contains("乡镇意见已记录"));
    assert!(page.body.contains("已备案，注意公开期") && page.body.contains("请附预算"));
    assert!(
        !page.body.contains("尚未写入"),
        "each record shows when the hub received it"
    );
    let token = csrf(&page.body);
    let forged = b
        .post(
            &format!("{url}/comment"),
            &[("csrf", "nope"), ("text", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.post(
            &format!("{url}/settle"),
            &[
                ("csrf", &token),
                ("keep", &Uuid::new_v4().to_string()),
                ("note", "x")
            ]
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no conflict to settle"
    );

    // The clerk's tablet receives the township's review.
    sync(&clerk).await;
    let detail = on(&clerk, move |s| s.agenda(id).unwrap()).await;
    assert!(detail.history.iter().any(|h| matches!(
        &h.action,
        AgendaAction::TownshipReview { review: ReviewKind::Recorded, comment } if comment == "已备案，注意公开期"
    )));
    assert!(detail.comments.iter().any(|c| c.text == "请附预算"));
}

// ---------------------------------------------------------------------------------------------
// Personal numbers in free text, and their audited reveal

/// A bank account, a sensitive attribute of the demo catalog: hidden whole.
const BANK_ACCOUNT: &str = "6228 4800 1234 5678 123";
/// A phone number typed full-width and spaced into a text attribute.
const EMERGENCY: &str = "住院，家属电话１３７ １２３４ ５６７８";
/// A phone number with its country code, typed into a comment.
const COMMENT: &str = "请回电 +86 139-8765-4321";

/// The value of the first reveal form's `field` that starts with `prefix`.
fn reveal_field(body: &str, prefix: &str) -> String {
    let start = format!(r#"name="field" value="{prefix}"#);
    let at = body
        .find(&start)
        .unwrap_or_else(|| panic!("no reveal of {prefix} in {body}"));
    let rest = &body[at + r#"name="field" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_numbers_are_masked_and_a_reveal_shows_one_value_once_and_is_audited() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let allowance = NewRequest {
        item_code: "AID-ELDER-ALLOWANCE".into(),
        attributes: [(
            "bank_account".to_string(),
            AttrValue::Text(BANK_ACCOUNT.into()),
        )]
        .into(),
        materials_received: vec!["ID card".into(), "Bank account booklet".into()],
        ..soc_card("王秀英")
    };
    let (id, _) = file(&clerk, allowance, None, true).await;
    let emergency = NewRequest {
        item_code: "AID-TEMP".into(),
        attributes: [("emergency".to_string(), AttrValue::Text(EMERGENCY.into()))].into(),
        materials_received: vec![
            "ID card".into(),
            "Proof of emergency (medical bill, disaster report)".into(),
        ],
        ..soc_card("李四")
    };
    let (other, _) = file(&clerk, emergency, None, true).await;
    on(&clerk, move |s| s.comment(id, COMMENT).unwrap()).await;
    sync(&clerk).await;
    let url = format!("/console/requests/{id}");
    let mut b = Browser::signed_in(&hub, REVIEWER).await;

    // Masked on the pages: the sensitive attribute whole, the numbers in free text.
    let page = b.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    for secret in [BANK_ACCOUNT, "1234 5678", "139-8765-4321", "13987654321"] {
        assert!(!page.body.contains(secret), "{secret} shown: {}", page.body);
    }
    assert!(
        page.body
            .contains(&"*".repeat(BANK_ACCOUNT.chars().count()))
    );
    assert!(page.body.contains(&format!("请回电 +{}", "*".repeat(16))));
    let other_page = b.get(&format!("/console/requests/{other}")).await;
    assert!(!other_page.body.contains("１３７ １２３４ ５６７８"));
    assert!(other_page.body.contains("住院，家属电话*************"));
    assert_eq!(
        reveal_field(&other_page.body, "attributes."),
        "attributes.emergency"
    );

    // A GET cannot reveal: it goes back to the page, and nothing is recorded.
    let a = b
        .get(&format!("{url}/reveal?field=attributes.bank_account"))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.unwrap().starts_with(&url));
    assert!(!a.body.contains(BANK_ACCOUNT));
    // Neither can a form without its token.
    let forged = b
        .post(
            &format!("{url}/reveal"),
            &[("csrf", "nope"), ("field", "attributes.bank_account")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.body.contains(BANK_ACCOUNT));
    assert_eq!(hub.storage.reveals(id).unwrap(), vec![]);

    // The reveal form: the one value in full, for this answer only, and an audit entry.
    assert_eq!(
        reveal_field(&page.body, "attributes."),
        "attributes.bank_account"
    );
    let shown = b
        .submit(
            &url,
            &format!("{url}/reveal"),
            &[("field", "attributes.bank_account")],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains(BANK_ACCOUNT));
    assert!(!shown.body.contains("139-8765-4321"), "only the one value");
    assert!(
        shown.body.contains("attributes.bank_account"),
        "in the page's record"
    );
    let reviewer = hub.storage.user_by_name(REVIEWER).unwrap().unwrap();
    let reveals = hub.storage.reveals(id).unwrap();
    assert_eq!(reveals.len(), 1);
    let r = &reveals[0];
    assert_eq!(
        (r.doc_id, r.user_id.as_str(), r.field.as_str()),
        (id, reviewer.id.as_str(), "attributes.bank_account")
    );
    let now = Timestamp::now().0;
    assert!((now - 60_000..=now).contains(&r.at), "when: {}", r.at);
    let record = format!("{r:?}");
    for piece in [BANK_ACCOUNT, "6228 4800", "1234 5678"] {
        assert!(
            !record.contains(piece),
            "the value in the audit record: {record}"
        );
    }
    let again = b.get(&url).await;
    assert!(!again.body.contains(BANK_ACCOUNT), "masked again on reload");

    // A comment is revealed by its own field.
    let comment = reveal_field(&again.body, "comments.");
    let shown = b
        .submit(&url, &format!("{url}/reveal"), &[("field", &comment)])
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(COMMENT) && !shown.body.contains(BANK_ACCOUNT));
    let fields: Vec<String> = hub
        .storage
        .reveals(id)
        .unwrap()
        .into_iter()
        .map(|r| r.field)
        .collect();
    assert_eq!(fields, ["attributes.bank_account".to_string(), comment]);

    // Another township's reviewer cannot read the request, so cannot reveal it either; an
    // unknown field reveals nothing.
    let mut stranger = Browser::signed_in(&hub, OTHER_REVIEWER).await;
    let a = stranger
        .submit(
            "/console/requests",
            &format!("{url}/reveal"),
            &[("field", "attributes.bank_account")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(!a.body.contains(BANK_ACCOUNT));
    let a = b
        .submit(
            &url,
            &format!("{url}/reveal"),
            &[("field", "applicant.name")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(hub.storage.reveals(id).unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agenda_items_texts_are_shown_with_personal_numbers_starred() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let id = on(&clerk, |s| {
        let item = s
            .create_agenda(NewAgendaItem {
                title: "补偿款联系人 138 1234 5678".into(),
                category: "compensation".into(),
                description: "户主身份证１１０１０５１９４９１２３１００２Ｘ，面积 1200 平方米"
                    .into(),
            })
            .unwrap();
        s.comment_agenda(item.id, "账户 6222-0212-3456-7890-123 已核对")
            .unwrap();
        item.id
    })
    .await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let list = b.get("/console/agenda").await;
    let page = b.get(&format!("/console/agenda/{id}")).await;
    assert_eq!((list.status, page.status), (StatusCode::OK, StatusCode::OK));
    for body in [&list.body, &page.body] {
        assert!(body.contains("补偿款联系人 *************"), "{body}");
        assert!(!body.contains("138 1234 5678"));
    }
    assert!(
        page.body
            .contains(&format!("户主身份证{}，面积 1200 平方米", "*".repeat(18)))
    );
    assert!(
        page.body
            .contains(&format!("账户 {} 已核对", "*".repeat(23)))
    );
    assert!(!page.body.contains("１１０１０５") && !page.body.contains("6222-0212"));
}

// ---------------------------------------------------------------------------------------------
// Search, filing days, counts, overdue working days and the request ledger, over real HTTP on
// the backend `BIANMIN_TEST_BACKEND` chooses (SQLite by default, or PostgreSQL)

/// A browser over real HTTP: keeps cookies, never follows redirects.
struct Http {
    base: String,
    agent: ureq::Agent,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Http {
    fn new(hub: &bianmin_tests::hub::TestHub) -> Http {
        Http {
            base: hub.url.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: Default::default(),
        }
    }

    fn read(&mut self, resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut resp = resp.expect("the hub answers");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (location, content_type, disposition) = (
            header("location"),
            header("content-type"),
            header("content-disposition"),
        );
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        for c in &set_cookies {
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let bytes = resp.body_mut().read_to_vec().unwrap_or_default();
        Answer {
            status,
            location,
            content_type,
            disposition,
            set_cookies,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&mut self, path: &str) -> Answer {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = req.call();
        self.read(resp)
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = req.send_form(fields.iter().copied());
        self.read(resp)
    }

    fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let token = csrf(&self.get(page).body);
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }

    fn signed_in(hub: &bianmin_tests::hub::TestHub, name: &str) -> Http {
        let mut b = Http::new(hub);
        let a = b.submit(
            "/console/sign-in",
            "/console/sign-in",
            &[("name", name), ("password", PASSWORD), ("next", "")],
        );
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{name}: {}", a.body);
        b
    }
}

/// The receipt numbers of a queue page's rows, in order.
fn queue_receipts(body: &str) -> Vec<String> {
    let Some(start) = body.find(r#"<table class="queue">"#) else {
        return Vec::new();
    };
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    table
        .match_indices(r#"<td><a href="/console/requests/"#)
        .map(|(at, _)| {
            let rest = &table[at..];
            let text = &rest[rest.find("\">").unwrap() + 2..];
            text[..text.find('<').unwrap()].to_string()
        })
        .collect()
}

/// The number of requests the queue says the filter matches.
fn queue_total(body: &str) -> u64 {
    text_after(body, r#"<strong id="queue-total">"#)
        .parse()
        .unwrap()
}

/// The queue's row of `receipt`, as HTML.
fn queue_row<'a>(body: &'a str, receipt: &str) -> &'a str {
    let at = body
        .find(&format!("\">{receipt}</a>"))
        .unwrap_or_else(|| panic!("no row {receipt}"));
    let start = body[..at].rfind("<tr").unwrap();
    &body[start..at + body[at..].find("</tr>").unwrap()]
}

/// The lines of a CSV export (after its byte-order mark), split at commas (no field in these
/// tests holds one).
fn csv_lines(a: &Answer) -> Vec<Vec<String>> {
    a.body
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The cells of an XLSX export's one sheet, as text, read by calamine.
fn xlsx_cells(a: &Answer, sheet: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(a.bytes.clone())).expect("a workbook");
    let range = book.worksheet_range(sheet).expect("the ledger's sheet");
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// Four requests of East Village, filed and accepted `days_ago` and forwarded (the third then
/// approved by the reviewer): the receipt numbers, the ids, the filing days and the deadlines.
struct Filed {
    receipts: Vec<String>,
    ids: Vec<Uuid>,
    days: Vec<NaiveDate>,
    dues: Vec<NaiveDate>,
    calendar: WorkingCalendar,
}

fn four_requests(hub: &bianmin_tests::hub::TestHub, dir: &std::path::Path) -> Filed {
    let clerk = std::sync::Mutex::new(hub.enrol(CLERK, dir, "east-tablet"));
    let today = Timestamp::now().china_date();
    let plan = [("王秀英", 30), ("李100%_四", 0), ("王五", 5), ("赵六", 60)];
    let mut filed = Filed {
        receipts: Vec::new(),
        ids: Vec::new(),
        days: Vec::new(),
        dues: Vec::new(),
        calendar: WorkingCalendar::new(vec![]),
    };
    {
        let mut s = clerk.lock().unwrap();
        for (name, days_ago) in plan {
            let day = today.checked_sub_days(Days::new(days_ago)).unwrap();
            let at = Timestamp::at_noon(day);
            s.set_clock(std::sync::Arc::new(move || at));
            let r = s.file_request(NewRequest {
                applicant_name: name.into(),
                ..bianmin_tests::social_card_request()
            });
            let r = r.unwrap();
            s.apply(r.id, Action::Accept).unwrap();
            let r = s.apply(r.id, Action::Forward).unwrap();
            filed.receipts.push(r.receipt_no.as_str().to_string());
            filed.ids.push(r.id);
            filed.days.push(day);
            filed.dues.push(r.clock.due().unwrap());
        }
        s.set_clock(std::sync::Arc::new(Timestamp::now));
        filed.calendar = s.reference().calendar.clone();
    }
    let report =
        bianmin_client_core::client::sync(&clerk, &bianmin_tests::hub::quick(), &mut |_| {})
            .expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    filed
}

/// A hub of the chosen backend with the demo data, the test's password for the reviewers and
/// a reviewer of Shiqiang Town.
fn http_hub() -> bianmin_tests::hub::TestHub {
    let hub = bianmin_tests::hub::TestHub::start();
    let s = hub.storage.as_ref();
    admin::add_user(
        s,
        OTHER_REVIEWER,
        "石墙镇审核员",
        Role::Reviewer,
        "370883102",
    )
    .unwrap();
    for name in [REVIEWER, OTHER_REVIEWER] {
        admin::set_password(s, name, Some(PASSWORD)).unwrap();
    }
    hub
}

#[test]
fn the_queue_searches_counts_and_exports_the_ledger_of_a_filing_period() {
    let hub = http_hub();
    let dir = tempfile::tempdir().unwrap();
    let f = four_requests(&hub, dir.path());
    let today = Timestamp::now().china_date();
    let mut b = Http::signed_in(&hub, REVIEWER);

    // The reviewer approves the third (filed five days ago): its clock stops today.
    let url = format!("/console/requests/{}", f.ids[2]);
    let a = b.submit(
        &url,
        &format!("{url}/approve"),
        &[("note", ""), ("confirm", "yes")],
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    // Every status: four requests, counted and listed; names masked.
    let all = b.get("/console/requests?status=all");
    assert_eq!(all.status, StatusCode::OK);
    assert_labelled(&all.body);
    assert_eq!(queue_total(&all.body), 4);
    assert_eq!(queue_receipts(&all.body).len(), 4);
    assert!(
        all.body
            .contains("共 <strong id=\"queue-total\">4</strong> 件")
    );
    for full in ["王秀英", "李100%_四", "赵六"] {
        assert!(!all.body.contains(full), "{full} is never shown whole");
    }
    // The forwarded ones only (the reviewer's default): three.
    let queue = b.get("/console/requests");
    assert_eq!(queue_total(&queue.body), 3);

    // Search by part of a name: the stored name matches, the list shows it masked.
    let wang = b.get("/console/requests?status=all&applicant=%E7%8E%8B");
    let mut found = queue_receipts(&wang.body);
    found.sort();
    let mut expected = vec![f.receipts[0].clone(), f.receipts[2].clone()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(queue_total(&wang.body), 2);
    assert!(wang.body.contains("王*英") && !wang.body.contains("王秀英"));
    // `%` and `_` are themselves, not wildcards.
    for typed in ["%25", "_", "100%25_"] {
        let a = b.get(&format!("/console/requests?status=all&applicant={typed}"));
        assert_eq!(queue_receipts(&a.body), [f.receipts[1].clone()], "{typed}");
        assert_eq!(queue_total(&a.body), 1);
    }
    // By receipt number, whole or part.
    let whole = b.get(&format!(
        "/console/requests?status=all&receipt={}",
        f.receipts[3]
    ));
    assert_eq!(queue_receipts(&whole.body), [f.receipts[3].clone()]);
    let tail = &f.receipts[0][f.receipts[0].len() - 8..];
    let part = b.get(&format!("/console/requests?status=all&receipt={tail}"));
    assert_eq!(queue_receipts(&part.body), [f.receipts[0].clone()]);
    let none = b.get("/console/requests?status=all&applicant=%E5%BC%A0%E4%B8%89");
    assert_eq!(queue_total(&none.body), 0);
    assert!(none.body.contains("没有符合条件的办件"));

    // Filing days, both ends included; the form keeps them and the search across pages.
    let (from, to) = (f.days[0], f.days[2]);
    let range = format!("status=all&from={from}&to={to}");
    let period = b.get(&format!("/console/requests?{range}&limit=1"));
    assert_eq!(queue_total(&period.body), 2, "counted over every page");
    assert_eq!(queue_receipts(&period.body).len(), 1);
    assert!(
        period
            .body
            .contains(&format!(r#"name="from" value="{from}""#))
    );
    assert!(period.body.contains(&format!(r#"name="to" value="{to}""#)));
    let next = format!("/console/requests?{range}&offset=1&limit=1").replace('&', "&amp;");
    assert!(
        period.body.contains(&format!(r#"href="{next}""#)),
        "the next page keeps the range: {}",
        period.body
    );
    let bad = b.get("/console/requests?status=all&from=yesterday");
    assert_eq!(queue_total(&bad.body), 4, "not a day: no filter");
    assert!(bad.body.contains("提交日期须为"));

    // Overdue rows say by how many working days; the approved one shows its decision.
    let overdue_by = |i: usize| f.calendar.working_days_between(f.dues[i], today);
    assert!(overdue_by(0) > 0 && overdue_by(3) > overdue_by(0));
    for i in [0, 3] {
        let row = queue_row(&all.body, &f.receipts[i]);
        assert!(
            row.contains(&format!(
                r#"<td class="overdue">{}<br><span class="overdue-days">已超期 {} 个工作日</span>"#,
                f.dues[i],
                overdue_by(i)
            )),
            "{row}"
        );
    }
    let decided = queue_row(&all.body, &f.receipts[2]);
    assert!(decided.contains(&format!("{today} 已决定")), "{decided}");
    assert!(
        decided.contains("按期") && !decided.contains("已超期"),
        "{decided}"
    );
    let en = b.get("/console/requests?status=all&lang=en");
    assert!(
        en.body
            .contains("<strong id=\"queue-total\">4</strong> requests")
    );
    let row = queue_row(&en.body, &f.receipts[0]);
    assert!(
        row.contains(&format!("{} working days overdue", overdue_by(0))),
        "{row}"
    );
    assert!(queue_row(&en.body, &f.receipts[2]).contains(&format!("Decided on {today}")));

    // The ledger of the period: exactly its requests, in filing order, names masked.
    assert!(period.body.contains(&format!(
        "/console/ledger.csv?{}",
        range.replace('&', "&amp;")
    )));
    // (Back to Chinese: the English page above set the language cookie.)
    let csv = b.get(&format!("/console/ledger.csv?{range}&lang=zh"));
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let disposition = csv.disposition.clone().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"bianmin-ledger-370883101-"),
        "{disposition}"
    );
    let lines = csv_lines(&csv);
    assert_eq!(
        lines[0],
        [
            "受理回执号",
            "服务事项",
            "村（社区）",
            "申请人",
            "状态",
            "提交日期",
            "办理期限",
            "决定日期",
            "超期工作日"
        ]
    );
    let receipts: Vec<&str> = lines[1..].iter().map(|l| l[0].as_str()).collect();
    assert_eq!(receipts, [f.receipts[0].as_str(), f.receipts[2].as_str()]);
    assert_eq!(lines[1][3], "王*英");
    assert_eq!(lines[1][5], from.to_string());
    assert_eq!(lines[1][6], f.dues[0].to_string());
    assert_eq!(lines[1][8], overdue_by(0).to_string());
    assert_eq!(lines[2][4], "审核通过");
    assert_eq!(lines[2][7], today.to_string());
    assert_eq!(lines[2][8], "0");
    assert!(!csv.body.contains("王秀英") && !csv.body.contains("王五"));

    let xlsx = b.get(&format!("/console/ledger.xlsx?{range}&lang=en"));
    assert_eq!(xlsx.status, StatusCode::OK);
    let cells = xlsx_cells(&xlsx, "Request ledger");
    assert_eq!(cells.len(), 3, "a header and the period's two requests");
    assert_eq!(cells[0][0], "Receipt no.");
    assert_eq!(cells[1][0], f.receipts[0]);
    assert_eq!(cells[2][0], f.receipts[2]);
    assert_eq!(cells[1][8], overdue_by(0).to_string());
    assert_eq!(cells[2][7], today.to_string());

    // The search reaches the export too; another township's reviewer exports nothing of it;
    // signed out, the export sends to the sign-in page.
    let by_name = b.get("/console/ledger.csv?status=all&applicant=%E8%B5%B5");
    let lines = csv_lines(&by_name);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1][0], f.receipts[3]);
    let mut other = Http::signed_in(&hub, OTHER_REVIEWER);
    assert_eq!(
        csv_lines(&other.get("/console/ledger.csv?status=all")).len(),
        1
    );
    let mut stranger = Http::new(&hub);
    let a = stranger.get("/console/ledger.csv?status=all");
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.unwrap().starts_with("/console/sign-in"));
}

#[test]
fn the_dashboard_shows_overdue_requests_per_village_linking_to_the_queue() {
    let hub = http_hub();
    let dir = tempfile::tempdir().unwrap();
    let f = four_requests(&hub, dir.path());
    let today = Timestamp::now().china_date();
    let mut b = Http::signed_in(&hub, REVIEWER);
    let page = b.get("/console/dashboard");
    assert_eq!(page.status, StatusCode::OK);
    let section = &page.body[page.body.find(r#"<section id="overdue">"#).unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    // East Village: the two filed 30 and 60 days ago; the oldest is the most overdue. West
    // Village (same township) has none.
    let row = |code: &str| {
        let at = section.find(&format!(r#"data-village="{code}""#)).unwrap();
        &section[at..at + section[at..].find("</tr>").unwrap()]
    };
    let east = row("370883101201");
    let link = "/console/requests?status=all&amp;urgency=overdue&amp;village=370883101201";
    assert!(east.contains(&format!(r#"href="{link}">2</a>"#)), "{east}");
    let most = f.calendar.working_days_between(f.dues[3], today);
    assert!(
        east.contains(&format!(r#"<td class="days">{most}</td>"#)),
        "{east}"
    );
    assert!(row("370883101202").contains(r#"<td class="count">0</td>"#));
    assert!(
        !section.contains("370883102201"),
        "another township's village"
    );
    assert!(section.contains(r#"<strong id="overdue-total">2</strong>"#));

    // The link lists exactly those two.
    let queue = b.get(&link.replace("&amp;", "&"));
    let mut listed = queue_receipts(&queue.body);
    listed.sort();
    let mut expected = vec![f.receipts[0].clone(), f.receipts[3].clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(queue_total(&queue.body), 2);
    let en = b.get("/console/dashboard?lang=en");
    assert!(
        en.body.contains("Overdue requests by village")
            && en.body.contains("Most working days overdue")
    );
}
