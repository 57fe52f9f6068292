//! The OpenAPI loader: reads each API's document and turns the operations the config selects
//! into [`Tool`]s.
//!
//! Rules, in the order they apply:
//! - A document is JSON (by `.json` extension or a leading `{`) or YAML, and must declare
//!   `openapi: 3.0.x` or `3.1.x`. Swagger 2.0 is refused.
//! - Operations without an `operationId` cannot be selected. `tools[].operations` entries are
//!   operationIds or glob patterns (`*`, `?`, `[...]`, `{a,b}`); each must match at least one
//!   operation. An operation selected twice takes the highest risk class among its selections.
//! - A tool is named after its operationId; when the same operationId is exposed by several
//!   APIs, each of those tools is named `<api>_<operationId>`. Names follow the OpenAI
//!   function-name rule `^[A-Za-z0-9_-]{1,64}$`.
//! - Path-level and operation-level parameters are merged (the operation wins on the same name
//!   and location). Cookie parameters are refused. `Accept`, `Content-Type` and `Authorization`
//!   header parameters are ignored, as the OpenAPI specification requires. Argument names are
//!   parameter names, so two parameters with one name in different locations are refused.
//! - The request body must offer a JSON media type. An object body whose properties do not
//!   collide with parameter names, and whose object-level keywords survive flattening, is
//!   merged into the arguments ([`BodyMapping::Merged`], `readOnly` properties left out);
//!   otherwise it is one argument, `body` (or `request_body` if a parameter is named `body`).
//! - Input schemas are self-contained: local `$ref`s are inlined, recursive schemas live in a
//!   root `$defs` section (not allowed in parameters), remote references are refused. See
//!   [`schema`] for the 3.0-to-2020-12 rewrites.

mod schema;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use portcullis_config::{ApiConfig, Config, RiskClass, ToolSelection};
use portcullis_core::{media_type_is, media_type_is_json, truncate_for_message};
use serde_json::{Map, Value};

use self::schema::{SchemaResolver, Version, child, local_pointer};
use crate::{Body, BodyMapping, Catalog, CatalogError, Param, ParamLocation, Tool};

/// HTTP methods an OpenAPI path item may hold, in lowercase as they appear there.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Header parameters the OpenAPI specification says to ignore.
const IGNORED_HEADERS: [&str; 3] = ["accept", "authorization", "content-type"];
/// Longest chain of `$ref`s followed for a parameter, request body or path item.
const MAX_REF_HOPS: usize = 32;
/// Object-level keywords of a body schema that flattening into the arguments does not lose.
const MERGEABLE_KEYWORDS: &[&str] = &[
    "$comment",
    "additionalProperties",
    "default",
    "deprecated",
    "description",
    "discriminator",
    "example",
    "examples",
    "externalDocs",
    "properties",
    "readOnly",
    "required",
    "title",
    "type",
    "writeOnly",
    "xml",
];

/// What the `tools` selections say about one operation: its risk class and required scopes.
type Selected = (RiskClass, Vec<String>);

/// Loads every selected operation of every API in `config` as a tool.
///
/// Tools come in API order (as in the config), then in document order.
pub fn load_catalog(config: &Config) -> Result<Catalog, CatalogError> {
    let mut built = Vec::new();
    for api in &config.apis {
        let document = Document::read(api)?;
        let operations = document.operations()?;
        let selections = config
            .tools
            .iter()
            .enumerate()
            .filter(|(_, s)| s.api == api.name);
        let risks = document.select(&operations, selections)?;
        for (operation, risk) in operations.iter().zip(risks) {
            if let (Some((risk, scopes)), Some(operation_id)) = (risk, operation.operation_id) {
                built.push(Built {
                    tool: document.tool(operation, operation_id, risk, scopes)?,
                    file: document.file.to_owned(),
                    pointer: operation.pointer.clone(),
                });
            }
        }
    }
    name_tools(&mut built)?;
    Ok(Catalog::from_tools(
        built.into_iter().map(|built| built.tool).collect(),
    ))
}

/// A tool before its final name is known, with where it came from.
struct Built {
    tool: Tool,
    file: PathBuf,
    pointer: String,
}

/// One parsed OpenAPI document.
struct Document<'c> {
    api: &'c str,
    file: &'c Path,
    root: Value,
    version: Version,
}

