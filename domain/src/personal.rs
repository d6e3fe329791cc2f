//! Residents' personal data: national ID numbers, phone numbers and names.
//!
//! Values are checked on entry and masked for lists. The types deliberately implement neither
//! `Display` nor a revealing `Debug`, so a stray `{}` or `{:?}` in a log line cannot print them;
//! the full value is read only through [`NationalId::expose`] / [`Phone::expose`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [u8; 11] = *b"10X98765432";

/// A resident's 18-character national ID number, checked per GB 11643.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NationalId(String);

impl NationalId {
    /// Checks `raw` (surrounding spaces ignored, a lower-case `x` accepted) and returns the ID.
    ///
    /// The rules, each with its own error: 18 characters; the first 17 are digits; the 7th to
    /// 14th are a real birth date; the last is the check digit of GB 11643 (a digit or `X`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "applicant.id_number";
        let s = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(ValidationError::new(FIELD, "must be 18 characters"));
        }
        let b = s.as_bytes();
        if !b[..17].iter().all(u8::is_ascii_digit) {
            return Err(ValidationError::new(
                FIELD,
                "the first 17 characters must be digits",
            ));
        }
        if !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(ValidationError::new(
                FIELD,
                "the last character must be a digit or X",
            ));
        }
        let birth = &s[6..14];
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() || &s[6..8] < "18" {
            return Err(ValidationError::new(
                FIELD,
                "characters 7 to 14 must be a real birth date (YYYYMMDD)",
            ));
        }
        let sum: u32 = b[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        if ID_CHECK[(sum % 11) as usize] != b[17] {
            return Err(ValidationError::new(
                FIELD,
                "check digit does not match (GB 11643)",
            ));
        }
        Ok(NationalId(s))
    }

    /// The number masked for lists: the 6-digit region, 8 stars, the last 4 characters.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// The last four characters, as a resident types them to look a request up.
    pub fn last_four(&self) -> &str {
        &self.0[14..]
    }

    /// The full number. Call only to store it or to show it to someone entitled to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NationalId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<NationalId> for String {
    fn from(id: NationalId) -> String {
        id.0
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalId({})", self.masked())
    }
}

/// A phone number: an 11-digit mainland mobile number, or a landline with its area code.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Checks `raw`: spaces and dashes are ignored; a mobile number is 11 digits starting with
    /// 13 to 19; a landline is 0, a 2- or 3-digit area code, then 7 or 8 digits.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
            return Err(ValidationError::new(
                "applicant.phone",
                "must contain only digits",
            ));
        }
        let b = digits.as_bytes();
        let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        let landline = b[0] == b'0' && (10..=12).contains(&b.len());
        if !(mobile || landline) {
            return Err(ValidationError::new(
                "applicant.phone",
                "must be an 11-digit mobile number (1[3-9]…) or a landline with area code (0…)",
            ));
        }
        Ok(Phone(digits))
    }

    /// The number masked for lists: first 3 and last 4 digits kept, e.g. `138****5678`.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}{}{}", &self.0[..3], "*".repeat(n - 7), &self.0[n - 4..])
    }

    /// The full number. Call only to store it or to show it to someone entitled to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// Checks an applicant's name: not blank, at most 50 characters.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let n = name.trim().chars().count();
    if n == 0 {
        return Err(ValidationError::new("applicant.name", "is required"));
    }
    if n > 50 {
        return Err(ValidationError::new(
            "applicant.name",
            "must be at most 50 characters",
        ));
    }
    Ok(())
}

/// A name masked for lists: the first character kept, and the last one too for names of three
/// or more characters (`张*`, `张*丰`, `欧**丰`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check digits computed by hand per GB 11643 for these fictitious numbers.
    #[test]
    fn accepts_valid_ids_including_x_check_digit() {
        let id = NationalId::parse("11010519491231002X").unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.last_four(), "002X");
        assert!(
            NationalId::parse("11010519491231002x").is_ok(),
            "lower-case x accepted"
        );
        assert!(NationalId::parse("440524188001010014").is_ok());
    }

    #[test]
    fn refuses_each_broken_rule_with_its_own_message() {
        let rule = |s: &str| NationalId::parse(s).unwrap_err().rule;
        assert_eq!(rule("1101051949123100"), "must be 18 characters");
        assert_eq!(
            rule("11010519491231A02X"),
            "the first 17 characters must be digits"
        );
        assert_eq!(
            rule("11010519491231002Y"),
            "the last character must be a digit or X"
        );
        assert!(
            rule("110105194913310020").contains("birth date"),
            "month 13"
        );
        assert!(
            rule("110105194902300020").contains("birth date"),
            "30 February"
        );
        assert_eq!(
            rule("110105194912310021"),
            "check digit does not match (GB 11643)"
        );
        assert_eq!(
            NationalId::parse("1").unwrap_err().field,
            "applicant.id_number"
        );
    }

    #[test]
    fn errors_and_debug_never_contain_the_number() {
        let err = NationalId::parse("110105194912310021").unwrap_err();
        assert!(!err.to_string().contains("110105194912310021"));
        let id = NationalId::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("19491231"));
        let phone = Phone::parse("13812345678").unwrap();
        assert!(!format!("{phone:?}").contains("13812345678"));
    }

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("138 1234 5678").unwrap().masked(),
            "138****5678"
        );
        assert_eq!(
            Phone::parse("0531-88886666").unwrap().expose(),
            "053188886666"
        );
        assert!(Phone::parse("12812345678").is_err(), "no mobile prefix 12");
        assert!(Phone::parse("1381234567").is_err(), "10 digits");
        assert!(Phone::parse("138abc45678").is_err());
        assert!(Phone::parse("").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("欧阳春丰"), "欧**丰");
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"名".repeat(51)).is_err());
    }
}
