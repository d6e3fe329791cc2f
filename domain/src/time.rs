//! Points in time as recorded in events: milliseconds since the Unix epoch, UTC.
//!
//! Working days are counted on the China Standard Time date (UTC+8) of a timestamp. Every
//! conversion is total over `i64` (devices push arbitrary values), and [`check_device_time`] is
//! the sanity rule a receiver applies to a device's clock.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A device-clock or server-clock instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

const CST_SECONDS: i32 = 8 * 3600;
const CST_MILLIS: i64 = CST_SECONDS as i64 * 1000;

/// China Standard Time, UTC+8.
const CST: FixedOffset = match FixedOffset::east_opt(CST_SECONDS) {
    Some(tz) => tz,
    None => panic!("UTC+8 is a valid offset"),
};

/// The earliest device time accepted: 2024-01-01T00:00:00+08:00.
///
/// No event of the system can be older: it did not exist before 2024. A tablet whose clock says
/// otherwise has lost its time (a flat battery resets many to 1970 or to the factory date), and
/// its events would sort before everything else and count working days from a wrong day.
pub const DEVICE_TIME_FLOOR: Timestamp = Timestamp(1_704_038_400_000);

/// How far a device time may lie ahead of the receiving clock: 24 hours, in milliseconds.
///
/// Enough for time zones set wrongly and clocks that drift for weeks offline; more is a clock
/// set to a wrong day, which would date a request's acceptance, and so its deadline, in the
/// future. There is deliberately no bound the other way: a tablet may stay offline for months
/// and push its events, with their true old times, when it reconnects.
pub const DEVICE_TIME_MAX_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// Checks a device-clock time `at` against the receiver's clock `receiver_now` (the hub's or the
/// server's clock when it receives a push): refused before [`DEVICE_TIME_FLOOR`] or more than
/// [`DEVICE_TIME_MAX_AHEAD_MS`] after `receiver_now`. The error's field is `at`.
pub fn check_device_time(at: Timestamp, receiver_now: Timestamp) -> Result<(), ValidationError> {
    if at < DEVICE_TIME_FLOOR {
        return Err(ValidationError::new(
            "at",
            format!(
                "device time {} is before {}: the device's clock is wrong",
                at.china_date(),
                DEVICE_TIME_FLOOR.china_date()
            ),
        ));
    }
    if at.0 > receiver_now.0.saturating_add(DEVICE_TIME_MAX_AHEAD_MS) {
        return Err(ValidationError::new(
            "at",
            format!(
                "device time {} is more than {} hours after the receiving clock ({}): \
                 the device's clock is wrong",
                at.to_rfc3339(),
                DEVICE_TIME_MAX_AHEAD_MS / 3_600_000,
                receiver_now.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

impl Timestamp {
    /// The current time of this machine's clock.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// Noon, China Standard Time, of a date: handy for tests and imports.
    pub fn at_noon(date: NaiveDate) -> Self {
        const NOON: NaiveTime = match NaiveTime::from_hms_opt(12, 0, 0) {
            Some(t) => t,
            None => panic!("noon exists"),
        };
        // Within i64 for every date: chrono's whole range is about 2^53 milliseconds.
        Timestamp(date.and_time(NOON).and_utc().timestamp_millis() - CST_MILLIS)
    }

    /// This instant in China Standard Time, clamped to the instants chrono can show there.
    ///
    /// Any `i64` may arrive from a device. Chrono's range ends (in the years -262143 and 262142)
    /// at the same date-time for UTC and for local times, so the last eight hours of its UTC
    /// range have no UTC+8 local time and converting them panics; instants past either end are
    /// not representable at all. Both are moved to the nearest end (`NaiveDate::MIN`,
    /// `NaiveDate::MAX`) rather than to an arbitrary day such as 1970-01-01.
    fn in_china(self) -> DateTime<FixedOffset> {
        let min = DateTime::<Utc>::MIN_UTC.timestamp_millis();
        let max = DateTime::<Utc>::MAX_UTC.timestamp_millis() - CST_MILLIS;
        DateTime::from_timestamp_millis(self.0.clamp(min, max))
            .unwrap_or(DateTime::UNIX_EPOCH)
            .with_timezone(&CST)
    }

    /// The calendar date in China Standard Time; `NaiveDate::MIN` or `NaiveDate::MAX` for
    /// instants beyond chrono's range.
    pub fn china_date(self) -> NaiveDate {
        self.in_china().date_naive()
    }

    /// RFC 3339 text in China Standard Time, e.g. `2026-03-02T09:30:00+08:00`. Instants beyond
    /// chrono's range are clamped as by [`Self::china_date`]; years past 9999 or before 0 are
    /// written with a sign (`+262142-12-31T23:59:59+08:00`), as chrono does.
    pub fn to_rfc3339(self) -> String {
        self.in_china()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_date_is_utc_plus_eight() {
        // 2026-03-01T17:00Z is 01:00 on 2 March in Beijing.
        let t = Timestamp(
            DateTime::parse_from_rfc3339("2026-03-01T17:00:00Z")
                .unwrap()
                .timestamp_millis(),
        );
        assert_eq!(t.china_date(), "2026-03-02".parse().unwrap());
        let d: NaiveDate = "2026-10-12".parse().unwrap();
        assert_eq!(Timestamp::at_noon(d).china_date(), d);
        assert_eq!(
            Timestamp::at_noon(d).to_rfc3339(),
            "2026-10-12T12:00:00+08:00"
        );
    }

    #[test]
    fn device_time_floor_is_midnight_in_beijing() {
        assert_eq!(DEVICE_TIME_FLOOR.to_rfc3339(), "2024-01-01T00:00:00+08:00");
    }

    #[test]
    fn device_times_before_the_floor_or_a_day_ahead_are_refused() {
        let now = Timestamp::at_noon("2026-03-02".parse().unwrap());
        check_device_time(DEVICE_TIME_FLOOR, now).unwrap();
        check_device_time(Timestamp(now.0 + DEVICE_TIME_MAX_AHEAD_MS), now).unwrap();
        // Months offline: old but true times are fine.
        check_device_time(Timestamp::at_noon("2025-06-01".parse().unwrap()), now).unwrap();
        let err = check_device_time(Timestamp(0), now).unwrap_err();
        assert_eq!(err.field, "at");
        assert_eq!(
            err.rule,
            "device time 1970-01-01 is before 2024-01-01: the device's clock is wrong"
        );
        let err = check_device_time(Timestamp(now.0 + DEVICE_TIME_MAX_AHEAD_MS + 1), now);
        assert!(err.unwrap_err().rule.contains("more than 24 hours after"));
    }
}
