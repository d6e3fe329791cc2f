//! The rules the hub applies to untrusted data pushed by devices, called with extreme values:
//! any `i64` timestamp, any `NaiveDate`, any `u32` time limit. Each must return (quickly, as the
//! suite's run time shows) without panicking, and with an answer that makes sense.

mod common;

use bianmin_domain::{
    Action, CALENDAR_FIRST_DATE, CALENDAR_LAST_DATE, Clock, DEVICE_TIME_FLOOR,
    DEVICE_TIME_MAX_AHEAD_MS, HandlingLevel, Holiday, MAX_TIME_LIMIT_DAYS, Timestamp, Urgency,
    WorkingCalendar, YearCalendar, check_date_in_range, check_device_time, check_time_limit, demo,
    replay,
};
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use common::*;
use proptest::prelude::*;

const LEVEL: HandlingLevel = HandlingLevel::VillageCollectsTownshipHandles;

/// A calendar with data at both ends of chrono's range as well as the real 2026 data, so that
/// the listed-day corrections are exercised where the arithmetic is most likely to break.
fn calendar_with_data_at_the_ends() -> WorkingCalendar {
    let mut cal = demo::calendar();
    let near_min = NaiveDate::MIN + TimeDelta::days(3);
    let near_max = NaiveDate::MAX - TimeDelta::days(3);
    for day in [near_min, near_max] {
        cal.load(YearCalendar {
            year: day.year(),
            holidays: vec![Holiday {
                name: "edge".into(),
                dates: vec![day, day + TimeDelta::days(1)],
            }],
            adjusted_working_days: vec![day + TimeDelta::days(2)],
        });
    }
    cal
}

fn calendars() -> [WorkingCalendar; 3] {
    [
        WorkingCalendar::default(),
        demo::calendar(),
        calendar_with_data_at_the_ends(),
    ]
}

const EXTREME_DATES: [NaiveDate; 4] = [
    NaiveDate::MIN,
    NaiveDate::MAX,
    CALENDAR_FIRST_DATE,
    CALENDAR_LAST_DATE,
];

const EXTREME_TIMES: [i64; 7] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];

/// The working-day count one day at a time, on the public definition `is_working_day`.
fn slow_between(cal: &WorkingCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
    from.iter_days()
        .skip(1)
        .take_while(|x| *x <= to)
        .filter(|x| cal.is_working_day(*x))
        .count() as u32
}

#[test]
fn adding_working_days_saturates_at_the_end_of_the_range() {
    for cal in calendars() {
        assert_eq!(cal.add_working_days(NaiveDate::MAX, 1), NaiveDate::MAX);
        assert_eq!(
            cal.add_working_days(NaiveDate::MAX, u32::MAX),
            NaiveDate::MAX
        );
        assert_eq!(cal.add_working_days(NaiveDate::MAX, 0), NaiveDate::MAX);
        // About 4.3 billion working days is over 16 million years: past chrono's end.
        assert_eq!(
            cal.add_working_days(NaiveDate::MIN, u32::MAX),
            NaiveDate::MAX
        );
        assert_eq!(
            cal.add_working_days(CALENDAR_LAST_DATE, u32::MAX),
            NaiveDate::MAX
        );
        assert_eq!(cal.add_working_days(NaiveDate::MIN, 0), NaiveDate::MIN);
        // From the very first day, the answer is still exact.
        let first = cal.add_working_days(NaiveDate::MIN, 1);
        assert!(first > NaiveDate::MIN && cal.is_working_day(first));
        assert_eq!(cal.working_days_between(NaiveDate::MIN, first), 1);
    }
}

#[test]
fn adding_working_days_just_before_the_end_is_exact_or_saturates() {
    for cal in calendars() {
        let start = NaiveDate::MAX - TimeDelta::days(20);
        let left = cal.working_days_between(start, NaiveDate::MAX);
        assert!(left > 0 && left <= 20);
        let last = cal.add_working_days(start, left);
        assert!(cal.is_working_day(last));
        assert_eq!(cal.working_days_between(start, last), left);
        assert_eq!(cal.working_days_between(last, NaiveDate::MAX), 0);
        // One more working day than chrono's range holds: saturated.
        assert_eq!(cal.add_working_days(start, left + 1), NaiveDate::MAX);
    }
}

