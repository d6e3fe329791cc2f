//! Reference data: the published list of service items (事项清单) and the village directory.
//!
//! Both are data loaded by an administrator (and, on tablets, synced down read-only); their
//! JSON formats are those of `../shared/catalog/`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::ValidationError;

/// Which level handles a service item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlingLevel {
    /// Completed at the village service point (村级办结).
    Village,
    /// The village accepts the materials, the township decides (村收镇办).
    VillageCollectsTownshipHandles,
    /// Filed at or for the township center directly.
    Township,
}

/// The type of a form attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// A short line of text.
    String,
    /// A longer free text.
    Text,
    /// A number.
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Datetime,
    /// One of the listed values.
    Singlevaluelist,
}

/// One attribute of a service item's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSpec {
    /// The attribute's code, the key of its value in a request.
    pub code: String,
    /// Its Chinese label (catalogs written before it load with none: the English one shows).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_zh: String,
    /// Its English label.
    pub name_en: String,
    /// Its type.
    pub datatype: AttributeType,
    /// Whether a request must give it.
    #[serde(default)]
    pub required: bool,
    /// The allowed values of a `singlevaluelist` (what a request stores).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The same values as a Chinese reader sees them, in the order of `values` (none: the
    /// values themselves show).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_zh: Vec<String>,
    /// Whether its value is personal data as a whole (a bank account, a pension account):
    /// the console shows it starred until a reviewer reveals it, whatever it looks like.
    /// Catalogs written before this flag load with `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// A value given for an attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A number attribute's value.
    Number(f64),
    /// Any other attribute's value.
    Text(String),
}

impl AttributeSpec {
    /// Its label in Chinese (`zh`) or English; the English one when it has no Chinese one.
    pub fn label(&self, zh: bool) -> &str {
        match zh && !self.name_zh.trim().is_empty() {
            true => &self.name_zh,
            false => &self.name_en,
        }
    }

    /// How `value` (one of [`Self::values`], as stored) reads in Chinese (`zh`) or English:
    /// its Chinese name when the catalog gives one, else the value itself.
    pub fn value_label<'a>(&'a self, value: &'a str, zh: bool) -> &'a str {
        if !zh {
            return value;
        }
        self.values
            .iter()
            .position(|v| v == value)
            .and_then(|i| self.values_zh.get(i))
            .map_or(value, String::as_str)
    }

    /// Checks one value against this attribute's type.
    pub fn check(&self, value: &AttrValue) -> Result<(), ValidationError> {
        let field = || format!("attributes.{}", self.code);
        match (self.datatype, value) {
            (AttributeType::Number, AttrValue::Number(n)) if n.is_finite() => Ok(()),
            (AttributeType::Number, _) => Err(ValidationError::new(field(), "must be a number")),
            (_, AttrValue::Number(_)) => Err(ValidationError::new(field(), "must be text")),
            (AttributeType::String | AttributeType::Text, AttrValue::Text(s)) => {
                if s.trim().is_empty() {
                    Err(ValidationError::new(field(), "must not be blank"))
                } else if self.datatype == AttributeType::String && s.chars().count() > 200 {
                    Err(ValidationError::new(
                        field(),
                        "must be at most 200 characters",
                    ))
                } else if s.chars().count() > 5000 {
                    Err(ValidationError::new(
                        field(),
                        "must be at most 5000 characters",
                    ))
                } else {
                    Ok(())
                }
            }
            (AttributeType::Datetime, AttrValue::Text(s)) => s
                .parse::<chrono::NaiveDate>()
                .map(|_| ())
                .map_err(|_| ValidationError::new(field(), "must be a date written YYYY-MM-DD")),
            (AttributeType::Singlevaluelist, AttrValue::Text(s)) => {
                if self.values.iter().any(|v| v == s) {
                    Ok(())
                } else {
                    Err(ValidationError::new(
                        field(),
                        format!("must be one of: {}", self.values.join(", ")),
                    ))
                }
            }
        }
    }
}

/// The longest committed time limit a service item (or a request filed under one) may carry, in
/// working days: 365, nearly a year and a half of calendar time.
///
/// Published limits run from 0 (on the spot) to a few dozen working days; anything longer is a
/// typing error (days entered as hours, an extra digit) and would push a request's deadline out
/// of sight of every reviewer's list.
pub const MAX_TIME_LIMIT_DAYS: u32 = 365;

