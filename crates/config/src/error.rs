//! Error types of the crate: a field error from a plugin schema, one configuration error, and the collected list.

use std::fmt;

/// One problem found in a plugin's `config`, with a path relative to that `config` (empty: the record itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path inside `config`, e.g. `timeout` or `client_id[0]`; empty for the whole record.
    pub path: String,
    /// What is wrong, in words a user can act on (e.g. `expected a number`).
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// A position in the YAML text (both one-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, counted from 1.
    pub line: usize,
    /// Column, counted from 1.
    pub column: usize,
}

/// One problem in a configuration: where (field path and, for YAML errors, line and column) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path such as `services[0].routes[1].paths[0]`; empty when the error concerns the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Line and column in the YAML text, when known (syntax and type errors).
    pub location: Option<Location>,
}

impl ConfigError {
    /// An error at a field path, without a text position.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
            location: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location {
            write!(f, "line {} column {}: ", loc.line, loc.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in a configuration (never empty when returned as an `Err`); displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// A list holding a single error.
    pub fn single(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }

    /// Errors of a plugin `config`, each path prefixed with `prefix` (e.g. `services[0].plugins[0].config`).
    pub fn from_field_errors(prefix: &str, errors: Vec<FieldError>) -> Self {
        ConfigErrors(
            errors
                .into_iter()
                .map(|fe| ConfigError::at(join_path(prefix, &fe.path), fe.message))
                .collect(),
        )
    }

    /// The errors, each rendered as its display line (handy in tests and logs).
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Joins a field path and a relative path: `a` + `b` ⇒ `a.b`, `a` + `[0]` ⇒ `a[0]`, either empty ⇒ the other.
pub fn join_path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else if rest.is_empty() {
        prefix.to_string()
    } else if rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

fn join_lines(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Accumulates errors while walking a configuration.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub(crate) errors: Vec<ConfigError>,
}

impl Collector {
    /// Records an error at `path`.
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(path, message));
    }

    /// Turns the collected errors into a result.
    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_location() {
        let mut e = ConfigError::at("services[0].port", "must be between 1 and 65535");
        assert_eq!(
            e.to_string(),
            "services[0].port: must be between 1 and 65535"
        );
        e.location = Some(Location { line: 3, column: 7 });
        assert_eq!(
            e.to_string(),
            "line 3 column 7: services[0].port: must be between 1 and 65535"
        );
        let all = ConfigErrors(vec![e, ConfigError::at("", "whole document")]);
        assert_eq!(
            all.to_string(),
            "line 3 column 7: services[0].port: must be between 1 and 65535\nwhole document"
        );
        assert_eq!(
            FieldError::new("", "expected a record").to_string(),
            "expected a record"
        );
        assert_eq!(
            FieldError::new("timeout", "expected a number").to_string(),
            "timeout: expected a number"
        );
    }
}
