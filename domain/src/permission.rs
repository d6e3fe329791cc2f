//! Roles and permissions: the one place that answers "may this identity do this to this
//! document". Tablets ask before every local write; the server asks again for every change it
//! receives, with the same function. [`authorize_resident_account`] answers the same for
//! opening residents' accounts, which the hub asks of every clerk's tablet that tries.

use crate::{Action, AgendaAction, Identity, PermissionError, Role, Status};

/// Where a request lives and whose it is: what its permissions depend on.
#[derive(Debug, Clone, Copy)]
pub struct RequestScope<'a> {
    /// The request's village code.
    pub village: &'a str,
    /// The resident user the request belongs to, if it was filed for a registered resident.
    pub resident_user: Option<&'a str>,
}

/// A part of a request that can be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The applicant's name, ID number or phone.
    Applicant,
    /// The grid the applicant lives in.
    Grid,
    /// A form attribute.
    Attribute,
    /// The materials received.
    Materials,
}

/// What an identity wants to do to a request.
#[derive(Debug, Clone, Copy)]
pub enum RequestOp<'a> {
    /// Read it.
    Read,
    /// File it.
    Create,
    /// Append this event while the request has this status.
    Append(&'a Action, Status),
    /// Edit this field while the request has this status.
    Edit(Field, Status),
    /// Comment on it.
    Comment,
}

/// Whether `who` may do `op` to the request described by `scope`.
pub fn authorize_request(
    who: &Identity,
    scope: RequestScope<'_>,
    op: RequestOp<'_>,
) -> Result<(), PermissionError> {
    let in_scope = match who.role {
        Role::Resident => scope.resident_user == Some(who.user.as_str()),
        Role::Clerk | Role::Reviewer | Role::Administrator => who.covers_village(scope.village),
    };
    if !in_scope {
        let whose = match who.role {
            Role::Resident => "may act only on their own requests",
            Role::Clerk => "may act only on requests of their own village",
            Role::Reviewer => "may act only on requests of their own township",
            Role::Administrator => "may act only on requests of their own county",
        };
        return Err(PermissionError::new(who.role, whose));
    }
    use Role::*;
    let allowed = match op {
        RequestOp::Read => true,
        RequestOp::Create => matches!(who.role, Resident | Clerk),
        RequestOp::Comment => matches!(who.role, Resident | Clerk | Reviewer),
        RequestOp::Edit(_, status) => match who.role {
            Clerk => matches!(
                status,
                Status::Draft | Status::Submitted | Status::Accepted | Status::Returned
            ),
            Resident => matches!(status, Status::Draft | Status::Returned),
            Reviewer | Administrator => false,
        },
        RequestOp::Append(action, status) => match action {
            Action::Submit | Action::Supplement { .. } | Action::Withdraw { .. } => {
                matches!(who.role, Resident | Clerk)
            }
            Action::Rate { .. } => matches!(who.role, Resident | Clerk),
            Action::Accept
            | Action::RefuseToAccept { .. }
            | Action::Complete
            | Action::Forward
            | Action::Deliver => who.role == Clerk,
            // The village returns what it has accepted; the township what was forwarded to it.
            Action::ReturnForSupplement { .. } => match who.role {
                Clerk => status != Status::Forwarded,
                Reviewer => status == Status::Forwarded,
                _ => false,
            },
            Action::Approve { .. } | Action::Reject { .. } => who.role == Reviewer,
            Action::Settle { .. } => matches!(who.role, Clerk | Reviewer),
            // Whoever decides next waives: the village before it accepts or forwards, the
            // township once the request is forwarded to it.
            Action::WaiveMaterial { .. } => match who.role {
                Clerk => status != Status::Forwarded,
                Reviewer => status == Status::Forwarded,
                _ => false,
            },
        },
    };
    if allowed {
        return Ok(());
    }
    let what = match op {
        RequestOp::Read => unreachable!("reading in scope is always allowed"),
        RequestOp::Create => "may not file requests".to_string(),
        RequestOp::Comment => "may not comment on requests".to_string(),
        RequestOp::Edit(field, status) => {
            format!(
                "may not edit {field:?} of a request that is {}",
                status.as_str()
            )
        }
        RequestOp::Append(action, status) => {
            format!(
                "may not {} a request that is {}",
                action.kind(),
                status.as_str()
            )
        }
    };
    Err(PermissionError::new(who.role, what))
}

/// What an identity wants to do to an agenda item.
#[derive(Debug, Clone, Copy)]
pub enum AgendaOp<'a> {
    /// Read the whole record (the public notice view is separate and needs no permission).
    Read,
    /// Open an agenda item.
    Create,
    /// Edit its title or description.
    Edit,
    /// Append this event.
    Append(&'a AgendaAction),
}