/// One operation of a document.
struct Operation<'d> {
    /// Pointer to the operation object.
    pointer: String,
    method: &'static str,
    path: &'d str,
    object: &'d Map<String, Value>,
    /// The path item holding it (after following a `$ref`), and the pointer to it.
    item: &'d Map<String, Value>,
    item_pointer: String,
    operation_id: Option<&'d str>,
}

/// A parameter while the list is merged.
struct RawParam<'d> {
    name: &'d str,
    location: &'d str,
    object: &'d Map<String, Value>,
    pointer: String,
}

/// The body arguments of a tool.
enum BodyArguments {
    Merged {
        properties: Vec<(String, Value)>,
        required: Vec<String>,
    },
    Wrapped {
        argument: String,
        schema: Value,
    },
}

impl<'c> Document<'c> {
    fn read(api: &'c ApiConfig) -> Result<Self, CatalogError> {
        let file = api.openapi.as_path();
        let text = std::fs::read_to_string(file).map_err(|err| CatalogError::Read {
            file: file.to_owned(),
            reason: err.to_string(),
        })?;
        let root = parse(&text, file)?;
        let mut document = Self {
            api: &api.name,
            file,
            root,
            version: Version::V31,
        };
        document.version = document.check_version()?;
        Ok(document)
    }

    fn check_version(&self) -> Result<Version, CatalogError> {
        if !self.root.is_object() {
            return Err(self.invalid("", "an OpenAPI document must be a mapping"));
        }
        if self.root.get("swagger").is_some() {
            return Err(self.invalid(
                "/swagger",
                "Swagger 2.0 documents are not supported; convert the document to OpenAPI 3.0 or 3.1",
            ));
        }
        match self.root.get("openapi") {
            None => Err(self.invalid(
                "/openapi",
                "missing `openapi` version; OpenAPI 3.0 or 3.1 is required",
            )),
            Some(Value::String(version)) => {
                if version == "3.0" || version.starts_with("3.0.") {
                    Ok(Version::V30)
                } else if version == "3.1" || version.starts_with("3.1.") {
                    Ok(Version::V31)
                } else {
                    Err(self.invalid(
                        "/openapi",
                        format!(
                            "unsupported OpenAPI version `{}`; 3.0.x and 3.1.x are supported",
                            truncate_for_message(version, 32)
                        ),
                    ))
                }
            }
            Some(_) => Err(self.invalid(
                "/openapi",
                "`openapi` must be a version string such as `3.1.0` (quote it in YAML)",
            )),
        }
    }

