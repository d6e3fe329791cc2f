//! The demo county, catalog and 2026 calendar the project ships (copies of
//! `../shared/catalog/`, kept in `domain/demo/`).

use crate::{Catalog, Directory, WorkingCalendar, YearCalendar};

/// The sample service-item list.
pub const CATALOG_JSON: &str = include_str!("../demo/service-items.json");
/// The sample county with its townships and villages.
pub const VILLAGES_JSON: &str = include_str!("../demo/villages.json");
/// The official 2026 holidays and adjusted working days.
pub const CALENDAR_2026_JSON: &str = include_str!("../demo/calendar-2026.json");

/// The demo catalog.
pub fn catalog() -> Catalog {
    Catalog::from_json(CATALOG_JSON).expect("the shipped demo catalog is valid")
}

/// The demo village directory.
pub fn directory() -> Directory {
    Directory::from_json(VILLAGES_JSON).expect("the shipped demo directory is valid")
}

/// The working calendar with the 2026 data loaded.
pub fn calendar() -> WorkingCalendar {
    WorkingCalendar::new([
        YearCalendar::from_json(CALENDAR_2026_JSON).expect("the shipped calendar is valid")
    ])
}
