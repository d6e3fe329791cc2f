//! The console's printable notices (issue 17, point 6), through the real router on requests a
//! real tablet filed, accepted and forwarded: the acceptance receipt (受理回执), the notice of
//! materials to supply (补正告知书) once the township returns a request, and the decision notice
//! (准予批准决定书 / 不予批准决定书) once it decides. Each names the township, the receipt
//! number as text and as a QR code of the residents' look-up page (read back here as a phone
//! would), the applicant masked; never the whole ID number. Another township's reviewer finds
//! none of them; both languages; the look-up page fills in the receipt number from the code.

mod common;

use common::*;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bianmin_domain::Role;
use bianmin_server::admin;
use bianmin_server::web::console::ConsoleConfig;

const OTHER_REVIEWER: &str = "reviewer-shiqiang";
const PUBLIC_URL: &str = "https://bianmin.taiping.example.cn";
const ID_NUMBER: &str = "11010519491231002X";
const MASKED_ID: &str = "110105********002X";

/// The demo hub printing `public_url` on its notices, plus a reviewer of Shiqiang Town, everyone
/// with [`PASSWORD`].
async fn hub(public_url: Option<&str>) -> Hub {
    let config = ConsoleConfig {
        public_url: public_url.map(str::to_string),
        ..ConsoleConfig::default()
    };
    serve_hub(config, |s| {
        admin::add_user(
            s,
            OTHER_REVIEWER,
            "石墙镇审核员",
            Role::Reviewer,
            "370883102",
        )
        .unwrap();
        for name in [REVIEWER, OTHER_REVIEWER, CLERK, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    })
    .await
}

/// The text of the QR code in `page` (the first `<svg class="qr">`), read the way a phone's
/// camera reads the printed code: the SVG's modules drawn at 4 pixels each, the code found in
/// that picture and decoded.
fn qr_text(page: &str) -> String {
    let at = page
        .find("<svg class=\"qr\"")
        .expect("a QR code on the page");
    let svg = &page[at..at + page[at..].find("</svg>").expect("the end of the SVG")];
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a square viewBox");
    let path = svg.split(" d=\"").nth(1).expect("a path");
    let path = &path[..path.find('"').unwrap()];
    let mut dark = vec![vec![false; size]; size];
    // The path is a run of `M{x} {y}h{run}v1h-{run}z` rectangles, one per run of dark modules.
    for rect in path.split('z').filter(|r| !r.is_empty()) {
        let numbers: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let [x, y, run, ..] = numbers[..] else {
            panic!("not a rectangle: {rect}");
        };
        for cell in &mut dark[y][x..x + run] {
            *cell = true;
        }
    }
    let scale = 4;
    let mut picture =
        rqrr::PreparedImage::prepare_from_greyscale(size * scale, size * scale, |x, y| match dark
            [y / scale][x / scale]
        {
            true => 0,
            false => 255,
        });
    let grids = picture.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    grids[0].decode().expect("a readable code").1
}

/// What a notice must never show, and what it must.
fn assert_masked(body: &str) {
    assert!(!body.contains(ID_NUMBER), "the whole ID number printed");
    assert!(!body.contains("13812345678"), "the phone printed");
    assert!(!body.contains("王秀英"), "the whole name printed");
    assert!(body.contains(MASKED_ID), "{body}");
    assert!(body.contains("王*英"), "{body}");
}

fn print_url(id: uuid::Uuid, kind: &str) -> String {
    format!("/console/requests/{id}/print/{kind}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_prints_its_receipt_with_the_township_and_a_look_up_code() {
    let hub = hub(Some(PUBLIC_URL)).await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, receipt) = file(&clerk, soc_card("王秀英"), None, true).await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;

    // The request's page links the notices it has: the receipt only, for now.
    let page = b.get(&format!("/console/requests/{id}")).await;
    assert!(page.body.contains(&format!(
        "<a href=\"{}\">受理回执</a>",
        print_url(id, "receipt")
    )));
    assert!(!page.body.contains(&print_url(id, "supplement")));
    assert!(!page.body.contains(&print_url(id, "decision")));
    assert!(page.body.contains("受理回执号"));

    let a = b.get(&print_url(id, "receipt")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type.as_deref(), Some("text/html; charset=utf-8"));
    let body = &a.body;
    for words in [
        "<p class=\"notice-issuer\">太平镇便民服务中心</p>",
        "<h1 class=\"notice-title\">受理回执</h1>",
        &format!("受理回执号：<strong class=\"receipt-no\">{receipt}</strong>"),
        "社会保障卡申领",
        "东村便民服务站",
        "承诺时限",
        "个工作日",
        "前办结",
        "扫码查询办理进度",
        "太平镇便民服务中心（盖章）",
        // The print style sheet, and the toolbar it leaves out of the paper.
        "<link rel=\"stylesheet\" href=\"/console/notice.css\">",
        "<nav class=\"toolbar\"",
        "另存为 PDF",
    ] {
        assert!(body.contains(words), "{words} missing in {body}");
    }
    assert_masked(body);
    let lookup = format!("{PUBLIC_URL}/lookup?receipt_no={receipt}");
    assert!(body.contains(&lookup), "the address written out");
    assert_eq!(qr_text(body), lookup, "the QR code is the look-up address");
    assert!(
        !body.contains("class=\"top\""),
        "no top bar on a print page"
    );

    // Nothing to notify yet: no notice of materials, no decision (409, said on the page).
    for kind in ["supplement", "decision"] {
        let a = b.get(&print_url(id, kind)).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{kind}");
        assert!(a.body.contains("role=\"alert\""), "{}", a.body);
        assert!(!a.body.contains(ID_NUMBER));
    }
    let a = b.get(&print_url(id, "decision")).await;
    assert!(a.body.contains("还没有审核决定"), "{}", a.body);

    // The style sheet: A4, and only the sheet in print.
    let css = b.get("/console/notice.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.content_type.as_deref(), Some("text/css; charset=utf-8"));
    for rule in [
        "@page { size: A4;",
        "@media print",
        ".toolbar, header.top, nav",
    ] {
        assert!(css.body.contains(rule), "{rule}");
    }

    // In English, with the same code.
    let en = b
        .get(&format!("{}?lang=en", print_url(id, "receipt")))
        .await;
    assert_eq!(en.status, StatusCode::OK);
    for words in [
        "Taiping Town Convenience Service Center",
        "<h1 class=\"notice-title\">Acceptance receipt</h1>",
        "East Village service point",
        "working days",
        "Save as PDF",
    ] {
        assert!(en.body.contains(words), "{words} missing in {}", en.body);
    }
    assert!(!en.body.contains("受理"), "{}", en.body);
    assert_masked(&en.body);
    assert_eq!(qr_text(&en.body), lookup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_request_prints_every_missing_material_at_once_and_the_stopped_clock() {
    let hub = hub(Some(PUBLIC_URL)).await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, receipt) = file(&clerk, soc_card("王秀英"), None, true).await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let page = format!("/console/requests/{id}");
    const NOTE: &str = "照片须为白底近照；户口簿请带原件。";
    let a = b
        .submit(
            &page,
            &format!("{page}/return"),
            &[
                ("missing", "Recent photo"),
                ("missing", "ID card"),
                ("note", NOTE),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    let links = b.get(&page).await.body;
    assert!(links.contains(&print_url(id, "receipt")));
    assert!(links.contains(&format!(
        "<a href=\"{}\">补正告知书</a>",
        print_url(id, "supplement")
    )));
    assert!(!links.contains(&print_url(id, "decision")));

    let a = b.get(&print_url(id, "supplement")).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = &a.body;
    let today = bianmin_domain::Timestamp::now().china_date();
    for words in [
        "太平镇便民服务中心",
        "<h1 class=\"notice-title\">补正告知书</h1>",
        &format!("受理回执号：<strong class=\"receipt-no\">{receipt}</strong>"),
        "<p class=\"salutation\">王*英：</p>",
        "现一次性告知，请补正以下全部材料",
        "<ol class=\"missing\"><li>近期免冠照片</li><li>居民身份证</li></ol>",
        &format!("乡镇审核意见：{NOTE}"),
        "补正期间不计入承诺办理时限",
        &format!("时限自 {today} 退回之日起暂停计算"),
        "个工作日",
        &format!("<th scope=\"row\">退回日期</th><td>{today}</td>"),
    ] {
        assert!(body.contains(words), "{words} missing in {body}");
    }
    assert_masked(body);
    assert_eq!(
        qr_text(body),
        format!("{PUBLIC_URL}/lookup?receipt_no={receipt}")
    );

    let en = b
        .get(&format!("{}?lang=en", print_url(id, "supplement")))
        .await;
    for words in [
        "Notice of materials to supply",
        "every material to supply",
        "<li>Recent photo</li><li>ID card</li>",
        "The township&#39;s note: ",
        "does not count",
    ] {
        assert!(en.body.contains(words), "{words} missing in {}", en.body);
    }
    assert_masked(&en.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decided_requests_print_their_decision_with_the_reason() {
    let hub = hub(Some(PUBLIC_URL)).await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (approved, approved_receipt) = file(&clerk, soc_card("王秀英"), None, true).await;
    let (rejected, rejected_receipt) = file(&clerk, soc_card("王秀英"), None, true).await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let page = format!("/console/requests/{approved}");
    let a = b
        .submit(
            &page,
            &format!("{page}/approve"),
            &[("note", "请到村便民服务站领卡"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    const REASON: &str = "申请人已在外地办理社会保障卡，联系电话 13812345678";
    let page = format!("/console/requests/{rejected}");
    let a = b
        .submit(
            &page,
            &format!("{page}/reject"),
            &[("reason", REASON), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let today = bianmin_domain::Timestamp::now().china_date();

    let links = b.get(&format!("/console/requests/{approved}")).await.body;
    assert!(links.contains(&format!(
        "<a href=\"{}\">决定书</a>",
        print_url(approved, "decision")
    )));
    let a = b.get(&print_url(approved, "decision")).await;
    assert_eq!(a.status, StatusCode::OK);
    for words in [
        "太平镇便民服务中心",
        "<h1 class=\"notice-title\">准予批准决定书</h1>",
        &format!("受理回执号：<strong class=\"receipt-no\">{approved_receipt}</strong>"),
        "决定准予批准",
        "审核意见：请到村便民服务站领卡",
        "办理结果由东村便民服务站送达",
        &format!("<th scope=\"row\">决定日期</th><td>{today}</td>"),
    ] {
        assert!(a.body.contains(words), "{words} missing in {}", a.body);
    }
    assert_masked(&a.body);

    let a = b.get(&print_url(rejected, "decision")).await;
    assert_eq!(a.status, StatusCode::OK);
    for words in [
        "<h1 class=\"notice-title\">不予批准决定书</h1>",
        &format!("受理回执号：<strong class=\"receipt-no\">{rejected_receipt}</strong>"),
        "决定不予批准",
        "理由：申请人已在外地办理社会保障卡，联系电话 ***********",
        "行政复议",
    ] {
        assert!(a.body.contains(words), "{words} missing in {}", a.body);
    }
    assert_masked(&a.body);
    let en = b
        .get(&format!("{}?lang=en", print_url(rejected, "decision")))
        .await;
    for words in [
        "Decision notice: not approved",
        "Reason: ",
        "reconsideration",
    ] {
        assert!(en.body.contains(words), "{words} missing in {}", en.body);
    }
    // Decided: still its receipt, never a notice of materials.
    assert_eq!(
        b.get(&print_url(rejected, "receipt")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.get(&print_url(rejected, "supplement")).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_townships_reviewer_and_strangers_find_no_notice() {
    let hub = hub(None).await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, _) = file(&clerk, soc_card("王秀英"), None, true).await;
    sync(&clerk).await;

    let mut shiqiang = Browser::signed_in(&hub, OTHER_REVIEWER).await;
    for kind in ["receipt", "supplement", "decision"] {
        let a = shiqiang.get(&print_url(id, kind)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{kind}");
        assert!(!a.body.contains(MASKED_ID) && !a.body.contains("王*英"));
    }
    // The administrator reads the whole county, so prints too.
    let mut county = Browser::signed_in(&hub, ADMIN).await;
    assert_eq!(
        county.get(&print_url(id, "receipt")).await.status,
        StatusCode::OK
    );

    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    for bad in [
        print_url(id, "invoice"),
        "/console/requests/not-an-id/print/receipt".to_string(),
        print_url(uuid::Uuid::new_v4(), "receipt"),
    ] {
        assert_eq!(b.get(&bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }

    // Signed out: to the sign-in form, nothing shown.
    let mut stranger = Browser::new(&hub);
    let a = stranger.get(&print_url(id, "receipt")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.unwrap().starts_with("/console/sign-in"));
    assert!(!a.body.contains(MASKED_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_the_code_leads_where_the_browser_reached_the_hub() {
    let hub = hub(None).await;
    let clerk = tablet(&hub, CLERK, "east-tablet").await;
    let (id, receipt) = file(&clerk, soc_card("王秀英"), None, true).await;
    sync(&clerk).await;
    let mut b = Browser::signed_in(&hub, REVIEWER).await;
    let a = b
        .send(
            Request::get(print_url(id, "receipt"))
                .header(header::HOST, "10.20.30.40:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        qr_text(&a.body),
        format!("http://10.20.30.40:8080/lookup?receipt_no={receipt}")
    );
    // A Host that is not an address is not printed: the receipt says the code is missing.
    let a = b
        .send(
            Request::get(print_url(id, "receipt"))
                .header(header::HOST, "evil\"><b>")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("<svg") && !a.body.contains("evil"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_look_up_page_fills_in_the_receipt_number_of_the_code() {
    let hub = hub(None).await;
    let mut resident = Browser::new(&hub);
    let receipt = "370883101201-001-000042";
    let a = resident.get(&format!("/lookup?receipt_no={receipt}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains(&format!(
            "name=\"receipt_no\" type=\"text\" required maxlength=\"40\" value=\"{receipt}\""
        )),
        "{}",
        a.body
    );
    assert!(a.body.contains("autofocus"), "the ID ending is next");
    assert!(a.body.contains("受理回执号"));
    for junk in [
        "/lookup?receipt_no=%3Cb%3E",
        "/lookup?receipt_no=%FF",
        "/lookup",
    ] {
        let a = resident.get(junk).await;
        assert_eq!(a.status, StatusCode::OK, "{junk}");
        assert!(a.body.contains("value=\"\""), "{junk}: {}", a.body);
        assert!(!a.body.contains("autofocus"));
    }
}
