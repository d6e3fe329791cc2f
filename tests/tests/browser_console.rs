//! The reviewer's work queue in a real headless Chromium (driven through chromedriver): the
//! search by receipt number and by applicant's name finds the request, the count shown equals
//! the rows listed, the filing-day range picked in the form keeps to the pages and the export
//! links, the ledger (台账) of that range downloaded over HTTP with the browser's session holds
//! exactly the requests filed in it (as CSV and as an Excel workbook, read by calamine), and
//! overdue rows say by how many working days.
//!
//! Ignored by `cargo test --workspace` (Chromium and chromedriver are not on a fresh machine);
//! `.ci/run` runs it with the other browser tests (`-- --ignored`). The browser scaffolding is
//! `tests/webdriver/mod.rs`.

mod webdriver;

use std::sync::{Arc, Mutex};

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, Timestamp, WorkingCalendar};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use chrono::{Days, NaiveDate};
use fantoccini::{Client, Locator};
use webdriver::{WAIT, click, css, fill, heading, in_browser, keep_screenshot, text, type_into};

/// What the clerk's tablet filed, oldest filing last: receipt numbers, filing days and
/// deadlines, and the calendar the deadlines were counted on.
struct Filed {
    receipts: Vec<String>,
    days: Vec<NaiveDate>,
    dues: Vec<NaiveDate>,
    calendar: WorkingCalendar,
}