/// Checks a committed time limit in working days: at most [`MAX_TIME_LIMIT_DAYS`]. Zero is
/// allowed: it means the item is handled on the spot (即办). The error's field is
/// `time_limit_days`.
pub fn check_time_limit(days: u32) -> Result<(), ValidationError> {
    if days > MAX_TIME_LIMIT_DAYS {
        Err(ValidationError::new(
            "time_limit_days",
            format!("must be at most {MAX_TIME_LIMIT_DAYS} working days"),
        ))
    } else {
        Ok(())
    }
}

/// A service item of the published list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceItem {
    /// Its code, e.g. `AID-DIBAO`.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
    /// Which level handles it.
    pub level: HandlingLevel,
    /// The committed time limit in working days (承诺时限); 0 means on the spot.
    pub time_limit_days: u32,
    /// The materials an applicant must provide (申请材料), by the names requests record.
    #[serde(default)]
    pub materials: Vec<String>,
    /// The same materials' Chinese names, in the order of `materials` (none: the names above
    /// show).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materials_zh: Vec<String>,
    /// The attributes its form asks for.
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
}

impl ServiceItem {
    /// How `material` (a name requests record) reads in Chinese (`zh`) or English: its Chinese
    /// name when the catalog gives one, else the name itself (also for a material the item no
    /// longer lists).
    pub fn material_label<'a>(&'a self, material: &'a str, zh: bool) -> &'a str {
        if !zh {
            return material;
        }
        self.materials
            .iter()
            .position(|m| m == material)
            .and_then(|i| self.materials_zh.get(i))
            .map_or(material, String::as_str)
    }

    /// The attribute with this code.
    pub fn attribute(&self, code: &str) -> Option<&AttributeSpec> {
        self.attributes.iter().find(|a| a.code == code)
    }

    /// Checks a whole set of attribute values: every required one present, every value of the
    /// right type, no attribute the item does not ask for.
    pub fn check_attributes(
        &self,
        values: &BTreeMap<String, AttrValue>,
    ) -> Result<(), ValidationError> {
        for code in values.keys() {
            if self.attribute(code).is_none() {
                return Err(ValidationError::new(
                    format!("attributes.{code}"),
                    format!("is not an attribute of service item {}", self.code),
                ));
            }
        }
        for spec in &self.attributes {
            match values.get(&spec.code) {
                Some(v) => spec.check(v)?,
                None if spec.required => {
                    return Err(ValidationError::new(
                        format!("attributes.{}", spec.code),
                        format!("is required ({})", spec.name_en),
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Checks that `material` is one this item lists.
    pub fn check_material(&self, material: &str) -> Result<(), ValidationError> {
        if self.materials.iter().any(|m| m == material) {
            Ok(())
        } else {
            Err(ValidationError::new(
                "materials",
                format!(
                    "'{material}' is not a material of service item {}",
                    self.code
                ),
            ))
        }
    }
}

/// The list of service items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// The items, in published order.
    pub items: Vec<ServiceItem>,
}

impl Catalog {
    /// Parses and checks a catalog from JSON: unique codes, time limits within
    /// [`MAX_TIME_LIMIT_DAYS`], a list of values for every list attribute, and Chinese names
    /// (`materials_zh`, `values_zh`), when given, one for each name they translate.
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        let cat: Catalog = serde_json::from_str(json)
            .map_err(|e| ValidationError::new("catalog", format!("is not valid JSON: {e}")))?;
        let mut seen = std::collections::BTreeSet::new();
        for item in &cat.items {
            if !seen.insert(&item.code) {
                return Err(ValidationError::new(
                    "catalog",
                    format!("item code {} appears twice", item.code),
                ));
            }
            check_time_limit(item.time_limit_days).map_err(|e| {
                ValidationError::new(
                    "catalog",
                    format!("item {}: {} {}", item.code, e.field, e.rule),
                )
            })?;
            let names_each = |what: &str, names: usize, of: usize| match names == 0 || names == of {
                true => Ok(()),
                false => Err(ValidationError::new(
                    "catalog",
                    format!("{what} of {} has {names} Chinese names for {of}", item.code),
                )),
            };
            names_each(
                "materials_zh",
                item.materials_zh.len(),
                item.materials.len(),
            )?;
            for a in &item.attributes {
                if a.datatype == AttributeType::Singlevaluelist && a.values.is_empty() {
                    return Err(ValidationError::new(
                        "catalog",
                        format!("attribute {} of {} lists no values", a.code, item.code),
                    ));
                }
                names_each(
                    &format!("values_zh of attribute {}", a.code),
                    a.values_zh.len(),
                    a.values.len(),
                )?;
            }
        }
        Ok(cat)
    }

    /// The item with this code.
    pub fn item(&self, code: &str) -> Option<&ServiceItem> {
        self.items.iter().find(|i| i.code == code)
    }

    /// The item with this code, or an error naming the field.
    pub fn require(&self, code: &str) -> Result<&ServiceItem, ValidationError> {
        self.item(code).ok_or_else(|| {
            ValidationError::new("item_code", "is not a service item of the loaded catalog")
        })
    }
}

/// A village of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Village {
    /// Its 12-digit code.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
    /// Its grids (网格), by villager group.
    #[serde(default)]
    pub grids: Vec<String>,
    /// Registered households.
    #[serde(default)]
    pub households: u32,
    /// Members of the villagers' representatives' meeting.
    #[serde(default)]
    pub representatives: u32,
}

/// A township of the directory with its villages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Township {
    /// Its 9-digit code.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
    /// Its villages.
    pub villages: Vec<Village>,
}

/// The county a directory describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct County {
    /// Its 6-digit code.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
}

/// The village directory of a county.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The county.
    pub county: County,
    /// Its townships.
    pub townships: Vec<Township>,
}

