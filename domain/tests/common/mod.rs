//! Helpers shared by the integration tests: building request event logs.
//!
//! Each test crate uses only part of this module.
#![allow(dead_code)]

use bianmin_domain::{
    Action, Derived, Event, EventId, HandlingLevel, Rating, Role, Stamp, Status, Timestamp, replay,
};
use chrono::NaiveDate;

/// A date from `YYYY-MM-DD`.
pub fn d(s: &str) -> NaiveDate {
    s.parse().expect("a valid test date")
}

/// A stamp for `role` at noon (China time) of `date`.
pub fn stamp(role: Role, date: &str) -> Stamp {
    Stamp {
        user: format!("u-{}", role.as_str()),
        role,
        device: format!("dev-{}", role.as_str()),
        at: Timestamp::at_noon(d(date)),
    }
}

/// The role that normally performs `action` (the domain table's "who").
pub fn role_for(action: &Action) -> Role {
    match action {
        Action::Approve { .. } | Action::Reject { .. } => Role::Reviewer,
        Action::Rate { .. } => Role::Resident,
        _ => Role::Clerk,
    }
}

/// An event log under construction.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub events: Vec<Event>,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of the last event appended, if any.
    pub fn last(&self) -> Option<EventId> {
        self.events.last().map(|e| e.id)
    }

    /// Appends `action` after the previous event (a linear log) on `date`.
    pub fn push_on(&mut self, action: Action, date: &str) -> EventId {
        let after = self.last().into_iter().collect();
        self.push_after(after, action, date)
    }

    /// Appends `action` after the previous event on an arbitrary fixed date.
    pub fn push(&mut self, action: Action) -> EventId {
        self.push_on(action, "2026-03-02")
    }

    /// Appends `action` with an explicit `after`.
    pub fn push_after(&mut self, after: Vec<EventId>, action: Action, date: &str) -> EventId {
        let id = EventId::new();
        self.events.push(Event {
            id,
            after,
            by: stamp(role_for(&action), date),
            action,
        });
        id
    }

    pub fn replay(&self, level: HandlingLevel) -> Derived {
        replay(&self.events, level)
    }
}

pub fn reason(s: &str) -> String {
    s.to_string()
}

pub fn refuse(r: &str) -> Action {
    Action::RefuseToAccept { reason: reason(r) }
}

pub fn ret(missing: &[&str]) -> Action {
    Action::ReturnForSupplement {
        missing: missing.iter().map(|s| s.to_string()).collect(),
        note: String::new(),
    }
}

pub fn supplement(provided: &[&str]) -> Action {
    Action::Supplement {
        provided: provided.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn approve() -> Action {
    Action::Approve {
        note: String::new(),
    }
}

pub fn reject(r: &str) -> Action {
    Action::Reject { reason: reason(r) }
}

pub fn withdraw() -> Action {
    Action::Withdraw {
        reason: String::new(),
    }
}

pub fn rate(rating: Rating) -> Action {
    Action::Rate {
        rating,
        comment: String::new(),
    }
}

pub fn settle(keep: EventId, note: &str) -> Action {
    Action::Settle {
        keep,
        note: note.to_string(),
    }
}

/// The material listed as missing when a test log is returned.
pub const MISSING: &str = "Household register (hukou) booklet";

/// A linear sequence of actions that brings a request of `level` to `status`, or `None` if
/// the status cannot be reached at that level. `Returned` is reached from `Forwarded` for
/// township-handled items and from `Accepted` for village items.
pub fn actions_to(status: Status, level: HandlingLevel) -> Option<Vec<Action>> {
    use Status::*;
    let village = level == HandlingLevel::Village;
    let accepted = vec![Action::Submit, Action::Accept];
    let forwarded = || {
        let mut v = accepted.clone();
        v.push(Action::Forward);
        v
    };
    let with = |mut v: Vec<Action>, a: Action| {
        v.push(a);
        v
    };
    Some(match status {
        Draft => vec![],
        Submitted => vec![Action::Submit],
        Accepted => accepted.clone(),
        NotAccepted => vec![Action::Submit, refuse("not in this village")],
        Forwarded if village => return None,
        Forwarded => forwarded(),
        Returned if village => with(accepted.clone(), ret(&[MISSING])),
        Returned => with(forwarded(), ret(&[MISSING])),
        Approved | Rejected if village => return None,
        Approved => with(forwarded(), approve()),
        Rejected => with(forwarded(), reject("income above the threshold")),
        Completed if village => with(accepted.clone(), Action::Complete),
        Completed => with(with(forwarded(), approve()), Action::Deliver),
        Withdrawn => vec![Action::Submit, withdraw()],
    })
}

/// A linear log bringing a request of `level` to `status` (see [`actions_to`]).
pub fn log_to(status: Status, level: HandlingLevel) -> Option<Log> {
    let mut log = Log::new();
    for a in actions_to(status, level)? {
        log.push(a);
    }
    Some(log)
}
