//! How the cost of replaying a request's (and an agenda item's) event log grows with the number
//! of events.
//!
//! The township hub replays every document a device pushes, so replay must not grow faster than
//! the log: a hand-made document of a few thousand events must not cost seconds. For each shape
//! and size `n` this prints the microseconds one replay takes and the ratio `t(n) / t(n/2)`:
//! about 2 when the cost is linear, 4 when quadratic, 8 when cubic.
//!
//! Shapes:
//! - `request realistic`: a linear lifecycle of repeated return-for-supplement / supplement
//!   cycles, with now and then two concurrent returns that agree (merged by the supplement)
//!   and a conflict between a return and an approval that a settle resolves.
//! - `request adversarial`: sixteen devices working concurrently, every event naming up to
//!   sixteen parents (the cap) picked among recent events, actions of every kind.
//! - `request wide`: the shape that makes the set of concurrent branch tips as large as
//!   possible: a new concurrent submission every other event, and events naming the previous
//!   such event, the new submission and fourteen random others (the worst case known for
//!   replay's frontier sets).
//! - `agenda realistic`: the four meetings with many failed (inquorate) resolution meetings,
//!   township comments, a few concurrent records, the notices and objections.
//!
//! Run with `cargo bench -p bianmin-domain --bench replay`. `BENCH_MAX_N` (default 4000)
//! limits the largest size, `BENCH_BUDGET_MS` (default 300) the time spent per measurement.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bianmin_domain::{
    Action, AgendaAction, AgendaEvent, Body, Event, EventId, HandlingLevel, Meeting, Notice,
    Objection, Rating, ReviewKind, Role, Stamp, Timestamp, replay, replay_agenda,
};
use chrono::NaiveDate;

const LEVEL: HandlingLevel = HandlingLevel::VillageCollectsTownshipHandles;

/// Deterministic ids, so that every run replays the same logs.
fn id(i: usize) -> EventId {
    EventId(uuid::Uuid::from_u128(i as u128 + 1))
}

fn stamp(role: Role, device: usize) -> Stamp {
    Stamp {
        user: format!("u-{}", role.as_str()),
        role,
        device: format!("dev-{device}"),
        at: Timestamp::at_noon(NaiveDate::from_ymd_opt(2026, 3, 2).expect("a valid date")),
    }
}

/// A tiny deterministic generator (xorshift), so that the bench needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn ret() -> Action {
    Action::ReturnForSupplement {
        missing: vec!["Household register (hukou) booklet".into()],
        note: String::new(),
    }
}

fn supplement() -> Action {
    Action::Supplement {
        provided: vec!["Household register (hukou) booklet".into()],
    }
}

/// A request log under construction.
#[derive(Default)]
struct Log(Vec<Event>);

impl Log {
    fn push(&mut self, after: Vec<EventId>, action: Action) -> EventId {
        let i = self.0.len();
        let role = match action {
            Action::Approve { .. } | Action::Reject { .. } => Role::Reviewer,
            _ => Role::Clerk,
        };
        self.0.push(Event {
            id: id(i),
            after,
            by: stamp(role, i % 3),
            action,
        });
        id(i)
    }
}

fn request_realistic(n: usize) -> Vec<Event> {
    let mut log = Log::default();
    let mut tip = log.push(vec![], Action::Submit);
    tip = log.push(vec![tip], Action::Accept);
    tip = log.push(vec![tip], Action::Forward);
    let mut cycle = 0;
    while log.0.len() < n {
        cycle += 1;
        if cycle % 40 == 20 {
            // Two reviewers return it at once for the same material: they agree.
            let a = log.push(vec![tip], ret());
            let b = log.push(vec![tip], ret());
            tip = log.push(vec![a, b], supplement());
        } else if cycle % 40 == 0 {
            // The township approves while the village returns it: a conflict, settled.
            let r = log.push(vec![tip], ret());
            let a = log.push(
                vec![tip],
                Action::Approve {
                    note: String::new(),
                },
            );
            let s = log.push(
                vec![r, a],
                Action::Settle {
                    keep: r,
                    note: "the booklet is still missing".into(),
                },
            );
            tip = log.push(vec![s], supplement());
        } else {
            let r = log.push(vec![tip], ret());
            tip = log.push(vec![r], supplement());
        }
    }
    log.0.truncate(n);
    log.0
}

