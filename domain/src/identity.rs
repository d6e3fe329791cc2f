//! Who acts: roles, their scope in the administrative ladder, and the device they act on.
//!
//! Area codes follow the official division codes: a county has 6 digits, a township 9 (the
//! county's 6 plus 3) and a village 12 (the township's 9 plus 3), so scope tests are prefix tests.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

/// The role a person acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A resident acting on their own requests.
    Resident,
    /// A village service-point clerk (代办员), acting for the whole village.
    Clerk,
    /// A township convenience-center reviewer.
    Reviewer,
    /// An administrator of users, devices and reference data.
    Administrator,
}

impl Role {
    /// The role's name as stored and shown in English.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Clerk => "clerk",
            Role::Reviewer => "reviewer",
            Role::Administrator => "administrator",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Ok(match s {
            "resident" => Role::Resident,
            "clerk" => Role::Clerk,
            "reviewer" => Role::Reviewer,
            "administrator" => Role::Administrator,
            _ => {
                return Err(ValidationError::new(
                    "role",
                    "must be resident, clerk, reviewer or administrator",
                ));
            }
        })
    }

    /// The number of digits of the area code this role is scoped to.
    fn area_digits(self) -> usize {
        match self {
            Role::Resident | Role::Clerk => 12,
            Role::Reviewer => 9,
            Role::Administrator => 6,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person acting in a role, within an area, on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user's stable identifier (assigned by the server).
    pub user: String,
    /// The role the user acts in.
    pub role: Role,
    /// The area the role covers: the village of a resident or clerk, the township of a
    /// reviewer, the county of an administrator.
    pub area: String,
    /// The device the user acts on.
    pub device: String,
}

impl Identity {
    /// An identity, checked: the area code must have the length the role's level needs.
    pub fn new(
        user: impl Into<String>,
        role: Role,
        area: impl Into<String>,
        device: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        let id = Identity {
            user: user.into(),
            role,
            area: area.into(),
            device: device.into(),
        };
        id.validate()?;
        Ok(id)
    }

    /// Checks the identity's fields (used on identities read back from storage or the network).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.user.trim().is_empty() {
            return Err(ValidationError::new("identity.user", "must not be empty"));
        }
        if self.device.trim().is_empty() {
            return Err(ValidationError::new("identity.device", "must not be empty"));
        }
        let digits = self.role.area_digits();
        if self.area.len() != digits || !self.area.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                "identity.area",
                format!(
                    "a {} is scoped to an area code of {digits} digits",
                    self.role
                ),
            ));
        }
        Ok(())
    }

    /// Whether a village lies inside this identity's area.
    pub fn covers_village(&self, village: &str) -> bool {
        village.starts_with(&self.area)
    }
}

/// The township code (9 digits) of a village code (12 digits).
pub fn township_of(village: &str) -> Option<&str> {
    (village.len() == 12 && village.bytes().all(|b| b.is_ascii_digit())).then(|| &village[..9])
}