    /// Every operation, in document order; checks operationIds are unique.
    fn operations(&self) -> Result<Vec<Operation<'_>>, CatalogError> {
        let mut operations = Vec::new();
        let paths = match self.root.get("paths") {
            None => return Ok(operations),
            Some(Value::Object(paths)) => paths,
            Some(_) => return Err(self.invalid("/paths", "`paths` must be a mapping")),
        };
        let mut seen: HashMap<&str, String> = HashMap::new();
        for (path, item) in paths {
            if path.starts_with("x-") {
                continue;
            }
            let path_pointer = child("/paths", path);
            if !path.starts_with('/') {
                return Err(self.invalid(
                    &path_pointer,
                    format!(
                        "path `{}` must start with `/`",
                        truncate_for_message(path, 128)
                    ),
                ));
            }
            let (item, item_pointer) = self.follow(item, path_pointer)?;
            let Value::Object(item) = item else {
                return Err(self.invalid(&item_pointer, "a path item must be a mapping"));
            };
            for (key, object) in item {
                let Some(method) = METHODS.iter().find(|m| **m == key.as_str()) else {
                    continue;
                };
                let pointer = child(&item_pointer, key);
                let Value::Object(object) = object else {
                    return Err(self.invalid(&pointer, "an operation must be a mapping"));
                };
                let operation_id = match object.get("operationId") {
                    None => None,
                    Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
                    Some(_) => {
                        return Err(self.invalid(
                            &child(&pointer, "operationId"),
                            "`operationId` must be a non-empty string",
                        ));
                    }
                };
                if let Some(id) = operation_id
                    && let Some(first) = seen.insert(id, pointer.clone())
                {
                    return Err(self.invalid(
                        &child(&pointer, "operationId"),
                        format!(
                            "operationId `{}` is also used at `{first}`",
                            truncate_for_message(id, 128)
                        ),
                    ));
                }
                operations.push(Operation {
                    pointer,
                    method,
                    path,
                    object,
                    item,
                    item_pointer: item_pointer.clone(),
                    operation_id,
                });
            }
        }
        Ok(operations)
    }

    /// The risk class and required scopes of each operation the selections pick (`None`: not
    /// selected). An operation picked twice takes the higher risk and the scopes of both.
    fn select<'s>(
        &self,
        operations: &[Operation<'_>],
        selections: impl Iterator<Item = (usize, &'s ToolSelection)>,
    ) -> Result<Vec<Option<Selected>>, CatalogError> {
        let mut risks: Vec<Option<Selected>> = vec![None; operations.len()];
        for (selection_index, selection) in selections {
            for (pattern_index, pattern) in selection.operations.iter().enumerate() {
                let mut matched = false;
                for (operation, risk) in operations.iter().zip(risks.iter_mut()) {
                    if operation.operation_id.is_some_and(|id| pattern.matches(id)) {
                        matched = true;
                        let (class, scopes) =
                            risk.get_or_insert_with(|| (selection.risk, Vec::new()));
                        if rank(selection.risk) > rank(*class) {
                            *class = selection.risk;
                        }
                        for scope in &selection.scopes {
                            if !scopes.iter().any(|s| s == scope.as_str()) {
                                scopes.push(scope.to_string());
                            }
                        }
                    }
                }
                if !matched {
                    let written = pattern.to_string();
                    let suggestion = portcullis_core::closest(
                        &written,
                        operations.iter().filter_map(|o| o.operation_id),
                    )
                    .map(str::to_owned);
                    return Err(CatalogError::UnknownOperation {
                        file: self.file.to_owned(),
                        api: self.api.to_owned(),
                        operation: written,
                        place: Box::new(crate::OperationPlace {
                            selection: selection_index,
                            index: pattern_index,
                            suggestion,
                            at: None,
                        }),
                    });
                }
            }
        }
        Ok(risks)
    }

    /// Builds the tool for one selected operation (named after its operationId for now).
    fn tool(
        &self,
        operation: &Operation<'_>,
        operation_id: &str,
        risk: RiskClass,
        scopes: Vec<String>,
    ) -> Result<Tool, CatalogError> {
        let mut resolver = SchemaResolver::new(&self.root, self.version, self.file);
        let (params, schemas) = self.params(operation, &mut resolver)?;
        let body = self.body(operation, &params, &mut resolver)?;

        let mut properties = Map::new();
        let mut required = Vec::new();
        for (param, schema) in params.iter().zip(schemas) {
            properties.insert(param.name.clone(), schema);
            if param.required {
                required.push(Value::String(param.name.clone()));
            }
        }
        let body = body.map(|(body, arguments)| {
            match arguments {
                BodyArguments::Merged {
                    properties: members,
                    required: members_required,
                } => {
                    if body.required {
                        required.extend(members_required.into_iter().map(Value::String));
                    }
                    properties.extend(members);
                }
                BodyArguments::Wrapped { argument, schema } => {
                    if body.required {
                        required.push(Value::String(argument.clone()));
                    }
                    properties.insert(argument, schema);
                }
            }
            body
        });

        let mut input_schema = Map::new();
        input_schema.insert("type".to_owned(), Value::String("object".to_owned()));
        input_schema.insert("properties".to_owned(), Value::Object(properties));
        input_schema.insert("required".to_owned(), Value::Array(required));
        input_schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        let defs = resolver.into_defs();
        if !defs.is_empty() {
            input_schema.insert("$defs".to_owned(), Value::Object(defs));
        }

        let output_schema = self.output_schema(operation);
        let method = operation.method.to_ascii_uppercase();
        Ok(Tool {
            name: operation_id.to_owned(),
            api: self.api.to_owned(),
            operation_id: operation_id.to_owned(),
            description: description(operation.object, &method, operation.path),
            method,
            path: operation.path.to_owned(),
            params,
            body,
            input_schema: compact(Value::Object(input_schema)),
            output_schema,
            risk,
            scopes,
        })
    }

    /// Path-level and operation-level parameters, merged and converted.
    fn params(
        &self,
        operation: &Operation<'_>,
        resolver: &mut SchemaResolver<'_>,
    ) -> Result<(Vec<Param>, Vec<Value>), CatalogError> {
        let mut raw: Vec<RawParam<'_>> = Vec::new();
        for (holder, holder_pointer) in [
            (operation.item, &operation.item_pointer),
            (operation.object, &operation.pointer),
        ] {
            let Some(list) = holder.get("parameters") else {
                continue;
            };
            let list_pointer = child(holder_pointer, "parameters");
            let Value::Array(list) = list else {
                return Err(self.invalid(&list_pointer, "`parameters` must be a list"));
            };
            for (i, entry) in list.iter().enumerate() {
                let (entry, pointer) = self.follow(entry, child(&list_pointer, &i.to_string()))?;
                let Value::Object(object) = entry else {
                    return Err(self.invalid(&pointer, "a parameter must be a mapping"));
                };
                let name = match object.get("name") {
                    Some(Value::String(name)) if !name.is_empty() => name.as_str(),
                    _ => {
                        return Err(self.invalid(
                            &child(&pointer, "name"),
                            "a parameter needs a non-empty `name`",
                        ));
                    }
                };
                let Some(Value::String(location)) = object.get("in") else {
                    return Err(self.invalid(&child(&pointer, "in"), "a parameter needs `in`"));
                };
                let param = RawParam {
                    name,
                    location,
                    object,
                    pointer,
                };
                match raw
                    .iter_mut()
                    .find(|p| p.name == name && p.location == location.as_str())
                {
                    Some(existing) => *existing = param,
                    None => raw.push(param),
                }
            }
        }

        let mut params: Vec<Param> = Vec::with_capacity(raw.len());
        // Each parameter's schema, in the order of `params`; they end up only in the tool's
        // input schema, so the tool does not keep a second copy.
        let mut schemas: Vec<Value> = Vec::with_capacity(raw.len());
        let mut pointers: Vec<String> = Vec::with_capacity(raw.len());
        for param in raw {
            let at = &param.pointer;
            let location = match param.location {
                "path" => ParamLocation::Path,
                "query" => ParamLocation::Query,
                "header" => {
                    if IGNORED_HEADERS
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(param.name))
                    {
                        continue;
                    }
                    ParamLocation::Header
                }
                "cookie" => {
                    return Err(self.invalid(
                        &child(at, "in"),
                        format!(
                            "cookie parameter `{}` is not supported",
                            truncate_for_message(param.name, 64)
                        ),
                    ));
                }
                other => {
                    return Err(self.invalid(
                        &child(at, "in"),
                        format!(
                            "unknown parameter location `{}`",
                            truncate_for_message(other, 32)
                        ),
                    ));
                }
            };
            let required = match param.object.get("required") {
                None => false,
                Some(Value::Bool(required)) => *required,
                Some(_) => {
                    return Err(
                        self.invalid(&child(at, "required"), "`required` must be a boolean")
                    );
                }
            };
            let (schema, schema_at) = self.param_schema(&param)?;
            let mut schema = resolver.resolve(schema, &schema_at)?;
            if resolver.found_recursion() {
                return Err(self.invalid(
                    &schema_at,
                    "recursive schemas are not supported in parameters",
                ));
            }
            if let Some(Value::String(text)) = param.object.get("description") {
                add_description(&mut schema, text);
            }
            if let Some(other) = params.iter().position(|p| p.name == param.name) {
                return Err(self.invalid(
                    &child(at, "name"),
                    format!(
                        "parameter `{}` shares its argument name with the parameter at `{}`",
                        truncate_for_message(param.name, 64),
                        pointers.get(other).map(String::as_str).unwrap_or_default()
                    ),
                ));
            }
            params.push(Param {
                name: param.name.to_owned(),
                location,
                required: required || location == ParamLocation::Path,
            });
            schemas.push(schema);
            pointers.push(param.pointer);
        }

        let variables = template_variables(operation.path);
        for variable in &variables {
            let defined = params
                .iter()
                .any(|p| p.location == ParamLocation::Path && p.name == *variable);
            if !defined {
                return Err(self.invalid(
                    &operation.pointer,
                    format!(
                        "path parameter `{}` of `{}` is not defined",
                        truncate_for_message(variable, 64),
                        truncate_for_message(operation.path, 128)
                    ),
                ));
            }
        }
        for (param, pointer) in params.iter().zip(&pointers) {
            if param.location == ParamLocation::Path && !variables.contains(&param.name.as_str()) {
                return Err(self.invalid(
                    pointer,
                    format!(
                        "path parameter `{}` does not appear in `{}`",
                        truncate_for_message(&param.name, 64),
                        truncate_for_message(operation.path, 128)
                    ),
                ));
            }
        }
        Ok((params, schemas))
    }

    /// The schema of a parameter: `schema`, or the schema of its single `content` entry.
    fn param_schema<'p>(&self, param: &RawParam<'p>) -> Result<(&'p Value, String), CatalogError> {
        const ANY: &Value = &Value::Bool(true);
        let at = &param.pointer;
        if let Some(schema) = param.object.get("schema") {
            return Ok((schema, child(at, "schema")));
        }
        let Some(content) = param.object.get("content") else {
            return Err(self.invalid(
                at,
                format!(
                    "parameter `{}` has neither `schema` nor `content`",
                    truncate_for_message(param.name, 64)
                ),
            ));
        };
        let content_at = child(at, "content");
        let entry = match content {
            Value::Object(content) if content.len() == 1 => content.iter().next(),
            _ => None,
        };
        let Some((media_type, media)) = entry else {
            return Err(self.invalid(
                &content_at,
                "parameter `content` must hold exactly one media type",
            ));
        };
        let media_at = child(&content_at, media_type);
        Ok(match media.get("schema") {
            Some(schema) => (schema, child(&media_at, "schema")),
            None => (ANY, media_at),
        })
    }

    /// The JSON request body, if the operation has one, and how it maps to arguments.
    fn body(
        &self,
        operation: &Operation<'_>,
        params: &[Param],
        resolver: &mut SchemaResolver<'_>,
    ) -> Result<Option<(Body, BodyArguments)>, CatalogError> {
        let Some(body) = operation.object.get("requestBody") else {
            return Ok(None);
        };
        let (body, at) = self.follow(body, child(&operation.pointer, "requestBody"))?;
        let Value::Object(body) = body else {
            return Err(self.invalid(&at, "`requestBody` must be a mapping"));
        };
        let content_at = child(&at, "content");
        let Some(Value::Object(content)) = body.get("content") else {
            return Err(self.invalid(&content_at, "`requestBody` needs a `content` mapping"));
        };
        let json_types: Vec<&String> = content.keys().filter(|t| media_type_is_json(t)).collect();
        let chosen = json_types
            .iter()
            .find(|t| media_type_is(t, "application/json"))
            .or_else(|| json_types.first());
        let Some(&content_type) = chosen else {
            let found: Vec<String> = content
                .keys()
                .take(5)
                .map(|t| format!("`{}`", truncate_for_message(t, 64)))
                .collect();
            return Err(self.invalid(
                &content_at,
                format!(
                    "request body has no JSON media type (found {}); only `application/json` and `+json` types are supported",
                    if found.is_empty() { "none".to_owned() } else { found.join(", ") }
                ),
            ));
        };
        let media_at = child(&content_at, content_type);
        let schema = match content.get(content_type).and_then(|m| m.get("schema")) {
            Some(schema) => resolver.resolve(schema, &child(&media_at, "schema"))?,
            None => Value::Bool(true),
        };
        let required = match body.get("required") {
            None => false,
            Some(Value::Bool(required)) => *required,
            Some(_) => {
                return Err(self.invalid(&child(&at, "required"), "`required` must be a boolean"));
            }
        };

        let arguments = match merged_body(&schema, params) {
            Some(merged) => merged,
            None => {
                let argument = ["body", "request_body"]
                    .into_iter()
                    .find(|name| params.iter().all(|p| p.name != *name))
                    .ok_or_else(|| {
                        self.invalid(
                            &at,
                            "parameters named `body` and `request_body` leave no argument name for the request body",
                        )
                    })?;
                let mut schema = schema;
                if let Some(Value::String(text)) = body.get("description") {
                    add_description(&mut schema, text);
                }
                BodyArguments::Wrapped {
                    argument: argument.to_owned(),
                    schema,
                }
            }
        };
        let mapping = match &arguments {
            BodyArguments::Merged { properties, .. } => BodyMapping::Merged {
                properties: properties.iter().map(|(name, _)| name.clone()).collect(),
            },
            BodyArguments::Wrapped { argument, .. } => BodyMapping::Wrapped {
                argument: argument.clone(),
            },
        };
        Ok(Some((
            Body {
                mapping,
                required,
                content_type: content_type.clone(),
            },
            arguments,
        )))
    }

    /// The schema of the operation's success answer: the lowest `2xx` (or `2XX`) response with a
    /// JSON media type, when its schema resolves to an object schema. Response schemas do not
    /// decide what a call may do, so one this loader cannot read is left out (with a warning)
    /// rather than refusing the document.
    fn output_schema(&self, operation: &Operation<'_>) -> Option<Value> {
        let Some(Value::Object(responses)) = operation.object.get("responses") else {
            return None;
        };
        let (code, response) = responses
            .iter()
            .filter(|(code, _)| {
                code.len() == 3
                    && code.starts_with('2')
                    && (code[1..].bytes().all(|b| b.is_ascii_digit())
                        || code[1..].eq_ignore_ascii_case("xx"))
            })
            .min_by_key(|(code, _)| code.to_ascii_uppercase())?;
        let at = child(&child(&operation.pointer, "responses"), code);
        let skip = |why: &str| {
            tracing::warn!(
                file = %self.file.display(),
                pointer = %at,
                "no output schema for operation: {why}"
            );
            None
        };
        let (response, at) = match self.follow(response, at.clone()) {
            Ok(found) => found,
            Err(err) => return skip(&err.to_string()),
        };
        let Some(Value::Object(content)) = response.get("content") else {
            return None;
        };
        let json_types: Vec<&String> = content.keys().filter(|t| media_type_is_json(t)).collect();
        let content_type = json_types
            .iter()
            .find(|t| media_type_is(t, "application/json"))
            .or_else(|| json_types.first())?;
        let schema = content.get(content_type.as_str())?.get("schema")?;
        let schema_at = child(&child(&child(&at, "content"), content_type), "schema");
        let mut resolver = SchemaResolver::new(&self.root, self.version, self.file);
        let mut schema = match resolver.resolve(schema, &schema_at) {
            Ok(schema) => schema,
            Err(err) => return skip(&err.to_string()),
        };
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return None;
        }
        let defs = resolver.into_defs();
        if let Value::Object(object) = &mut schema
            && !defs.is_empty()
        {
            object.insert("$defs".to_owned(), Value::Object(defs));
        }
        Some(compact(schema))
    }

    /// Follows `$ref`s from a parameter, request body or path item to the object itself.
    fn follow<'d>(
        &'d self,
        node: &'d Value,
        pointer: String,
    ) -> Result<(&'d Value, String), CatalogError> {
        let mut node = node;
        let mut pointer = pointer;
        for _ in 0..MAX_REF_HOPS {
            let Some(reference) = node.get("$ref") else {
                return Ok((node, pointer));
            };
            let ref_at = child(&pointer, "$ref");
            let Value::String(reference) = reference else {
                return Err(self.invalid(&ref_at, "`$ref` must be a string"));
            };
            let target = local_pointer(reference).map_err(|m| self.invalid(&ref_at, m))?;
            node = self.root.pointer(&target).ok_or_else(|| {
                self.invalid(
                    &ref_at,
                    format!(
                        "`$ref` target `{}` does not exist",
                        truncate_for_message(reference, 128)
                    ),
                )
            })?;
            pointer = target;
        }
        Err(self.invalid(
            &pointer,
            format!("more than {MAX_REF_HOPS} chained `$ref`s (a reference cycle?)"),
        ))
    }

    fn invalid(&self, pointer: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            file: self.file.to_owned(),
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }
}

