//! The console's dashboard and administration pages, through the real router (`app(state)` with
//! `oneshot`), with real tablet stores that enrol and sync with the same hub served on a
//! loopback port: the dashboard and its CSV and XLSX exports, administrators only, users and
//! passwords (removal confirmed, never the last administrator's), display names, deactivation
//! of staff (sign-in, sessions, devices), enrolment codes and revocation, Open311 API keys, the
//! catalog (download, one item's form), the holiday calendar (download), CSRF.
//!
//! Runs on SQLite, or on PostgreSQL with `BIANMIN_TEST_BACKEND=postgres`.

mod common;

use common::*;

use std::io::Read;
use std::ops::Deref;

use axum::http::StatusCode;
use bianmin_client_core::client::SyncError;
use bianmin_domain::Status;
use bianmin_server::storage::Storage;
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::web::dashboard::status_label;
use bianmin_server::web::i18n::Lang;
use bianmin_server::{AppState, admin, app};
use bianmin_tests::hub::{BACKEND_VARIABLE, PgSchema};

// ---------------------------------------------------------------------------------------------
// The hub (the rest as in tests/common)

/// The demo hub, the reviewer and the administrator with [`PASSWORD`], served on a loopback
/// port for the tablets and as a router for the browser, on the backend [`BACKEND_VARIABLE`]
/// chooses.
async fn hub() -> AdminHub {
    let setup = |s: &dyn Storage| {
        for name in [REVIEWER, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    };
    match std::env::var(BACKEND_VARIABLE).as_deref() {
        Ok("postgres") => serve_on_postgres(setup).await,
        _ => AdminHub {
            hub: serve_hub(ConsoleConfig::default(), setup).await,
            schema: None,
        },
    }
}

/// A [`Hub`] and, on PostgreSQL, its schema (dropped with it).
struct AdminHub {
    hub: Hub,
    schema: Option<PgSchema>,
}

impl Deref for AdminHub {
    type Target = Hub;

    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl Drop for AdminHub {
    fn drop(&mut self) {
        // Dropping the schema connects with the blocking client: off the async workers.
        if let Some(schema) = self.schema.take() {
            let _ = std::thread::spawn(move || drop(schema)).join();
        }
    }
}

/// [`serve_hub`] on a fresh PostgreSQL schema.
async fn serve_on_postgres(setup: impl FnOnce(&dyn Storage) + Send + 'static) -> AdminHub {
    let (schema, storage) = tokio::task::spawn_blocking(move || {
        let schema = PgSchema::fresh();
        let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(schema.connect());
        admin::load_demo(storage.as_ref()).unwrap();
        setup(storage.as_ref());
        (schema, storage)
    })
    .await
    .unwrap();
    let state = AppState::new(storage.clone()).with_console(ConsoleConfig::default());
    let app = app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, served).await;
    });
    let hub = Hub {
        app,
        state,
        storage,
        url,
        dir: tempfile::tempdir().unwrap(),
    };
    AdminHub {
        hub,
        schema: Some(schema),
    }
}

/// Runs a storage call from a test's async body (the PostgreSQL client blocks).
fn st<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

