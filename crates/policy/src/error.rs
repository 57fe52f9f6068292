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
