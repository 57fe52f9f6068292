//! Load errors: every problem names the file, and the line and column when Cedar gives a place.

use std::fmt;
use std::path::PathBuf;

/// Why the policies could not be loaded. The gateway refuses to start on any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy directory could not be listed.
    #[error("cannot read policy directory `{}`: {reason}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The IO error.
        reason: String,
    },
    /// A policy file could not be read (or is not UTF-8).
    #[error("cannot read policy file `{}`: {reason}", file.display())]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// The IO error.
        reason: String,
    },
    /// Cedar refused the schema generated from the tool catalog.
    #[error("cannot build the cedar schema from the tool catalog: {reason}")]
    Schema {
        /// What Cedar or the generator said.
        reason: String,
    },
    /// One or more policies are malformed or do not validate against the generated schema.
    /// Displayed as one `file:line:column: message` line per problem.
    #[error("{}", ProblemList(problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

/// Why a call's arguments or facts could not become its Cedar context; the call is then
/// denied, with this in the record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ContextError {
    /// An argument does not have the type the schema gives it.
    #[error("argument `{path}` is not {expected}")]
    Mismatch {
        /// JSON pointer of the argument.
        path: String,
        /// What the schema expects (`a string`, `an integer`, ...).
        expected: &'static str,
    },
    /// A required argument is absent.
    #[error("required argument `{path}` is missing")]
    Missing {
        /// JSON pointer of the argument.
        path: String,
    },
    /// Cedar refused a value it was given (an invalid record, a duplicate key).
    #[error("{0}")]
    Cedar(String),
}

/// One problem in one policy file.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Problem {
    /// The policy file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// What is wrong, in Cedar's words where Cedar found it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