const ADMIN_PAGES: [&str; 7] = [
    "/console/admin/users",
    "/console/admin/devices",
    "/console/admin/open311-keys",
    "/console/admin/catalog",
    "/console/admin/catalog/items/SOC-CARD",
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
    let users = st(|| hub.storage.users()).unwrap().len();
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
    assert_eq!(
        st(|| hub.storage.users()).unwrap().len(),
        users,
        "nothing added"
    );
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
    let user = st(|| hub.storage.user_by_name("clerk-nanling"))
        .unwrap()
        .unwrap();
    assert_eq!(user.area, "370883101203");
    let list = b.get("/console/admin/users?done=added").await;
    assert!(list.body.contains("用户已添加"));
    assert!(list.body.contains("clerk-nanling") && list.body.contains("南岭村代办员"));

    // Refusals come back with a clear message and what was typed; nothing is added.
    let users = st(|| hub.storage.users()).unwrap().len();
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
    assert_eq!(st(|| hub.storage.users()).unwrap().len(), users);
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
    let id = st(|| hub.storage.user_by_name("reviewer-two"))
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
        .submit(
            &page,
            &format!("{page}/password/clear"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(a.location, Some(format!("{page}?done=password_cleared")));
    let mut again = Browser::new(&hub);
    assert_eq!(
        again.sign_in("reviewer-two", "a long secret").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        st(|| hub.storage.user(&id))
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
    let clerk = st(|| hub.storage.user_by_name(CLERK)).unwrap().unwrap();

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
    assert!(st(|| hub.storage.document(id)).unwrap().is_some());

    let list = b.get(PAGE).await;
    assert!(list.body.contains("nanling-tablet") && list.body.contains("使用中"));
    let device = st(|| hub.storage.devices())
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
        st(|| hub.storage.devices()).unwrap()[device.device_no as usize - 1]
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
    assert!(st(|| hub.storage.open311_keys()).unwrap().is_empty());

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
    let stored = st(|| hub.storage.open311_keys()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].township.as_str(), stored[0].name.as_str()),
        ("370883101", "12345 热线")
    );
    let by_hash = st(|| {
        hub.storage
            .open311_key_by_hash(&bianmin_server::auth::hash_secret(&key))
    })
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
        st(|| hub.storage.open311_keys()).unwrap()[0]
            .revoked_at
            .is_none(),
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
    assert!(
        st(|| hub.storage.open311_keys()).unwrap()[0]
            .revoked_at
            .is_some()
    );
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
    let before = st(|| hub.storage.reference()).unwrap().unwrap();

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
        st(|| hub.storage.reference()).unwrap().unwrap(),
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
    let after = st(|| hub.storage.reference()).unwrap().unwrap();
    assert!(after.version > before.version);
    assert_eq!(after.catalog.item(&code).unwrap().name_zh, "改名后的事项");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_a_calendar_shows_the_new_year() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const PAGE: &str = "/console/admin/calendar";
    let page = b.get(PAGE).await;
    assert!(page.body.contains(r#"id="year-2026""#) && page.body.contains("<td>春节</td>"));
    assert!(
        !page.body.contains("Spring Festival"),
        "a holiday by its Chinese name only"
    );
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
    let years: Vec<i32> = st(|| hub.storage.reference())
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
    let device = st(|| hub.storage.devices()).unwrap().remove(0);
    let users = st(|| hub.storage.users()).unwrap().len();
    let version = st(|| hub.storage.reference()).unwrap().unwrap().version;
    let key = st(|| admin::issue_open311_key(hub.storage.as_ref(), "370883101", "app"))
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
    assert_eq!(st(|| hub.storage.users()).unwrap().len(), users);
    assert!(
        st(|| hub.storage.devices()).unwrap()[0]
            .revoked_at
            .is_none()
    );
    assert_eq!(
        st(|| hub.storage.reference()).unwrap().unwrap().version,
        version
    );
    assert_eq!(
        st(|| hub.storage.open311_keys()).unwrap(),
        [key],
        "none issued, none revoked"
    );
    try_sync(&clerk).await.expect("the device still syncs");
}

// ---------------------------------------------------------------------------------------------
// Removing passwords, deactivating staff, display names

/// The id of the user named `name`.
fn id_of(hub: &Hub, name: &str) -> String {
    st(|| hub.storage.user_by_name(name)).unwrap().unwrap().id
}

fn has_password(hub: &Hub, name: &str) -> bool {
    st(|| hub.storage.user_by_name(name))
        .unwrap()
        .unwrap()
        .password_hash
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_password_is_confirmed_and_never_leaves_the_county_without_an_administrator() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let reviewer = format!("/console/admin/users/{}", id_of(&hub, REVIEWER));
    let clear = format!("{reviewer}/password/clear");

    // Without the tick: refused on the hub, whatever the browser did with `required`.
    let page = b.get(&reviewer).await;
    assert!(page.body.contains(r#"name="confirm" value="yes""#));
    assert!(page.body.contains("确认删除这个用户的审核台密码"));
    assert_labelled(&page.body);
    for fields in [vec![], vec![("confirm", "no")]] {
        let a = b.submit(&reviewer, &clear, &fields).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(
            a.body.contains("请先勾选确认框：未做任何更改"),
            "{}",
            a.body
        );
    }
    assert!(has_password(&hub, REVIEWER), "nothing changed");
    let a = b.submit(&reviewer, &clear, &[("confirm", "yes")]).await;
    assert_eq!(
        a.location,
        Some(format!("{reviewer}?done=password_cleared"))
    );
    assert!(!has_password(&hub, REVIEWER));

    // The only administrator who can sign in: no form, and the hub refuses a forged one.
    let own = format!("/console/admin/users/{}", id_of(&hub, ADMIN));
    let page = b.get(&own).await;
    assert!(page.body.contains("不能删除：这是唯一能登录审核台的管理员"));
    assert!(
        !page
            .body
            .contains(&format!(r#"action="{own}/password/clear""#))
    );
    let token = csrf(&page.body);
    let a = b
        .post(
            &format!("{own}/password/clear"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("未做更改：这是唯一能登录审核台的管理员"),
        "{}",
        a.body
    );
    assert!(has_password(&hub, ADMIN));
    assert_eq!(
        b.get("/console/requests").await.status,
        StatusCode::OK,
        "still signed in"
    );
    // The command line's function keeps the same rule.
    assert!(matches!(
        st(|| admin::set_password(hub.storage.as_ref(), ADMIN, None)),
        Err(admin::AdminError::LastAdministrator)
    ));

    // With a second administrator, removing one's own password says what it means, then
    // signs out for good.
    st(|| {
        admin::add_user(
            hub.storage.as_ref(),
            "admin-two",
            "县管理员 二",
            bianmin_domain::Role::Administrator,
            "370883",
        )?;
        admin::set_password(hub.storage.as_ref(), "admin-two", Some(PASSWORD))
    })
    .unwrap();
    let page = b.get(&own).await;
    assert!(page.body.contains(r#"id="own-password-warning""#));
    assert!(
        page.body
            .contains("删除后您会立即退出审核台，并且不能再登录")
    );
    assert!(page.body.contains("我明白删除后自己将无法登录"));
    let en = b.get(&format!("{own}?lang=en")).await;
    assert!(en.body.contains("This is your own password"));
    assert!(
        en.body
            .contains("cannot sign in again until another administrator")
    );
    b.get(&format!("{own}?lang=zh")).await;
    let a = b
        .submit(
            &own,
            &format!("{own}/password/clear"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/sign-in"))
    );
    assert!(!has_password(&hub, ADMIN));
    let a = b.get("/console/admin/users").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "signed out");
    let mut again = Browser::new(&hub);
    assert_eq!(
        again.sign_in(ADMIN, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Now the second is the last one.
    assert!(matches!(
        st(|| admin::deactivate_user(hub.storage.as_ref(), "admin-two")),
        Err(admin::AdminError::LastAdministrator)
    ));
    assert!(has_password(&hub, "admin-two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_reviewer_is_signed_out_and_cannot_sign_in_until_reactivated() {
    let hub = hub().await;
    let mut reviewer = Browser::signed_in(&hub, REVIEWER).await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let page = format!("/console/admin/users/{}", id_of(&hub, REVIEWER));

    let user_page = b.get(&page).await;
    assert!(user_page.body.contains(r#"id="account""#) && user_page.body.contains("在用"));
    assert!(
        user_page
            .body
            .contains(&format!(r#"href="{page}/deactivate""#))
    );
    let confirm = b.get(&format!("{page}/deactivate")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("确认停用"));
    assert!(
        confirm
            .body
            .contains("不能再登录审核台，已登录的会话立即退出")
    );
    assert_eq!(
        reviewer.get("/console/requests").await.status,
        StatusCode::OK,
        "asking changes nothing"
    );

    let a = b
        .submit(
            &format!("{page}/deactivate"),
            &format!("{page}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(a.location, Some(format!("{page}?done=deactivated")));
    let shown = b.get(&a.location.unwrap()).await;
    assert!(shown.body.contains("账号已停用") && shown.body.contains("重新启用账号"));
    // The open session ends at once; the right password gets the wrong password's answer.
    let a = reviewer.get("/console/requests").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.unwrap().starts_with("/console/sign-in"));
    let mut fresh = Browser::new(&hub);
    let wrong = fresh.sign_in(REVIEWER, "not the password").await;
    let right = fresh.sign_in(REVIEWER, PASSWORD).await;
    assert_eq!(
        (wrong.status, right.status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert!(right.body.contains("用户名或密码不正确"));
    assert!(has_password(&hub, REVIEWER), "the password is kept");

    // Deactivating again changes nothing; reactivating lets the same password in.
    let a = b.submit(&page, &format!("{page}/deactivate"), &[]).await;
    assert_eq!(a.location, Some(format!("{page}?done=already_deactivated")));
    let a = b.submit(&page, &format!("{page}/reactivate"), &[]).await;
    assert_eq!(a.location, Some(format!("{page}?done=reactivated")));
    assert_eq!(
        Browser::new(&hub).sign_in(REVIEWER, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    // One's own account: no link, a refusal on the page, and the hub refuses the form.
    let own = format!("/console/admin/users/{}", id_of(&hub, ADMIN));
    let own_page = b.get(&own).await;
    assert!(own_page.body.contains("不能停用自己的账号"));
    assert!(
        !own_page
            .body
            .contains(&format!(r#"href="{own}/deactivate""#))
    );
    let confirm = b.get(&format!("{own}/deactivate")).await;
    assert!(confirm.body.contains("不能停用自己的账号") && !confirm.body.contains("确认停用"));
    let token = csrf(&own_page.body);
    let a = b
        .post(&format!("{own}/deactivate"), &[("csrf", &token)])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("未做更改：不能停用自己的账号"));
    let en = b
        .post(&format!("{own}/deactivate?lang=en"), &[("csrf", &token)])
        .await;
    assert!(
        en.body.contains("you cannot deactivate your own account"),
        "{}",
        en.body
    );
    assert_eq!(
        st(|| hub.storage.account_status(&id_of(&hub, ADMIN)))
            .unwrap()
            .deactivated_at,
        None
    );
    assert_eq!(b.get("/console/requests").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_clerks_tablet_is_refused_and_syncs_its_work_after_reactivation() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let page = format!("/console/admin/users/{}", id_of(&hub, CLERK));

    // The confirmation lists the tablet that will stop.
    let confirm = b.get(&format!("{page}/deactivate")).await;
    assert!(confirm.body.contains("将停止同步的设备"));
    assert!(
        text_after(&confirm.body, r#"<ul id="stopped-devices"><li>"#).starts_with("east-tablet (#")
    );
    let a = b
        .submit(
            &format!("{page}/deactivate"),
            &format!("{page}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);

    // Work done offline meanwhile stays on the tablet: its sync is refused.
    let id = file_and_forward(&clerk, soc_card("周九")).await;
    match try_sync(&clerk).await {
        Err(SyncError::Hub { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (403, "account_deactivated"));
        }
        other => panic!("a deactivated clerk's tablet synced: {other:?}"),
    }
    assert!(st(|| hub.storage.document(id)).unwrap().is_none());
    assert!(
        st(|| admin::issue_enrolment_code(
            hub.storage.as_ref(),
            CLERK,
            std::time::Duration::from_secs(600)
        ))
        .is_err(),
        "no new tablet while deactivated"
    );
    let device = st(|| hub.storage.devices()).unwrap().remove(0);
    assert!(device.revoked_at.is_none(), "refused, not revoked");

    // Reactivated (the command line's function): the tablet hands in what it kept.
    assert!(st(|| admin::reactivate_user(hub.storage.as_ref(), CLERK)).unwrap());
    sync(&clerk).await;
    assert!(st(|| hub.storage.document(id)).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_name_is_edited_with_its_rules_and_shows_on_the_user_list() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let page = format!("/console/admin/users/{}", id_of(&hub, CLERK));
    let action = format!("{page}/display-name");
    let shown = b.get(&page).await;
    assert!(shown.body.contains(r#"id="edit-user""#));
    assert!(shown.body.contains("人员调动时请添加新用户，并停用原用户"));
    assert_labelled(&shown.body);

    let before = st(|| hub.storage.user_by_name(CLERK)).unwrap().unwrap();
    let long = "名".repeat(101);
    for bad in ["", "   ", "李娟\n(东村)", long.as_str()] {
        let a = b.submit(&page, &action, &[("display_name", bad)]).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(
            a.body.contains("显示名称须为 1 到 100 个字符"),
            "{bad:?}: {}",
            a.body
        );
    }
    assert_eq!(
        st(|| hub.storage.user_by_name(CLERK)).unwrap().unwrap(),
        before,
        "nothing stored"
    );

    let a = b
        .submit(&page, &action, &[("display_name", "  东村代办员 王芳 ")])
        .await;
    assert_eq!(a.location, Some(format!("{page}?done=renamed")));
    assert!(
        b.get(&a.location.unwrap())
            .await
            .body
            .contains("显示名称已更改")
    );
    let list = b.get("/console/admin/users").await;
    assert!(
        list.body.contains("<td>东村代办员 王芳</td>"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("东村代办员 李娟"));
    let after = st(|| hub.storage.user_by_name(CLERK)).unwrap().unwrap();
    assert_eq!(
        after,
        bianmin_server::storage::UserRecord {
            display_name: "东村代办员 王芳".into(),
            ..before
        },
        "only the display name changed"
    );
    // The add form keeps the same rule.
    let a = b
        .submit(
            "/console/admin/users",
            "/console/admin/users",
            &[
                ("name", "clerk-x"),
                ("display_name", "a\u{7}b"),
                ("role", "clerk"),
                ("area", "370883101201"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        st(|| hub.storage.user_by_name("clerk-x"))
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Downloading reference data, editing one service item

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_and_each_calendar_download_as_the_json_the_import_takes() {
    let hub = hub().await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    let before = st(|| hub.storage.reference()).unwrap().unwrap();
    let page = b.get("/console/admin/catalog").await;
    assert!(page.body.contains(r#"href="/console/admin/catalog.json""#));

    let a = b.get("/console/admin/catalog.json").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        a.disposition.as_deref(),
        Some(
            format!(
                "attachment; filename=\"service-items-370883-v{}.json\"",
                before.version
            )
            .as_str()
        )
    );
    assert!(a.body.contains("社会保障卡申领补换") && a.body.contains("近期免冠照片"));
    // Loaded back as a file, unchanged: a new version of the same catalog.
    let token = csrf(&b.get("/console/admin/catalog").await.body);
    let loaded = b
        .post_multipart(
            "/console/admin/catalog",
            &[("csrf", token.as_str()), ("json", "")],
            ("file", "service-items.json", &a.bytes),
        )
        .await;
    assert_eq!(loaded.status, StatusCode::SEE_OTHER, "{}", loaded.body);
    let after = st(|| hub.storage.reference()).unwrap().unwrap();
    assert_eq!(after.catalog, before.catalog);
    assert!(after.version > before.version);

    let cal = b.get("/console/admin/calendar.json?year=2026").await;
    assert_eq!(cal.status, StatusCode::OK);
    assert_eq!(
        cal.disposition.as_deref(),
        Some(r#"attachment; filename="calendar-2026.json""#)
    );
    let stored = before.calendars.iter().find(|c| c.year == 2026).unwrap();
    assert_eq!(
        &bianmin_domain::YearCalendar::from_json(&cal.body).unwrap(),
        stored
    );
    assert!(
        b.get("/console/admin/calendar")
            .await
            .body
            .contains(r#"href="/console/admin/calendar.json?year=2026""#)
    );
    let a = b
        .submit(
            "/console/admin/calendar",
            "/console/admin/calendar",
            &[("json", &cal.body)],
        )
        .await;
    assert_eq!(
        a.location.as_deref(),
        Some("/console/admin/calendar?done=loaded&year=2026")
    );
    assert_eq!(
        b.get("/console/admin/calendar.json?year=2031").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/console/admin/calendar.json").await.status,
        StatusCode::BAD_REQUEST
    );

    // Administrators only.
    let mut reviewer = Browser::signed_in(&hub, REVIEWER).await;
    for path in [
        "/console/admin/catalog.json",
        "/console/admin/calendar.json?year=2026",
    ] {
        let a = reviewer.get(path).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert!(a.disposition.is_none());
        let a = Browser::new(&hub).get(path).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
    }
}

/// The fields of the SOC-CARD form as the page shows them, with `changes` put in.
fn item_fields(page: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let value = |name: &str| {
        let at = page
            .find(&format!(r#"name="{name}""#))
            .unwrap_or_else(|| panic!("no {name}"));
        let rest = &page[at..];
        let v = &rest[rest.find("value=\"").unwrap() + 7..];
        v[..v.find('"').unwrap()].to_string()
    };
    let mut fields: Vec<(String, String)> =
        ["csrf", "shown", "name_zh", "name_en", "time_limit_days"]
            .iter()
            .map(|n| (n.to_string(), value(n)))
            .collect();
    fields.push(("level".into(), "village_collects_township_handles".into()));
    for i in 0..5 {
        for n in [format!("material-{i}"), format!("material-zh-{i}")] {
            fields.push((n.clone(), value(&n)));
        }
    }
    for (k, v) in changes {
        match fields.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1 = v.to_string(),
            None => fields.push((k.to_string(), v.to_string())),
        }
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_item_is_edited_in_a_form_through_the_catalogs_checks() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let mut b = Browser::signed_in(&hub, ADMIN).await;
    const FORM: &str = "/console/admin/catalog/items/SOC-CARD";
    let catalog = b.get("/console/admin/catalog").await;
    assert!(catalog.body.contains(&format!(r#"href="{FORM}""#)));
    let page = b.get(FORM).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_labelled(&page.body);
    for seen in [
        "社会保障卡申领补换",
        "ID card",
        "居民身份证",
        "近期免冠照片",
        r#"value="10""#,
        "申领原因",
        "整体导入",
    ] {
        assert!(page.body.contains(seen), "{seen}");
    }
    let before = st(|| hub.storage.reference()).unwrap().unwrap();

    // Each broken rule is named; nothing is stored; what was typed comes back.
    let post = |fields: Vec<(String, String)>| {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        encode(&fields)
    };
    for (changes, message) in [
        (vec![("name_zh", " ")], "中文名称：名称须为 1 到 200 个字符"),
        (
            vec![("time_limit_days", "366")],
            "承诺时限：须为 0 到 365 之间的整数",
        ),
        (vec![("time_limit_days", "ten")], "承诺时限"),
        (vec![("level", "county")], "办理层级：请从列表中选择"),
        (
            vec![("material-2", ""), ("material-zh-2", "户口簿")],
            "材料第 3 项：填写了中文名称，但记录名称为空",
        ),
        (
            vec![("material-1", "ID card")],
            "材料第 2 项：记录名称与前面的材料重复",
        ),
        (
            vec![("material-2", "Household register"), ("material-zh-2", "")],
            "材料第 3 项：缺少中文名称",
        ),
    ] {
        let fields = item_fields(&page.body, &changes);
        let a = b
            .send(
                axum::http::Request::post(FORM)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from(post(fields)))
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(a.body.contains(message), "{message}: {}", a.body);
        assert!(a.body.contains(r#"role="alert""#));
    }
    assert_eq!(
        st(|| hub.storage.reference()).unwrap().unwrap(),
        before,
        "nothing stored"
    );

    // A good edit: through the catalog's load, a new version the tablets receive.
    let fields = item_fields(
        &page.body,
        &[
            ("material-zh-1", "近期一寸免冠彩色照片"),
            ("time_limit_days", "7"),
            ("material-3", "Household register"),
            ("material-zh-3", "户口簿"),
        ],
    );
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = b.post(FORM, &fields).await;
    assert_eq!(
        (a.status, a.location.as_deref()),
        (
            StatusCode::SEE_OTHER,
            Some("/console/admin/catalog?done=item_saved")
        ),
        "{}",
        a.body
    );
    let catalog = b.get("/console/admin/catalog?done=item_saved").await;
    assert!(catalog.body.contains("服务事项已保存"));
    assert!(catalog.body.contains("近期一寸免冠彩色照片") && catalog.body.contains("户口簿"));
    let after = st(|| hub.storage.reference()).unwrap().unwrap();
    assert!(after.version > before.version);
    let item = after.catalog.item("SOC-CARD").unwrap();
    let was = before.catalog.item("SOC-CARD").unwrap();
    assert_eq!(
        item.materials,
        ["ID card", "Recent photo", "Household register"]
    );
    assert_eq!(
        item.materials_zh,
        ["居民身份证", "近期一寸免冠彩色照片", "户口簿"]
    );
    assert_eq!(item.time_limit_days, 7);
    assert_eq!(
        (&item.attributes, &item.name_zh),
        (&was.attributes, &was.name_zh),
        "the rest kept"
    );
    assert_eq!(
        after
            .catalog
            .items
            .iter()
            .filter(|i| i.code != "SOC-CARD")
            .collect::<Vec<_>>(),
        before
            .catalog
            .items
            .iter()
            .filter(|i| i.code != "SOC-CARD")
            .collect::<Vec<_>>(),
        "the other items kept"
    );
    sync(&clerk).await;
    let on_tablet = on(&clerk, |s| {
        s.reference()
            .catalog
            .item("SOC-CARD")
            .unwrap()
            .materials_zh
            .clone()
    })
    .await;
    assert_eq!(on_tablet[1], "近期一寸免冠彩色照片");

    // The form opened before that save is stale now: refused, nothing stored.
    let stale = item_fields(&page.body, &[("name_en", "Stale edit")]);
    let stale: Vec<(&str, &str)> = stale
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = b.post(FORM, &stale).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("这个事项已被他人修改"), "{}", a.body);
    assert_eq!(
        st(|| hub.storage.reference()).unwrap().unwrap().version,
        after.version
    );

    // A reviewer cannot; an unknown item is 404; without the token nothing happens.
    let mut reviewer = Browser::signed_in(&hub, REVIEWER).await;
    assert_eq!(reviewer.get(FORM).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.get("/console/admin/catalog/items/NO-SUCH").await.status,
        StatusCode::NOT_FOUND
    );
    let forged: Vec<(&str, &str)> = stale
        .iter()
        .filter(|(k, _)| *k != "csrf")
        .copied()
        .collect();
    assert_eq!(b.post(FORM, &forged).await.status, StatusCode::FORBIDDEN);
}
