//! The working-day calendar: public holidays and adjusted working days (调休) per year.
//!
//! Working days are data, not Monday to Friday: each year's State Council notice moves holidays
//! and turns some weekend days into working days. An administrator loads one
//! [`YearCalendar`] per year; a year with no data falls back to Monday to Friday, and
//! [`WorkingCalendar::covers`] tells callers whether that fallback is in use.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::ValidationError;

/// A named holiday block, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// The holiday's name, e.g. `春节 Spring Festival`.
    pub name: String,
    /// Every day off in the block, weekend days included.
    pub dates: Vec<NaiveDate>,
}

/// One year's published calendar, in the format of `catalog/calendar-2026.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearCalendar {
    /// The calendar year.
    pub year: i32,
    /// The holiday blocks.
    pub holidays: Vec<Holiday>,
    /// Weekend days that are working days.
    pub adjusted_working_days: Vec<NaiveDate>,
}

impl YearCalendar {
    /// Parses and checks a year's calendar from JSON.
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        let cal: YearCalendar = serde_json::from_str(json)
            .map_err(|e| ValidationError::new("calendar", format!("is not valid JSON: {e}")))?;
        cal.validate()?;
        Ok(cal)
    }

    /// Checks that every date lies in the year, that adjusted working days are weekend days
    /// and that no day is both a holiday and an adjusted working day.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let holidays: BTreeSet<NaiveDate> = self
            .holidays
            .iter()
            .flat_map(|h| h.dates.iter().copied())
            .collect();
        for d in holidays.iter().chain(&self.adjusted_working_days) {
            if d.year() != self.year {
                return Err(ValidationError::new(
                    "calendar",
                    format!("{d} does not lie in the year {}", self.year),
                ));
            }
        }
        for d in &self.adjusted_working_days {
            if !is_weekend(*d) {
                return Err(ValidationError::new(
                    "calendar.adjusted_working_days",
                    format!("{d} is not a weekend day"),
                ));
            }
            if holidays.contains(d) {
                return Err(ValidationError::new(
                    "calendar.adjusted_working_days",
                    format!("{d} is also listed as a holiday"),
                ));
            }
        }
        Ok(())
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The working-day calendar over all loaded years.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    days_off: BTreeSet<NaiveDate>,
    extra_working: BTreeSet<NaiveDate>,
    years: BTreeMap<i32, YearCalendar>,
}

impl WorkingCalendar {
    /// A calendar with the given years loaded (a later year replaces an earlier one with the
    /// same number).
    pub fn new(years: impl IntoIterator<Item = YearCalendar>) -> Self {
        let mut cal = WorkingCalendar::default();
        for y in years {
            cal.load(y);
        }
        cal
    }

    /// Loads (or replaces) one year.
    pub fn load(&mut self, year: YearCalendar) {
        self.years.insert(year.year, year);
        self.days_off.clear();
        self.extra_working.clear();
        for y in self.years.values() {
            self.days_off
                .extend(y.holidays.iter().flat_map(|h| h.dates.iter().copied()));
            self.extra_working
                .extend(y.adjusted_working_days.iter().copied());
        }
    }

    /// The loaded years.
    pub fn years(&self) -> impl Iterator<Item = &YearCalendar> {
        self.years.values()
    }

    /// Whether `year` has published data (otherwise Monday to Friday is assumed).
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.extra_working.contains(&d) {
            return true;
        }
        !is_weekend(d) && !self.days_off.contains(&d)
    }

    /// The `n`-th working day after `start` (`start` itself not counted); `start` for `n = 0`.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = d + Days::new(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The number of working days `d` with `from < d <= to` (0 when `to <= from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = d + Days::new(1);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cal2026() -> WorkingCalendar {
        WorkingCalendar::new([YearCalendar::from_json(crate::demo::CALENDAR_2026_JSON).unwrap()])
    }

    #[test]
    fn holidays_and_adjusted_working_days() {
        let cal = cal2026();
        assert!(!cal.is_working_day(d("2026-10-01")), "National Day");
        assert!(
            !cal.is_working_day(d("2026-02-16")),
            "Spring Festival Monday"
        );
        assert!(
            cal.is_working_day(d("2026-01-04")),
            "adjusted working Sunday"
        );
        assert!(
            cal.is_working_day(d("2026-10-10")),
            "adjusted working Saturday"
        );
        assert!(!cal.is_working_day(d("2026-10-11")), "an ordinary Sunday");
        assert!(cal.is_working_day(d("2026-10-12")), "an ordinary Monday");
    }

    #[test]
    fn counting_across_national_day_and_its_adjusted_saturday() {
        let cal = cal2026();
        // Accepted Tuesday 29 September; 30 Sep is a working day, 1-7 Oct are off,
        // 8 Oct (Thu), 9 Oct (Fri), 10 Oct (Sat, adjusted) are working days.
        assert_eq!(cal.add_working_days(d("2026-09-29"), 1), d("2026-09-30"));
        assert_eq!(cal.add_working_days(d("2026-09-29"), 2), d("2026-10-08"));
        assert_eq!(cal.add_working_days(d("2026-09-29"), 4), d("2026-10-10"));
        assert_eq!(cal.add_working_days(d("2026-09-29"), 5), d("2026-10-12"));
        assert_eq!(
            cal.working_days_between(d("2026-09-29"), d("2026-10-12")),
            5
        );
        assert_eq!(cal.add_working_days(d("2026-09-29"), 0), d("2026-09-29"));
        assert_eq!(
            cal.working_days_between(d("2026-10-12"), d("2026-09-29")),
            0
        );
    }

    #[test]
    fn adjusted_working_sunday_counts() {
        let cal = cal2026();
        // Accepted Wed 31 Dec 2025 (no 2025 data: Mon-Fri fallback); 1-3 Jan off; Sun 4 Jan works.
        assert!(!cal.covers(2025));
        assert_eq!(cal.add_working_days(d("2025-12-31"), 1), d("2026-01-04"));
        assert_eq!(cal.add_working_days(d("2025-12-31"), 2), d("2026-01-05"));
    }

    #[test]
    fn without_data_monday_to_friday() {
        let cal = WorkingCalendar::default();
        assert_eq!(cal.add_working_days(d("2027-01-08"), 1), d("2027-01-11"));
    }

    #[test]
    fn refuses_inconsistent_calendars() {
        let bad_year = r#"{"year":2026,"holidays":[{"name":"x","dates":["2027-01-01"]}],"adjusted_working_days":[]}"#;
        assert!(
            YearCalendar::from_json(bad_year)
                .unwrap_err()
                .rule
                .contains("does not lie")
        );
        let weekday = r#"{"year":2026,"holidays":[],"adjusted_working_days":["2026-01-05"]}"#;
        assert!(
            YearCalendar::from_json(weekday)
                .unwrap_err()
                .rule
                .contains("not a weekend")
        );
        assert!(
            YearCalendar::from_json("{")
                .unwrap_err()
                .rule
                .contains("JSON")
        );
    }
}