/// Whether `who` may do `op` to an agenda item of `village`.
pub fn authorize_agenda(
    who: &Identity,
    village: &str,
    op: AgendaOp<'_>,
) -> Result<(), PermissionError> {
    if who.role == Role::Resident {
        return Err(PermissionError::new(
            who.role,
            "may read agenda items only through their village's public notices",
        ));
    }
    if !who.covers_village(village) {
        return Err(PermissionError::new(
            who.role,
            "may act only on agenda items in their area",
        ));
    }
    let allowed = match op {
        AgendaOp::Read => true,
        AgendaOp::Create | AgendaOp::Edit => who.role == Role::Clerk,
        AgendaOp::Append(AgendaAction::TownshipReview { .. }) => who.role == Role::Reviewer,
        AgendaOp::Append(AgendaAction::Settle { .. }) => {
            matches!(who.role, Role::Clerk | Role::Reviewer)
        }
        AgendaOp::Append(_) => who.role == Role::Clerk,
    };
    if allowed {
        Ok(())
    } else {
        let what = match op {
            AgendaOp::Append(a) => format!("may not {} on an agenda item", a.kind()),
            AgendaOp::Create => "may not open agenda items".into(),
            _ => "may not edit agenda items".into(),
        };
        Err(PermissionError::new(who.role, what))
    }
}

/// Whether `who` may open, reset or list the resident accounts of `village`: the clerk of that
/// village (who opens them at the service point, with a one-time activation code) and an
/// administrator whose county holds it; nobody else (not a reviewer, not a resident, not a
/// clerk of another village).
///
/// `village` may also be a shorter area code standing for every village inside it (an
/// administrator's county, to list all of them): a clerk is allowed only their own village's
/// code itself.
pub fn authorize_resident_account(who: &Identity, village: &str) -> Result<(), PermissionError> {
    match who.role {
        Role::Clerk if who.area == village => Ok(()),
        Role::Clerk => Err(PermissionError::new(
            who.role,
            "may open resident accounts only in their own village",
        )),
        Role::Administrator if who.covers_village(village) => Ok(()),
        Role::Administrator => Err(PermissionError::new(
            who.role,
            "may open resident accounts only in their own county",
        )),
        Role::Reviewer | Role::Resident => Err(PermissionError::new(
            who.role,
            "may not open resident accounts (the village's clerk or an administrator does)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EAST: &str = "370883101201";
    const WEST: &str = "370883101202";
    const BEISHAN: &str = "370883102201";

    fn who(role: Role, area: &str) -> Identity {
        Identity::new("u-1", role, area, "device-1").unwrap()
    }

    #[test]
    fn the_clerk_of_the_village_opens_its_resident_accounts_and_no_other_villages() {
        let clerk = who(Role::Clerk, EAST);
        assert_eq!(authorize_resident_account(&clerk, EAST), Ok(()));
        let refused = authorize_resident_account(&clerk, WEST).unwrap_err();
        assert_eq!(refused.role, Role::Clerk);
        assert!(refused.what.contains("own village"), "{refused}");
        // A shorter code would cover the neighbours too: only the village itself.
        assert!(authorize_resident_account(&clerk, "370883101").is_err());
        assert!(authorize_resident_account(&clerk, "").is_err());
    }

    #[test]
    fn an_administrator_opens_accounts_in_every_village_of_the_county_only() {
        let admin = who(Role::Administrator, "370883");
        for village in [EAST, WEST, BEISHAN, "370883"] {
            assert_eq!(
                authorize_resident_account(&admin, village),
                Ok(()),
                "{village}"
            );
        }
        let refused = authorize_resident_account(&admin, "370884101201").unwrap_err();
        assert!(refused.what.contains("own county"), "{refused}");
    }

    #[test]
    fn a_reviewer_may_not_open_resident_accounts_even_in_their_township() {
        let reviewer = who(Role::Reviewer, "370883101");
        for area in [EAST, "370883101"] {
            let refused = authorize_resident_account(&reviewer, area).unwrap_err();
            assert_eq!(refused.role, Role::Reviewer);
            assert!(refused.what.contains("may not open"), "{refused}");
        }
    }

    #[test]
    fn a_resident_may_not_open_resident_accounts_even_in_their_village() {
        let resident = who(Role::Resident, EAST);
        let refused = authorize_resident_account(&resident, EAST).unwrap_err();
        assert_eq!(refused.role, Role::Resident);
        assert!(refused.what.contains("may not open"), "{refused}");
    }
}
