//! The hub's index of documents (the console's lists, the dashboard, public notices): written
//! with every accepted push, and rewritten when the calendar moves deadlines.

use std::time::{Duration, Instant};

use bianmin_client_core::client::sync;
use bianmin_client_core::{Page, RequestFilter, RequestSort};
use bianmin_domain::{Action, Status, Timestamp};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use chrono::{Datelike, Weekday};
use std::sync::Mutex;

fn page() -> Page {
    Page {
        offset: 0,
        limit: 50,
    }
}

#[test]
fn a_synced_request_is_listed_for_the_township_and_its_deadline_follows_the_calendar() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(social_card_request()).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    sync(&clerk, &quick(), &mut |_| {}).unwrap();

    let engine = &hub.state.engine;
    let reviewer = hub.storage.user_by_name(REVIEWER).unwrap().unwrap();
    let listed = engine
        .console_requests(
            &reviewer,
            &RequestFilter::default(),
            RequestSort::Deadline,
            page(),
        )
        .unwrap();
    assert_eq!(listed.rows.len(), 1);
    let row = &listed.rows[0];
    assert_eq!((row.id, row.status), (id, Status::Forwarded));
    assert_eq!(row.applicant_masked, "王*英");
    let due = row.due.expect("a running deadline");
    let tablet_due = clerk.lock().unwrap().request(id).unwrap().clock.due();
    assert_eq!(Some(due), tablet_due, "the hub and the tablet agree");

    // A clerk of the village may not use the console.
    let clerk_user = hub.storage.user_by_name(CLERK).unwrap().unwrap();
    let refused = engine.console_requests(
        &clerk_user,
        &RequestFilter::default(),
        RequestSort::Deadline,
        page(),
    );
    assert_eq!(refused.unwrap_err().code, "forbidden");

    // The township declares the next working day after today a holiday: the deadline moves
    // one working day later, without any push.
    let today = Timestamp::now().china_date();
    let holiday = today
        .iter_days()
        .skip(1)
        .find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .unwrap();
    assert!(holiday <= due);
    let mut calendar: serde_json::Value = serde_json::from_str(if holiday.year() == 2026 {
        bianmin_domain::demo::CALENDAR_2026_JSON
    } else {
        r#"{"year": 0, "holidays": [], "adjusted_working_days": []}"#
    })
    .unwrap();
    calendar["year"] = holiday.year().into();
    calendar["holidays"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "test holiday", "dates": [holiday.to_string()]}));
    admin::load_calendar(hub.storage.as_ref(), &calendar.to_string()).unwrap();

    let started = Instant::now();
    let moved = loop {
        let row = engine
            .console_requests(
                &reviewer,
                &RequestFilter::default(),
                RequestSort::Deadline,
                page(),
            )
            .unwrap()
            .rows
            .remove(0);
        if row.due != Some(due) {
            break row.due.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the index was not rewritten after the calendar changed"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(moved > due, "{moved} after {due}");
}
