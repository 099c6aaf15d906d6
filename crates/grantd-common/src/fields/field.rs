//! One value and where it came from.
//!
//! A setting may come from a command-line flag or an environment variable,
//! which are text, as well as from a document, where it is a typed
//! [`Node`]. A [`Field`] holds either, together with the origin label every
//! problem about it is named by (`--listen`, `GRANTD_LISTEN`,
//! `grantd.toml: listen`). Text is read leniently, as people write it in a
//! shell: `yes` is true, ` 10 ` is ten.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::{Node, Problems};

/// A value read from a flag, the environment or a document, with its origin.
pub struct Field<'a, V> {
    origin: String,
    raw: Raw<'a, V>,
}

enum Raw<'a, V> {
    Text(String),
    Node(&'a V),
}

impl<'a, V: Node> Field<'a, V> {
    /// A value given as text (a flag or an environment variable).
    pub fn text(origin: impl Into<String>, text: impl Into<String>) -> Self {
        Field {
            origin: origin.into(),
            raw: Raw::Text(text.into()),
        }
    }

    /// A value found in a document.
    pub fn node(origin: impl Into<String>, node: &'a V) -> Self {
        Field {
            origin: origin.into(),
            raw: Raw::Node(node),
        }
    }

    /// Where the value came from, as problems name it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Reports `origin: why`.
    pub fn reject(&self, why: impl Display, problems: &mut Problems) {
        problems.push(format!("{}: {why}", self.origin));
    }

    /// Text as it is, or a string node.
    pub fn str(&self, problems: &mut Problems) -> Option<String> {
        match &self.raw {
            Raw::Text(s) => Some(s.clone()),
            Raw::Node(v) => match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    self.reject(format!("expected a string, got {}", v.kind()), problems);
                    None
                }
            },
        }
    }

    /// A boolean node, or text `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`
    /// in any case.
    pub fn bool(&self, problems: &mut Problems) -> Option<bool> {
        let (value, got) = match &self.raw {
            Raw::Text(s) => (parse_bool(s), format!("{s:?}")),
            Raw::Node(v) => (v.as_bool(), v.kind().to_string()),
        };
        if value.is_none() {
            self.reject(format!("expected true or false, got {got}"), problems);
        }
        value
    }

    /// An integer node or decimal text, within `range`.
    pub fn whole_number(&self, range: RangeInclusive<u64>, problems: &mut Problems) -> Option<u64> {
        let n = match &self.raw {
            Raw::Text(s) => s.trim().parse::<u64>().ok(),
            Raw::Node(v) => v.as_u64(),
        };
        match n {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.reject(
                    format!(
                        "expected a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                    problems,
                );
                None
            }
        }
    }

    /// A list of whole numbers within `range`: an array node, or text with
    /// the numbers separated by commas (`1000,1001`). Every bad item is
    /// reported, quoted back; `None` if there was any.
    pub fn whole_numbers(
        &self,
        range: RangeInclusive<u64>,
        problems: &mut Problems,
    ) -> Option<Vec<u64>> {
        let items: Vec<(Option<u64>, String)> = match &self.raw {
            Raw::Text(s) => s
                .split(',')
                .map(|item| {
                    (
                        item.trim().parse::<u64>().ok(),
                        format!("{:?}", item.trim()),
                    )
                })
                .collect(),
            Raw::Node(v) => match v.as_array() {
                Some(array) => array.iter().map(|n| (n.as_u64(), n.describe())).collect(),
                None => {
                    self.reject(format!("expected an array, got {}", v.kind()), problems);
                    return None;
                }
            },
        };
        let before = problems.len();
        let mut numbers = Vec::with_capacity(items.len());
        for (n, shown) in items {
            match n {
                Some(n) if range.contains(&n) => numbers.push(n),
                _ => self.reject(
                    format!(
                        "{shown} is not a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                    problems,
                ),
            }
        }
        (problems.len() == before).then_some(numbers)
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TomlField<'a> = Field<'a, toml::Value>;

    #[test]
    fn text_reads_as_people_write_it_in_a_shell() {
        let mut problems = Problems::new();
        assert_eq!(TomlField::text("F", "Yes").bool(&mut problems), Some(true));
        assert_eq!(TomlField::text("F", "off").bool(&mut problems), Some(false));
        assert_eq!(
            TomlField::text("F", " 10 ").whole_number(1..=10, &mut problems),
            Some(10)
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_list_of_numbers_is_an_array_or_comma_separated_text() {
        let mut problems = Problems::new();
        let array: toml::Value =
            toml::from_str::<toml::Table>("a = [1000, 1001]").unwrap()["a"].clone();
        assert_eq!(
            TomlField::node("f: a", &array).whole_numbers(0..=9999, &mut problems),
            Some(vec![1000, 1001])
        );
        assert_eq!(
            TomlField::text("A", " 1000, 1001 ").whole_numbers(0..=9999, &mut problems),
            Some(vec![1000, 1001])
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_bad_number_of_a_list_is_reported() {
        let mut problems = Problems::new();
        let doc = toml::from_str::<toml::Table>("a = [1, \"x\", -3]\nb = 5").unwrap();
        assert_eq!(
            TomlField::node("f: a", &doc["a"]).whole_numbers(0..=9, &mut problems),
            None
        );
        assert_eq!(
            TomlField::node("f: b", &doc["b"]).whole_numbers(0..=9, &mut problems),
            None
        );
        assert_eq!(
            TomlField::text("A", "1,,abc,10").whole_numbers(0..=9, &mut problems),
            None
        );
        assert_eq!(
            problems,
            [
                "f: a: \"x\" is not a whole number from 0 to 9",
                "f: a: -3 is not a whole number from 0 to 9",
                "f: b: expected an array, got integer",
                "A: \"\" is not a whole number from 0 to 9",
                "A: \"abc\" is not a whole number from 0 to 9",
                "A: \"10\" is not a whole number from 0 to 9",
            ]
        );
    }

    #[test]
    fn problems_name_the_origin_and_the_type_found() {
        let mut problems = Problems::new();
        let number = toml::Value::Integer(5);
        let text = toml::Value::String("7".into());
        assert_eq!(TomlField::node("f: a", &number).str(&mut problems), None);
        assert_eq!(TomlField::node("f: b", &number).bool(&mut problems), None);
        assert_eq!(TomlField::text("B", "maybe").bool(&mut problems), None);
        assert_eq!(
            TomlField::node("f: c", &text).whole_number(1..=9, &mut problems),
            None
        );
        assert_eq!(
            TomlField::node("f: d", &number).whole_number(6..=9, &mut problems),
            None
        );
        assert_eq!(
            problems,
            [
                "f: a: expected a string, got integer",
                "f: b: expected true or false, got integer",
                "B: expected true or false, got \"maybe\"",
                "f: c: expected a whole number from 1 to 9",
                "f: d: expected a whole number from 6 to 9",
            ]
        );
    }
}
