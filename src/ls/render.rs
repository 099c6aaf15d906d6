//! The three outputs of `grantd ls`, and readable profile names.
//!
//! `table` is for a person; `json` a list of objects with each grant's
//! scope and permission (and application, where the grant has one), in
//! snake case and in the service's own casing, as the error bodies carry
//! both; `toml` one `[profiles.NAME]` section per grant, named after the
//! last part of its path (`s3://bucket/UserA/*` → `usera`), made unique with
//! the bucket, then the permission, then a number. The service's `NA` for
//! "no application" counts as none.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::profile::{MAX_NAME_LEN, is_profile_name};
use crate::scope::S3Target;
use crate::upstream::aws::{CallerGrant, Listing};

/// How `grantd ls` prints the grants.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns: scope, permission, application.
    Table,
    /// A JSON list of objects.
    Json,
    /// `[profiles.NAME]` sections for the config file.
    Toml,
}

/// The grants of `listing` as `format` prints them, newline-terminated.
pub fn render(listing: &Listing, format: Format) -> String {
    match format {
        Format::Table => table(&listing.grants),
        Format::Json => json(listing),
        Format::Toml => toml(listing),
    }
}

/// The application a grant is limited to; `None` for none or `NA`.
fn application(grant: &CallerGrant) -> Option<&str> {
    grant
        .application_arn
        .as_deref()
        .filter(|a| !a.is_empty() && *a != "NA")
}

fn table(grants: &[CallerGrant]) -> String {
    if grants.is_empty() {
        return String::new();
    }
    let rows: Vec<[&str; 3]> = grants
        .iter()
        .map(|g| {
            [
                g.scope.as_str(),
                g.permission.as_str(),
                application(g).unwrap_or("-"),
            ]
        })
        .collect();
    let header = ["SCOPE", "PERMISSION", "APPLICATION"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let _ = writeln!(out, "{:<w0$}  {:<w1$}  {}", row[0], row[1], row[2]);
    }
    out
}

fn json(listing: &Listing) -> String {
    let list: Vec<serde_json::Value> = listing
        .grants
        .iter()
        .map(|g| {
            let mut entry = serde_json::json!({
                "scope": g.scope,
                "permission": g.permission,
                "account_id": listing.account_id,
                "region": listing.region,
                "GrantScope": g.scope,
                "Permission": g.permission,
            });
            if let Some(app) = application(g) {
                entry["application_arn"] = app.into();
                entry["ApplicationArn"] = app.into();
            }
            entry
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}

fn toml(listing: &Listing) -> String {
    let mut out = format!(
        "# grantd ls: the grants this identity holds in the Access Grants instance\n\
         # of account {} in {} (ListCallerAccessGrants),\n\
         # one profile each; the first is the default profile.\n",
        listing.account_id, listing.region
    );
    if listing.grants.is_empty() {
        out.push_str("# (no grants)\n");
    }
    let mut names = Names::default();
    for grant in &listing.grants {
        let target = match S3Target::parse(&grant.scope) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "\n# not a target grantd can ask for, left out: {} {} ({e})",
                    one_line(&grant.scope),
                    grant.permission
                );
                continue;
            }
        };
        out.push('\n');
        if let Some(app) = application(grant) {
            let _ = writeln!(
                out,
                "# ApplicationArn {}: only that application may use this grant",
                one_line(app)
            );
        }
        let name = names.take(&target, &grant.permission);
        let _ = writeln!(out, "[profiles.{name}]");
        let _ = writeln!(out, "target = {}", quoted(target.as_str()));
        let _ = writeln!(out, "permission = {}", quoted(&grant.permission));
    }
    out
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Text for a comment line: no line breaks or other controls.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The names given so far, and the scope each went to.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    /// A new name for `target`'s profile: its last path part, else the
    /// bucket; then with the bucket and path; then the permission; then a
    /// number.
    fn take(&mut self, target: &S3Target, permission: &str) -> String {
        let (base, full) = profile_name(target);
        let same_scope = self.0.get(&base).is_some_and(|s| s == target.as_str());
        let permission = permission.to_ascii_lowercase();
        let candidates = if same_scope {
            vec![
                join(&base, &permission),
                full.clone(),
                join(&full, &permission),
            ]
        } else {
            vec![
                base.clone(),
                full.clone(),
                join(&base, &permission),
                join(&full, &permission),
            ]
        };
        let name = candidates
            .into_iter()
            .find(|n| !self.0.contains_key(n))
            .unwrap_or_else(|| {
                (2..)
                    .map(|i| join(&base, &i.to_string()))
                    .find(|n| !self.0.contains_key(n))
                    .expect("some number is free")
            });
        debug_assert!(is_profile_name(&name), "{name}");
        self.0.insert(name.clone(), target.as_str().to_string());
        name
    }
}

/// The readable name of a grant's profile (its last path part, else the
/// bucket) and a longer one (bucket and path), both valid profile names
/// without a `.` (which TOML would read as a nested key).
pub fn profile_name(target: &S3Target) -> (String, String) {
    let key = target.key().trim_end_matches('*');
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let base = slug(parts.last().copied().unwrap_or(target.bucket()));
    let full = slug(
        &std::iter::once(target.bucket())
            .chain(parts)
            .collect::<Vec<_>>()
            .join("-"),
    );
    (base, full)
}

