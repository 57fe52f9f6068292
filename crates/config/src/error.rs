//! Configuration errors. Each names the file, and the line or the key, that is wrong.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the schema (unknown key, wrong type).
    #[error("{}{}: {message}", path.display(), Position(*line, *column))]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A value is well-formed but wrong (duplicate name, dangling reference).
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key path, such as `apis[0].base_url`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A file or folder the config names does not exist.
    #[error("{}: `{key}`: `{}` does not exist", path.display(), file.display())]
    MissingFile {
        /// The config file.
        path: PathBuf,
        /// The key naming the file.
        key: String,
        /// The resolved path that is missing.
        file: PathBuf,
    },
}

struct Position(Option<u64>, Option<u64>);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(col)) => write!(f, ":{line}:{col}"),
            (Some(line), None) => write!(f, ":{line}"),
            _ => Ok(()),
        }
    }
}

/// The first line of a multi-line parser message (the rest is a source snippet).
pub(crate) fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}
