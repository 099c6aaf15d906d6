//! Reading loosely typed tables while collecting every problem.
//!
//! The emulator's scenario file (TOML) and fault API (JSON) and the daemon's
//! configuration (TOML, flags, environment) are all walked by hand rather
//! than derived, so one pass reports every unknown key and every bad value,
//! each named by its path (`grants[2].permission: ...`), instead of stopping
//! at the first.
//!
//! - [`Table`]: one table of a document; typed accessors, unknown keys.
//! - [`Field`]: one value with its origin, from a document or given as text.
//! - [`Node`]: the trees a table walks (`serde_json::Value`, `toml::Value`).

mod field;
mod node;

pub use field::Field;
pub use node::Node;

/// Problems found so far, each a complete `path: reason` line.
pub type Problems = Vec<String>;

/// One table being read; remembers which keys were asked for, so
/// [`Table::finish`] can report the rest as unknown.
pub struct Table<'a, V: Node = serde_json::Value> {
    node: &'a V,
    path: String,
    /// Between `path` and a key: `.` inside a document, `: ` after the name
    /// of the document itself (`grantd.toml: listen`).
    separator: &'static str,
    known: Vec<&'static str>,
}

impl<'a, V: Node> Table<'a, V> {
    /// `value` must be a table; otherwise reports `path: expected a table`.
    pub fn new(value: &'a V, path: &str, problems: &mut Problems) -> Option<Table<'a, V>> {
        Self::with_separator(value, path, ".", problems)
    }

    /// The top table of a document named `name` (a file), whose keys are
    /// named `name: key`.
    pub fn document(value: &'a V, name: &str, problems: &mut Problems) -> Option<Table<'a, V>> {
        Self::with_separator(value, name, ": ", problems)
    }

    fn with_separator(
        value: &'a V,
        path: &str,
        separator: &'static str,
        problems: &mut Problems,
    ) -> Option<Table<'a, V>> {
        if value.is_table() {
            Some(Table {
                node: value,
                path: path.to_string(),
                separator,
                known: Vec::new(),
            })
        } else {
            let name = if path.is_empty() { "document" } else { path };
            problems.push(format!("{name}: expected a table, got {}", value.kind()));
            None
        }
    }

    /// The path of this table itself, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full path of `key` in this table, for messages.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}{}{key}", self.path, self.separator)
        }
    }

    /// Declares keys this table may hold without reading them yet, so that
    /// [`Table::unknown_keys`] can be asked before the values are.
    pub fn expect(&mut self, keys: &[&'static str]) {
        self.known.extend_from_slice(keys);
    }

    /// The raw value of `key`; JSON `null` counts as absent.
    pub fn value(&mut self, key: &'static str) -> Option<&'a V> {
        self.known.push(key);
        self.node.get(key).filter(|v| !v.is_null())
    }

    /// The value of `key` with its path as origin.
    pub fn field(&mut self, key: &'static str) -> Option<Field<'a, V>> {
        let value = self.value(key)?;
        Some(Field::node(self.path_of(key), value))
    }

    pub fn str(&mut self, key: &'static str, problems: &mut Problems) -> Option<&'a str> {
        let value = self.value(key)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                problems.push(format!(
                    "{}: expected a string, got {}",
                    self.path_of(key),
                    value.kind()
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
                    value.describe()
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
    pub fn array(&mut self, key: &'static str, problems: &mut Problems) -> &'a [V] {
        let Some(value) = self.value(key) else {
            return &[];
        };
        match value.as_array() {
            Some(items) => items,
            None => {
                problems.push(format!(
                    "{}: expected an array, got {}",
                    self.path_of(key),
                    value.kind()
                ));
                &[]
            }
        }
    }

    /// Keys that were neither read nor expected, in document order.
    pub fn unknown_keys(&self) -> Vec<&'a str> {
        self.node
            .keys()
            .into_iter()
            .filter(|k| !self.known.contains(k))
            .collect()
    }

    /// Reports every key that no accessor asked for, each with the keys
    /// that were.
    pub fn finish(self, problems: &mut Problems) {
        let mut unknown = self.unknown_keys();
        unknown.sort_unstable();
        let mut expected = self.known.clone();
        expected.sort_unstable();
        expected.dedup();
        for key in unknown {
            problems.push(format!(
                "{}: unknown key (expected one of: {})",
                self.path_of(key),
                expected.join(", ")
            ));
        }
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

    #[test]
    fn a_toml_document_names_keys_after_its_file_in_file_order() {
        let value = toml::Value::Table("zeta = 1\nname = 2\nalpha = true\n".parse().unwrap());
        let mut problems = Problems::new();
        let mut table = Table::document(&value, "grantd.toml", &mut problems).unwrap();
        table.expect(&["name"]);
        assert_eq!(table.unknown_keys(), ["zeta", "alpha"]);
        assert_eq!(table.str("name", &mut problems), None);
        let field = table.field("alpha").unwrap();
        assert_eq!(field.origin(), "grantd.toml: alpha");
        assert_eq!(
            problems,
            ["grantd.toml: name: expected a string, got integer"]
        );
    }
}
