//! The printed acceptance receipt (issue 17, point 6) in a real headless Chromium: a reviewer
//! opens the receipt of a request a tablet filed and accepted; on screen the toolbar is there,
//! in print (Chromium's print media emulated through the DevTools protocol) only the A4 sheet;
//! the QR code, read from a screenshot of the page the way a phone's camera reads the paper,
//! is the residents' look-up address of that receipt number, and that address opens the
//! look-up form with the receipt number filled in.
//!
//! Ignored by `cargo test --workspace` (Chromium and chromedriver are not on a fresh machine);
//! `.ci/run` runs it with the other browser tests. With `BIANMIN_SCREENSHOTS=DIR` the test also
//! writes what it saw, on screen and in print, as PNG files into DIR (the pictures of
//! docs/console.md come from there).

mod webdriver;

use std::sync::Mutex;

use axum::http::Method;
use bianmin_client_core::client::sync;
use bianmin_domain::Action;
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use webdriver::{click, css, heading, in_browser, text, type_into};

/// A command of Chrome's DevTools protocol, sent through chromedriver's own endpoint
/// (`POST /session/{id}/goog/cdp/execute`): WebDriver itself cannot switch to print media.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// Shows the page as it prints (`@media print`), or as on screen again with `media` empty.
async fn emulate_media(c: &Client, media: &str) {
    let cmd = DevTools {
        cmd: "Emulation.setEmulatedMedia",
        params: serde_json::json!({ "media": media }),
    };
    c.issue_cmd(cmd).await.expect("print media emulated");
}

/// The value of a JavaScript expression on the page, as JSON.
async fn eval(c: &Client, expression: &str) -> serde_json::Value {
    c.execute(&format!("return {expression};"), vec![])
        .await
        .expect("script")
}

/// The QR codes in a screenshot, read.
fn read_codes(png: &[u8]) -> Vec<String> {
    let picture = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(picture);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

/// The first page's size in points, from its `/MediaBox [0 0 W H]`.
fn media_box(pdf: &[u8]) -> (f64, f64) {
    let text = String::from_utf8_lossy(pdf);
    let at = text.find("/MediaBox [").expect("a MediaBox") + "/MediaBox [".len();
    let numbers: Vec<f64> = text[at..at + text[at..].find(']').unwrap()]
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    (numbers[2] - numbers[0], numbers[3] - numbers[1])
}

/// How many pages a PDF has (its `/Type /Page` objects).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count()
}

/// Keeps a screenshot in `BIANMIN_SCREENSHOTS`, if set.
fn keep(png: &[u8], name: &str) {
    if let Some(dir) = std::env::var_os("BIANMIN_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_printed_receipts_code_opens_the_look_up_with_its_receipt_number() {
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let (id, receipt) = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(social_card_request()).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        (r.id, r.receipt_no.as_str().to_string())
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    let url = hub.url.clone();
    in_browser(move |c| async move {
        // From the request's page, signed in, to its receipt.
        c.goto(&format!("{url}/console/requests/{id}"))
            .await
            .unwrap();
        heading(&c, "审核台登录").await;
        type_into(&c, "form.sign-in #name", REVIEWER).await;
        type_into(&c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&c, "form.sign-in button[type=submit]").await;
        click(&c, "section.print a[href$='/print/receipt']").await;
        heading(&c, "受理回执").await;
        assert_eq!(text(&c, ".notice-issuer").await, "太平镇便民服务中心");
        assert_eq!(text(&c, ".notice-no .receipt-no").await, receipt);
        let facts = text(&c, "table.notice-facts").await;
        assert!(facts.contains("110105********002X"), "{facts}");
        assert!(facts.contains("王*英"), "{facts}");
        let page = c.source().await.unwrap();
        assert!(!page.contains("11010519491231002X") && !page.contains("王秀英"));

        // On screen: the toolbar, the sheet drawn as an A4 page.
        assert_eq!(eval(&c, "matchMedia('print').matches").await, false);
        let toolbar = "getComputedStyle(document.querySelector('.toolbar')).display";
        assert_eq!(eval(&c, toolbar).await, "flex");
        // The page rule asks for A4.
        let page_size = "[...document.styleSheets].flatMap(s => [...s.cssRules])\
             .filter(r => r instanceof CSSPageRule).map(r => r.style.getPropertyValue('size').toLowerCase())";
        assert_eq!(eval(&c, page_size).await, serde_json::json!(["a4"]));
        let lookup = format!("{url}/lookup?receipt_no={receipt}");
        let screen = c.screenshot().await.expect("a screenshot");
        keep(&screen, "console-print-receipt-screen.png");
        assert_eq!(read_codes(&screen), [lookup.as_str()], "the code on screen");

        // In print: the toolbar left out, the sheet without its desk; the code still reads.
        emulate_media(&c, "print").await;
        assert_eq!(eval(&c, "matchMedia('print').matches").await, true);
        assert_eq!(eval(&c, toolbar).await, "none");
        let shadow = "getComputedStyle(document.querySelector('.notice')).boxShadow";
        assert_eq!(eval(&c, shadow).await, "none");
        let printed = c.screenshot().await.expect("a screenshot");
        keep(&printed, "console-print-receipt.png");
        assert_eq!(read_codes(&printed), [lookup.as_str()], "the printed code");
        emulate_media(&c, "").await;

        // "Save as PDF" from the print dialog: the page's own size, A4, on one page.
        let pdf = c
            .issue_cmd(DevTools {
                cmd: "Page.printToPDF",
                params: serde_json::json!({ "preferCSSPageSize": true }),
            })
            .await
            .expect("a PDF");
        let pdf = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            pdf["data"].as_str().expect("the PDF's bytes"),
        )
        .expect("base64");
        keep(&pdf, "console-print-receipt.pdf");
        let (width, height) = media_box(&pdf);
        // A4 is 595.28 × 841.89 points; Chromium rounds to its own pixel grid.
        assert!(
            (width - 595.3).abs() < 2.0 && (height - 841.9).abs() < 2.0,
            "{width} × {height}"
        );
        assert_eq!(pdf_pages(&pdf), 1, "one sheet");

        // The address of the code: the look-up form, its receipt number filled in, waiting
        // for the ID number's last four characters.
        c.goto(&lookup).await.unwrap();
        heading(&c, "办件查询").await;
        let field = css(&c, "#receipt_no").await;
        assert_eq!(
            field.prop("value").await.unwrap().as_deref(),
            Some(receipt.as_str())
        );
        assert_eq!(
            eval(&c, "document.activeElement && document.activeElement.id").await,
            "id_last4"
        );
    });
}
