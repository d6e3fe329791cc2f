//! The materials rule: a request is accepted (受理) or approved (审核通过) only when every
//! material its service item requires is in hand (received at filing or since, or handed in
//! at a supplement) or waived with a reason by an earlier event (容缺受理, [`Action::WaiveMaterial`]).
//!
//! The document layer calls [`check_materials`] for every acceptance and approval a change
//! adds, on the tablet before it writes and on the hub for every push.

use std::collections::{BTreeSet, HashSet};

use crate::{Action, ServiceItem, ValidationError};

/// The materials `item` requires that are not in hand: neither in `received`, nor provided by
/// a supplement among `earlier`, nor waived there. `earlier` is the valid events before the
/// decision, in log order. The result keeps the item's order.
pub fn outstanding_materials<'a, 'b>(
    item: &'a ServiceItem,
    received: &BTreeSet<String>,
    earlier: impl IntoIterator<Item = &'b Action>,
) -> Vec<&'a str> {
    let mut in_hand: HashSet<&str> = received.iter().map(String::as_str).collect();
    for action in earlier {
        match action {
            Action::Supplement { provided } => in_hand.extend(provided.iter().map(String::as_str)),
            Action::WaiveMaterial { material, .. } => {
                in_hand.insert(material);
            }
            _ => {}
        }
    }
    item.materials
        .iter()
        .map(String::as_str)
        .filter(|m| !in_hand.contains(m))
        .collect()
}

/// Checks `action` against the materials rule: an acceptance or an approval needs every
/// required material in hand or waived (see [`outstanding_materials`]); a waiver names one of
/// the item's materials; other actions pass.
pub fn check_materials<'b>(
    action: &Action,
    item: &ServiceItem,
    received: &BTreeSet<String>,
    earlier: impl IntoIterator<Item = &'b Action>,
) -> Result<(), ValidationError> {
    match action {
        Action::Accept | Action::Approve { .. } => {}
        Action::WaiveMaterial { material, .. } => return item.check_material(material),
        _ => return Ok(()),
    }
    let outstanding = outstanding_materials(item, received, earlier);
    if outstanding.is_empty() {
        return Ok(());
    }
    Err(ValidationError::new(
        action.kind(),
        format!(
            "materials neither received nor waived: {}; mark them received or waive each with a reason",
            outstanding.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HandlingLevel;

    fn item() -> ServiceItem {
        ServiceItem {
            code: "AID-DIBAO".into(),
            name_zh: "最低生活保障".into(),
            name_en: "Minimum living allowance".into(),
            level: HandlingLevel::VillageCollectsTownshipHandles,
            time_limit_days: 20,
            materials: vec![
                "ID card".into(),
                "Hukou booklet".into(),
                "Income proof".into(),
            ],
            materials_zh: vec![],
            attributes: vec![],
        }
    }

    fn received(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn acceptance_names_every_material_not_in_hand() {
        let err =
            check_materials(&Action::Accept, &item(), &received(&["ID card"]), []).unwrap_err();
        assert_eq!(
            err.to_string(),
            "accept: materials neither received nor waived: Hukou booklet, Income proof; \
             mark them received or waive each with a reason"
        );
    }

    #[test]
    fn received_supplied_and_waived_materials_count_as_in_hand() {
        let earlier = [
            Action::Supplement {
                provided: vec!["Hukou booklet".into()],
            },
            Action::WaiveMaterial {
                material: "Income proof".into(),
                reason: "no income; the village committee vouches".into(),
            },
        ];
        let approve = Action::Approve {
            note: String::new(),
        };
        assert!(check_materials(&approve, &item(), &received(&["ID card"]), &earlier).is_ok());
        assert!(
            check_materials(&approve, &item(), &received(&["ID card"]), &earlier[..1]).is_err()
        );
    }

    #[test]
    fn a_waiver_names_one_of_the_items_materials() {
        let waive = |m: &str| Action::WaiveMaterial {
            material: m.into(),
            reason: "lost in the flood".into(),
        };
        assert!(check_materials(&waive("Income proof"), &item(), &received(&[]), []).is_ok());
        let err = check_materials(&waive("Passport"), &item(), &received(&[]), []).unwrap_err();
        assert!(
            err.to_string().contains("'Passport' is not a material"),
            "{err}"
        );
    }

    #[test]
    fn other_actions_are_not_held_up_by_materials() {
        assert!(check_materials(&Action::Submit, &item(), &received(&[]), []).is_ok());
        assert!(check_materials(&Action::Forward, &item(), &received(&[]), []).is_ok());
    }
}