impl Directory {
    /// Parses and checks a directory: codes nest (township = county + 3 digits, village =
    /// township + 3 digits) and are unique.
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        let dir: Directory = serde_json::from_str(json)
            .map_err(|e| ValidationError::new("directory", format!("is not valid JSON: {e}")))?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&dir.county.code, 6) {
            return Err(ValidationError::new(
                "directory.county",
                "code must have 6 digits",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &dir.townships {
            if !digits(&t.code, 9) || !t.code.starts_with(&dir.county.code) {
                return Err(ValidationError::new(
                    "directory.townships",
                    format!("code {} must be the county's code and 3 digits", t.code),
                ));
            }
            for v in &t.villages {
                if !digits(&v.code, 12) || !v.code.starts_with(&t.code) {
                    return Err(ValidationError::new(
                        "directory.villages",
                        format!("code {} must be its township's code and 3 digits", v.code),
                    ));
                }
                if !seen.insert(v.code.clone()) {
                    return Err(ValidationError::new(
                        "directory.villages",
                        format!("code {} appears twice", v.code),
                    ));
                }
            }
        }
        Ok(dir)
    }

    /// The village with this code.
    pub fn village(&self, code: &str) -> Option<&Village> {
        self.townships
            .iter()
            .flat_map(|t| &t.villages)
            .find(|v| v.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalog_loads_and_checks_attributes() {
        let cat = crate::demo::catalog();
        assert!(cat.items.len() >= 20);
        let dibao = cat.item("AID-DIBAO").unwrap();
        assert_eq!(dibao.level, HandlingLevel::VillageCollectsTownshipHandles);
        assert_eq!(dibao.time_limit_days, 30);
        let mut v = BTreeMap::new();
        v.insert("household_members".to_string(), AttrValue::Number(3.0));
        let err = dibao.check_attributes(&v).unwrap_err();
        assert_eq!(err.field, "attributes.monthly_income");
        assert!(err.rule.starts_with("is required"));
        v.insert("monthly_income".into(), AttrValue::Text("much".into()));
        assert_eq!(
            dibao.check_attributes(&v).unwrap_err().rule,
            "must be a number"
        );
        v.insert("monthly_income".into(), AttrValue::Number(800.0));
        dibao.check_attributes(&v).unwrap();
        v.insert("colour".into(), AttrValue::Text("red".into()));
        assert!(
            dibao
                .check_attributes(&v)
                .unwrap_err()
                .rule
                .contains("not an attribute")
        );
    }

    #[test]
    fn sensitive_attributes_are_marked_and_old_catalogs_still_load() {
        let cat = crate::demo::catalog();
        let sensitive: Vec<&str> = cat
            .items
            .iter()
            .flat_map(|i| &i.attributes)
            .filter(|a| a.sensitive)
            .map(|a| a.code.as_str())
            .collect();
        assert_eq!(sensitive, ["pension_account", "bank_account"]);
        let old = r#"{"items": [{"code": "X", "name_zh": "x", "name_en": "x", "level": "village",
            "time_limit_days": 1, "attributes": [{"code": "a", "name_en": "A", "datatype": "string"}]}]}"#;
        let cat = Catalog::from_json(old).unwrap();
        assert!(!cat.items[0].attributes[0].sensitive);
        // An attribute that is not sensitive is written as before, without the flag.
        let json = serde_json::to_string(&cat).unwrap();
        assert!(!json.contains("sensitive"), "{json}");
        let bank = crate::demo::catalog();
        let bank = bank
            .item("AID-ELDER-ALLOWANCE")
            .unwrap()
            .attribute("bank_account");
        let json = serde_json::to_string(bank.unwrap()).unwrap();
        assert!(json.contains(r#""sensitive":true"#), "{json}");
    }

    #[test]
    fn every_demo_name_has_its_chinese_name_and_old_catalogs_show_the_english_one() {
        let cat = crate::demo::catalog();
        for item in &cat.items {
            assert_eq!(
                item.materials_zh.len(),
                item.materials.len(),
                "{}",
                item.code
            );
            for a in &item.attributes {
                assert!(!a.name_zh.is_empty(), "{}.{}", item.code, a.code);
                assert_eq!(
                    a.values_zh.len(),
                    a.values.len(),
                    "{}.{}",
                    item.code,
                    a.code
                );
            }
        }
        let card = cat.item("SOC-CARD").unwrap();
        assert_eq!(card.material_label("Recent photo", true), "近期免冠照片");
        assert_eq!(card.material_label("Recent photo", false), "Recent photo");
        assert_eq!(card.material_label("No such thing", true), "No such thing");
        let reason = card.attribute("reason").unwrap();
        assert_eq!(
            (reason.label(true), reason.label(false)),
            ("申领原因", "Reason")
        );
        assert_eq!(reason.value_label("lost", true), "遗失补办");
        assert_eq!(reason.value_label("lost", false), "lost");
        // A catalog without Chinese names loads, and shows the English ones.
        let old = r#"{"items": [{"code": "X", "name_zh": "x", "name_en": "x", "level": "village",
            "time_limit_days": 1, "materials": ["ID card"], "attributes": [{"code": "a",
            "name_en": "A", "datatype": "singlevaluelist", "values": ["v"]}]}]}"#;
        let cat = Catalog::from_json(old).unwrap();
        let x = &cat.items[0];
        assert_eq!(x.material_label("ID card", true), "ID card");
        assert_eq!(x.attributes[0].label(true), "A");
        assert_eq!(x.attributes[0].value_label("v", true), "v");
        // Chinese names must translate each name, no more, no fewer.
        let short = old.replace(
            r#""materials": ["ID card"],"#,
            r#""materials": ["ID card", "Photo"], "materials_zh": ["身份证"],"#,
        );
        let err = Catalog::from_json(&short).unwrap_err();
        assert!(
            err.rule
                .contains("materials_zh of X has 1 Chinese names for 2"),
            "{}",
            err.rule
        );
        let values = old.replace(
            r#""values": ["v"]"#,
            r#""values": ["v"], "values_zh": ["甲", "乙"]"#,
        );
        let err = Catalog::from_json(&values).unwrap_err();
        assert!(
            err.rule.contains("values_zh of attribute a"),
            "{}",
            err.rule
        );
    }

    #[test]
    fn list_and_date_attributes() {
        let cat = crate::demo::catalog();
        let card = cat.item("SOC-CARD").unwrap();
        let reason = card.attribute("reason").unwrap();
        assert!(reason.check(&AttrValue::Text("lost".into())).is_ok());
        let err = reason.check(&AttrValue::Text("stolen".into())).unwrap_err();
        assert_eq!(err.rule, "must be one of: first card, lost, damaged");
        let birth = cat
            .item("CIV-BIRTH-REG")
            .unwrap()
            .attribute("expected_date")
            .unwrap();
        assert!(birth.check(&AttrValue::Text("2026-12-01".into())).is_ok());
        assert!(birth.check(&AttrValue::Text("next week".into())).is_err());
    }

    #[test]
    fn time_limits_are_at_most_a_year_of_working_days() {
        check_time_limit(0).unwrap();
        check_time_limit(MAX_TIME_LIMIT_DAYS).unwrap();
        let err = check_time_limit(MAX_TIME_LIMIT_DAYS + 1).unwrap_err();
        assert_eq!(err.field, "time_limit_days");
        assert_eq!(err.rule, "must be at most 365 working days");
        let mut cat = crate::demo::catalog();
        cat.items[0].time_limit_days = u32::MAX;
        let err = Catalog::from_json(&serde_json::to_string(&cat).unwrap()).unwrap_err();
        assert_eq!(err.field, "catalog");
        assert_eq!(
            err.rule,
            format!(
                "item {}: time_limit_days must be at most 365 working days",
                cat.items[0].code
            )
        );
    }

    #[test]
    fn directory_nests_codes() {
        let dir = crate::demo::directory();
        assert_eq!(dir.village("370883101201").unwrap().name_en, "East Village");
        let bad = r#"{"county":{"code":"370883","name_zh":"","name_en":""},"townships":[{"code":"999999101","name_zh":"","name_en":"","villages":[]}]}"#;
        assert!(Directory::from_json(bad).is_err());
    }
}