#[test]
fn counting_over_the_whole_range_is_exact() {
    for cal in calendars() {
        let all = cal.working_days_between(NaiveDate::MIN, NaiveDate::MAX);
        let days = (NaiveDate::MAX - NaiveDate::MIN).num_days();
        // Five in seven, give or take the week at each end and the listed days: 2026 alone
        // turns a dozen weekdays into days off, net of its adjusted working days, and each
        // other year from 2000 to 2100 up to seven (its holidays fixed to a date).
        let five_sevenths = days * 5 / 7;
        assert!(
            (i64::from(all) - five_sevenths).abs() < 40 + 7 * 101,
            "{all} vs {five_sevenths}"
        );
        assert_eq!(cal.working_days_between(NaiveDate::MAX, NaiveDate::MIN), 0);
        assert_eq!(cal.working_days_between(NaiveDate::MAX, NaiveDate::MAX), 0);
        assert_eq!(cal.add_working_days(NaiveDate::MIN, all), {
            let mut d = NaiveDate::MAX;
            while !cal.is_working_day(d) {
                d = d.pred_opt().unwrap();
            }
            d
        });
        for from in EXTREME_DATES {
            for to in EXTREME_DATES {
                let n = cal.working_days_between(from, to);
                assert_eq!(n == 0, to <= from, "{from}..{to}");
            }
        }
    }
}

#[test]
fn counting_near_the_ends_agrees_with_day_by_day() {
    let cal = calendar_with_data_at_the_ends();
    let ends = [NaiveDate::MIN, NaiveDate::MAX - TimeDelta::days(40)];
    for start in ends {
        for span in 0..40 {
            let to = start + TimeDelta::days(span);
            assert_eq!(
                cal.working_days_between(start, to),
                slow_between(&cal, start, to),
                "{start}..{to}"
            );
        }
    }
    // The listed days at the ends: two holidays on weekdays or not, an adjusted working day.
    let near_max = NaiveDate::MAX - TimeDelta::days(3);
    assert!(!cal.is_working_day(near_max));
    assert!(cal.is_working_day(near_max + TimeDelta::days(2)));
}

#[test]
fn timestamps_at_the_ends_of_i64_give_the_ends_of_the_date_range() {
    assert_eq!(Timestamp(i64::MAX).china_date(), NaiveDate::MAX);
    assert_eq!(Timestamp(i64::MIN).china_date(), NaiveDate::MIN);
    assert_eq!(Timestamp(0).china_date(), "1970-01-01".parse().unwrap());
    assert_eq!(Timestamp(-1).china_date(), "1970-01-01".parse().unwrap());
    assert_eq!(
        Timestamp(i64::MAX).to_rfc3339(),
        "+262142-12-31T23:59:59+08:00"
    );
    assert_eq!(
        Timestamp(i64::MIN).to_rfc3339(),
        "-262143-01-01T08:00:00+08:00"
    );
    for t in EXTREME_TIMES {
        let date = Timestamp(t).china_date();
        assert!(!Timestamp(t).to_rfc3339().is_empty());
        // Round trip through noon of the date stays on that date.
        assert_eq!(Timestamp::at_noon(date).china_date(), date, "{t}");
    }
    // The last eight hours of chrono's UTC range, which have no UTC+8 local time, are clamped.
    let last_utc = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
    for t in [
        last_utc - 8 * 3600 * 1000,
        last_utc - 1,
        last_utc,
        last_utc + 1,
    ] {
        assert_eq!(Timestamp(t).china_date(), NaiveDate::MAX, "{t}");
    }
    for d in [NaiveDate::MIN, NaiveDate::MAX] {
        assert_eq!(Timestamp::at_noon(d).china_date(), d);
    }
}