/// True when `selection` picks `tool`: same API and one of its operation patterns matches the
/// tool's operationId.
pub fn selects(selection: &ToolSelection, tool: &Tool) -> bool {
    selection.api == tool.api && selection.operations.matches(&tool.operation_id)
}

/// Parses a document as JSON or YAML.
fn parse(text: &str, file: &Path) -> Result<Value, CatalogError> {
    let json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    if json {
        return serde_json::from_str(text).map_err(|err| CatalogError::Syntax {
            file: file.to_owned(),
            line: (err.line() > 0).then(|| err.line() as u64),
            message: format!("invalid JSON: {err}"),
        });
    }
    portcullis_config::parse_yaml::<Value>(text).map_err(|err| CatalogError::Syntax {
        file: file.to_owned(),
        line: err.location().map(|l| l.line()),
        message: format!("invalid YAML: {}", first_line(&err.to_string())),
    })
}

/// Gives every tool its final name and checks names are valid and unique.
fn name_tools(built: &mut [Built]) -> Result<(), CatalogError> {
    let mut apis_by_id: HashMap<String, HashSet<String>> = HashMap::new();
    for b in built.iter() {
        apis_by_id
            .entry(b.tool.operation_id.clone())
            .or_default()
            .insert(b.tool.api.clone());
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, b) in built.iter_mut().enumerate() {
        let shared = apis_by_id
            .get(&b.tool.operation_id)
            .is_some_and(|apis| apis.len() > 1);
        if shared {
            b.tool.name = format!("{}_{}", b.tool.api, b.tool.operation_id);
        }
        let invalid = |message: String| CatalogError::Invalid {
            file: b.file.clone(),
            pointer: child(&b.pointer, "operationId"),
            message,
        };
        if !valid_tool_name(&b.tool.name) {
            return Err(invalid(format!(
                "tool name `{}` is not valid: use 1 to 64 ASCII letters, digits, `_` or `-`",
                truncate_for_message(&b.tool.name, 80)
            )));
        }
        if names.insert(b.tool.name.clone(), i).is_some() {
            return Err(invalid(format!(
                "tool name `{}` is used by two operations",
                b.tool.name
            )));
        }
    }
    Ok(())
}

