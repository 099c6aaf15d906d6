//! One setting looked up through its layers: flag > environment > file.
//!
//! Owns a setting's names ([`Key`]) and the lookup through the layers; also
//! reads the file layer: TOML, whole, with a syntax error named by its line,
//! and every key it should not hold reported before any value is read.

use std::path::Path;

use grantd_common::fields::{Field, Problems, Table};

use super::source::Source;

/// One setting's names: its key in the config file, its flag and its
/// environment variable, each written out in full so that a search for
/// `GRANTD_MAX_ENTRIES` lands where it is declared. `flag` is `None` for
/// settings only the file and the environment can give.
pub(super) struct Key {
    pub file: &'static str,
    pub flag: Option<&'static str>,
    pub env: &'static str,
}

/// A value of the config file, or given as a flag or environment variable.
pub(super) type Value<'a> = Field<'a, toml::Value>;

/// The environment and the config file, asked in order of precedence.
pub(super) struct Layers<'a> {
    env: &'a dyn Source,
    /// `None` when no file is configured or it could not be read.
    file: Option<Table<'a, toml::Value>>,
}

impl<'a> Layers<'a> {
    pub fn new(env: &'a dyn Source, file: Option<Table<'a, toml::Value>>) -> Self {
        Layers { env, file }
    }

    /// The setting `key`: `flag` when given, else the environment, else the file.
    pub fn get(&mut self, key: &Key, flag: Option<String>) -> Option<Value<'a>> {
        if let (Some(value), Some(name)) = (flag, key.flag) {
            return Some(Field::text(name, value));
        }
        if let Some(value) = self.env.get(key.env) {
            return Some(Field::text(key.env, value));
        }
        self.file.as_mut()?.field(key.file)
    }

    /// The config file's top table, for what only the file holds.
    pub fn file(&mut self) -> Option<&mut Table<'a, toml::Value>> {
        self.file.as_mut()
    }
}

/// Reads and parses the config file; `None` (and a problem) when it cannot.
pub(super) fn read_file(path: &Path, problems: &mut Problems) -> Option<toml::Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{}: cannot read config file: {e}", path.display()));
            return None;
        }
    };
    match text.parse::<toml::Table>() {
        Ok(t) => Some(toml::Value::Table(t)),
        Err(e) => {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            problems.push(format!(
                "{}: not valid TOML{at}: {}",
                path.display(),
                e.message()
            ));
            None
        }
    }
}

/// The file's top table, every key not in `keys` already reported.
pub(super) fn file_table<'a>(
    document: &'a toml::Value,
    file_name: &str,
    keys: &[&'static str],
    problems: &mut Problems,
) -> Option<Table<'a, toml::Value>> {
    let mut table = Table::document(document, file_name, problems)?;
    table.expect(keys);
    reject_unknown_keys(&table, problems);
    Some(table)
}

/// Reports each key no one expected, in file order, as `table: unknown key "k"`.
pub(super) fn reject_unknown_keys(table: &Table<'_, toml::Value>, problems: &mut Problems) {
    for key in table.unknown_keys() {
        problems.push(format!("{}: unknown key {key:?}", table.path()));
    }
}
