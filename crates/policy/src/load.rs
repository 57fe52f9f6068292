//! Reading policy files, giving each policy its id, and turning Cedar's diagnostics into
//! `file:line:column` problems.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use sha2::{Digest, Sha256};

use crate::error::{PolicyError, Problem};

/// One policy file.
pub(crate) struct SourceFile {
    /// The file name, used in generated policy ids.
    pub(crate) name: String,
    /// The path, used in messages.
    pub(crate) path: PathBuf,
    /// The content.
    pub(crate) text: String,
}

/// A parsed policy with its final id and where it came from.
pub(crate) struct ParsedPolicy {
    /// The policy, carrying its final id.
    pub(crate) policy: Policy,
    /// Index of its file.
    pub(crate) file: usize,
    /// Byte offset of its first character in the file.
    pub(crate) offset: usize,
}

/// Reads every `*.cedar` file directly in `dir`, sorted by file name. Hidden files (editor
/// locks such as `.#x.cedar`) are skipped; symbolic links are followed, so Kubernetes ConfigMap
/// mounts work.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, PolicyError> {
    let read_dir_error = |e: std::io::Error| PolicyError::ReadDir {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let entry = entry.map_err(read_dir_error)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(file = %entry.path().display(), "skipping policy file with a non-UTF-8 name");
            continue;
        };
        if !name.ends_with(".cedar") || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let read_error = |e: std::io::Error| PolicyError::ReadFile {
            file: path.clone(),
            reason: e.to_string(),
        };
        if !std::fs::metadata(&path).map_err(read_error)?.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(read_error)?;
        files.push(SourceFile { name, path, text });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// First 16 hex characters of SHA-256 over the sorted (file name, content) pairs. Each part is
/// length-prefixed, so no two different sets of files share an encoding.
pub(crate) fn version(files: &[SourceFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        for part in [file.name.as_bytes(), file.text.as_bytes()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
    }
    let mut digest = hex::encode(hasher.finalize());
    digest.truncate(16);
    digest
}

/// Parses every file and assigns ids: the `@id("...")` annotation, else `<file name>#<index>`
/// with the 0-based position of the policy in its file. Policies that fail (syntax errors,
/// templates, empty or duplicate ids) become problems; the rest are returned in file order.
pub(crate) fn parse(files: &[SourceFile]) -> (Vec<ParsedPolicy>, Vec<Problem>) {
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for (file_index, file) in files.iter().enumerate() {
        let set = match PolicySet::from_str(&file.text) {
            Ok(set) => set,
            Err(errors) => {
                for error in errors.iter() {
                    problems.push(problem(file, first_offset(error), describe(error)));
                }
                continue;
            }
        };
        for entry in in_file_order(file, &set) {
            let Entry::Policy(policy) = entry.item else {
                problems.push(problem(
                    file,
                    Some(entry.offset),
                    "templates (policies with `?principal` or `?resource` slots) are not supported; \
                     write a static policy"
                        .to_owned(),
                ));
                continue;
            };
            let id = match policy.annotation("id") {
                Some("") => {
                    problems.push(problem(
                        file,
                        Some(entry.offset),
                        "the `@id` annotation must not be empty".to_owned(),
                    ));
                    continue;
                }
                Some(id) => id.to_owned(),
                None => format!("{}#{}", file.name, entry.index),
            };
            match (policy.annotation("approval"), policy.effect()) {
                (Some(group), cedar_policy::Effect::Permit) if group.trim().is_empty() => {
                    problems.push(problem(
                        file,
                        Some(entry.offset),
                        "the `@approval` annotation must name an approver group".to_owned(),
                    ));
                    continue;
                }
                (Some(_), cedar_policy::Effect::Forbid) => {
                    problems.push(problem(
                        file,
                        Some(entry.offset),
                        "`@approval` applies only to `permit` policies: a denied call is never held"
                            .to_owned(),
                    ));
                    continue;
                }
                _ => {}
            }
            if let Some(&(first_file, first_offset)) = seen.get(&id) {
                let first = files
                    .get(first_file)
                    .map(|f| location(f, first_offset))
                    .unwrap_or_default();
                problems.push(problem(
                    file,
                    Some(entry.offset),
                    format!("duplicate policy id `{id}`, first used at {first}"),
                ));
                continue;
            }
            seen.insert(id.clone(), (file_index, entry.offset));
            parsed.push(ParsedPolicy {
                policy: policy.new_id(PolicyId::new(id)),
                file: file_index,
                offset: entry.offset,
            });
        }
    }
    (parsed, problems)
}

/// Validates the policies strictly against the schema. Errors become problems; warnings (such as
/// a policy that can never apply) are logged.
pub(crate) fn validate(
    schema: &Schema,
    set: &PolicySet,
    parsed: &[ParsedPolicy],
    files: &[SourceFile],
) -> Vec<Problem> {
    let origin: HashMap<&PolicyId, &ParsedPolicy> =
        parsed.iter().map(|p| (p.policy.id(), p)).collect();
    let place = |id: &PolicyId, diagnostic: &dyn Diagnostic| {
        let source = origin.get(id)?;
        let file = files.get(source.file)?;
        Some((file, first_offset(diagnostic).or(Some(source.offset))))
    };
    let result = Validator::new(schema.clone()).validate(set, ValidationMode::Strict);
    for warning in result.validation_warnings() {
        let at = place(warning.policy_id(), warning)
            .map(|(file, offset)| location(file, offset.unwrap_or(0)))
            .unwrap_or_default();
        tracing::warn!(at, "policy warning: {}", describe(warning));
    }
    result
        .validation_errors()
        .map(|error| match place(error.policy_id(), error) {
            Some((file, offset)) => problem(file, offset, describe(error)),
            None => Problem {
                file: PathBuf::new(),
                line: None,
                column: None,
                message: describe(error),
            },
        })
        .collect()
}

enum Entry<'a> {
    Policy(&'a Policy),
    Template,
}

struct Located<'a> {
    index: usize,
    offset: usize,
    item: Entry<'a>,
}

