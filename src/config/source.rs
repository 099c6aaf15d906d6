//! Where environment variables come from.
//!
//! Configuration reads the environment only through [`Source`], so tests
//! pass a map instead of changing the process environment.

use std::collections::HashMap;
use std::path::PathBuf;

/// A set of environment variables, and where the machine keeps the
/// SageMaker metadata the audit context is derived from. An empty value
/// counts as unset, as it does for the AWS SDKs.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;

    /// SageMaker's metadata directory; `None` = read no machine file.
    fn sagemaker_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// The process environment, and the machine's `/opt/ml`.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }

    fn sagemaker_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from(crate::upstream::audit::SAGEMAKER_DIR))
    }
}

/// A map: the environment of a test, which reads no machine file.
impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned().filter(|v| !v.is_empty())
    }
}

/// A map and a SageMaker directory of a test's own.
#[cfg(test)]
pub(crate) struct WithSageMaker(pub HashMap<String, String>, pub PathBuf);

#[cfg(test)]
impl Source for WithSageMaker {
    fn get(&self, key: &str) -> Option<String> {
        Source::get(&self.0, key)
    }

    fn sagemaker_dir(&self) -> Option<PathBuf> {
        Some(self.1.clone())
    }
}

/// A map source from `(name, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
