//! The guard stages of the pipeline: argument validation (`validate`, this module: every
//! call's arguments must be a JSON object within the configured input limits and must match the
//! tool's input schema), argument inspection (`inspect`: injection detectors feeding a risk
//! score) and response filtering (`filter`: DLP, prompt-injection scan, shaping); see
//! [`Guards`].
//!
//! Design decisions:
//! - Limits first, schema second. The limit check is one linear walk that stops at the first
//!   container past the depth or size budget, so a hostile value never reaches the schema
//!   validator, whose cost grows with the value.
//! - Schemas are compiled once per catalog with no way to fetch anything: draft 2020-12, an
//!   offline retriever (any reference outside the schema fails to compile), `format` asserted.
//!   The catalog makes every input schema self-contained, so nothing is lost.
//! - Violation messages are written here, not taken from the validator, so they never echo
//!   argument values; property names and other user text in them are cut to 64 characters.

mod decode;
pub mod dlp;
mod error;
pub mod inspect;
mod keywords;
mod normalize;
pub mod prompt;
pub mod shape;
mod stage;

use std::collections::HashMap;
use std::fmt;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, PatternOptions, ValidationError};
use portcullis_catalog::Catalog;
use portcullis_config::InputLimits;
use portcullis_core::{Denial, DenialKind, Violation, truncate_for_message};
use serde_json::Value;

pub use crate::error::{DetectorError, GuardError, SettingsError};
pub use crate::normalize::integral_numbers;
pub use crate::stage::{FilterReport, Guards, Inspection};

/// Most violations reported for one call.
pub const MAX_VIOLATIONS: usize = 10;
/// Longest piece of user-supplied text (a property name) quoted in a violation message.
const MAX_ECHO_CHARS: usize = 64;
/// Longest piece of schema text (a pattern, an enum) quoted in a violation message.
const MAX_SCHEMA_CHARS: usize = 96;
/// Backtracking budget of one `pattern` match; a match that needs more fails validation.
const REGEX_BACKTRACK_LIMIT: usize = 100_000;

/// The compiled input schemas of a catalog plus the input limits; built once, shared by calls.
pub struct Validator {
    tools: HashMap<String, CompiledTool>,
    limits: InputLimits,
}

