//! Helpers shared by the end-to-end tests: devices with their own stores, and a simulated
//! network that exchanges document changes between them until nothing new flows.
//!
//! Until the server exists (the sync issue), devices exchange changes directly with
//! `changes_since` / `apply_remote`; the server will take the relay's place.

pub mod hub;
pub mod phone;
pub mod proxy;
pub mod raw;
pub mod weak_link;

use bianmin_client_core::{NewRequest, Reference, Store, StoreConfig};
use bianmin_domain::{Identity, Role, Timestamp};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

/// The demo village most stories happen in (East Village) and its township.
pub const EAST: &str = "370883101201";
/// East Village's township (Taiping Town).
pub const TAIPING: &str = "370883101";

/// A device: its own store in its own directory, and a clock the test moves.
#[derive(Debug)]
pub struct Device {
    /// The device's store.
    pub store: Store,
    clock: Arc<Mutex<Timestamp>>,
    _dir: TempDir,
}

impl Device {
    /// A new device for `user` in `role` over `area`, with its clock at noon on `date`.
    pub fn new(user: &str, role: Role, area: &str, device_no: u32, date: &str) -> Device {
        let dir = tempfile::tempdir().expect("temp dir");
        let identity =
            Identity::new(user, role, area, format!("device-{device_no}")).expect("identity");
        let mut store = Store::create(
            dir.path().join("store.db"),
            StoreConfig {
                identity,
                device_no,
                reference: Reference::demo(),
            },
        )
        .expect("store");
        let clock = Arc::new(Mutex::new(Timestamp::at_noon(date.parse().expect("date"))));
        let read = clock.clone();
        store.set_clock(Arc::new(move || *read.lock().expect("clock")));
        Device {
            store,
            clock,
            _dir: dir,
        }
    }

    /// Moves this device's clock to noon on `date`.
    pub fn set_date(&self, date: &str) {
        *self.clock.lock().expect("clock") = Timestamp::at_noon(date.parse().expect("date"));
    }
}

/// Sends `to` every change of every document `from` holds that `to` lacks. Returns how many
/// changes were new to `to`.
pub fn push(from: &Device, to: &mut Device) -> usize {
    let mut new = 0;
    for id in from.store.document_ids().expect("ids") {
        let have = to.store.heads(id).expect("heads").unwrap_or_default();
        let changes = from.store.changes_since(id, &have).expect("changes");
        if !changes.is_empty() {
            new += to
                .store
                .apply_remote(id, &changes)
                .expect("apply")
                .new_changes;
        }
    }
    new
}

/// Exchanges changes between every pair of devices until nothing new flows.
pub fn sync_all(devices: &mut [&mut Device]) {
    loop {
        let mut moved = 0;
        for i in 0..devices.len() {
            for j in 0..devices.len() {
                if i != j {
                    let (a, b) = if i < j {
                        let (l, r) = devices.split_at_mut(j);
                        (&*l[i], &mut *r[0])
                    } else {
                        let (l, r) = devices.split_at_mut(i);
                        (&*r[0], &mut *l[j])
                    };
                    moved += push(a, b);
                }
            }
        }
        if moved == 0 {
            return;
        }
    }
}

/// A complete social security card request (submitted) for 王秀英 of East Village's 1组.
pub fn social_card_request() -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [(
            "reason".to_string(),
            bianmin_domain::AttrValue::Text("lost".into()),
        )]
        .into(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user: None,
        submit: true,
    }
}

/// Takes a new agenda item of the store's village through its four meetings (each quorate and
/// passed, the last ten days before `today`) and posts its resolution notice with `notice`
/// today for ten days, as a clerk's tablet does; returns the item (stage `results_notice`).
pub fn agenda_to_resolution_notice(
    store: &mut Store,
    title: &str,
    notice: &str,
    today: chrono::NaiveDate,
) -> bianmin_client_core::AgendaDetail {
    use bianmin_domain::{AgendaAction, Body, Meeting, Notice};
    let day = |n: u64| {
        today
            .checked_sub_days(chrono::Days::new(n))
            .expect("a date")
    };
    let item = store
        .create_agenda(bianmin_client_core::NewAgendaItem {
            title: title.into(),
            category: "collective assets".into(),
            description: format!("{title}（说明）"),
        })
        .expect("create agenda item");
    for (body, held, entitled, present, votes_for) in [
        (Body::PartyBranch, day(20), 5, 5, 4),
        (Body::TwoCommittees, day(18), 9, 8, 6),
        (Body::PartyMembers, day(15), 30, 24, 20),
        (Body::RepresentativesMeeting, day(10), 35, 27, 21),
    ] {
        let meeting = Meeting {
            body,
            held_on: held,
            entitled,
            present,
            households: None,
            households_represented: None,
            votes_for,
            votes_against: present - votes_for - 1,
            abstentions: 1,
            minutes: "会议记录".into(),
            sign_in_photos: vec!["sign-in-sheet".into()],
        };
        store
            .record_agenda(item.id, AgendaAction::Meeting(meeting))
            .expect("record meeting");
    }
    store
        .record_agenda(
            item.id,
            AgendaAction::ResolutionNotice(Notice {
                text: notice.into(),
                posted_on: today,
                period_days: 10,
                place: "村务公开栏".into(),
            }),
        )
        .expect("post the resolution notice")
}
