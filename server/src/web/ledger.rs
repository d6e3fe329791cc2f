//! The request ledger (台账) and each request's standing on the working-day clock, as pure
//! functions of list rows ([`RequestRow`], from the index), the calendar and today: no I/O, so
//! the console's work queue and its exports only fetch and call.
//!
//! - [`standing`]: where a row's clock stands today: no deadline, paused, running (with the
//!   working days overdue), or stopped (on the day of the decision, on time or how many working
//!   days late). Working days are the calendar's (holidays and adjusted working days).
//! - [`csv`] (UTF-8 with a byte-order mark, like the dashboard's) and [`xlsx`]: one row per
//!   request with the columns a ledger needs, the applicant's name masked as in every list.

use std::fmt::Write as _;

use bianmin_document::model::RequestRow;
use bianmin_domain::{Clock, Status, Urgency, WorkingCalendar};
use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::dashboard::{csv_field, status_label};
use super::i18n::{Lang, tr};
use crate::reference::Current;

/// Where a request's clock stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not accepted: no deadline runs (also a request refused or withdrawn before acceptance).
    NotStarted,
    /// Stopped while the request waits for supplement.
    Paused,
    /// Running towards `due`.
    Running {
        /// The last working day within the time limit.
        due: NaiveDate,
        /// Overdue, due soon or on track today.
        urgency: Urgency,
        /// Working days after `due` up to today (0 unless overdue, and 0 on a day off right
        /// after the deadline: overdue, but no working day has passed yet).
        overdue_days: u32,
    },
    /// Ended (decided, completed, or withdrawn after acceptance).
    Stopped {
        /// The deadline as it stood.
        due: Option<NaiveDate>,
        /// The day the clock stopped.
        on: Option<NaiveDate>,
        /// Working days after `due` up to `on` (0 when on time).
        late_days: u32,
    },
}

impl Standing {
    /// Working days overdue (running) or late (stopped); `None` where no deadline applies.
    pub fn days_over(&self) -> Option<u32> {
        match *self {
            Standing::Running { overdue_days, .. } => Some(overdue_days),
            Standing::Stopped { late_days, .. } => Some(late_days),
            Standing::NotStarted | Standing::Paused => None,
        }
    }
}

/// Where `row`'s clock stands on `today`, on the working-day calendar `cal`.
pub fn standing(row: &RequestRow, today: NaiveDate, cal: &WorkingCalendar) -> Standing {
    match (row.clock.as_str(), row.due) {
        ("running", Some(due)) => {
            let urgency = Clock::Running { due }.urgency(today, cal);
            let overdue_days = if urgency == Urgency::Overdue {
                cal.working_days_between(due, today)
            } else {
                0
            };
            Standing::Running {
                due,
                urgency,
                overdue_days,
            }
        }
        ("paused", _) => Standing::Paused,
        ("stopped", due) => Standing::Stopped {
            due,
            on: row.decided_on,
            late_days: match (due, row.decided_on) {
                (Some(due), Some(on)) => cal.working_days_between(due, on),
                _ => 0,
            },
        },
        // A decided status with no running clock (refused or withdrawn before acceptance),
        // or a row from a newer layout: no deadline to show.
        _ if row.status.is_decided() => Standing::Stopped {
            due: None,
            on: row.decided_on,
            late_days: 0,
        },
        _ => Standing::NotStarted,
    }
}

/// "N working days overdue", for a running clock past its deadline.
pub fn overdue_text(l: Lang, days: u32) -> String {
    match (l, days) {
        (Lang::Zh, 0) => "已超期（尚不足 1 个工作日）".to_string(),
        (Lang::En, 0) => "Overdue (less than 1 working day)".to_string(),
        (Lang::Zh, n) => format!("已超期 {n} 个工作日"),
        (Lang::En, 1) => "1 working day overdue".to_string(),
        (Lang::En, n) => format!("{n} working days overdue"),
    }
}

/// The end of a stopped clock: "decided on …" (or "withdrawn on …"), then on time or how
/// late, as two lines.
pub fn stopped_text(
    l: Lang,
    status: Status,
    on: Option<NaiveDate>,
    due: Option<NaiveDate>,
    late_days: u32,
) -> (String, Option<String>) {
    let withdrawn = status == Status::Withdrawn;
    let first = match (on, withdrawn) {
        (Some(on), true) => match l {
            Lang::Zh => format!("{on} 已撤回"),
            Lang::En => format!("Withdrawn on {on}"),
        },
        (Some(on), false) => match l {
            Lang::Zh => format!("{on} 已决定"),
            Lang::En => format!("Decided on {on}"),
        },
        (None, true) => tr(l, "已撤回", "Withdrawn").to_string(),
        (None, false) => tr(l, "已办结", "Closed").to_string(),
    };
    let second = match (on, due) {
        (Some(on), Some(due)) if on > due => Some(match (l, late_days) {
            (Lang::Zh, 0) => "超过期限（非工作日）".to_string(),
            (Lang::En, 0) => "After the deadline (on a day off)".to_string(),
            (Lang::Zh, n) => format!("超期 {n} 个工作日"),
            (Lang::En, 1) => "1 working day late".to_string(),
            (Lang::En, n) => format!("{n} working days late"),
        }),
        (Some(_), Some(_)) if !withdrawn => Some(tr(l, "按期", "On time").to_string()),
        _ => None,
    };
    (first, second)
}