struct CompiledTool {
    schema: jsonschema::Validator,
    /// The denial message for a schema mismatch, prepared once.
    mismatch: String,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tools: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        tools.sort_unstable();
        f.debug_struct("Validator")
            .field("tools", &tools)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Validator {
    /// Compiles the input schema of every tool in `catalog`.
    pub fn new(catalog: &Catalog, limits: &InputLimits) -> Result<Self, GuardError> {
        let options = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .offline()
            .should_validate_formats(true)
            .with_pattern_options(
                PatternOptions::fancy_regex().backtrack_limit(REGEX_BACKTRACK_LIMIT),
            );
        let mut tools = HashMap::with_capacity(catalog.len());
        for tool in catalog.tools() {
            let schema = options
                .build(&tool.input_schema)
                .map_err(|err| GuardError::Schema {
                    tool: tool.name.clone(),
                    message: truncate_for_message(&err.to_string(), 300),
                })?;
            tools.insert(
                tool.name.clone(),
                CompiledTool {
                    schema,
                    mismatch: format!("arguments do not match the schema of `{}`", tool.name),
                },
            );
        }
        Ok(Self {
            tools,
            limits: limits.clone(),
        })
    }

    /// Checks limits (depth, string bytes including keys, items) first by walking the value,
    /// then the tool's schema.
    ///
    /// A tool missing from the catalog yields the unknown-tool denial. Any other failure is an
    /// [`DenialKind::InvalidArguments`] denial listing up to [`MAX_VIOLATIONS`] violations, each
    /// with a JSON pointer into the arguments and the rule (schema keyword or limit name).
    pub fn validate(&self, tool: &str, args: &Value) -> Result<(), Denial> {
        let Some(compiled) = self.tools.get(tool) else {
            return Err(Denial::unknown_tool(tool));
        };
        if !args.is_object() {
            return Err(invalid(
                "arguments must be a JSON object",
                vec![violation(
                    String::new(),
                    "type",
                    format!("expected an object, got {}", type_name(args)),
                )],
            ));
        }

        let mut walk = LimitWalk {
            limits: &self.limits,
            path: Vec::new(),
            violations: Vec::new(),
        };
        walk.value(args, 1);
        if !walk.violations.is_empty() {
            return Err(invalid(
                "arguments exceed the input limits",
                walk.violations,
            ));
        }

        if compiled.schema.is_valid(args) {
            return Ok(());
        }
        let violations: Vec<Violation> = compiled
            .schema
            .iter_errors(args)
            .take(MAX_VIOLATIONS)
            .map(|err| {
                violation(
                    err.instance_path().as_str().to_owned(),
                    err.kind().keyword(),
                    describe(&err),
                )
            })
            .collect();
        Err(invalid(&compiled.mismatch, violations))
    }
}

fn invalid(message: &str, violations: Vec<Violation>) -> Denial {
    let mut denial = Denial::new(DenialKind::InvalidArguments, message);
    denial.violations = violations;
    denial
}

fn violation(path: String, rule: &str, message: String) -> Violation {
    Violation {
        path,
        rule: rule.to_owned(),
        message,
    }
}

/// One step of a JSON pointer, kept borrowed until a violation needs the pointer.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The limit check: a depth-first walk that stops descending where a limit is broken.
struct LimitWalk<'a, 'l> {
    limits: &'l InputLimits,
    path: Vec<Segment<'a>>,
    violations: Vec<Violation>,
}

impl<'a> LimitWalk<'a, '_> {
    /// Checks `value`, a container at nesting level `depth` (the arguments object is level 1).
    fn value(&mut self, value: &'a Value, depth: usize) {
        match value {
            Value::String(text) if text.len() > self.limits.max_string_bytes => {
                self.report(
                    "max_string_bytes",
                    format!(
                        "string is longer than {} bytes",
                        self.limits.max_string_bytes
                    ),
                );
            }
            Value::Array(items) => {
                if !self.container(depth, items.len(), "items") {
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    if self.full() {
                        return;
                    }
                    self.path.push(Segment::Index(i));
                    self.value(item, depth + 1);
                    self.path.pop();
                }
            }
            Value::Object(members) => {
                if !self.container(depth, members.len(), "properties") {
                    return;
                }
                for (key, member) in members {
                    if self.full() {
                        return;
                    }
                    if key.len() > self.limits.max_string_bytes {
                        // Reported at the object: a pointer to the member would echo the key.
                        self.report(
                            "max_string_bytes",
                            format!(
                                "a property name is longer than {} bytes",
                                self.limits.max_string_bytes
                            ),
                        );
                        continue;
                    }
                    self.path.push(Segment::Key(key));
                    self.value(member, depth + 1);
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    /// Checks depth and size of a container; false when its content must not be walked.
    fn container(&mut self, depth: usize, len: usize, noun: &str) -> bool {
        if depth > self.limits.max_depth {
            self.report(
                "max_depth",
                format!(
                    "value is nested deeper than {} levels",
                    self.limits.max_depth
                ),
            );
            return false;
        }
        if len > self.limits.max_items {
            self.report(
                "max_items",
                format!("more than {} {noun}", self.limits.max_items),
            );
            return false;
        }
        true
    }

    fn full(&self) -> bool {
        self.violations.len() >= MAX_VIOLATIONS
    }

    fn report(&mut self, rule: &str, message: String) {
        if self.full() {
            return;
        }
        let mut pointer = String::new();
        for segment in &self.path {
            pointer.push('/');
            match segment {
                Segment::Key(key) => push_escaped(&mut pointer, key),
                Segment::Index(i) => pointer.push_str(&i.to_string()),
            }
        }
        self.violations.push(violation(pointer, rule, message));
    }
}

fn push_escaped(pointer: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            _ => pointer.push(c),
        }
    }
}

/// A message for a schema violation that quotes schema text but never argument values.
fn describe(err: &ValidationError<'_>) -> String {
    let schema_text =
        |value: &dyn fmt::Display| truncate_for_message(&value.to_string(), MAX_SCHEMA_CHARS);
    match err.kind() {
        ValidationErrorKind::AdditionalItems { limit } => {
            format!("array has more than {limit} items")
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => not_allowed(unexpected),
        ValidationErrorKind::AnyOf { .. } => {
            "value matches none of the allowed schemas (anyOf)".to_owned()
        }
        ValidationErrorKind::BacktrackLimitExceeded { .. }
        | ValidationErrorKind::RegexEngineFailure { .. } => {
            "string could not be checked against the pattern".to_owned()
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("value must be {}", schema_text(expected_value))
        }
        ValidationErrorKind::Contains => "array has no item of the required form".to_owned(),
        ValidationErrorKind::ContentEncoding { content_encoding } => {
            format!(
                "string is not valid `{}` content",
                schema_text(content_encoding)
            )
        }
        ValidationErrorKind::ContentMediaType { content_media_type } => {
            format!(
                "string is not valid `{}` content",
                schema_text(content_media_type)
            )
        }
        ValidationErrorKind::Custom { .. } => "value is not allowed".to_owned(),
        ValidationErrorKind::Enum { options } => {
            format!("value must be one of {}", schema_text(options))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("value must be less than {limit}")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("value must be greater than {limit}")
        }
        ValidationErrorKind::FalseSchema => "no value is allowed here".to_owned(),
        ValidationErrorKind::Format { format } => {
            format!("string is not a valid `{}`", schema_text(format))
        }
        ValidationErrorKind::FromUtf8 { .. } => "decoded content is not UTF-8".to_owned(),
        ValidationErrorKind::MaxItems { limit } => {
            format!("array must have at most {limit} items")
        }
        ValidationErrorKind::Maximum { limit } => format!("value must be at most {limit}"),
        ValidationErrorKind::MaxLength { limit } => {
            format!("string must be at most {limit} characters long")
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("object must have at most {limit} properties")
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("array must have at least {limit} items")
        }
        ValidationErrorKind::Minimum { limit } => format!("value must be at least {limit}"),
        ValidationErrorKind::MinLength { limit } => {
            format!("string must be at least {limit} characters long")
        }
        ValidationErrorKind::MinProperties { limit } => {
            format!("object must have at least {limit} properties")
        }
        ValidationErrorKind::MultipleOf { multiple_of } => {
            format!("value must be a multiple of {multiple_of}")
        }
        ValidationErrorKind::Not { .. } => "value matches a schema it must not match".to_owned(),
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "value matches more than one of the allowed schemas (oneOf)".to_owned()
        }
        ValidationErrorKind::OneOfNotValid { .. } => {
            "value matches none of the allowed schemas (oneOf)".to_owned()
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "string does not match the pattern `{}`",
                schema_text(pattern)
            )
        }
        ValidationErrorKind::PropertyNames { .. } => {
            "a property name does not match the schema".to_owned()
        }
        ValidationErrorKind::Required { property } => match property {
            Value::String(name) => format!(
                "required property `{}` is missing",
                truncate_for_message(name, MAX_ECHO_CHARS)
            ),
            other => format!("required property {} is missing", schema_text(other)),
        },
        ValidationErrorKind::Type { kind } => match kind {
            TypeKind::Single(expected) => {
                format!("expected {expected}, got {}", type_name(err.instance()))
            }
            TypeKind::Multiple(expected) => {
                let names: Vec<&str> = expected.iter().map(|t| t.as_str()).collect();
                format!(
                    "expected one of {}, got {}",
                    names.join(", "),
                    type_name(err.instance())
                )
            }
        },
        ValidationErrorKind::UnevaluatedItems { .. } => {
            "array has items the schema does not allow".to_owned()
        }
        ValidationErrorKind::UniqueItems => "array items must be unique".to_owned(),
        ValidationErrorKind::Referencing(_) => "schema reference could not be resolved".to_owned(),
    }
}

/// "property `a` is not allowed" for up to three names, then a count of the rest.
fn not_allowed(names: &[String]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .take(3)
        .map(|name| format!("`{}`", truncate_for_message(name, MAX_ECHO_CHARS)))
        .collect();
    let mut message = if names.len() == 1 {
        format!("property {} is not allowed", quoted.join(", "))
    } else {
        format!("properties {} are not allowed", quoted.join(", "))
    };
    if names.len() > 3 {
        message.push_str(&format!(" (and {} more)", names.len() - 3));
    }
    message
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