#[test]
fn device_times_from_the_ends_of_i64_are_refused_with_a_clear_reason() {
    let now = Timestamp::at_noon(d("2026-03-02"));
    let err = check_device_time(Timestamp(i64::MIN), now).unwrap_err();
    assert_eq!(err.field, "at");
    assert!(err.rule.contains("is before 2024-01-01"), "{}", err.rule);
    let err = check_device_time(Timestamp(i64::MAX), now).unwrap_err();
    assert!(
        err.rule.contains("more than 24 hours after"),
        "{}",
        err.rule
    );
    assert!(
        check_device_time(Timestamp(DEVICE_TIME_FLOOR.0 - 1), now).is_err(),
        "one millisecond before the floor"
    );
    // A receiver clock at the very end of i64: no overflow, everything after the floor passes.
    check_device_time(Timestamp(i64::MAX), Timestamp(i64::MAX)).unwrap();
    check_device_time(DEVICE_TIME_FLOOR, Timestamp(i64::MAX)).unwrap();
    // A receiver whose own clock is wrong (at i64::MIN) refuses everything: nothing silently
    // passes on a nonsensical reference.
    for t in EXTREME_TIMES {
        assert!(check_device_time(Timestamp(t), Timestamp(i64::MIN)).is_err());
    }
    assert!(check_device_time(Timestamp(now.0 + DEVICE_TIME_MAX_AHEAD_MS + 1), now).is_err());
}

#[test]
fn time_limits_up_to_u32_max_are_checked() {
    check_time_limit(0).unwrap();
    check_time_limit(MAX_TIME_LIMIT_DAYS).unwrap();
    for days in [MAX_TIME_LIMIT_DAYS + 1, u32::MAX / 2, u32::MAX] {
        let err = check_time_limit(days).unwrap_err();
        assert_eq!(err.field, "time_limit_days");
    }
}

#[test]
fn dates_at_the_ends_are_outside_the_calendar_range() {
    for d in [NaiveDate::MIN, NaiveDate::MAX] {
        let err = check_date_in_range("held_on", d).unwrap_err();
        assert_eq!(err.field, "held_on");
        assert!(
            err.rule.contains("2000-01-01 to 2100-12-31"),
            "{}",
            err.rule
        );
    }
    check_date_in_range("held_on", CALENDAR_FIRST_DATE).unwrap();
    check_date_in_range("held_on", CALENDAR_LAST_DATE).unwrap();
    for year in [i32::MIN, -1, 0, 1999, 2101, i32::MAX] {
        let y = YearCalendar {
            year,
            holidays: vec![],
            adjusted_working_days: vec![],
        };
        assert!(y.validate().is_err(), "{year}");
    }
}

/// Sets every event's device time of `log` to `at`.
fn all_at(mut log: Log, at: Timestamp) -> Log {
    for e in &mut log.events {
        e.by.at = at;
    }
    log
}

fn clock_of(log: &Log, days: u32, cal: &WorkingCalendar) -> Clock {
    Clock::compute(&log.events, &replay(&log.events, LEVEL), days, cal)
}

