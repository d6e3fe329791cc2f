//! Receipt numbers (受理回执号): printed on the resident's receipt at filing, offline.
//!
//! `VVVVVVVVVVVV-DDD-NNNNNN`: the 12-digit village code, the device's number (assigned once, at
//! enrolment, unique within the county) and the device's own counter. Unique across all devices
//! without asking the server, readable over the phone, and sortable by filing order per device.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

/// A receipt number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReceiptNo(String);

impl ReceiptNo {
    /// The receipt number of the `counter`-th request filed on device `device_no` in `village`.
    pub fn new(village: &str, device_no: u32, counter: u64) -> Self {
        ReceiptNo(format!("{village}-{device_no:03}-{counter:06}"))
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
}
