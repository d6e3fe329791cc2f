//! `bianmin request receipt`: the acceptance receipt (受理回执) a clerk prints from the tablet's
//! own store, offline, the same one the township's console prints. It shows the receipt number
//! and the applicant masked, never the whole ID number or phone; on a tablet enrolled with a
//! hub, its QR code (read back here from the SVG as a phone would) is the hub's look-up page
//! for that receipt number.

mod common;

use std::path::Path;

use bianmin_tests::hub::{CLERK, TestHub};
use common::{ID_NUMBER, assert_no_personal_data, bianmin, enrol, file_pension};

const MASKED_ID: &str = "110105********002X";

/// The text of the QR code in an HTML page (its first `<svg class="qr">`): the SVG's modules
/// drawn at 4 pixels each, the code found in that picture and decoded.
fn qr_text(page: &str) -> String {
    let at = page.find("<svg class=\"qr\"").expect("a QR code");
    let svg = &page[at..at + page[at..].find("</svg>").expect("the SVG's end")];
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a square viewBox");
    let path = svg.split(" d=\"").nth(1).expect("a path");
    let path = &path[..path.find('"').unwrap()];
    let mut dark = vec![vec![false; size]; size];
    // One `M{x} {y}h{run}v1h-{run}z` rectangle per run of dark modules.
    for rect in path.split('z').filter(|r| !r.is_empty()) {
        let n: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        for cell in &mut dark[n[1]][n[0]..n[0] + n[2]] {
            *cell = true;
        }
    }
    let scale = 4;
    let mut picture =
        rqrr::PreparedImage::prepare_from_greyscale(size * scale, size * scale, |x, y| {
            if dark[y / scale][x / scale] { 0 } else { 255 }
        });
    let grids = picture.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    grids[0].decode().expect("a readable code").1
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("the HTML file")
}

#[test]
fn an_enrolled_tablet_prints_the_receipt_with_the_hubs_look_up_code() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    let r = file_pension(d, "east.db");
    bianmin(d, "east.db", &["request", "accept", &r]).ok();
    let lookup = format!("{}/lookup?receipt_no={r}", hub.url);

    // As text on stdout, offline: the receipt number, the masked ID, the look-up address.
    let run = bianmin(d, "east.db", &["request", "receipt", &r]).ok();
    for words in [
        "太平镇便民服务中心",
        "受理回执",
        &format!("受理回执号：{r}"),
        "城乡居民基本养老保险参保登记",
        "申请人：王*英",
        &format!("身份证号：{MASKED_ID}"),
        "受理地点：东村便民服务站",
        "个工作日",
        &lookup,
    ] {
        assert!(run.stdout.contains(words), "{words} missing:\n{run}");
    }
    assert_no_personal_data(&run);
    assert!(!run.stdout.contains("王秀英"), "{run}");
    assert!(run.stderr.is_empty(), "{run}");

    // As a page to print: the same receipt, its QR code the look-up address.
    let run = bianmin(
        d,
        "east.db",
        &["request", "receipt", &r, "--html", "receipt.html"],
    )
    .ok();
    assert!(run.stdout.contains("receipt.html"), "{run}");
    let html = read(&d.join("receipt.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    for words in [
        "<style>",
        "@page { size: A4;",
        "<h1 class=\"notice-title\">受理回执</h1>",
        &format!("<strong class=\"receipt-no\">{r}</strong>"),
        MASKED_ID,
        &lookup,
    ] {
        assert!(html.contains(words), "{words} missing in {html}");
    }
    assert!(!html.contains(ID_NUMBER) && !html.contains("王秀英"));
    assert_eq!(qr_text(&html), lookup);

    // A file that is there already is never replaced.
    let run = bianmin(
        d,
        "east.db",
        &["request", "receipt", &r, "--html", "receipt.html"],
    )
    .exits(3);
    assert!(run.stderr.contains("--html: already exists"), "{run}");

    // In English, and as JSON for a script.
    let run = bianmin(d, "east.db", &["request", "receipt", &r, "--lang", "en"]).ok();
    assert!(run.stdout.contains("Acceptance receipt"), "{run}");
    assert!(
        run.stdout
            .contains("Taiping Town Convenience Service Center")
    );
    assert!(run.stdout.contains(&format!("ID number: {MASKED_ID}")));
    let json = common::bianmin_json(d, "east.db", &["request", "receipt", &r]);
    assert_eq!(json["receipt_no"], r.as_str());
    assert_eq!(json["applicant_id"], MASKED_ID);
    assert_eq!(json["lookup_url"], lookup.as_str());
    assert_eq!(json["township"], "太平镇");
    let quiet = bianmin(d, "east.db", &["--quiet", "request", "receipt", &r]).ok();
    assert_eq!(quiet.line(), r);
}

#[test]
fn a_practice_store_prints_no_code_and_nothing_before_acceptance() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    common::practice(d, "east.db", &[]);
    let r = file_pension(d, "east.db");

    let run = bianmin(d, "east.db", &["request", "receipt", &r]).exits(3);
    assert!(run.stderr.contains("has not been accepted"), "{run}");
    assert!(run.stdout.is_empty());

    bianmin(d, "east.db", &["request", "accept", &r]).ok();
    let run = bianmin(
        d,
        "east.db",
        &["request", "receipt", &r, "--html", "receipt.html"],
    )
    .ok();
    assert!(run.stderr.contains("not enrolled"), "{run}");
    let html = read(&d.join("receipt.html"));
    assert!(html.contains(&format!("<strong class=\"receipt-no\">{r}</strong>")));
    assert!(html.contains(MASKED_ID));
    assert!(!html.contains("<svg"), "no address, no code");
    assert!(html.contains("未印二维码"));
    assert_no_personal_data(&run);
}