#[test]
fn the_clock_at_extreme_times_and_limits() {
    let mut accepted = Log::new();
    accepted.push(Action::Submit);
    accepted.push(Action::Accept);
    let mut returned = accepted.clone();
    returned.push(Action::Forward);
    returned.push(ret(&["Household register"]));
    let mut supplemented = returned.clone();
    supplemented.push(supplement(&["Household register"]));
    let mut approved = supplemented.clone();
    approved.push(approve());
    let logs = [accepted, returned, supplemented, approved];

    for cal in calendars() {
        for t in EXTREME_TIMES {
            for days in [0, 1, MAX_TIME_LIMIT_DAYS, u32::MAX] {
                for log in &logs {
                    let log = all_at(log.clone(), Timestamp(t));
                    let clock = clock_of(&log, days, &cal);
                    let _ = (clock.due(), clock.on_time());
                    for today in EXTREME_DATES {
                        let _ = clock.urgency(today, &cal);
                    }
                    if let Some(due) = clock.due() {
                        assert!(due >= Timestamp(t).china_date(), "{t} {days} {clock:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_clock_with_a_return_on_the_first_day_and_a_decision_at_the_end_of_time() {
    // Accepted at i64::MIN (the first day), returned and decided at i64::MAX (the last day):
    // the whole of chrono's range lies between. The working days used exceed any limit, so the
    // deadline is that limit's day after acceptance.
    let cal = demo::calendar();
    let mut log = Log::new();
    log.push(Action::Submit);
    log.push(Action::Accept);
    log.push(Action::Forward);
    log.push(ret(&["x"]));
    log.push(supplement(&["x"]));
    log.push(approve());
    let n = log.events.len();
    for (i, e) in log.events.iter_mut().enumerate() {
        e.by.at = Timestamp(if i + 3 < n { i64::MIN } else { i64::MAX });
    }
    let clock = clock_of(&log, 10, &cal);
    assert_eq!(
        clock,
        Clock::Stopped {
            due: cal.add_working_days(NaiveDate::MIN, 10),
            ended_on: NaiveDate::MAX,
        }
    );
    assert_eq!(clock.on_time(), Some(false));

    // A running clock due at the end of time is on track on every day before it.
    let running = Clock::Running {
        due: NaiveDate::MAX,
    };
    assert_eq!(running.urgency(NaiveDate::MIN, &cal), Urgency::OnTrack);
    assert_eq!(running.urgency(NaiveDate::MAX, &cal), Urgency::DueSoon);
    let early = Clock::Running {
        due: NaiveDate::MIN,
    };
    assert_eq!(early.urgency(NaiveDate::MAX, &cal), Urgency::Overdue);
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
        .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap())
}

proptest! {
    /// Over the whole of chrono's range: adding and counting are inverse, and the answer is a
    /// working day (or the saturated end).
    #[test]
    fn add_and_between_are_inverse_anywhere(start in any_date(), n in any::<u32>()) {
        let cal = calendar_with_data_at_the_ends();
        let due = cal.add_working_days(start, n);
        prop_assert!(due >= start);
        if due == NaiveDate::MAX && cal.working_days_between(start, due) < n {
            // Saturated: fewer than `n` working days are left in chrono's range.
        } else {
            prop_assert_eq!(cal.working_days_between(start, due), n);
            prop_assert!(n == 0 || cal.is_working_day(due));
            prop_assert!(n == 0 || cal.working_days_between(start, due.pred_opt().unwrap()) < n);
        }
    }

    /// Any i64 gives a date and an RFC 3339 text; times within chrono's range keep their
    /// order on dates.
    #[test]
    fn any_timestamp_has_a_china_date(a in any::<i64>(), b in any::<i64>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(Timestamp(lo).china_date() <= Timestamp(hi).china_date());
        prop_assert!(Timestamp(a).to_rfc3339().ends_with("+08:00"));
        let _ = check_device_time(Timestamp(a), Timestamp(b));
    }

    /// Over 2000 to 2100, with the real 2026 data: the fast count agrees with one day at a time
    /// for spans of up to ten years.
    #[test]
    fn between_agrees_with_day_by_day_in_the_covered_years(
        from in (CALENDAR_FIRST_DATE.num_days_from_ce()..=CALENDAR_LAST_DATE.num_days_from_ce())
            .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap()),
        span in 0i64..3700,
    ) {
        let cal = demo::calendar();
        let to = from + TimeDelta::days(span);
        prop_assert_eq!(cal.working_days_between(from, to), slow_between(&cal, from, to));
    }
}

#[test]
fn mondays_to_fridays_without_data() {
    // A plain week far in the future, with no data: five working days a week.
    let cal = WorkingCalendar::default();
    let monday = (NaiveDate::MAX - TimeDelta::days(400))
        .iter_days()
        .find(|d| d.weekday() == Weekday::Mon)
        .unwrap();
    assert_eq!(
        cal.working_days_between(monday, monday + TimeDelta::days(7 * 52)),
        5 * 52
    );
}

#[test]
fn a_notice_posted_on_the_last_date_chrono_knows_ends_without_panicking() {
    let notice = bianmin_domain::Notice {
        text: "公示".into(),
        posted_on: chrono::NaiveDate::MAX,
        period_days: 365,
        place: "村务公开栏".into(),
    };
    assert_eq!(notice.ends_on(), chrono::NaiveDate::MAX);
}
