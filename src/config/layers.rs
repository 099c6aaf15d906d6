//! One setting looked up through its layers: flag > environment > file.
//!
//! Owns a setting's names ([`Key`]) and the lookup through the layers; also
//! reads the file layer: TOML, whole, with a syntax error named by its line,
//! and every key it should not hold reported before any value is read.

use std::io::Read;
use std::path::Path;

use grantd_common::fields::{Field, Problems, Table};
use grantd_common::fs::{self, Owners, PathError};

use super::source::Source;

/// Longest config file read. Defaults to 1 MiB, far more than any profile list.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

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

/// Reads and parses the config file; `None` (and a problem) when it cannot,
/// or when another user could have written it or pointed it elsewhere (it
/// says whom the daemon serves: `allowed_uids`). The checks are those of
/// [`fs::open_vouched`], trusting our own files and root's.
pub(super) fn read_file(path: &Path, problems: &mut Problems) -> Option<toml::Value> {
    read_file_as(path, fs::own_uid(), problems)
}

pub(super) fn read_file_as(path: &Path, uid: u32, problems: &mut Problems) -> Option<toml::Value> {
    let shown = path.display();
    let mut text = String::new();
    let read = fs::open_vouched(path, Owners::or_root(uid)).and_then(|file| {
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| PathError::Inspect {
                path: path.to_path_buf(),
                source,
            })
    });
    match read {
        Ok(n) if n as u64 > MAX_CONFIG_BYTES => {
            problems.push(format!(
                "{shown}: config file larger than {MAX_CONFIG_BYTES} bytes"
            ));
            return None;
        }
        Ok(_) => {}
        Err(PathError::Inspect { source, .. } | PathError::Create { source, .. }) => {
            problems.push(format!("{shown}: cannot read config file: {source}"));
            return None;
        }
        Err(refused @ PathError::Unsafe { .. }) => {
            problems.push(format!(
                "{shown}: refusing the config file, which says whom grantd serves: {refused}"
            ));
            return None;
        }
    }
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