/// Lower case `a-z 0-9 _ -`, runs of anything else as one `-`, at most
/// [`MAX_NAME_LEN`]; `grant` when nothing is left.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    let out = &out[..out.len().min(MAX_NAME_LEN)];
    match out.trim_end_matches('-') {
        "" => "grant".to_string(),
        s => s.to_string(),
    }
}

/// `base-suffix`, `base` cut so that the whole fits [`MAX_NAME_LEN`].
fn join(base: &str, suffix: &str) -> String {
    let room = MAX_NAME_LEN.saturating_sub(suffix.len() + 1);
    format!(
        "{}-{suffix}",
        base[..base.len().min(room)].trim_end_matches('-')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: &str = "blog-access-grants-111122223333-us-east-1";

    fn grant(scope: &str, permission: &str, app: Option<&str>) -> CallerGrant {
        CallerGrant {
            scope: scope.into(),
            permission: permission.into(),
            application_arn: app.map(str::to_string),
        }
    }

    fn listing(grants: Vec<CallerGrant>) -> Listing {
        Listing {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            grants,
        }
    }

    fn demo() -> Listing {
        listing(vec![
            grant(&format!("s3://{BUCKET}/UserA/*"), "READWRITE", None),
            grant(&format!("s3://{BUCKET}/Product/*"), "READ", Some("NA")),
            grant(
                "s3://other/Product/*",
                "READ",
                Some("arn:aws:sso::111122223333:application/ssoins-1/apl-1"),
            ),
            grant(&format!("s3://{BUCKET}/UserA/*"), "READ", None),
            grant("s3://reports/*", "WRITE", None),
            grant("s3://reports/2026/q4.csv", "READ", None),
        ])
    }

    #[test]
    fn names_are_readable_valid_and_unique() {
        let out = render(&demo(), Format::Toml);
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("[profiles.")?.strip_suffix(']'))
            .collect();
        assert_eq!(
            names,
            [
                "usera",
                "product",
                "other-product",
                "usera-read",
                "reports",
                "q4-csv"
            ]
        );
        assert!(names.iter().all(|n| is_profile_name(n) && !n.contains('.')));
        assert!(
            out.contains("# ApplicationArn arn:aws:sso::111122223333:application/ssoins-1/apl-1")
        );
        assert!(!out.contains("ApplicationArn NA"));
    }

    #[test]
    fn the_toml_reads_back_as_profiles() {
        let out = render(&demo(), Format::Toml);
        let doc: toml::Table = out.parse().unwrap();
        let profiles = doc["profiles"].as_table().unwrap();
        assert_eq!(profiles.len(), 6);
        assert_eq!(
            profiles["usera"]["target"].as_str(),
            Some(format!("s3://{BUCKET}/UserA/*").as_str())
        );
        assert_eq!(profiles["usera-read"]["permission"].as_str(), Some("READ"));
        assert_eq!(
            profiles["reports"]["target"].as_str(),
            Some("s3://reports/*")
        );
    }

    #[test]
    fn a_scope_grantd_cannot_ask_for_is_left_out_with_a_comment() {
        let out = render(
            &listing(vec![
                grant("s3://*", "READ", None),
                grant("s3://bkt/x/*", "READ", None),
            ]),
            Format::Toml,
        );
        assert!(out.contains("# not a target grantd can ask for, left out: s3://* READ"));
        let doc: toml::Table = out.parse().unwrap();
        assert_eq!(doc["profiles"].as_table().unwrap().len(), 1);
        let empty = render(&listing(vec![]), Format::Toml);
        assert!(empty.parse::<toml::Table>().unwrap().is_empty());
    }

    #[test]
    fn long_or_odd_paths_still_make_valid_names() {
        let long = S3Target::parse(&format!("s3://bkt/{}/*", "Ab.c ".repeat(40))).unwrap();
        let (base, full) = profile_name(&long);
        assert!(
            is_profile_name(&base) && is_profile_name(&full),
            "{base} {full}"
        );
        let odd = S3Target::parse("s3://bkt/---/*").unwrap();
        assert_eq!(profile_name(&odd).0, "grant");
        assert_eq!(join(&"x".repeat(64), "read").len(), MAX_NAME_LEN);
    }

    #[test]
    fn json_is_a_list_of_scopes_and_permissions_in_both_casings() {
        let out = render(&demo(), Format::Json);
        let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(list.len(), 6);
        assert_eq!(list[0]["scope"], format!("s3://{BUCKET}/UserA/*"));
        assert_eq!(list[0]["permission"], "READWRITE");
        assert_eq!(list[0]["GrantScope"], list[0]["scope"]);
        assert_eq!(list[0]["Permission"], "READWRITE");
        assert_eq!(list[0]["account_id"], "111122223333");
        assert!(list[1].get("application_arn").is_none(), "NA is none");
        assert_eq!(
            list[2]["application_arn"],
            "arn:aws:sso::111122223333:application/ssoins-1/apl-1"
        );
        assert_eq!(render(&listing(vec![]), Format::Json).trim(), "[]");
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let out = render(
            &listing(vec![
                grant("s3://b/long/prefix/*", "READWRITE", None),
                grant("s3://b/x/*", "READ", Some("arn:aws:sso::1:application/a")),
            ]),
            Format::Table,
        );
        assert_eq!(
            out,
            "SCOPE                 PERMISSION  APPLICATION\n\
             s3://b/long/prefix/*  READWRITE   -\n\
             s3://b/x/*            READ        arn:aws:sso::1:application/a\n"
        );
        assert_eq!(render(&listing(vec![]), Format::Table), "");
    }
}
