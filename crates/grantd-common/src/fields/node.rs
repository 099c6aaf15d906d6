//! The value trees a [`Table`](super::Table) walks: JSON and TOML.
//!
//! Both are read the same way; each names its types in messages the way its
//! own users know them (JSON "a number", TOML "integer", as the `toml` crate
//! says), so a reader over either keeps the wording its files always had.

/// A loosely typed value: a table, an array or a scalar.
pub trait Node: Sized {
    /// The value of `key`, when `self` is a table.
    fn get(&self, key: &str) -> Option<&Self>;
    /// The keys in document order (sorted for JSON), when `self` is a table.
    fn keys(&self) -> Vec<&str>;
    fn is_table(&self) -> bool;
    /// A present-but-empty value (JSON `null`), which readers treat as absent.
    fn is_null(&self) -> bool;
    fn as_str(&self) -> Option<&str>;
    fn as_bool(&self) -> Option<bool>;
    fn as_u64(&self) -> Option<u64>;
    fn as_array(&self) -> Option<&[Self]>;
    /// The value's type, as messages name it.
    fn kind(&self) -> &'static str;
    /// The value for a message: numbers and (shortened) strings as they are,
    /// anything else by its kind.
    fn describe(&self) -> String;
}

/// How much of a string a message quotes back.
const QUOTED_CHARS: usize = 40;

fn quoted(s: &str) -> String {
    format!("{:?}", s.chars().take(QUOTED_CHARS).collect::<String>())
}

impl Node for serde_json::Value {
    fn get(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn is_table(&self) -> bool {
        self.is_object()
    }

    fn is_null(&self) -> bool {
        serde_json::Value::is_null(self)
    }

    fn as_str(&self) -> Option<&str> {
        serde_json::Value::as_str(self)
    }

    fn as_bool(&self) -> Option<bool> {
        serde_json::Value::as_bool(self)
    }

    fn as_u64(&self) -> Option<u64> {
        serde_json::Value::as_u64(self)
    }

    fn as_array(&self) -> Option<&[Self]> {
        serde_json::Value::as_array(self).map(Vec::as_slice)
    }

    fn kind(&self) -> &'static str {
        use serde_json::Value;
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "a table",
        }
    }

    fn describe(&self) -> String {
        use serde_json::Value;
        match self {
            Value::Number(n) => n.to_string(),
            Value::String(s) => quoted(s),
            other => other.kind().to_string(),
        }
    }
}

impl Node for toml::Value {
    fn get(&self, key: &str) -> Option<&Self> {
        self.as_table()?.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.as_table()
            .map(|t| t.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn is_table(&self) -> bool {
        toml::Value::is_table(self)
    }

    fn is_null(&self) -> bool {
        false
    }

    fn as_str(&self) -> Option<&str> {
        toml::Value::as_str(self)
    }

    fn as_bool(&self) -> Option<bool> {
        toml::Value::as_bool(self)
    }

    fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(|n| u64::try_from(n).ok())
    }

    fn as_array(&self) -> Option<&[Self]> {
        toml::Value::as_array(self).map(Vec::as_slice)
    }

    fn kind(&self) -> &'static str {
        self.type_str()
    }

    fn describe(&self) -> String {
        match self {
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(n) => n.to_string(),
            toml::Value::String(s) => quoted(s),
            other => other.kind().to_string(),
        }
    }
}
