//! Grant matching, as S3 Access Grants does it.
//!
//! Owns the two lookups of the service: which grant (if any) allows a
//! `GetDataAccess` request, and which Access Grants instance owns the
//! location of a prefix. Containment itself is [`grantd_common::scope::grant_contains`],
//! shared with the daemon so both sides agree.

use grantd_common::scope::{Permission, S3Target};

use super::scenario::Grant;

/// Why no grant allows a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The account holds no grants at all: it has no Access Grants instance.
    NoInstance,
    /// The instance exists but no grant of the caller allows the request.
    Denied,
}

/// The grant that allows `caller` to get `permission` on `target` from the
/// instance of `account`: among the caller's grants in that instance whose
/// target contains `target` and whose permission covers `permission`, the
/// most specific (longest target). On a tie the grant whose permission is
/// exactly the one asked for wins, then the first in the file.
pub(super) fn find_grant<'a>(
    grants: &'a [Grant],
    account: &str,
    caller: &str,
    target: &S3Target,
    permission: Permission,
) -> Result<&'a Grant, Refusal> {
    let mut in_instance = grants.iter().filter(|g| g.account_id == account).peekable();
    if in_instance.peek().is_none() {
        return Err(Refusal::NoInstance);
    }
    let mut best: Option<&Grant> = None;
    for grant in in_instance {
        if grant.grantee != caller
            || !grant.permission.covers(permission)
            || !grant.target.contains(target)
        {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => {
                let (len, best_len) = (grant.target.as_str().len(), b.target.as_str().len());
                len > best_len
                    || (len == best_len
                        && grant.permission == permission
                        && b.permission != permission)
            }
        };
        if better {
            best = Some(grant);
        }
    }
    best.ok_or(Refusal::Denied)
}