/// The OpenAI function-name rule: `^[A-Za-z0-9_-]{1,64}$`.
fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Summary, a blank line and description; or `<METHOD> <path>` when both are missing.
fn description(operation: &Map<String, Value>, method: &str, path: &str) -> String {
    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    match (text("summary"), text("description")) {
        (Some(summary), Some(description)) => format!("{summary}\n\n{description}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => format!("{method} {path}"),
    }
}

/// The arguments of a body that can be flattened into the arguments object, or `None` when it
/// must be wrapped in one argument.
fn merged_body(schema: &Value, params: &[Param]) -> Option<BodyArguments> {
    let schema = schema.as_object()?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return None;
    }
    let fits = schema.iter().all(|(key, value)| {
        (MERGEABLE_KEYWORDS.contains(&key.as_str()) || key.starts_with("x-"))
            && (key != "additionalProperties" || value.is_boolean())
    });
    if !fits {
        return None;
    }
    let properties: Vec<(String, Value)> = schema
        .get("properties")?
        .as_object()?
        .iter()
        .filter(|(_, property)| property.get("readOnly") != Some(&Value::Bool(true)))
        .map(|(name, property)| (name.clone(), property.clone()))
        .collect();
    if properties.is_empty()
        || properties
            .iter()
            .any(|(name, _)| params.iter().any(|p| p.name == *name))
    {
        return None;
    }
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| properties.iter().any(|(p, _)| p == name))
        .map(str::to_owned)
        .collect();
    Some(BodyArguments::Merged {
        properties,
        required,
    })
}