/// Four requests of East Village, each filed, accepted and forwarded `days ago` on the
/// clerk's tablet (30, 0, 5 and 60 days ago), then synced to the hub.
fn four_requests(hub: &TestHub, dir: &std::path::Path) -> Filed {
    let clerk = Mutex::new(hub.enrol(CLERK, dir, "east-tablet"));
    let today = Timestamp::now().china_date();
    let mut filed = Filed {
        receipts: Vec::new(),
        days: Vec::new(),
        dues: Vec::new(),
        calendar: WorkingCalendar::new(vec![]),
    };
    {
        let mut s: std::sync::MutexGuard<'_, Store> = clerk.lock().unwrap();
        for (name, days_ago) in [("王秀英", 30), ("李四", 0), ("王五", 5), ("赵六", 60)] {
            let day = today.checked_sub_days(Days::new(days_ago)).unwrap();
            let at = Timestamp::at_noon(day);
            s.set_clock(Arc::new(move || at));
            let r = s
                .file_request(NewRequest {
                    applicant_name: name.into(),
                    ..social_card_request()
                })
                .unwrap();
            s.apply(r.id, Action::Accept).unwrap();
            let r = s.apply(r.id, Action::Forward).unwrap();
            filed.receipts.push(r.receipt_no.as_str().to_string());
            filed.days.push(day);
            filed.dues.push(r.clock.due().unwrap());
        }
        s.set_clock(Arc::new(Timestamp::now));
        filed.calendar = s.reference().calendar.clone();
    }
    let report = sync(&clerk, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    filed
}

/// The receipt numbers of the queue's rows as shown, checked against the count the page shows.
async fn listed(c: &Client) -> Vec<String> {
    css(c, "p.count").await;
    let mut receipts = Vec::new();
    for row in c
        .find_all(Locator::Css("table.queue tbody tr td:first-child a"))
        .await
        .unwrap()
    {
        receipts.push(row.text().await.unwrap());
    }
    let total: usize = text(c, "#queue-total").await.parse().unwrap();
    assert_eq!(total, receipts.len(), "the count shown equals the rows");
    receipts
}

/// Submits the filter form as it stands and waits for the page it brings.
async fn filter(c: &Client) {
    let old = css(c, "html").await;
    click(c, "form.filters button[type=submit]").await;
    let give_up = std::time::Instant::now() + WAIT;
    // The old page's root goes stale once the new page replaced it.
    while old.tag_name().await.is_ok() {
        assert!(
            std::time::Instant::now() < give_up,
            "the filtered page did not come within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    css(c, "p.count").await;
}

/// Sets a date field as the browser's date picker does (typing into one depends on the
/// browser's locale).
async fn pick_date(c: &Client, selector: &str, day: NaiveDate) {
    css(c, selector).await;
    c.execute(
        "document.querySelector(arguments[0]).value = arguments[1];",
        vec![selector.into(), day.to_string().into()],
    )
    .await
    .expect("setting the date");
}

/// Downloads `path` from the hub with the browser's session cookie: status, bytes.
fn download(url: &str, path: &str, cookie: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut resp = agent
        .get(&format!("{url}{}", path.replace("&amp;", "&")))
        .header("Cookie", &format!("bianmin_console={cookie}"))
        .call()
        .expect("the hub answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("the body"))
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_reviewer_searches_counts_and_exports_the_ledger_of_a_filing_period() {
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    let dir = tempfile::tempdir().unwrap();
    let f = four_requests(&hub, dir.path());
    let today = Timestamp::now().china_date();
    let overdue_by = |i: usize| f.calendar.working_days_between(f.dues[i], today);
    assert!(overdue_by(0) > 0, "filed 30 days ago with 10 working days");

    let url = hub.url.clone();
    let (receipts, days) = (f.receipts.clone(), f.days.clone());
    let expected_overdue = [overdue_by(0), overdue_by(3)];
    let (cookie, csv_link, xlsx_link) = in_browser(move |c| async move {
        c.goto(&format!("{url}/console")).await.unwrap();
        heading(&c, "审核台登录").await;
        type_into(&c, "form.sign-in #name", REVIEWER).await;
        type_into(&c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&c, "form.sign-in button[type=submit]").await;
        heading(&c, "待办办件").await;

        // Every forwarded request, counted.
        let all = listed(&c).await;
        assert_eq!(all.len(), 4);
        assert_eq!(
            text(&c, "p.count").await.split(" · ").next(),
            Some("共 4 件")
        );

        // By part of a receipt number: that request alone.
        let tail = &receipts[3][receipts[3].len() - 9..];
        fill(&c, "#f-receipt", tail).await;
        filter(&c).await;
        assert_eq!(listed(&c).await, [receipts[3].clone()]);
        assert_eq!(
            css(&c, "#f-receipt")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(tail),
            "the form keeps the search"
        );

        // By part of a name (the stored name; the list shows it masked).
        fill(&c, "#f-receipt", "").await;
        fill(&c, "#f-applicant", "王").await;
        filter(&c).await;
        let mut found = listed(&c).await;
        found.sort();
        let mut wang = vec![receipts[0].clone(), receipts[2].clone()];
        wang.sort();
        assert_eq!(found, wang);
        let table = text(&c, "table.queue").await;
        assert!(table.contains("王*英") && table.contains("王*"), "{table}");
        assert!(!table.contains("王秀英"), "names stay masked");
        keep_screenshot(&c, "console-queue-search.png", None).await;
        fill(&c, "#f-applicant", "王秀英").await;
        filter(&c).await;
        assert_eq!(listed(&c).await, [receipts[0].clone()], "a whole name");

        // Overdue rows say by how many working days.
        fill(&c, "#f-applicant", "").await;
        filter(&c).await;
        for (i, days) in [(0, expected_overdue[0]), (3, expected_overdue[1])] {
            let row = c
                .find(Locator::XPath(&format!(
                    "//table[@class='queue']//tr[.//a[normalize-space()='{}']]",
                    receipts[i]
                )))
                .await
                .unwrap();
            row.find(Locator::Css("td.overdue .overdue-days"))
                .await
                .expect("marked overdue");
            let shown = row.text().await.unwrap();
            assert!(
                shown.contains(&format!("已超期 {days} 个工作日")),
                "{}: {shown}",
                receipts[i]
            );
        }

        // A filing period: from the request filed 30 days ago to the one filed 5 days ago.
        pick_date(&c, "#f-from", days[0]).await;
        pick_date(&c, "#f-to", days[2]).await;
        filter(&c).await;
        let mut in_range = listed(&c).await;
        in_range.sort();
        let mut expected = vec![receipts[0].clone(), receipts[2].clone()];
        expected.sort();
        assert_eq!(in_range, expected);
        let page_url = c.current_url().await.unwrap().to_string();
        assert!(
            page_url.contains(&format!("from={}", days[0]))
                && page_url.contains(&format!("to={}", days[2])),
            "{page_url}"
        );
        assert_eq!(
            css(&c, "#f-from").await.prop("value").await.unwrap(),
            Some(days[0].to_string())
        );

        // The export links carry the same filter; the session cookie lets the test download.
        let csv = css(&c, "p.count a[href^='/console/ledger.csv']")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let xlsx = css(&c, "p.count a[href^='/console/ledger.xlsx']")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        for link in [&csv, &xlsx] {
            assert!(
                link.contains(&format!("from={}", days[0]))
                    && link.contains(&format!("to={}", days[2])),
                "{link}"
            );
        }
        let cookie = c
            .get_named_cookie("bianmin_console")
            .await
            .unwrap()
            .value()
            .to_string();
        (cookie, csv, xlsx)
    });

    // The ledger of the period holds exactly the requests filed in it, in filing order.
    let in_period: Vec<&str> = vec![f.receipts[0].as_str(), f.receipts[2].as_str()];
    let (status, bytes) = download(&hub.url, &csv_link, &cookie);
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<Vec<&str>> = text
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(lines[0][0], "受理回执号");
    assert_eq!(lines[0][8], "超期工作日");
    let ledger: Vec<&str> = lines[1..].iter().map(|l| l[0]).collect();
    assert_eq!(ledger, in_period);
    for line in &lines[1..] {
        let filed: NaiveDate = line[5].parse().unwrap();
        assert!(filed >= f.days[0] && filed <= f.days[2], "{line:?}");
    }
    assert_eq!(lines[1][3], "王*英");
    assert_eq!(lines[1][8], overdue_by(0).to_string());
    assert!(!text.contains("王秀英"));

    let (status, bytes) = download(&hub.url, &xlsx_link, &cookie);
    assert_eq!(status, 200);
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a workbook");
    let sheet = book
        .worksheet_range("办件台账")
        .expect("the ledger's sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "受理回执号");
    let ledger: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ledger, in_period);
    assert_eq!(rows[1][8], overdue_by(0).to_string());
    assert_eq!(rows[1][5], f.days[0].to_string());

    // Without the session the export is not given.
    let (status, _) = download(&hub.url, &csv_link, "not-a-session");
    assert_eq!(status, 303);
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn the_overdue_overview_counts_each_villages_overdue_work_and_leads_to_it() {
    let hub = TestHub::start();
    admin::set_demo_passwords(hub.storage.as_ref()).expect("demo passwords");
    let dir = tempfile::tempdir().unwrap();
    let f = four_requests(&hub, dir.path());
    let today = Timestamp::now().china_date();
    // Filed 30 and 60 days ago with 10 working days: overdue; 5 days ago and today: not.
    let most = f.calendar.working_days_between(f.dues[3], today);
    assert!(f.dues[2] >= today && f.dues[1] >= today);
    let mut overdue = vec![f.receipts[0].clone(), f.receipts[3].clone()];
    overdue.sort();
    let url = hub.url.clone();
    in_browser(move |c| async move {
        c.goto(&format!("{url}/console/dashboard")).await.unwrap();
        type_into(&c, "form.sign-in #name", REVIEWER).await;
        type_into(&c, "form.sign-in #password", admin::DEMO_PASSWORD).await;
        click(&c, "form.sign-in button[type=submit]").await;
        heading(&c, "统计分析").await;
        assert_eq!(text(&c, "#overdue-total").await, "2");
        let east = "table.overdue-by-village tr[data-village='370883101201']";
        assert_eq!(text(&c, &format!("{east} td.count")).await, "2");
        assert_eq!(
            text(&c, &format!("{east} td.days")).await,
            most.to_string(),
            "the most working days overdue"
        );
        // Every other village of the township: none.
        let others = c
            .find_all(Locator::Css(
                "table.overdue-by-village tr[data-village]:not([data-village='370883101201']) td.count",
            ))
            .await
            .unwrap();
        assert!(
            !others.is_empty(),
            "the township's other villages are listed"
        );
        for cell in others {
            assert_eq!(cell.text().await.unwrap(), "0");
        }
        keep_screenshot(&c, "console-overdue-by-village.png", Some("#overdue")).await;
        // The count leads to the queue of exactly those requests.
        click(&c, &format!("{east} td.count a")).await;
        heading(&c, "待办办件").await;
        let mut listed = listed(&c).await;
        listed.sort();
        assert_eq!(listed, overdue);
    });
}
