//! The county administrator's pages in a real headless Chromium (driven through chromedriver):
//! the administrator opens a service item's form from the catalog, changes a material's Chinese
//! name, saves, and sees it on the catalog page (and the hub stores it); on their own user page
//! they are told plainly what removing their own password means, the browser does not send the
//! form until the confirmation is ticked, and once it is they are signed out.
//!
//! Ignored by `cargo test --workspace` (Chromium and chromedriver are not on a fresh machine);
//! `.ci/run` runs it with the other browser tests (`-- --ignored`). The browser scaffolding is
//! `tests/webdriver/mod.rs`.

mod webdriver;

use std::sync::Arc;
use std::time::Duration;

use bianmin_domain::Role;
use bianmin_server::admin;
use bianmin_server::storage::Storage;
use bianmin_tests::hub::TestHub;
use fantoccini::Client;
use webdriver::{
    click, css, fill, heading, in_browser, keep_screenshot, page_text, text, type_into,
};

/// The demo administrator.
const ADMIN: &str = "admin";

/// Signs in through the sign-in form as the demo administrator.
async fn sign_in(c: &Client, url: &str) {
    c.goto(&format!("{url}/console/sign-in")).await.unwrap();
    type_into(c, "form.sign-in #name", ADMIN).await;
    type_into(c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
    click(c, "form.sign-in button[type=submit]").await;
    css(c, "header.top").await;
}

/// Runs a storage call off the browser's async workers.
async fn stored<T: Send + 'static>(
    storage: &Arc<dyn Storage>,
    f: impl FnOnce(&dyn Storage) -> T + Send + 'static,
) -> T {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || f(storage.as_ref()))
        .await
        .unwrap()
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn an_administrator_edits_a_material_in_the_form_and_is_warned_before_removing_their_own_password()
{
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    // A second administrator who can sign in: without one, the page offers no removal at all.
    admin::add_user(
        hub.storage.as_ref(),
        "admin-two",
        "县管理员 二",
        Role::Administrator,
        "370883",
    )
    .unwrap();
    admin::set_password(hub.storage.as_ref(), "admin-two", Some("another long one")).unwrap();
    let own = hub.storage.user_by_name(ADMIN).unwrap().unwrap().id;
    let (url, storage) = (hub.url.clone(), hub.storage.clone());
    in_browser(move |c| async move {
        sign_in(&c, &url).await;

        // Service items → the item's form → a material's Chinese name → saved.
        c.goto(&format!("{url}/console/admin/catalog"))
            .await
            .unwrap();
        heading(&c, "服务事项").await;
        click(&c, r#"a[href="/console/admin/catalog/items/SOC-CARD"]"#).await;
        heading(&c, "修改服务事项：社会保障卡申领补换").await;
        assert_eq!(
            text(&c, "label[for=material-zh-1]").await,
            "材料 2：中文名称"
        );
        fill(&c, "#material-zh-1", "近期一寸免冠彩色照片").await;
        keep_screenshot(&c, "console-admin-item-form.png", Some("#material-zh-1")).await;
        click(&c, "#edit-item button[type=submit]").await;
        heading(&c, "服务事项").await;
        assert!(text(&c, "p.notice").await.contains("服务事项已保存"));
        assert!(
            page_text(&c)
                .await
                .contains("居民身份证、近期一寸免冠彩色照片")
        );
        let saved = stored(&storage, |s| {
            let r = s.reference().unwrap().unwrap();
            r.catalog.item("SOC-CARD").unwrap().materials_zh.clone()
        })
        .await;
        assert_eq!(saved, ["居民身份证", "近期一寸免冠彩色照片"]);

        // Their own password: the warning says what happens, and nothing is sent unticked.
        let page = format!("{url}/console/admin/users/{own}");
        c.goto(&page).await.unwrap();
        heading(&c, "示范县管理员 陈静").await;
        let warning = text(&c, "#own-password-warning").await;
        assert!(warning.contains("这是您自己的密码"), "{warning}");
        assert!(
            warning.contains("立即退出审核台，并且不能再登录"),
            "{warning}"
        );
        keep_screenshot(
            &c,
            "console-admin-own-password.png",
            Some("#own-password-warning"),
        )
        .await;
        click(&c, "#clear-password button[type=submit]").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(c.current_url().await.unwrap().as_str(), page, "not sent");
        css(&c, "#clear-confirm:invalid").await;
        let kept = stored(&storage, |s| s.user_by_name(ADMIN).unwrap().unwrap()).await;
        assert!(kept.password_hash.is_some());

        // Ticked: removed, and signed out.
        click(&c, "#clear-confirm").await;
        click(&c, "#clear-password button[type=submit]").await;
        heading(&c, "审核台登录").await;
        let gone = stored(&storage, |s| s.user_by_name(ADMIN).unwrap().unwrap()).await;
        assert!(gone.password_hash.is_none());
        c.goto(&format!("{url}/console/admin/users")).await.unwrap();
        heading(&c, "审核台登录").await;
    });
}
