//! Points in time as recorded in events: milliseconds since the Unix epoch, UTC.
//!
//! Working days are counted on the China Standard Time date (UTC+8) of a timestamp.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A device-clock or server-clock instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

const CST_SECONDS: i32 = 8 * 3600;

impl Timestamp {
    /// The current time of this machine's clock.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// Noon, China Standard Time, of a date: handy for tests and imports.
    pub fn at_noon(date: NaiveDate) -> Self {
        let dt = date.and_hms_opt(12, 0, 0).expect("noon exists");
        Timestamp(dt.and_utc().timestamp_millis() - i64::from(CST_SECONDS) * 1000)
    }

    /// The calendar date in China Standard Time.
    pub fn china_date(self) -> NaiveDate {
        let tz = FixedOffset::east_opt(CST_SECONDS).expect("UTC+8 is valid");
        DateTime::from_timestamp_millis(self.0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .with_timezone(&tz)
            .date_naive()
    }

    /// RFC 3339 text in China Standard Time, e.g. `2026-03-02T09:30:00+08:00`.
    pub fn to_rfc3339(self) -> String {
        let tz = FixedOffset::east_opt(CST_SECONDS).expect("UTC+8 is valid");
        DateTime::from_timestamp_millis(self.0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .with_timezone(&tz)
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
}