/// The policies and templates of one file in source order, each with its 0-based index and the
/// byte offset where it starts.
///
/// Cedar names the policies of a parsed set `policy0`, `policy1`, ... in source order and keeps
/// each one's exact source text, so the offsets are found by searching each text after the end of
/// the previous one.
fn in_file_order<'a>(file: &SourceFile, set: &'a PolicySet) -> Vec<Located<'a>> {
    let index_of = |id: &PolicyId| {
        id.to_string()
            .strip_prefix("policy")
            .and_then(|n| n.parse::<usize>().ok())
    };
    let mut entries: Vec<(usize, Option<String>, Entry<'a>)> = set
        .policies()
        .map(|p| (index_of(p.id()), p.to_cedar(), Entry::Policy(p)))
        .chain(
            set.templates()
                .map(|t| (index_of(t.id()), Some(t.to_cedar()), Entry::Template)),
        )
        .enumerate()
        .map(|(fallback, (index, text, item))| (index.unwrap_or(fallback), text, item))
        .collect();
    entries.sort_by_key(|(index, _, _)| *index);
    let mut cursor = 0;
    entries
        .into_iter()
        .map(|(index, text, item)| {
            let found = text.and_then(|text| {
                let rest = file.text.get(cursor..)?;
                rest.find(&text).map(|at| (cursor + at, text.len()))
            });
            let offset = match found {
                Some((start, len)) => {
                    cursor = start + len;
                    start
                }
                None => cursor,
            };
            Located {
                index,
                offset,
                item,
            }
        })
        .collect()
}

/// The start of the first labelled span of a Cedar diagnostic.
fn first_offset(diagnostic: &dyn Diagnostic) -> Option<usize> {
    diagnostic.labels()?.next().map(|label| label.offset())
}

/// Cedar's message, followed by its help text when it has one.
fn describe(diagnostic: &dyn Diagnostic) -> String {
    match diagnostic.help() {
        Some(help) => format!("{diagnostic}; {help}"),
        None => diagnostic.to_string(),
    }
}

fn problem(file: &SourceFile, offset: Option<usize>, message: String) -> Problem {
    let (line, column) = match offset {
        Some(offset) => {
            let (line, column) = line_column(&file.text, offset);
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    Problem {
        file: file.path.clone(),
        line,
        column,
        message,
    }
}

fn location(file: &SourceFile, offset: usize) -> String {
    let (line, column) = line_column(&file.text, offset);
    format!("{}:{line}:{column}", file.path.display())
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}
