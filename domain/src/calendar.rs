//! The working-day calendar: public holidays and adjusted working days (调休) per year.
//!
//! Working days are data, not Monday to Friday: each year's State Council notice moves holidays
//! and turns some weekend days into working days. An administrator loads one
//! [`YearCalendar`] per year; a year with no data falls back to Monday to Friday without the
//! holidays the law fixes to a date (New Year's Day, Labour Day, National Day: the others move
//! with the lunar calendar), and [`WorkingCalendar::covers`] and
//! [`WorkingCalendar::uncovered_years`] tell callers where that estimate is in use.
//!
//! Counting is total and fast over any dates (untrusted devices push arbitrary ones): whole
//! spans are counted as Monday to Friday arithmetically and corrected by the listed days in the
//! span. Documents and calendar data are kept to the years [`CALENDAR_FIRST_YEAR`] to
//! [`CALENDAR_LAST_YEAR`] ([`check_date_in_range`]).

use chrono::{Datelike, NaiveDate, Weekday};
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

    /// Checks that the year lies between [`CALENDAR_FIRST_YEAR`] and [`CALENDAR_LAST_YEAR`],
    /// that every date lies in the year, that adjusted working days are weekend days and that no
    /// day is both a holiday and an adjusted working day.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(CALENDAR_FIRST_YEAR..=CALENDAR_LAST_YEAR).contains(&self.year) {
            return Err(ValidationError::new(
                "calendar.year",
                format!(
                    "{} lies outside the years the calendar covers \
                     ({CALENDAR_FIRST_YEAR} to {CALENDAR_LAST_YEAR})",
                    self.year
                ),
            ));
        }
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

/// The first year the system keeps calendar data and document dates for.
///
/// Well before any service point used the system (it started in 2024), so that paper records
/// of earlier years can still be imported with their real dates.
pub const CALENDAR_FIRST_YEAR: i32 = 2000;

/// The last year the system keeps calendar data and document dates for.
///
/// Far beyond the life of any request or agenda item filed today, yet near enough that a date
/// past it is certainly a typing or device-clock error rather than a real plan.
pub const CALENDAR_LAST_YEAR: i32 = 2100;

/// The first date a document may carry: 1 January of [`CALENDAR_FIRST_YEAR`].
pub const CALENDAR_FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(CALENDAR_FIRST_YEAR, 1, 1)
{
    Some(d) => d,
    None => panic!("2000-01-01 is a date"),
};

/// The last date a document may carry: 31 December of [`CALENDAR_LAST_YEAR`].
pub const CALENDAR_LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(CALENDAR_LAST_YEAR, 12, 31)
{
    Some(d) => d,
    None => panic!("2100-12-31 is a date"),
};

/// Checks that a date a document carries for its own business (a day of acceptance, a
/// meeting, a notice period) lies in the range the calendar covers, [`CALENDAR_FIRST_DATE`] to
/// [`CALENDAR_LAST_DATE`] inclusive; `field` names the refused field in the error.
///
/// The working-day functions themselves are total over every `NaiveDate`: this rule exists so
/// that a device cannot store dates no administrator could ever load a calendar for. Facts about
/// people given in a form (a resident's date of birth) are not working dates: they need their
/// own rule, not this one.
pub fn check_date_in_range(field: &str, d: NaiveDate) -> Result<(), ValidationError> {
    if (CALENDAR_FIRST_DATE..=CALENDAR_LAST_DATE).contains(&d) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!(
                "{d} lies outside the range the calendar covers \
                 ({CALENDAR_FIRST_DATE} to {CALENDAR_LAST_DATE})"
            ),
        ))
    }
}

/// A day's number in a count where 0001-01-01, a Monday, is day 1: so `n mod 7` is 1 for
/// Mondays, ..., 5 for Fridays, 6 for Saturdays and 0 for Sundays.
fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

/// The number of Mondays to Fridays among the days numbered 1 to `n` (negative, as a
/// difference, for `n < 0`): `mon_to_fri_up_to(b) - mon_to_fri_up_to(a)` counts those in
/// `(a, b]` in constant time, whatever the span.
fn mon_to_fri_up_to(n: i64) -> i64 {
    5 * n.div_euclid(7) + n.rem_euclid(7).min(5)
}