/// Account of the Access Grants instance that owns the location of
/// `prefix`: the most specific grant (any grantee) whose target contains
/// the prefix, else the first grant in the same bucket.
pub(super) fn instance_for_prefix<'a>(grants: &'a [Grant], prefix: &S3Target) -> Option<&'a str> {
    let same_bucket = || {
        grants
            .iter()
            .filter(|g| g.target.bucket() == prefix.bucket())
    };
    same_bucket()
        .filter(|g| g.target.contains(prefix))
        // `max_by_key` keeps the last of equals; reversed, the first in the file wins.
        .rev()
        .max_by_key(|g| g.target.as_str().len())
        .or_else(|| same_bucket().next())
        .map(|g| g.account_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "arn:aws:iam::111122223333:role/A";
    const B: &str = "arn:aws:iam::111122223333:role/B";
    const HOME: &str = "111122223333";
    const OTHER: &str = "444455556666";

    fn grant(grantee: &str, target: &str, permission: Permission, account: &str) -> Grant {
        Grant {
            grantee: grantee.into(),
            target: S3Target::parse(target).unwrap(),
            permission,
            account_id: account.into(),
            role_arn: None,
            application_arn: None,
        }
    }

    fn t(s: &str) -> S3Target {
        S3Target::parse(s).unwrap()
    }

    fn matched(
        grants: &[Grant],
        account: &str,
        caller: &str,
        target: &str,
        p: Permission,
    ) -> Result<String, Refusal> {
        find_grant(grants, account, caller, &t(target), p).map(|g| g.target.as_str().to_string())
    }

    #[test]
    fn most_specific_grant_wins() {
        let grants = [
            grant(A, "s3://bucket/*", Permission::ReadWrite, HOME),
            grant(A, "s3://bucket/UserA/data/*", Permission::ReadWrite, HOME),
            grant(A, "s3://bucket/UserA/*", Permission::ReadWrite, HOME),
        ];
        assert_eq!(
            matched(
                &grants,
                HOME,
                A,
                "s3://bucket/UserA/data/x.csv",
                Permission::Read
            ),
            Ok("s3://bucket/UserA/data/*".into())
        );
        assert_eq!(
            matched(
                &grants,
                HOME,
                A,
                "s3://bucket/UserA/other",
                Permission::Read
            ),
            Ok("s3://bucket/UserA/*".into())
        );
    }

    #[test]
    fn readwrite_grant_covers_read() {
        let grants = [grant(A, "s3://bucket/UserA/*", Permission::ReadWrite, HOME)];
        assert!(matched(&grants, HOME, A, "s3://bucket/UserA/x", Permission::Read).is_ok());
        assert!(matched(&grants, HOME, A, "s3://bucket/UserA/x", Permission::Write).is_ok());
    }

    #[test]
    fn read_grant_refuses_write() {
        let grants = [grant(A, "s3://bucket/UserA/*", Permission::Read, HOME)];
        assert_eq!(
            matched(&grants, HOME, A, "s3://bucket/UserA/x", Permission::Write),
            Err(Refusal::Denied)
        );
        assert_eq!(
            matched(
                &grants,
                HOME,
                A,
                "s3://bucket/UserA/x",
                Permission::ReadWrite
            ),
            Err(Refusal::Denied)
        );
    }

    #[test]
    fn user_a_prefix_does_not_contain_user_ab() {
        let grants = [grant(A, "s3://bucket/UserA/*", Permission::ReadWrite, HOME)];
        assert_eq!(
            matched(&grants, HOME, A, "s3://bucket/UserAB/x", Permission::Read),
            Err(Refusal::Denied)
        );
    }

    #[test]
    fn grants_of_other_principals_do_not_apply() {
        let grants = [grant(B, "s3://bucket/*", Permission::ReadWrite, HOME)];
        assert_eq!(
            matched(&grants, HOME, A, "s3://bucket/x", Permission::Read),
            Err(Refusal::Denied)
        );
    }

    #[test]
    fn cross_account_grant_matches_only_with_its_instance_account() {
        let grants = [
            grant(A, "s3://home-bucket/*", Permission::Read, HOME),
            grant(A, "s3://shared-bucket/A/*", Permission::Read, OTHER),
        ];
        assert_eq!(
            matched(
                &grants,
                OTHER,
                A,
                "s3://shared-bucket/A/x",
                Permission::Read
            ),
            Ok("s3://shared-bucket/A/*".into())
        );
        assert_eq!(
            matched(&grants, HOME, A, "s3://shared-bucket/A/x", Permission::Read),
            Err(Refusal::Denied)
        );
    }

    #[test]
    fn unknown_account_has_no_instance() {
        let grants = [grant(A, "s3://bucket/*", Permission::Read, HOME)];
        assert_eq!(
            matched(
                &grants,
                "999999999999",
                A,
                "s3://bucket/x",
                Permission::Read
            ),
            Err(Refusal::NoInstance)
        );
    }

    #[test]
    fn exact_permission_wins_a_tie() {
        let grants = [
            grant(A, "s3://bucket/A/*", Permission::ReadWrite, HOME),
            grant(A, "s3://bucket/A/*", Permission::Read, HOME),
        ];
        let g = find_grant(&grants, HOME, A, &t("s3://bucket/A/x"), Permission::Read).unwrap();
        assert_eq!(g.permission, Permission::Read);
    }

    #[test]
    fn prefix_owner_is_the_most_specific_location_in_the_bucket() {
        let grants = [
            grant(A, "s3://shared-bucket/*", Permission::Read, HOME),
            grant(B, "s3://shared-bucket/team/*", Permission::Read, OTHER),
        ];
        assert_eq!(
            instance_for_prefix(&grants, &t("s3://shared-bucket/team/x/*")),
            Some(OTHER)
        );
        assert_eq!(
            instance_for_prefix(&grants, &t("s3://shared-bucket/else/*")),
            Some(HOME)
        );
        assert_eq!(
            instance_for_prefix(&grants, &t("s3://other-bucket/x")),
            None
        );
    }

    #[test]
    fn prefix_owner_falls_back_to_any_grant_in_the_bucket() {
        let grants = [grant(A, "s3://bucket/A/*", Permission::Read, OTHER)];
        assert_eq!(
            instance_for_prefix(&grants, &t("s3://bucket/*")),
            Some(OTHER)
        );
    }
}
