//! Safe decisions in the console (issue 17, point 1), through the real router on requests a
//! real tablet filed and forwarded: an approval or a rejection is sent only with its
//! confirmation ticked, a rejection and a return only with a reason; an approval while a
//! material is neither in hand nor waived is refused with the missing materials named, in the
//! reviewer's language, and its button is greyed; once the material is waived with a reason the
//! approval goes through. Nothing refused is stored.

mod common;

use common::*;

use axum::http::StatusCode;
use bianmin_domain::{Role, Status};
use bianmin_server::admin;
use bianmin_server::web::console::ConsoleConfig;
use uuid::Uuid;

/// The demo hub, its reviewer and administrator with [`PASSWORD`].
async fn hub() -> Hub {
    serve_hub(ConsoleConfig::default(), |s| {
        for name in [REVIEWER, CLERK, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    })
    .await
}

fn stored_events(hub: &Hub, id: Uuid) -> usize {
    hub.storage.audit(id).unwrap().len()
}

fn status_on_hub(hub: &Hub, id: Uuid) -> Status {
    let doc = hub.storage.document(id).unwrap().expect("stored");
    bianmin_document::Document::load(&doc.bytes)
        .unwrap()
        .request_status()
        .expect("a request")
}

/// The demo catalog with one more material required for the social security card (its
/// recorded name and its Chinese one), as an administrator might load it after the request was
/// accepted.
fn catalog_asking_for(material: &str, material_zh: &str) -> String {
    let mut catalog: serde_json::Value =
        serde_json::from_str(bianmin_domain::demo::CATALOG_JSON).unwrap();
    let items = catalog["items"].as_array_mut().expect("items");
    let card = items
        .iter_mut()
        .find(|i| i["code"] == "SOC-CARD")
        .expect("SOC-CARD");
    card["materials"]
        .as_array_mut()
        .expect("materials")
        .push(material.into());
    card["materials_zh"]
        .as_array_mut()
        .expect("materials_zh")
        .push(material_zh.into());
    catalog.to_string()
}

#[tokio::test]
async fn decisions_need_their_confirmation_and_reasons_and_nothing_refused_is_stored() {
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let id = file_and_forward(&clerk, soc_card("赵六")).await;
    let other = file_and_forward(&clerk, soc_card("钱七")).await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let url = format!("/console/requests/{id}");

    // Three decisions, told apart: approve, reject, return, each a labelled button of its own,
    // the two that cannot be taken back with a confirmation to tick.
    let page = b.get(&url).await;
    for (form, button) in [
        (
            "approve",
            r#"<button class="approve" type="submit">确认审核通过</button>"#,
        ),
        (
            "reject",
            r#"<button class="reject" type="submit">确认不予批准</button>"#,
        ),
        (
            "return",
            r#"<button class="secondary return" type="submit">退回补正</button>"#,
        ),
    ] {
        assert!(
            page.body
                .contains(&format!(r#"action="/console/requests/{id}/{form}""#)),
            "{form}"
        );
        assert!(page.body.contains(button), "{button} in {}", page.body);
    }
    for form in ["approve", "reject"] {
        assert!(
            page.body.contains(&format!(
                r#"<input type="checkbox" name="confirm" value="yes" id="{form}-confirm" required>"#
            )),
            "{form} asks for a confirmation"
        );
    }
    assert!(
        !page.body.contains("return-confirm"),
        "a return can be supplemented"
    );
    let before = stored_events(&hub, id);

    // Without the tick: refused, with what to do, the typed note kept.
    let a = b
        .submit(&url, &format!("{url}/approve"), &[("note", "同意办理")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("请先勾选确认：审核通过后不能撤销。"),
        "{}",
        a.body
    );
    assert!(a.body.contains("同意办理"), "the note is kept");
    let a = b
        .submit(&url, &format!("{url}/reject"), &[("reason", "不符合条件")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("请先勾选确认：不予批准后不能撤销。"));
    // A rejection without a reason, ticked or not.
    let a = b
        .submit(
            &url,
            &format!("{url}/reject"),
            &[("reason", " "), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("不予批准必须写明理由。"));
    // A return with the missing materials ticked but no reason.
    let a = b
        .submit(
            &url,
            &format!("{url}/return"),
            &[("missing", "Recent photo"), ("note", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("退回补正必须写明原因"), "{}", a.body);
    // In English too.
    let a = b
        .submit(
            &format!("{url}?lang=en"),
            &format!("{url}/approve"),
            &[("confirm", "no")],
        )
        .await;
    assert!(
        a.body
            .contains("Tick the confirmation first: an approval cannot be taken back."),
        "{}",
        a.body
    );
    b.get(&format!("{url}?lang=zh")).await;
    assert_eq!(stored_events(&hub, id), before, "nothing stored");
    assert_eq!(status_on_hub(&hub, id), Status::Forwarded);

    // Ticked and with a reason, each goes through.
    let a = b
        .submit(
            &url,
            &format!("{url}/approve"),
            &[("note", "同意办理"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(status_on_hub(&hub, id), Status::Approved);
    let other_url = format!("/console/requests/{other}");
    let a = b
        .submit(
            &other_url,
            &format!("{other_url}/reject"),
            &[("reason", "不符合补换条件"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(status_on_hub(&hub, other), Status::Rejected);
}

#[tokio::test]
async fn an_approval_with_a_material_outstanding_is_refused_naming_it_until_it_is_waived() {
    const BOOKLET: &str = "Household register (hukou) booklet";
    const BOOKLET_ZH: &str = "户口簿";
    let hub = hub().await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let id = file_and_forward(&clerk, soc_card("赵六")).await;
    sync(&clerk).await;
    // After the request was forwarded, the county asks for one more material.
    let storage = hub.storage.clone();
    tokio::task::spawn_blocking(move || {
        admin::load_catalog(storage.as_ref(), &catalog_asking_for(BOOKLET, BOOKLET_ZH)).unwrap()
    })
    .await
    .unwrap();
    // (As the admin console does after loading it; another process sees it within 2 s.)
    hub.state.engine.forget_reference();
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let url = format!("/console/requests/{id}");

    // The page names it above a greyed button.
    let page = b.get(&url).await;
    assert!(
        page.body.contains(&format!(
            r#"<p class="error" id="outstanding">尚有材料未收，不能审核通过：{BOOKLET_ZH}。请先收齐，或写明理由容缺。</p>"#
        )),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<button class="approve" type="submit" disabled>确认审核通过</button>"#)
    );
    let before = stored_events(&hub, id);

    // Sent all the same (a form kept open, a forged post): refused, naming it.
    let a = b
        .submit(&url, &format!("{url}/approve"), &[("confirm", "yes")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains(&format!(
            "未保存：尚有材料未收，不能审核通过：{BOOKLET_ZH}。"
        )),
        "{}",
        a.body
    );
    let a = b
        .submit(
            &format!("{url}?lang=en"),
            &format!("{url}/approve"),
            &[("confirm", "yes")],
        )
        .await;
    assert!(
        a.body.contains(&format!(
            "Not stored: Materials still outstanding, so it cannot be approved: {BOOKLET}."
        )),
        "{}",
        a.body
    );
    b.get(&format!("{url}?lang=zh")).await;
    assert_eq!(stored_events(&hub, id), before, "nothing stored");

    // Waived with a reason (容缺), the approval goes through.
    let a = b
        .submit(
            &url,
            &format!("{url}/waive"),
            &[("material", BOOKLET), ("reason", "户口簿已在镇里备案")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = b.get(&url).await;
    assert!(!page.body.contains(r#"id="outstanding""#));
    assert!(!page.body.contains("disabled"));
    let a = b
        .submit(&url, &format!("{url}/approve"), &[("confirm", "yes")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(status_on_hub(&hub, id), Status::Approved);
    // The tablet receives both, the waiver with its reason.
    sync(&clerk).await;
    let d = on(&clerk, move |s| s.request(id).unwrap()).await;
    assert_eq!(d.status, Status::Approved);
    assert!(d.history.iter().any(|h| h.by.role == Role::Reviewer));
}