fn any_action(rng: &mut Rng, earlier: usize) -> Action {
    match rng.below(14) {
        0 | 1 => Action::Submit,
        2 => Action::Accept,
        3 => Action::RefuseToAccept {
            reason: "not in this village".into(),
        },
        4 => Action::Complete,
        5 => Action::Forward,
        6 => ret(),
        7 => supplement(),
        8 => Action::Approve {
            note: String::new(),
        },
        9 => Action::Reject {
            reason: "income above the threshold".into(),
        },
        10 => Action::Deliver,
        11 => Action::Withdraw {
            reason: String::new(),
        },
        12 => Action::Rate {
            rating: Rating::Dissatisfied,
            comment: String::new(),
        },
        _ => Action::Settle {
            keep: id(rng.below(earlier)),
            note: "settled".into(),
        },
    }
}

fn request_adversarial(n: usize) -> Vec<Event> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut log = Log::default();
    for i in 0..n {
        let after = (0..16.min(i))
            .map(|_| id(i - 1 - rng.below(64.min(i))))
            .collect();
        let action = any_action(&mut rng, i);
        log.push(after, action);
    }
    log.0
}

fn request_wide(n: usize) -> Vec<Event> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut log = Log::default();
    let mut hub: Option<EventId> = None;
    while log.0.len() < n {
        let i = log.0.len();
        let root = log.push(vec![], Action::Submit);
        // A rating cannot apply to a submitted request: the event changes no status, so the
        // tips it saw stay the tips its descendants see.
        let mut after: Vec<EventId> = hub.into_iter().chain([root]).collect();
        after.extend((0..14).map(|_| id(rng.below(i + 1))));
        hub = Some(log.push(
            after,
            Action::Rate {
                rating: Rating::Satisfied,
                comment: String::new(),
            },
        ));
    }
    log.0.truncate(n);
    log.0
}

fn meeting(body: Body, day: u32, entitled: u32, present: u32, votes_for: u32) -> Meeting {
    Meeting {
        body,
        held_on: NaiveDate::from_ymd_opt(2026, 3, day).expect("a valid date"),
        entitled,
        present,
        households: None,
        households_represented: None,
        votes_for,
        votes_against: present - votes_for,
        abstentions: 0,
        minutes: "会议记录：讨论村集体果园承包方案".into(),
        sign_in_photos: vec!["photo://sign-in-1.jpg".into()],
    }
}

fn notice(day: u32, period_days: u32) -> Notice {
    Notice {
        text: "村民代表会议决议：果园承包方案".into(),
        posted_on: NaiveDate::from_ymd_opt(2026, 4, day).expect("a valid date"),
        period_days,
        place: "村务公开栏".into(),
    }
}

/// An agenda log under construction.
#[derive(Default)]
struct Agenda(Vec<AgendaEvent>);

impl Agenda {
    fn push(&mut self, after: Vec<EventId>, action: AgendaAction) -> EventId {
        let i = self.0.len();
        self.0.push(AgendaEvent {
            id: id(i),
            after,
            by: stamp(Role::Clerk, i % 2),
            action,
        });
        id(i)
    }
}

fn agenda_realistic(n: usize) -> Vec<AgendaEvent> {
    let mut log = Agenda::default();
    let mut tip = log.push(
        vec![],
        AgendaAction::Meeting(meeting(Body::PartyBranch, 2, 5, 5, 5)),
    );
    tip = log.push(
        vec![tip],
        AgendaAction::Meeting(meeting(Body::TwoCommittees, 5, 9, 8, 7)),
    );
    tip = log.push(
        vec![tip],
        AgendaAction::Meeting(meeting(Body::PartyMembers, 10, 40, 30, 25)),
    );
    // Most of the log: resolution meetings that miss their quorum, the township's comments
    // on them, and now and then the same failed meeting recorded on two tablets at once.
    let reserve = 12;
    let mut k = 0;
    while log.0.len() + reserve < n {
        k += 1;
        let failed =
            || AgendaAction::Meeting(meeting(Body::RepresentativesMeeting, 15, 35, 20, 20));
        if k % 25 == 0 {
            let a = log.push(vec![tip], failed());
            let b = log.push(vec![tip], failed());
            tip = log.push(
                vec![a, b],
                AgendaAction::TownshipReview {
                    review: ReviewKind::Comment,
                    comment: "两台平板记录了同一次会议".into(),
                },
            );
        } else if k % 2 == 0 {
            tip = log.push(vec![tip], failed());
        } else {
            tip = log.push(
                vec![tip],
                AgendaAction::TownshipReview {
                    review: ReviewKind::Comment,
                    comment: "请尽快召集代表".into(),
                },
            );
        }
    }
    tip = log.push(
        vec![tip],
        AgendaAction::Meeting(meeting(Body::RepresentativesMeeting, 20, 35, 30, 20)),
    );
    tip = log.push(vec![tip], AgendaAction::ResolutionNotice(notice(1, 10)));
    while log.0.len() + 1 < n {
        tip = log.push(
            vec![tip],
            AgendaAction::Objection(Objection {
                received_on: NaiveDate::from_ymd_opt(2026, 4, 3).expect("a valid date"),
                summary: "承包期限过长".into(),
                response: String::new(),
            }),
        );
    }
    log.push(vec![tip], AgendaAction::ResultsNotice(notice(20, 7)));
    log.0.truncate(n);
    log.0
}

