//! The reference data documents are checked against.

use bianmin_domain::{Catalog, Directory, WorkingCalendar};

/// The reference data every rule is checked against: service items, villages, the working
/// calendar. The tablet keeps the copy the hub sent it; the hub keeps the authoritative one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The service-item list.
    pub catalog: Catalog,
    /// The village directory.
    pub directory: Directory,
    /// The working-day calendar.
    pub calendar: WorkingCalendar,
}

impl Reference {
    /// The demo county, catalog and 2026 calendar shipped with Bianmin.
    pub fn demo() -> Self {
        Reference {
            catalog: bianmin_domain::demo::catalog(),
            directory: bianmin_domain::demo::directory(),
            calendar: bianmin_domain::demo::calendar(),
        }
    }
}
