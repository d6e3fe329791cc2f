//! The working-day clock of a request (承诺时限).
//!
//! The clock starts on the day of acceptance and counts the item's committed working days from
//! the day after. It stops while the request waits for supplement (补正期间不计入承诺时限): the
//! working days up to and including the day of the return count, the days until the materials
//! come back do not, and counting resumes the day after the supplement. It ends on the day of
//! the decision (or of completion at the village, refusal or withdrawal).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Derived, Event, Status, WorkingCalendar};

/// Requests due within this many working days are "due soon".
pub const DUE_SOON_WORKING_DAYS: u32 = 2;

/// Where a request's clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Clock {
    /// Not accepted (yet): no deadline runs.
    NotStarted,
    /// Running towards `due`.
    Running {
        /// The last working day within the committed time limit.
        due: NaiveDate,
    },
    /// Stopped while the request waits for supplement.
    Paused {
        /// Working days left when the materials come back (0 if already past due).
        remaining: u32,
        /// The day the request was returned.
        since: NaiveDate,
    },
    /// Ended by a decision or closure.
    Stopped {
        /// The deadline as it stood.
        due: NaiveDate,
        /// The day the clock ended.
        ended_on: NaiveDate,
    },
}

/// How urgent an open request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Past its deadline (`today > due`).
    Overdue,
    /// Due within [`DUE_SOON_WORKING_DAYS`] working days.
    DueSoon,
    /// More time left.
    OnTrack,
    /// No running clock (not accepted, paused, or ended).
    None,
}

impl Clock {
    /// Runs the clock over the current branch of a replayed request.
    ///
    /// Total and fast for whatever a device pushed: any event times, any `time_limit_days`. The
    /// only date arithmetic is the calendar's, which takes time independent of the span and
    /// saturates at `NaiveDate::MAX` (a deadline "never"); the days left only ever decrease,
    /// by saturating subtraction. Refusing absurd limits is the job of
    /// [`check_time_limit`](crate::check_time_limit), not of the clock.
    pub fn compute(
        events: &[Event],
        derived: &Derived,
        time_limit_days: u32,
        cal: &WorkingCalendar,
    ) -> Clock {
        let mut started: Option<NaiveDate> = None;
        let mut segment_start = NaiveDate::MIN;
        let mut remaining = time_limit_days;
        let mut missed: Option<NaiveDate> = None;
        let mut paused_since: Option<NaiveDate> = None;
        for &(i, status) in &derived.path {
            let Some(event) = events.get(i) else { continue };
            let day = event.by.at.china_date();
            if started.is_none() {
                if status == Status::Accepted {
                    started = Some(day);
                    segment_start = day;
                }
                continue;
            }
            if let Some(since) = paused_since
                && status != Status::Returned
                && status != Status::Withdrawn
            {
                // Materials back: counting resumes from the day after.
                paused_since = None;
                segment_start = day.max(since);
            }
            if status == Status::Returned && paused_since.is_none() {
                let used = cal.working_days_between(segment_start, day);
                // Strictly more: a return on the due day itself uses the last day without
                // missing it (overdue is `today > due`), so the clock resumes with 0 days left
                // and the decision is due on the day the materials come back. With `>=`, such
                // a request became overdue the moment it was supplemented.
                if used > remaining && missed.is_none() {
                    missed = Some(cal.add_working_days(segment_start, remaining));
                }
                remaining = remaining.saturating_sub(used);
                paused_since = Some(day);
            }
            if status.is_decided() || status == Status::Completed {
                let due = missed.unwrap_or_else(|| {
                    cal.add_working_days(paused_since.unwrap_or(segment_start), remaining)
                });
                return Clock::Stopped { due, ended_on: day };
            }
        }
        if started.is_none() {
            return Clock::NotStarted;
        }
        if let Some(since) = paused_since {
            return Clock::Paused { remaining, since };
        }
        Clock::Running {
            due: missed.unwrap_or_else(|| cal.add_working_days(segment_start, remaining)),
        }
    }

    /// The deadline, when one is known (not while paused).
    pub fn due(&self) -> Option<NaiveDate> {
        match *self {
            Clock::Running { due } | Clock::Stopped { due, .. } => Some(due),
            Clock::NotStarted | Clock::Paused { .. } => None,
        }
    }

    /// For an ended clock, whether it ended within the deadline.
    pub fn on_time(&self) -> Option<bool> {
        match *self {
            Clock::Stopped { due, ended_on } => Some(ended_on <= due),
            _ => None,
        }
    }

    /// How urgent the request is on `today`; total for any dates (a deadline of
    /// `NaiveDate::MAX` is on track every day before it).
    pub fn urgency(&self, today: NaiveDate, cal: &WorkingCalendar) -> Urgency {
        match *self {
            Clock::Running { due } if today > due => Urgency::Overdue,
            Clock::Running { due }
                if cal.working_days_between(today, due) <= DUE_SOON_WORKING_DAYS =>
            {
                Urgency::DueSoon
            }
            Clock::Running { .. } => Urgency::OnTrack,
            _ => Urgency::None,
        }
    }
}