/// The ledger's column headings.
pub fn header(l: Lang) -> [&'static str; 9] {
    [
        tr(l, "受理回执号", "Receipt no."),
        tr(l, "服务事项", "Service item"),
        tr(l, "村（社区）", "Village"),
        tr(l, "申请人", "Applicant"),
        tr(l, "状态", "Status"),
        tr(l, "提交日期", "Filed on"),
        tr(l, "办理期限", "Due"),
        tr(l, "决定日期", "Decided on"),
        tr(l, "超期工作日", "Working days overdue"),
    ]
}

/// One ledger line: the texts of [`header`]'s columns, the last (working days overdue, or
/// late for a decided request; empty where no deadline applies) as a number.
struct Line {
    texts: [String; 8],
    days_over: Option<u32>,
}

fn line(row: &RequestRow, l: Lang, reference: &Current, today: NaiveDate) -> Line {
    let s = standing(row, today, &reference.rules.calendar);
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let due = match s {
        Standing::Running { due, .. } => Some(due),
        Standing::Stopped { due, .. } => due,
        Standing::NotStarted | Standing::Paused => None,
    };
    Line {
        texts: [
            row.receipt_no.clone(),
            reference.item_name(l, &row.item_code),
            reference.village_name(l, &row.village),
            row.applicant_masked.clone(),
            status_label(row.status, l).to_string(),
            row.filed_at.china_date().to_string(),
            date(due),
            date(row.decided_on),
        ],
        days_over: s.days_over(),
    }
}

/// The ledger as CSV: a byte-order mark (Excel then reads UTF-8), a header row, one row per
/// request in the order given; dates as `YYYY-MM-DD` (China Standard Time). Lines end with
/// CRLF (RFC 4180); fields a spreadsheet would take for a formula are prefixed with `'`.
pub fn csv(rows: &[RequestRow], l: Lang, reference: &Current, today: NaiveDate) -> String {
    let mut out = String::from("\u{feff}");
    let head: Vec<String> = header(l).iter().map(|h| csv_field(h)).collect();
    let _ = write!(out, "{}\r\n", head.join(","));
    for row in rows {
        let Line { texts, days_over } = line(row, l, reference, today);
        let mut fields: Vec<String> = texts.iter().map(|t| csv_field(t)).collect();
        fields.push(days_over.map(|d| d.to_string()).unwrap_or_default());
        let _ = write!(out, "{}\r\n", fields.join(","));
    }
    out
}

/// The name of the workbook's one sheet.
pub fn sheet_name(l: Lang) -> &'static str {
    tr(l, "办件台账", "Request ledger")
}

