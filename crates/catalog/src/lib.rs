//! The tool catalog: upstream OpenAPI operations turned into tools an agent can call.
//!
//! Design decision: OpenAPI documents are read as raw `serde_json::Value` rather than a typed
//! model, so every JSON Schema keyword survives into the tool's input schema untouched and both
//! OpenAPI 3.0 and 3.1 are handled by one loader. Only local `$ref`s (`#/...`) are resolved;
//! anything else is refused at load.

mod openapi;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis_config::{Config, RiskClass};
use serde_json::Value;

pub use openapi::{load_catalog, selects};

/// Where an operation parameter goes in the upstream request.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ParamLocation {
    /// A `{name}` segment of the path template.
    Path,
    /// A query-string parameter.
    Query,
    /// A request header.
    Header,
}

/// One non-body parameter of an operation. Its argument name equals `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter (and argument) name.
    pub name: String,
    /// Where it goes upstream.
    pub location: ParamLocation,
    /// Whether the operation requires it.
    pub required: bool,
}

/// How the JSON request body is built from the arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyMapping {
    /// The body schema is an object whose properties do not collide with parameter names: its
    /// properties are top-level arguments, and the body is the object of those arguments.
    Merged {
        /// Names of the top-level arguments that belong to the body.
        properties: Vec<String>,
    },
    /// The body is the value of one argument (`body`), used when the body is not an object or
    /// its properties collide with parameter names.
    Wrapped {
        /// The argument name holding the body.
        argument: String,
    },
}

/// The JSON request body of an operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// How arguments map to the body.
    pub mapping: BodyMapping,
    /// Whether the operation requires a body.
    pub required: bool,
    /// The media type sent (`application/json` or a `+json` type).
    pub content_type: String,
}

/// A tool: one exposed upstream operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// The tool name: the operationId, or `<api>_<operationId>` when two APIs share it.
    pub name: String,
    /// The API it belongs to.
    pub api: String,
    /// The operationId in the API's OpenAPI document.
    pub operation_id: String,
    /// HTTP method, uppercase.
    pub method: String,
    /// Path template relative to the API's base URL, such as `/orders/{id}`.
    pub path: String,
    /// Summary and description for the model.
    pub description: String,
    /// Path, query and header parameters.
    pub params: Vec<Param>,
    /// The JSON request body, if the operation takes one.
    pub body: Option<Body>,
    /// JSON Schema (draft 2020-12) of the arguments object: parameters and body merged.
    pub input_schema: Value,
    /// JSON Schema of a successful answer: the OpenAPI document's schema for the first 2xx
    /// JSON response, when it is an object schema (MCP `outputSchema` must be one). `None` when
    /// the document gives none, or when response shaping may change the answer's form.
    pub output_schema: Option<Value>,
    /// Risk class from the config.
    pub risk: RiskClass,
    /// OAuth scopes a token must carry to call the tool (`tools[].scopes`); empty: none.
    pub scopes: Vec<String>,
}

/// All tools the config exposes, by name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    tools: Vec<Arc<Tool>>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// Builds a catalog from tools; names must be unique (the loader guarantees it).
    pub fn from_tools(tools: Vec<Tool>) -> Self {
        let tools: Vec<Arc<Tool>> = tools.into_iter().map(Arc::new).collect();
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Self { tools, by_name }
    }

    /// Loads the catalog for a config: every selected operation of every API.
    pub fn load(config: &Config) -> Result<Self, CatalogError> {
        load_catalog(config)
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Tool>> {
        self.by_name.get(name).and_then(|&i| self.tools.get(i))
    }

    /// All tools, in a stable order (API order in the config, then document order).
    pub fn tools(&self) -> &[Arc<Tool>] {
        &self.tools
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when no tool is exposed.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// Why the catalog could not be built. Each names the file and the place in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The document could not be read.
    #[error("{}: cannot read OpenAPI document: {reason}", file.display())]
    Read {
        /// The document.
        file: PathBuf,
        /// The IO error.
        reason: String,
    },
    /// The document is not valid YAML/JSON.
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The document.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The document is parseable but not a usable OpenAPI 3.0/3.1 document.
    #[error("{}: `{pointer}`: {message}", file.display())]
    Invalid {
        /// The document.
        file: PathBuf,
        /// JSON pointer to the offending node.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// A config selection names an operationId the document lacks. Said at the config line
    /// when [`OperationPlace::at`] is known, else at the selection's key.
    #[error(
        "{}`tools[{}].operations[{}]`: operation `{operation}` is not in the OpenAPI document of API `{api}` ({}){}",
        place.at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default(),
        place.selection,
        place.index,
        file.display(),
        place.suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
    )]
    UnknownOperation {
        /// The document.
        file: PathBuf,
        /// The API.
        api: String,
        /// The operationId or pattern that matched nothing.
        operation: String,
        /// Where it is selected, and the closest operationId (boxed: errors stay small).
        place: Box<OperationPlace>,
    },
}

/// Where an operation missing from its document is selected in the config.
#[derive(Debug)]
pub struct OperationPlace {
    /// Index of the selection under `tools`.
    pub selection: usize,
    /// Index of the operation in the selection's `operations`.
    pub index: usize,
    /// The document's operationId closest to the one written, if one is close.
    pub suggestion: Option<String>,
    /// `config-file:line:column` of the operation, once known.
    pub at: Option<String>,
}
