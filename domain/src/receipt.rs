//! Receipt numbers (受理回执号): printed on the resident's receipt at filing, offline.
//!
//! `VVVVVVVVVVVV-DDD-NNNNNN`: the 12-digit village code, the device's number (assigned once, at
//! enrolment, unique within the county) and the device's own counter. Unique across all devices
//! without asking the server, readable over the phone, and sortable by filing order per device.
//!
//! Device number `000` is never given to a device (enrolment numbers start at 1): it is the
//! hub's own series ([`HUB_SERIES_DEVICE`]), for the requests residents file themselves on the
//! hub from their phones, numbered by the hub per village. A tablet's receipt always carries its
//! own number, so the two series can never collide, and a receipt in the hub's series says that
//! the resident filed the request themselves ([`ReceiptNo::is_hub_series`]).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

/// The device number of the hub's own series of receipt numbers (see the module docs).
pub const HUB_SERIES_DEVICE: u32 = 0;

/// A receipt number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReceiptNo(String);

impl ReceiptNo {
    /// The receipt number of the `counter`-th request filed on device `device_no` in `village`.
    pub fn new(village: &str, device_no: u32, counter: u64) -> Self {
        ReceiptNo(format!("{village}-{device_no:03}-{counter:06}"))
    }

    /// The `counter`-th receipt number of the hub's own series in `village` (a request a
    /// resident filed on the hub).
    pub fn hub(village: &str, counter: u64) -> Self {
        ReceiptNo::new(village, HUB_SERIES_DEVICE, counter)
    }

    /// Parses a typed receipt number (surrounding spaces ignored).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let parts: Vec<&str> = s.split('-').collect();
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let ok = parts.len() == 3
            && parts[0].len() == 12
            && parts.iter().all(|p| digits(p))
            && (3..=6).contains(&parts[1].len())
            && (6..=12).contains(&parts[2].len());
        if ok {
            Ok(ReceiptNo(s.to_string()))
        } else {
            Err(ValidationError::new(
                "receipt_no",
                "must look like 370883101201-007-000042 (village, device, number)",
            ))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The village code it starts with.
    pub fn village(&self) -> &str {
        &self.0[..12]
    }

    /// The number of the device that filed it (`None` if too large to be one).
    pub fn device_no(&self) -> Option<u32> {
        self.0.split('-').nth(1)?.parse().ok()
    }

    /// The device's counter (`None` if too large to be one).
    pub fn counter(&self) -> Option<u64> {
        self.0.split('-').nth(2)?.parse().ok()
    }

    /// Whether it is of the hub's own series: a request the resident filed on the hub.
    pub fn is_hub_series(&self) -> bool {
        self.device_no() == Some(HUB_SERIES_DEVICE)
    }
}

impl fmt::Display for ReceiptNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let r = ReceiptNo::new("370883101201", 7, 42);
        assert_eq!(r.as_str(), "370883101201-007-000042");
        assert_eq!(ReceiptNo::parse(" 370883101201-007-000042 ").unwrap(), r);
        assert_eq!(r.village(), "370883101201");
        assert!(ReceiptNo::parse("370883101201-7-42").is_err());
        assert!(ReceiptNo::parse("abc").is_err());
        // Device numbers and counters may outgrow their padding and stay unique.
        assert_eq!(
            ReceiptNo::new("370883101201", 1234, 1_234_567).as_str(),
            "370883101201-1234-1234567"
        );
        assert!(ReceiptNo::parse("370883101201-1234-1234567").is_ok());
    }

    #[test]
    fn the_hubs_series_is_device_000() {
        let r = ReceiptNo::hub("370883101201", 12);
        assert_eq!(r.as_str(), "370883101201-000-000012");
        assert!(r.is_hub_series());
        assert_eq!(r.counter(), Some(12));
        assert!(!ReceiptNo::new("370883101201", 1, 12).is_hub_series());
        // However it is padded, device zero is the hub's.
        assert!(
            ReceiptNo::parse("370883101201-0000-000012")
                .unwrap()
                .is_hub_series()
        );
    }
}