/// The ledger as an Excel workbook: one sheet, a header row (frozen), one row per request;
/// the working days overdue as numbers.
pub fn xlsx(
    rows: &[RequestRow],
    l: Lang,
    reference: &Current,
    today: NaiveDate,
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name(l))?;
    let widths = [26, 24, 14, 10, 12, 12, 12, 12, 12];
    for (col, (h, width)) in header(l).iter().zip(widths).enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, col, *h, &bold)?;
        sheet.set_column_width(col, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, row) in rows.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let Line { texts, days_over } = line(row, l, reference, today);
        for (col, text) in texts.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            if !text.is_empty() {
                sheet.write_string(r, col, text)?;
            }
        }
        if let Some(d) = days_over {
            sheet.write_number(r, 8, f64::from(d))?;
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bianmin_domain::{Timestamp, demo};
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn current() -> Current {
        Current::new(bianmin_protocol::ReferenceData {
            version: 1,
            catalog: demo::catalog(),
            directory: demo::directory(),
            calendars: vec![
                bianmin_domain::YearCalendar::from_json(demo::CALENDAR_2026_JSON).unwrap(),
            ],
        })
    }

    fn row(status: Status, clock: &str, due: Option<&str>, decided: Option<&str>) -> RequestRow {
        RequestRow {
            id: Uuid::from_u128(1),
            receipt_no: "370883101201-001-000001".into(),
            item_code: "SOC-CARD".into(),
            village: "370883101201".into(),
            grid: "1组".into(),
            applicant_masked: "王*英".into(),
            status,
            conflict: false,
            clock: clock.into(),
            due: due.map(d),
            decided_on: decided.map(d),
            filed_at: Timestamp::at_noon(d("2026-09-21")),
            updated_at: Timestamp::at_noon(d("2026-09-21")),
        }
    }

    #[test]
    fn overdue_counts_working_days_on_the_calendar() {
        let cal = demo::calendar();
        let due = row(Status::Forwarded, "running", Some("2026-09-30"), None);
        // 1 to 7 October are the National Day holidays: the 8th is the first working day
        // after the deadline, the 10th (a Saturday) an adjusted working day.
        let at = |today: &str| standing(&due, d(today), &cal);
        assert_eq!(
            at("2026-09-30"),
            Standing::Running {
                due: d("2026-09-30"),
                urgency: Urgency::DueSoon,
                overdue_days: 0
            }
        );
        assert_eq!(
            at("2026-10-05").days_over(),
            Some(0),
            "overdue, no working day yet"
        );
        assert!(matches!(
            at("2026-10-05"),
            Standing::Running {
                urgency: Urgency::Overdue,
                ..
            }
        ));
        assert_eq!(at("2026-10-09").days_over(), Some(2));
        assert_eq!(at("2026-10-10").days_over(), Some(3));
        assert_eq!(at("2026-10-11").days_over(), Some(3), "a Sunday");
        assert_eq!(overdue_text(Lang::Zh, 3), "已超期 3 个工作日");
        assert_eq!(overdue_text(Lang::En, 1), "1 working day overdue");
    }

    #[test]
    fn a_decided_request_shows_its_day_and_no_running_deadline() {
        let cal = demo::calendar();
        let today = d("2026-12-01");
        let late = row(
            Status::Approved,
            "stopped",
            Some("2026-09-30"),
            Some("2026-10-09"),
        );
        let s = standing(&late, today, &cal);
        assert_eq!(
            s,
            Standing::Stopped {
                due: Some(d("2026-09-30")),
                on: Some(d("2026-10-09")),
                late_days: 2
            }
        );
        let (first, second) = stopped_text(
            Lang::Zh,
            Status::Approved,
            Some(d("2026-10-09")),
            Some(d("2026-09-30")),
            2,
        );
        assert_eq!(first, "2026-10-09 已决定");
        assert_eq!(second.as_deref(), Some("超期 2 个工作日"));
        let (first, second) = stopped_text(
            Lang::En,
            Status::Completed,
            Some(d("2026-09-29")),
            Some(d("2026-09-30")),
            0,
        );
        assert_eq!(first, "Decided on 2026-09-29");
        assert_eq!(second.as_deref(), Some("On time"));
        let (first, second) = stopped_text(
            Lang::En,
            Status::Withdrawn,
            Some(d("2026-09-29")),
            Some(d("2026-09-30")),
            0,
        );
        assert_eq!((first.as_str(), second), ("Withdrawn on 2026-09-29", None));
        let before_acceptance = row(Status::Withdrawn, "not_started", None, None);
        assert_eq!(
            standing(&before_acceptance, today, &cal),
            Standing::Stopped {
                due: None,
                on: None,
                late_days: 0
            }
        );
        let waiting = row(Status::Submitted, "not_started", None, None);
        assert_eq!(standing(&waiting, today, &cal), Standing::NotStarted);
        assert_eq!(standing(&waiting, today, &cal).days_over(), None);
    }

    #[test]
    fn the_ledger_has_a_row_per_request_with_masked_names() {
        let reference = current();
        let today = d("2026-10-09");
        let rows = [
            row(Status::Forwarded, "running", Some("2026-09-30"), None),
            row(
                Status::Approved,
                "stopped",
                Some("2026-10-20"),
                Some("2026-09-29"),
            ),
            row(Status::Submitted, "not_started", None, None),
        ];
        let text = csv(&rows, Lang::Zh, &reference, today);
        let lines: Vec<&str> = text
            .strip_prefix('\u{feff}')
            .expect("a byte-order mark")
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "受理回执号,服务事项,村（社区）,申请人,状态,提交日期,办理期限,决定日期,超期工作日"
        );
        assert!(
            lines[1].starts_with("370883101201-001-000001,"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(",王*英,") && lines[1].ends_with(",2026-09-21,2026-09-30,,2"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with(",2026-09-21,2026-10-20,2026-09-29,0"),
            "{}",
            lines[2]
        );
        assert!(lines[3].ends_with(",2026-09-21,,,"), "{}", lines[3]);
        assert!(!text.contains("王秀英"));

        let en = csv(&rows, Lang::En, &reference, today);
        assert!(en.contains("Receipt no.,Service item,Village,Applicant,Status,Filed on,Due,Decided on,Working days overdue"));

        use std::io::Read;
        let bytes = xlsx(&rows, Lang::Zh, &reference, today).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut read = |name: &str| {
            let mut text = String::new();
            zip.by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        };
        assert!(read("xl/workbook.xml").contains(r#"<sheet name="办件台账""#));
        let strings = read("xl/sharedStrings.xml");
        assert!(strings.contains("王*英") && strings.contains("超期工作日"));
        let sheet = read("xl/worksheets/sheet1.xml");
        assert!(sheet.contains(r#"<c r="I2"><v>2</v></c>"#), "{sheet}");
        assert!(sheet.contains(r#"<row r="4""#) && !sheet.contains(r#"<row r="5""#));
    }
}