/// The same JSON with every object, array and string allocated at its exact size. The catalog
/// keeps each tool's schema for as long as the gateway runs, and objects built one insert at a
/// time hold up to twice the room they use.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut exact = Map::with_capacity(map.len());
            for (mut key, item) in map {
                key.shrink_to_fit();
                exact.insert(key, compact(item));
            }
            Value::Object(exact)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        Value::String(mut text) => {
            text.shrink_to_fit();
            Value::String(text)
        }
        scalar => scalar,
    }
}

/// Adds `text` as the schema's `description` unless it has one.
fn add_description(schema: &mut Value, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if *schema == Value::Bool(true) {
        *schema = Value::Object(Map::new());
    }
    if let Value::Object(map) = schema
        && !map.contains_key("description")
    {
        map.insert("description".to_owned(), Value::String(text.to_owned()));
    }
}

/// The `{name}` variables of a path template.
fn template_variables(path: &str) -> Vec<&str> {
    let mut variables = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            break;
        };
        variables.push(after.get(..end).unwrap_or_default());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    variables
}

fn rank(risk: RiskClass) -> u8 {
    match risk {
        RiskClass::Low => 0,
        RiskClass::Medium => 1,
        RiskClass::High => 2,
        RiskClass::Critical => 3,
    }
}

/// The first line of a parser message (later lines are a source snippet).
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

#[cfg(test)]
mod tests;
