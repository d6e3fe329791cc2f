//! The holiday calendar ahead (issue 17, point 8), through the real router: while the loaded
//! calendars miss a year of the next 60 days, every console page warns that deadlines there are
//! only estimated; an administrator gets the link to load it, a reviewer is told whom to ask;
//! once the year is loaded the warning is gone.

mod common;

use common::*;

use axum::http::StatusCode;
use bianmin_domain::{Timestamp, YearCalendar};
use bianmin_server::admin;
use bianmin_server::web::console::ConsoleConfig;
use chrono::{Datelike, Days};

/// The demo hub (its calendar is 2026's), its reviewer and administrator with [`PASSWORD`].
async fn hub() -> Hub {
    serve_hub(ConsoleConfig::default(), |s| {
        for name in [REVIEWER, ADMIN] {
            admin::set_password(s, name, Some(PASSWORD)).unwrap();
        }
    })
    .await
}

/// The years of the next 60 days besides 2026 (the demo's): those the console must warn about.
fn years_missing() -> Vec<i32> {
    let today = Timestamp::now().china_date();
    let ahead = today.checked_add_days(Days::new(60)).unwrap();
    (today.year()..=ahead.year())
        .filter(|y| *y != 2026)
        .collect()
}

#[tokio::test]
async fn every_console_page_warns_while_the_calendar_misses_a_year_of_the_next_60_days() {
    let missing = years_missing();
    assert!(
        !missing.is_empty(),
        "this test needs a date from 2026-11-02 on (the demo calendar is 2026's)"
    );
    let named = missing
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join("、");
    let hub = hub().await;
    let mut reviewer = Browser::signed_in(&hub, REVIEWER).await;
    let mut admin_b = Browser::signed_in(&hub, ADMIN).await;

    let warning =
        format!("节假日日历缺少 {named} 年：今后 60 天内落在该年的办理期限只能按周一至周五估算");
    for page in ["/console/requests", "/console/dashboard", "/console/agenda"] {
        let r = reviewer.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(r.body.contains(&warning), "{page}: {}", r.body);
        assert!(r.body.contains("请县管理员载入该年的日历。"), "{page}");
        assert!(!r.body.contains(r#"href="/console/admin/calendar">载入"#));
    }
    for page in [
        "/console/requests",
        "/console/admin/users",
        "/console/admin/catalog",
        "/console/admin/calendar",
    ] {
        let r = admin_b.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(r.body.contains(&warning), "{page}");
        assert!(
            r.body
                .contains(r#"<a href="/console/admin/calendar">载入该年的日历</a>"#),
            "{page}: {}",
            r.body
        );
    }
    let en = reviewer.get("/console/requests?lang=en").await;
    assert!(
        en.body.contains(&format!(
            "The holiday calendar has no {}: deadlines in the next 60 days",
            missing
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        "{}",
        en.body
    );
    reviewer.get("/console/requests?lang=zh").await;

    // The administrator loads the missing years (here without holidays: a test's calendar).
    let storage = hub.storage.clone();
    let years = missing.clone();
    tokio::task::spawn_blocking(move || {
        for year in years {
            let json =
                format!(r#"{{"year": {year}, "holidays": [], "adjusted_working_days": []}}"#);
            YearCalendar::from_json(&json).unwrap();
            admin::load_calendar(storage.as_ref(), &json).unwrap();
        }
    })
    .await
    .unwrap();
    hub.state.engine.forget_reference();
    for b in [&mut reviewer, &mut admin_b] {
        let r = b.get("/console/requests").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.contains("节假日日历缺少"), "{}", r.body);
        assert!(!r.body.contains("calendar-gap"));
    }
}