/// The public holidays the law fixes to a calendar date, as (month, day), for `year` (全国年节及
/// 纪念日放假办法 of 1999, as revised in 2007 and 2024): New Year's Day; Labour Day (three days
/// until 2007, one until 2024, two since 2025); National Day, three days. A year with no
/// published calendar still has these days off. The holidays that follow the lunar calendar
/// or the solar terms (Spring Festival, Qingming, Dragon Boat, Mid-Autumn) and the adjusted
/// working days are known only from the year's published notice.
fn fixed_holidays(year: i32) -> &'static [(u32, u32)] {
    match year {
        ..=2007 => &[(1, 1), (5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3)],
        2008..=2024 => &[(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)],
        2025.. => &[(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)],
    }
}

/// The working-day calendar over all loaded years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    days_off: BTreeSet<NaiveDate>,
    extra_working: BTreeSet<NaiveDate>,
    /// Every day whose status differs from plain Monday to Friday (a weekday off: -1, a weekend
    /// working day: +1), in date order, each with the running sum of those differences up to
    /// and including it. Counting over any span is then a Monday-to-Friday count corrected by
    /// two binary searches here, instead of a walk over every day.
    corrections: Vec<(NaiveDate, i64)>,
    years: BTreeMap<i32, YearCalendar>,
}

impl Default for WorkingCalendar {
    /// No year loaded: every year is Monday to Friday without its holidays fixed to a date.
    fn default() -> Self {
        WorkingCalendar::new([])
    }
}

impl WorkingCalendar {
    /// A calendar with the given years loaded (a later year replaces an earlier one with the
    /// same number).
    pub fn new(years: impl IntoIterator<Item = YearCalendar>) -> Self {
        let mut cal = WorkingCalendar {
            days_off: BTreeSet::new(),
            extra_working: BTreeSet::new(),
            corrections: Vec::new(),
            years: BTreeMap::new(),
        };
        for y in years {
            cal.years.insert(y.year, y);
        }
        cal.rebuild();
        cal
    }

    /// Loads (or replaces) one year.
    pub fn load(&mut self, year: YearCalendar) {
        self.years.insert(year.year, year);
        self.rebuild();
    }

