//! The console's dashboard and administration pages, through the real router (`app(state)` with
//! `oneshot`), with real tablet stores that enrol and sync with the same hub served on a
//! loopback port: the dashboard and its CSV and XLSX exports, administrators only, users and
//! passwords, enrolment codes and revocation, Open311 API keys, the catalog, the holiday
//! calendar, CSRF.

mod common;

use common::*;

use std::io::Read;

use axum::http::StatusCode;
use bianmin_client_core::client::SyncError;
use bianmin_domain::Status;
use bianmin_server::admin;
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::web::dashboard::status_label;
use bianmin_server::web::i18n::Lang;

// ---------------------------------------------------------------------------------------------
// The hub (the rest as in tests/common)

/// The demo hub, the reviewer and the administrator with [`PASSWORD`], served on a loopback
/// port for the tablets and as a router for the browser.
async fn hub() -> Hub {
    serve_hub(ConsoleConfig::default(), |s| {
        for name in [REVIEWER, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    })
    .await
}

const ADMIN_PAGES: [&str; 6] = [
    "/console/admin/users",
    "/console/admin/devices",
    "/console/admin/open311-keys",
    "/console/admin/catalog",
    "/console/admin/calendar",
    "/console/admin",
];

// ---------------------------------------------------------------------------------------------
// The dashboard

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_what_the_tablets_synced_and_exports_it() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let approved = file_and_forward(&clerk, soc_card("王秀英")).await;
    let _forwarded = file_and_forward(&clerk, soc_card("钱七")).await;
    try_sync(&clerk).await.unwrap();

    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let url = format!("/console/requests/{approved}");
    let a = b
        .submit(
            &url,
            &format!("{url}/approve"),
            &[("note", "同意"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    let page = b.get("/console/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("太平镇"), "the reviewer's township");
    assert_eq!(text_after(body, r#"<strong class="total">"#), "2");
    assert!(body.contains("东村") && body.contains("社会保障卡申领补换"));
    assert!(body.contains("<svg"), "charts inlined");
    assert!(body.contains(r#"href="/console/dashboard.csv""#));
    assert!(body.contains(r#"href="/console/dashboard.xlsx""#));
    assert!(body.contains(r#"href="/console/dashboard""#), "in the nav");
    assert!(
        !body.contains("王秀英") && !body.contains("钱七"),
        "no names"
    );
    assert!(
        !body.contains("/console/admin/"),
        "no administration links for a reviewer"
    );

    // The CSV: one row for the village, one for the item, the total, with the counts by status.
    let csv = b.get("/console/dashboard.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let disposition = csv.disposition.unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"bianmin-dashboard-370883101-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = csv
        .body
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark");
    let rows: Vec<Vec<&str>> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    let head = &rows[0];
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (forwarded, approved_col, count) = (
        col(status_label(Status::Forwarded, Lang::Zh)),
        col(status_label(Status::Approved, Lang::Zh)),
        col("办件数"),
    );
    for (scope, code) in [("村", "370883101201"), ("事项", "SOC-CARD"), ("合计", "")] {
        let row = rows
            .iter()
            .find(|r| r[0] == scope && r[1] == code)
            .unwrap_or_else(|| panic!("no {scope} {code} row in {text}"));
        assert_eq!(row[count], "2", "{scope}");
        assert_eq!(row[forwarded], "1", "{scope}");
        assert_eq!(row[approved_col], "1", "{scope}");
    }
    let en = b.get("/console/dashboard.csv?lang=en").await;
    assert!(en.body.contains("Scope") && en.body.contains("East Village"));

    // The workbook is a ZIP holding a sheet per village and per item.
    let x = b.get("/console/dashboard.xlsx").await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(
        x.content_type.as_deref(),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert!(x.disposition.unwrap().ends_with(".xlsx\""));
    assert!(x.bytes.starts_with(b"PK\x03\x04"), "a ZIP");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(x.bytes)).unwrap();
    let mut workbook = String::new();
    zip.by_name("xl/workbook.xml")
        .unwrap()
        .read_to_string(&mut workbook)
        .unwrap();
    assert!(workbook.contains("按村") && workbook.contains("按事项"));
    assert!(zip.by_name("xl/worksheets/sheet2.xml").is_ok());

    // Signed out: the exports send to the sign-in page too.
    let mut stranger = Browser::new(&hub);
    let a = stranger.get("/console/dashboard.csv").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.unwrap().starts_with("/console/sign-in"));
}

// ---------------------------------------------------------------------------------------------
// Administrators only

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_is_for_administrators_only() {
    let hub = hub().await;
    let mut reviewer = Browser::signed_in(&hub, REVIEWER).await;
    let token = csrf(&reviewer.get("/console/requests").await.body);
    for page in ADMIN_PAGES {
        let a = reviewer.get(page).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{page}");
        assert!(a.body.contains("管理页面只供县管理员使用"), "{page}");
    }
    let users = hub.storage.users().unwrap().len();
    let a = reviewer
        .post(
            "/console/admin/users",
            &[
                ("csrf", &token),
                ("name", "sneaky"),
                ("display_name", "x"),
                ("role", "administrator"),
                ("area", "370883"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(hub.storage.users().unwrap().len(), users, "nothing added");
    let a = reviewer
        .post(
            "/console/admin/catalog",
            &[("csrf", &token), ("json", r#"{"items":[]}"#)],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let mut stranger = Browser::new(&hub);
    for page in ADMIN_PAGES {
        let a = stranger.get(page).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{page}");
        assert!(
            a.location
                .unwrap()
                .starts_with("/console/sign-in?next=/console/admin"),
            "{page}"
        );
    }

    let mut admin = Browser::signed_in(&hub, ADMIN).await;
    for page in ADMIN_PAGES {
        let a = admin.get(page).await;
        assert_eq!(a.status, StatusCode::OK, "{page}");
        assert!(a.body.contains(r#"href="/console/admin/devices""#), "nav");
        assert_labelled(&a.body);
    }
    let en = admin.get("/console/admin/users?lang=en").await;
    assert!(en.body.contains("Users and roles") && en.body.contains("Add a user"));
}

// ---------------------------------------------------------------------------------------------
// Users and passwords

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_users_and_sets_their_passwords() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/users";
    let add = |name: &'static str, role: &'static str, area: &'static str| {
        [
            ("name", name),
            ("display_name", "南岭村代办员"),
            ("role", role),
            ("area", area),
        ]
    };

    let a = b
        .submit(PAGE, PAGE, &add("clerk-nanling", "clerk", "370883101203"))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/users?done=added")
    );
    let user = hub.storage.user_by_name("clerk-nanling").unwrap().unwrap();
    assert_eq!(user.area, "370883101203");
    let list = b.get("/console/admin/users?done=added").await;
    assert!(list.body.contains("用户已添加"));
    assert!(list.body.contains("clerk-nanling") && list.body.contains("南岭村代办员"));

    // Refusals come back with a clear message and what was typed; nothing is added.
    let users = hub.storage.users().unwrap().len();
    for (fields, message) in [
        (
            add("clerk-nanling", "clerk", "370883101203"),
            "用户名“clerk-nanling”已被使用",
        ),
        (add("clerk nanling", "clerk", "370883101203"), "用户名须为"),
        (add("rev-2", "reviewer", "370883101203"), "辖区与角色不符"),
        (
            add("clerk-x", "clerk", "370883101299"),
            "辖区不在已加载的村庄目录中",
        ),
        (add("clerk-y", "", "370883101203"), "请选择角色"),
    ] {
        let a = b.submit(PAGE, PAGE, &fields).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(a.body.contains(message), "{message}: {}", a.body);
        assert!(a.body.contains(fields[0].1), "the typed name is kept");
        assert_labelled(&a.body);
    }
    assert_eq!(hub.storage.users().unwrap().len(), users);
    let en = b
        .submit(
            "/console/admin/users?lang=en",
            PAGE,
            &add("clerk-nanling", "clerk", "370883101203"),
        )
        .await;
    assert!(en.body.contains("is taken already"), "{}", en.body);
    b.get("/console/admin/users?lang=zh").await;

    // A new reviewer gets a console password and signs in; then it is removed.
    let a = b
        .submit(PAGE, PAGE, &add("reviewer-two", "reviewer", "370883101"))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let id = hub
        .storage
        .user_by_name("reviewer-two")
        .unwrap()
        .unwrap()
        .id;
    let page = format!("/console/admin/users/{id}");
    let a = b
        .submit(
            &page,
            &format!("{page}/password"),
            &[("password", "a long secret"), ("again", "a long secreT")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("两次输入的密码不一致"));
    let a = b
        .submit(
            &page,
            &format!("{page}/password"),
            &[("password", "short"), ("again", "short")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("密码须为 8 到 256 个字符"));
    assert!(!a.body.contains("short"), "a password is never shown back");
    let a = b
        .submit(
            &page,
            &format!("{page}/password"),
            &[("password", "a long secret"), ("again", "a long secret")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, Some(format!("{page}?done=password_set")));
    assert!(
        b.get(&a.location.unwrap())
            .await
            .body
            .contains("审核台密码已设置")
    );
    let mut two = Browser::new(&hub);
    assert_eq!(
        two.sign_in("reviewer-two", "a long secret").await.status,
        StatusCode::SEE_OTHER
    );
    let a = b
        .submit(&page, &format!("{page}/password/clear"), &[])
        .await;
    assert_eq!(a.location, Some(format!("{page}?done=password_cleared")));
    let mut again = Browser::new(&hub);
    assert_eq!(
        again.sign_in("reviewer-two", "a long secret").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        hub.storage
            .user(&id)
            .unwrap()
            .unwrap()
            .password_hash
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Devices

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_code_enrols_a_tablet_and_revoking_it_stops_its_sync() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/devices";
    let clerk = hub.storage.user_by_name(CLERK).unwrap().unwrap();

    let a = b
        .submit(
            PAGE,
            "/console/admin/devices/code",
            &[("user", &clerk.id), ("hours", "1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("只显示这一次"));
    let code = text_after(&a.body, r#"<code id="enrolment-code">"#).to_string();
    assert!(code.len() >= 8, "{code}");
    assert_labelled(&a.body);
    assert!(
        !b.get(PAGE).await.body.contains(&code),
        "the code is shown once"
    );

    let tablet = enrol(&hub, &code, "nanling-tablet").await.unwrap();
    assert!(
        enrol(&hub, &code, "second-use").await.is_err(),
        "a code works once"
    );
    let id = file_and_forward(&tablet, soc_card("孙八")).await;
    try_sync(&tablet).await.unwrap();
    assert!(hub.storage.document(id).unwrap().is_some());

    let list = b.get(PAGE).await;
    assert!(list.body.contains("nanling-tablet") && list.body.contains("使用中"));
    let device = hub
        .storage
        .devices()
        .unwrap()
        .into_iter()
        .find(|d| d.name == "nanling-tablet")
        .unwrap();
    let confirm = format!("/console/admin/devices/{}/revoke", device.id);
    assert!(list.body.contains(&format!(r#"href="{confirm}""#)));
    let page = b.get(&confirm).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("确认停用"));
    assert!(
        hub.storage.devices().unwrap()[device.device_no as usize - 1]
            .revoked_at
            .is_none(),
        "asking does not revoke"
    );
    let a = b.submit(&confirm, &confirm, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/devices?done=revoked")
    );
    let list = b.get("/console/admin/devices?done=revoked").await;
    assert!(list.body.contains("设备已停用") && list.body.contains("已停用"));

    match try_sync(&tablet).await {
        Err(SyncError::Hub { code, status, .. }) => {
            assert_eq!((status, code.as_str()), (403, "device_revoked"));
        }
        other => panic!("a revoked device synced: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Open311 API keys

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open311_key_is_shown_once_files_requests_and_stops_when_revoked() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/open311-keys";

    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("还没有发放 API 密钥"));
    assert!(
        page.body.contains(r#"href="/console/admin/open311-keys""#),
        "nav"
    );
    assert_labelled(&page.body);

    // Refused forms say why and issue nothing.
    for (name, township) in [
        ("", "370883101"),
        ("12345 热线", ""),
        ("12345 热线", "370883"),
    ] {
        let a = b
            .submit(PAGE, PAGE, &[("name", name), ("township", township)])
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name} {township}"
        );
        assert!(a.body.contains(r#"class="error""#), "{}", a.body);
        assert!(!a.body.contains("open311-key\""), "no key shown");
    }
    assert!(hub.storage.open311_keys().unwrap().is_empty());

    // Issued: shown this once, never again; only its hash is kept.
    let a = b
        .submit(
            PAGE,
            PAGE,
            &[("name", "12345 热线"), ("township", "370883101")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("只显示这一次"));
    let key = text_after(&a.body, r#"<code id="open311-key">"#).to_string();
    assert_eq!(key.len(), 64, "{key}");
    assert_labelled(&a.body);
    let list = b.get(PAGE).await;
    assert!(!list.body.contains(&key), "the key is shown once");
    assert!(list.body.contains("12345 热线") && list.body.contains("太平镇"));
    assert!(list.body.contains("使用中"));
    let stored = hub.storage.open311_keys().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].township.as_str(), stored[0].name.as_str()),
        ("370883101", "12345 热线")
    );
    let by_hash = hub
        .storage
        .open311_key_by_hash(&bianmin_server::auth::hash_secret(&key))
        .unwrap();
    assert_eq!(by_hash.as_ref(), Some(&stored[0]));

    // The application files with it.
    let filing = [
        ("api_key", key.as_str()),
        ("service_code", "SOC-CARD"),
        ("jurisdiction_id", "370883101201"),
        ("first_name", "桂英"),
        ("last_name", "李"),
        ("phone", "13912345678"),
        ("attribute[id_number]", "370883196207150045"),
        ("attribute[grid]", "2组"),
        ("attribute[reason]", "lost"),
    ];
    let a = b.post("/open311/v2/requests.json", &filing).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("370883101201-000-000001"), "{}", a.body);

    // Revoked after a confirmation: refused from then on.
    let confirm = format!("{PAGE}/{}/revoke", stored[0].id);
    assert!(list.body.contains(&format!(r#"href="{confirm}""#)));
    let page = b.get(&confirm).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("确认停用") && page.body.contains("12345 热线"));
    assert!(
        hub.storage.open311_keys().unwrap()[0].revoked_at.is_none(),
        "asking does not revoke"
    );
    let a = b.submit(&confirm, &confirm, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/open311-keys?done=revoked")
    );
    let list = b.get("/console/admin/open311-keys?done=revoked").await;
    assert!(list.body.contains("密钥已停用") && list.body.contains("已停用"));
    assert!(
        !list.body.contains(&format!(r#"href="{confirm}""#)),
        "no second revocation"
    );
    assert!(hub.storage.open311_keys().unwrap()[0].revoked_at.is_some());
    let a = b.submit(&confirm, &confirm, &[]).await;
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/open311-keys?done=already_revoked")
    );
    let a = b.post("/open311/v2/requests.json", &filing).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("revoked"), "{}", a.body);
    assert_eq!(
        b.get(&format!("{PAGE}/999/revoke")).await.status,
        StatusCode::NOT_FOUND
    );
    let en = b.get(&format!("{PAGE}?lang=en")).await;
    assert!(en.body.contains("Open311 API keys") && en.body.contains("Issue an API key"));
    assert!(en.body.contains("Revoked") && en.body.contains("Taiping Town"));
}

// ---------------------------------------------------------------------------------------------
// Reference data

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_catalog_is_refused_with_its_error_and_changes_nothing() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/catalog";
    let page = b.get(PAGE).await;
    for seen in ["SOC-CARD", "社会保障卡申领补换", "村收镇办", "个工作日"] {
        assert!(page.body.contains(seen), "{seen}");
    }
    let before = hub.storage.reference().unwrap().unwrap();

    let mut dup = bianmin_domain::demo::catalog();
    dup.items.push(dup.items[0].clone());
    let dup = serde_json::to_string(&dup).unwrap();
    for (json, message) in [
        ("{\"items\": [", "is not valid JSON"),
        (dup.as_str(), "appears twice"),
        (r#"{"items": []}"#, "目录中没有任何事项"),
        ("   ", "请选择或粘贴目录 JSON"),
    ] {
        let a = b.submit(PAGE, PAGE, &[("json", json)]).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(a.body.contains(message), "{message}: {}", a.body);
        if json.trim().len() > 2 {
            assert!(a.body.contains("目录未加载，原有数据不变"), "{message}");
        }
        assert!(
            a.body.contains("SOC-CARD"),
            "the current catalog is still listed"
        );
    }
    assert_eq!(
        hub.storage.reference().unwrap().unwrap(),
        before,
        "unchanged"
    );

    // A good one replaces it.
    let mut renamed = bianmin_domain::demo::catalog();
    renamed.items[0].name_zh = "改名后的事项".into();
    let code = renamed.items[0].code.clone();
    let json = serde_json::to_string_pretty(&renamed).unwrap();
    let a = b.submit(PAGE, PAGE, &[("json", &json)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = b.get(&a.location.unwrap()).await;
    assert!(page.body.contains("新目录已加载") && page.body.contains("改名后的事项"));
    let after = hub.storage.reference().unwrap().unwrap();
    assert!(after.version > before.version);
    assert_eq!(after.catalog.item(&code).unwrap().name_zh, "改名后的事项");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_a_calendar_shows_the_new_year() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/calendar";
    let page = b.get(PAGE).await;
    assert!(page.body.contains(r#"id="year-2026""#) && page.body.contains("春节 Spring Festival"));
    assert!(!page.body.contains(r#"id="year-2027""#));

    // 2027-02-08 is a Monday: not a day that can be an adjusted working day.
    let bad = r#"{"year": 2027, "holidays": [], "adjusted_working_days": ["2027-02-08"]}"#;
    let a = b.submit(PAGE, PAGE, &[("json", bad)]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("日历未加载，原有数据不变"), "{}", a.body);
    assert!(!a.body.contains(r#"id="year-2027""#));

    let good = r#"{"year": 2027, "holidays": [
        {"name": "春节 Spring Festival", "dates": ["2027-02-06", "2027-02-07", "2027-02-08",
            "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"]}],
        "adjusted_working_days": ["2027-02-14"]}"#;
    // Chosen as a file, the way the form sends it: without the form's token it is refused
    // and nothing is loaded, with it the year is loaded.
    let page = b.get(PAGE).await;
    assert!(page.body.contains(r#"enctype="multipart/form-data""#));
    assert!(page.body.contains(r#"type="file""#) && page.body.contains(r#"name="file""#));
    let token = common::csrf(&page.body);
    let forged = b
        .post_multipart(
            PAGE,
            &[("json", "")],
            ("file", "calendar-2027.json", good.as_bytes()),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!b.get(PAGE).await.body.contains(r#"id="year-2027""#));
    let a = b
        .post_multipart(
            PAGE,
            &[("csrf", token.as_str()), ("json", "")],
            ("file", "calendar-2027.json", good.as_bytes()),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/calendar?done=loaded&year=2027")
    );
    let page = b.get(&a.location.unwrap()).await;
    let body = &page.body;
    assert!(body.contains("2027 年的日历已加载"));
    assert!(body.contains(r#"id="year-2027""#) && body.contains(r#"id="year-2026""#));
    assert!(body.contains("2027-02-06 – 2027-02-12") && body.contains("2027-02-14"));
    let years: Vec<i32> = hub
        .storage
        .reference()
        .unwrap()
        .unwrap()
        .calendars
        .iter()
        .map(|c| c.year)
        .collect();
    assert!(years.contains(&2027) && years.contains(&2026));
}

// ---------------------------------------------------------------------------------------------
// Forged forms

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_forms_without_the_session_token_are_refused_and_change_nothing() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let device = hub.storage.devices().unwrap().remove(0);
    let users = hub.storage.users().unwrap().len();
    let version = hub.storage.reference().unwrap().unwrap().version;
    let key = admin::issue_open311_key(hub.storage.as_ref(), "370883101", "app")
        .unwrap()
        .record;
    let user = [
        ("name", "forged"),
        ("display_name", "x"),
        ("role", "administrator"),
        ("area", "370883"),
    ];
    for token in [None, Some("0123456789abcdef0123456789abcdef"), Some("")] {
        let with = |fields: &[(&'static str, &'static str)]| {
            let mut all: Vec<(&str, &str)> = token.map(|t| ("csrf", t)).into_iter().collect();
            all.extend_from_slice(fields);
            all
        };
        for (action, fields) in [
            ("/console/admin/users".to_string(), with(&user)),
            (
                format!("/console/admin/devices/{}/revoke", device.id),
                with(&[]),
            ),
            (
                "/console/admin/catalog".to_string(),
                with(&[("json", r#"{"items":[]}"#)]),
            ),
            (
                "/console/admin/devices/code".to_string(),
                with(&[("user", "u")]),
            ),
            (
                "/console/admin/open311-keys".to_string(),
                with(&[("name", "forged"), ("township", "370883101")]),
            ),
            (
                format!("/console/admin/open311-keys/{}/revoke", key.id),
                with(&[]),
            ),
        ] {
            let a = b.post(&action, &fields).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{action}");
            assert!(
                a.body.contains("表单已过期或不是从审核台提交的"),
                "{action}"
            );
            assert!(!a.body.contains("enrolment-code"));
            assert!(!a.body.contains("open311-key\""));
        }
    }
    assert_eq!(hub.storage.users().unwrap().len(), users);
    assert!(hub.storage.devices().unwrap()[0].revoked_at.is_none());
    assert_eq!(hub.storage.reference().unwrap().unwrap().version, version);
    assert_eq!(
        hub.storage.open311_keys().unwrap(),
        [key],
        "none issued, none revoked"
    );
    try_sync(&clerk).await.expect("the device still syncs");
}