/// The shortest time one call of `f` took, over repeated calls filling `budget`.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    // The first call warms caches up; when it alone fills the budget (the old cubic replay at
    // thousands of events took seconds) it is the measurement.
    let t = Instant::now();
    f();
    let first = t.elapsed();
    if first >= budget {
        return first;
    }
    let mut best = Duration::MAX;
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < 3 || started.elapsed() < budget {
        // Batch short calls so that the clock's resolution does not dominate.
        let t = Instant::now();
        let mut batch = 0u32;
        while batch == 0 || (t.elapsed() < Duration::from_millis(1) && batch < 1_000_000) {
            f();
            batch += 1;
        }
        best = best.min(t.elapsed() / batch);
        runs += 1;
        if started.elapsed() > budget * 4 {
            break;
        }
    }
    best
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let max_n = env_number("BENCH_MAX_N", 4000) as usize;
    let budget = Duration::from_millis(env_number("BENCH_BUDGET_MS", 300));
    let sizes: Vec<usize> = [10, 100, 1000, 2000, 4000]
        .into_iter()
        .filter(|&n| n <= max_n)
        .collect();
    type Run = Box<dyn Fn(usize) -> Box<dyn FnMut()>>;
    let shapes: Vec<(&str, Run)> = vec![
        (
            "request realistic",
            Box::new(|n| {
                let events = request_realistic(n);
                Box::new(move || {
                    black_box(replay(black_box(&events), LEVEL));
                })
            }),
        ),
        (
            "request adversarial",
            Box::new(|n| {
                let events = request_adversarial(n);
                Box::new(move || {
                    black_box(replay(black_box(&events), LEVEL));
                })
            }),
        ),
        (
            "request wide",
            Box::new(|n| {
                let events = request_wide(n);
                Box::new(move || {
                    black_box(replay(black_box(&events), LEVEL));
                })
            }),
        ),
        (
            "agenda realistic",
            Box::new(|n| {
                let events = agenda_realistic(n);
                Box::new(move || {
                    black_box(replay_agenda(black_box(&events)));
                })
            }),
        ),
    ];
    // What the shapes are, at 1,000 events: how many events apply, and where each log ends.
    for (name, events) in [
        ("request realistic", request_realistic(1000)),
        ("request adversarial", request_adversarial(1000)),
        ("request wide", request_wide(1000)),
    ] {
        let d = replay(&events, LEVEL);
        let applied = d
            .outcomes
            .iter()
            .filter(|o| **o == bianmin_domain::Outcome::Applied)
            .count();
        println!(
            "{name}: {applied} of {} events applied, {} on the timeline, status {}, {}",
            events.len(),
            d.path.len(),
            d.status,
            match &d.conflict {
                Some(c) => format!("conflict of {} branches", c.branches.len()),
                None => "no conflict".into(),
            }
        );
    }
    let events = agenda_realistic(1000);
    let st = replay_agenda(&events);
    println!(
        "agenda realistic: {} of {} events invalid, {} meetings, {} objections, {} reviews, \
         stage {}\n",
        st.invalid.len(),
        events.len(),
        st.meetings.len(),
        st.objections.len(),
        st.reviews.len(),
        st.stage.as_str()
    );
    println!(
        "{:<20} {:>6} {:>14} {:>12} {:>14}",
        "shape", "events", "µs/replay", "µs/event", "t(n)/t(n/2)"
    );
    for (name, run) in &shapes {
        let mut measured: Vec<(usize, Duration)> = Vec::new();
        let mut measure = |n: usize| -> Duration {
            if let Some(&(_, t)) = measured.iter().find(|(m, _)| *m == n) {
                return t;
            }
            let t = time(budget, run(n));
            measured.push((n, t));
            t
        };
        for &n in &sizes {
            let t = measure(n);
            let half = measure(n / 2);
            let us = t.as_secs_f64() * 1e6;
            println!(
                "{:<20} {:>6} {:>14.1} {:>12.3} {:>14.2}",
                name,
                n,
                us,
                us / n as f64,
                t.as_secs_f64() / half.as_secs_f64().max(1e-9)
            );
        }
    }
}