    /// Lists the days off and the extra working days again: each loaded year's as published,
    /// and for every other year from [`CALENDAR_FIRST_YEAR`] to [`CALENDAR_LAST_YEAR`] its
    /// holidays fixed to a date.
    fn rebuild(&mut self) {
        self.days_off.clear();
        self.extra_working.clear();
        for y in self.years.values() {
            self.days_off
                .extend(y.holidays.iter().flat_map(|h| h.dates.iter().copied()));
            self.extra_working
                .extend(y.adjusted_working_days.iter().copied());
        }
        for year in CALENDAR_FIRST_YEAR..=CALENDAR_LAST_YEAR {
            if !self.years.contains_key(&year) {
                self.days_off.extend(
                    fixed_holidays(year)
                        .iter()
                        .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d)),
                );
            }
        }
        // Built from `is_working_day` itself, so that the fast counts agree with it even for a
        // calendar that was never validated (a weekday "adjusted working day", a weekend
        // "holiday", a day listed as both).
        let mut listed: Vec<NaiveDate> = self
            .days_off
            .iter()
            .chain(&self.extra_working)
            .copied()
            .collect();
        listed.sort_unstable();
        listed.dedup();
        let mut sum = 0;
        self.corrections = listed
            .into_iter()
            .filter_map(|d| {
                let delta = match (self.is_working_day(d), is_weekend(d)) {
                    (true, true) => 1,
                    (false, false) => -1,
                    _ => return None,
                };
                sum += delta;
                Some((d, sum))
            })
            .collect();
    }

    /// The loaded years.
    pub fn years(&self) -> impl Iterator<Item = &YearCalendar> {
        self.years.values()
    }

    /// Whether `year` has published data (otherwise Monday to Friday without the holidays fixed
    /// to a date is assumed).
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The years from `from` to `to` (both included) that have no published data, in order:
    /// where deadlines are only estimated (Monday to Friday is assumed there).
    pub fn uncovered_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        (from.year()..=to.year())
            .filter(|y| !self.covers(*y))
            .collect()
    }

    /// The earliest loaded year, if any is loaded.
    pub fn first_year(&self) -> Option<i32> {
        self.years.keys().next().copied()
    }

    /// The latest loaded year, if any is loaded. Years between [`Self::first_year`] and this one
    /// may still be missing: ask [`Self::covers`] for a given year.
    pub fn last_year(&self) -> Option<i32> {
        self.years.keys().next_back().copied()
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.extra_working.contains(&d) {
            return true;
        }
        !is_weekend(d) && !self.days_off.contains(&d)
    }

    /// The number of working days from an arbitrary fixed origin up to and including `d`: the
    /// difference of two such counts is the number of working days between them.
    fn working_days_up_to(&self, d: NaiveDate) -> i64 {
        let i = self.corrections.partition_point(|&(c, _)| c <= d);
        let correction = i
            .checked_sub(1)
            .and_then(|i| self.corrections.get(i))
            .map_or(0, |&(_, sum)| sum);
        mon_to_fri_up_to(day_number(d)) + correction
    }

    /// The `n`-th working day after `start` (`start` itself not counted); `start` for `n = 0`.
    ///
    /// Saturates: when the `n`-th working day would lie after [`NaiveDate::MAX`] (the end of
    /// chrono's range, in the year 262142), the answer is `NaiveDate::MAX`, read as "never". No
    /// real deadline comes near it; the point is that untrusted dates and limits cannot panic.
    /// Takes time logarithmic in the span and in the number of listed days.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return start;
        }
        let target = self.working_days_up_to(start) + i64::from(n);
        if self.working_days_up_to(NaiveDate::MAX) < target {
            return NaiveDate::MAX;
        }
        // The count up to a day never decreases and grows by at most one a day, so the first
        // day whose count reaches `target` is a working day and the answer: find it by
        // bisection over day numbers. Invariant: the count at `lo` is below `target`, the count
        // at `hi` reaches it. Every number between those of two dates is a date, so `at` never
        // falls back.
        let (mut lo, mut hi) = (start.num_days_from_ce(), NaiveDate::MAX.num_days_from_ce());
        let at = |n: i32| NaiveDate::from_num_days_from_ce_opt(n).unwrap_or(NaiveDate::MAX);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.working_days_up_to(at(mid)) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        at(hi)
    }

    /// The number of working days `d` with `from < d <= to` (0 when `to <= from`).
    ///
    /// Takes time logarithmic in the number of listed days, whatever the span.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        let n = self.working_days_up_to(to) - self.working_days_up_to(from);
        // At most the number of days in chrono's whole range (under 200 million): it fits.
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn a_year_not_loaded_keeps_the_holidays_fixed_to_a_date() {
        let cal = cal2026();
        assert!(!cal.covers(2027));
        // Friday 1 January 2027: New Year's Day, whatever the year's notice will add.
        assert!(!cal.is_working_day(d("2027-01-01")));
        assert!(cal.is_working_day(d("2026-12-31")));
        assert!(cal.is_working_day(d("2027-01-04")));
        // Accepted on Wednesday 30 December 2026, two working days: not 1 January but Monday.
        assert_eq!(cal.add_working_days(d("2026-12-30"), 2), d("2027-01-04"));
        assert_eq!(
            cal.working_days_between(d("2026-12-30"), d("2027-01-04")),
            2
        );
        // Labour Day (two days since 2025) and National Day (three) too; other weekdays work.
        assert!(!cal.is_working_day(d("2028-05-01")) && !cal.is_working_day(d("2028-05-02")));
        assert!(cal.is_working_day(d("2028-05-03")));
        for day in ["2027-10-01", "2029-10-02", "2029-10-03"] {
            assert!(!cal.is_working_day(d(day)), "{day}");
        }
        // Before the 2024 revision Labour Day was one day.
        assert!(!cal.is_working_day(d("2024-05-01")) && cal.is_working_day(d("2024-05-02")));
        // A loaded year is as published: 2 January 2026 is part of its New Year block, and
        // the law's own days are not added to a published year twice.
        assert!(!cal.is_working_day(d("2026-01-02")));
        assert_eq!(WorkingCalendar::default(), WorkingCalendar::new([]));
    }

    #[test]
    fn adjusted_working_sunday_counts() {
        let cal = cal2026();
        // Accepted Wed 31 Dec 2025 (no 2025 data: Mon-Fri fallback); 1-3 Jan off; Sun 4 Jan works.
        assert!(!cal.covers(2025));
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            cal.uncovered_years(day(2026, 11, 1), day(2026, 12, 31)),
            Vec::<i32>::new()
        );
        assert_eq!(
            cal.uncovered_years(day(2026, 12, 7), day(2027, 2, 5)),
            [2027]
        );
        assert_eq!(
            cal.uncovered_years(day(2025, 12, 7), day(2027, 2, 5)),
            [2025, 2027]
        );
        assert_eq!(cal.add_working_days(d("2025-12-31"), 1), d("2026-01-04"));
        assert_eq!(cal.add_working_days(d("2025-12-31"), 2), d("2026-01-05"));
    }

    #[test]
    fn without_data_monday_to_friday() {
        let cal = WorkingCalendar::default();
        assert_eq!(cal.add_working_days(d("2027-01-08"), 1), d("2027-01-11"));
    }

    /// The definition, one day at a time: what the fast counts must agree with.
    fn slow_between(cal: &WorkingCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|x| *x <= to)
            .filter(|x| cal.is_working_day(*x))
            .count() as u32
    }

    /// The definition of `add_working_days`, one day at a time.
    fn slow_add(cal: &WorkingCalendar, start: NaiveDate, n: u32) -> NaiveDate {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().unwrap();
            if cal.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    fn date_in(lo: i32, hi: i32) -> impl Strategy<Value = NaiveDate> {
        let first = NaiveDate::from_ymd_opt(lo, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(hi, 12, 31).unwrap();
        (first.num_days_from_ce()..=last.num_days_from_ce())
            .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap())
    }

    /// A calendar of a few random years among six consecutive ones, with random days off and
    /// extra working days, and a day in those years to count from. Not validated: weekend
    /// "holidays", weekday "adjusted working days" and days listed as both must count as
    /// `is_working_day` says.
    fn scenarios() -> impl Strategy<Value = (WorkingCalendar, NaiveDate)> {
        (2000..=2095i32).prop_flat_map(|base| {
            let year = (base..base + 6).prop_flat_map(|y| {
                (
                    Just(y),
                    proptest::collection::vec(date_in(y, y), 0..40),
                    proptest::collection::vec(date_in(y, y), 0..12),
                )
            });
            let cal = proptest::collection::vec(year, 0..6).prop_map(|years| {
                WorkingCalendar::new(years.into_iter().map(|(year, off, extra)| YearCalendar {
                    year,
                    holidays: vec![Holiday {
                        name: "random".into(),
                        dates: off,
                    }],
                    adjusted_working_days: extra,
                }))
            });
            (cal, date_in(base, base + 5))
        })
    }

    proptest! {
        #[test]
        fn between_agrees_with_day_by_day((cal, from) in scenarios(), span in -30i64..2500) {
            let to = from.checked_add_signed(chrono::TimeDelta::days(span)).unwrap();
            prop_assert_eq!(cal.working_days_between(from, to), slow_between(&cal, from, to));
        }

        #[test]
        fn add_agrees_with_day_by_day((cal, start) in scenarios(), n in 0u32..1800) {
            let fast = cal.add_working_days(start, n);
            prop_assert_eq!(fast, slow_add(&cal, start, n));
            prop_assert_eq!(cal.working_days_between(start, fast), n);
        }
    }

    #[test]
    fn whole_range_of_years_agrees_with_day_by_day() {
        // The proptests above take short spans; one long span over every year, with the real
        // 2026 data loaded, checks that the arithmetic holds across a century.
        let cal = cal2026();
        let (from, to) = (d("2000-01-01"), d("2100-12-31"));
        let n = cal.working_days_between(from, to);
        assert_eq!(n, slow_between(&cal, from, to));
        assert_eq!(cal.add_working_days(from, n), slow_add(&cal, from, n));
    }

    #[test]
    fn day_numbers_put_mondays_at_one_mod_seven() {
        for x in d("1999-12-25").iter_days().take(14) {
            let r = day_number(x).rem_euclid(7);
            assert_eq!(r, (i64::from(x.weekday().num_days_from_monday()) + 1) % 7);
        }
        let r = day_number(NaiveDate::MIN).rem_euclid(7);
        let monday_based = i64::from(NaiveDate::MIN.weekday().num_days_from_monday());
        assert_eq!(r, (monday_based + 1) % 7);
    }

    #[test]
    fn range_of_years_and_dates() {
        let cal = cal2026();
        assert_eq!(
            (cal.first_year(), cal.last_year()),
            (Some(2026), Some(2026))
        );
        let empty = WorkingCalendar::default();
        assert_eq!((empty.first_year(), empty.last_year()), (None, None));
        assert!(check_date_in_range("held_on", CALENDAR_FIRST_DATE).is_ok());
        assert!(check_date_in_range("held_on", CALENDAR_LAST_DATE).is_ok());
        let err = check_date_in_range("held_on", d("1999-12-31")).unwrap_err();
        assert_eq!(err.field, "held_on");
        assert!(err.rule.contains("outside the range the calendar covers"));
        assert!(check_date_in_range("held_on", d("2101-01-01")).is_err());
        let far = r#"{"year":2101,"holidays":[],"adjusted_working_days":[]}"#;
        assert!(
            YearCalendar::from_json(far)
                .unwrap_err()
                .rule
                .contains("outside the years")
        );
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
