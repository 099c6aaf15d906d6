//! Reading loosely typed tables while collecting every problem.
//!
//! The scenario file (TOML) and the runtime fault API (JSON) are both read as
//! `serde_json::Value` trees and walked by hand rather than derived, so one
//! pass reports every unknown key and every bad value, each named by its
//! path (`grants[2].permission: ...`), instead of stopping at the first.

use serde_json::{Map, Value};

/// Problems found so far, each a complete `path: reason` line.
pub type Problems = Vec<String>;

/// One table being read; remembers which keys were asked for, so
/// [`Table::finish`] can report the rest as unknown.
pub struct Table<'a> {
    map: &'a Map<String, Value>,
    path: String,
    known: Vec<&'static str>,
}

impl<'a> Table<'a> {
    /// `value` must be a table; otherwise reports `path: expected a table`.
    pub fn new(value: &'a Value, path: &str, problems: &mut Problems) -> Option<Table<'a>> {
        match value {
            Value::Object(map) => Some(Table {
                map,
                path: path.to_string(),
                known: Vec::new(),
            }),
            _ => {
                let name = if path.is_empty() { "document" } else { path };
                problems.push(format!("{name}: expected a table, got {}", kind(value)));
                None
            }
        }
    }

    /// The full path of `key` in this table, for messages.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value of `key`; JSON `null` counts as absent.
    pub fn value(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&mut self, key: &'static str, problems: &mut Problems) -> Option<&'a str> {
        match self.value(key)? {
            Value::String(s) => Some(s),
            other => {
                problems.push(format!(
                    "{}: expected a string, got {}",
                    self.path_of(key),
                    kind(other)
                ));
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn u64(&mut self, key: &'static str, problems: &mut Problems) -> Option<u64> {
        let value = self.value(key)?;
        match value.as_u64() {
            Some(n) => Some(n),
            None => {
                problems.push(format!(
                    "{}: expected a non-negative integer, got {}",
                    self.path_of(key),
                    describe(value)
                ));
                None
            }
        }
    }

    /// A non-negative integer within `range`.
    pub fn u64_in(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<u64>,
        problems: &mut Problems,
    ) -> Option<u64> {
        let n = self.u64(key, problems)?;
        if range.contains(&n) {
            Some(n)
        } else {
            problems.push(format!(
                "{}: {n} is out of range {}..={}",
                self.path_of(key),
                range.start(),
                range.end()
            ));
            None
        }
    }

    /// An array (of tables, usually); absent means empty.
    pub fn array(&mut self, key: &'static str, problems: &mut Problems) -> &'a [Value] {
        match self.value(key) {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                problems.push(format!(
                    "{}: expected an array, got {}",
                    self.path_of(key),
                    kind(other)
                ));
                &[]
            }
        }
    }

    /// Reports every key that no accessor asked for.
    pub fn finish(self, problems: &mut Problems) {
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            let mut expected = self.known.clone();
            expected.sort_unstable();
            expected.dedup();
            problems.push(format!(
                "{}: unknown key (expected one of: {})",
                self.path_of(key),
                expected.join(", ")
            ));
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{:?}", s.chars().take(40).collect::<String>()),
        other => kind(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unknown_keys_and_wrong_types_together() {
        let value = json!({"name": 5, "count": "x", "extra": true, "other": 1});
        let mut problems = Problems::new();
        let mut table = Table::new(&value, "things[1]", &mut problems).unwrap();
        assert_eq!(table.str("name", &mut problems), None);
        assert_eq!(table.u64("count", &mut problems), None);
        table.finish(&mut problems);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("things[1].name: expected a string"));
        assert!(problems[1].starts_with("things[1].count: expected a non-negative integer"));
        assert!(problems[2].starts_with("things[1].extra: unknown key"));
        assert!(problems[3].starts_with("things[1].other: unknown key"));
    }
}
