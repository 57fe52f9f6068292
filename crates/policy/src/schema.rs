//! Cedar schema generation from the tool catalog, and the matching projection of call arguments.
//!
//! Each tool's JSON Schema is mapped to a Cedar type once ([`ArgType::args_of`]). The same type
//! drives two things, so they cannot drift apart: the `args` record in the generated schema, and
//! the conversion of argument values into the request context (`context.rs`).

use std::collections::BTreeSet;

use portcullis_catalog::Tool;
use serde_json::{Map, Value, json};

/// The Cedar namespace every generated name lives in.
pub(crate) const NAMESPACE: &str = "Portcullis";
/// The principal entity type (an agent), member of roles.
pub(crate) const AGENT_TYPE: &str = "Agent";
/// The role entity type.
pub(crate) const ROLE_TYPE: &str = "Role";
/// The entity type of the user an agent acts for, member of groups.
pub(crate) const USER_TYPE: &str = "User";
/// The entity type of a user's group (from the identity provider's groups claim).
pub(crate) const GROUP_TYPE: &str = "Group";
/// The resource entity type (one entity per API).
pub(crate) const API_TYPE: &str = "Api";
/// Risk classes; each is an action group `risk:<class>`.
pub(crate) const RISK_CLASSES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Deepest nesting of arrays and objects mapped to Cedar types; deeper parts are omitted.
const MAX_DEPTH: usize = 32;

/// The id of the action group holding every tool of an API.
pub(crate) fn api_group(api: &str) -> String {
    format!("api:{api}")
}

/// The id of the action group holding every tool of a risk class.
pub(crate) fn risk_group(risk: &str) -> String {
    format!("risk:{risk}")
}

/// The Cedar type of an argument value, derived from its JSON Schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ArgType {
    /// JSON Schema `boolean`.
    Bool,
    /// JSON Schema `integer`.
    Long,
    /// A JSON Schema `object` with `properties`.
    Record(Vec<Field>),
    /// A JSON Schema `array` whose `items` is expressible.
    Set(Box<ArgType>),
    /// JSON Schema `string`.
    String,
}

/// One attribute of a record type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Field {
    /// The property name, used verbatim as the Cedar attribute name.
    pub(crate) name: String,
    /// Its type.
    pub(crate) ty: ArgType,
    /// Whether the JSON Schema lists it in `required`.
    pub(crate) required: bool,
}

impl ArgType {
    /// The `args` record for a tool's input schema. A schema that is not an object with
    /// properties yields the empty record, so every action has an `args` attribute.
    pub(crate) fn args_of(input_schema: &Value) -> Self {
        match Self::from_json_schema(input_schema, 0) {
            Some(record @ Self::Record(_)) => record,
            _ => Self::Record(Vec::new()),
        }
    }

    /// Maps a JSON Schema to a Cedar type, or `None` when Cedar cannot express it exactly:
    /// `number` (Cedar has no floats), `null`, a list of types, `nullable`, combinators without a
    /// `type`, arrays without `items`, objects without `properties`.
    fn from_json_schema(schema: &Value, depth: usize) -> Option<Self> {
        if depth > MAX_DEPTH {
            return None;
        }
        let schema = schema.as_object()?;
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        // A list of types (`["string", "null"]`) is a union; Cedar has none.
        let Some(Value::String(ty)) = schema.get("type") else {
            return None;
        };
        match ty.as_str() {
            "string" => Some(Self::String),
            "integer" => Some(Self::Long),
            "boolean" => Some(Self::Bool),
            "array" => {
                let items = schema.get("items")?;
                Self::from_json_schema(items, depth + 1).map(|item| Self::Set(Box::new(item)))
            }
            "object" => {
                let properties = schema.get("properties")?.as_object()?;
                let required: BTreeSet<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|names| names.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let fields = properties
                    .iter()
                    .filter_map(|(name, sub)| {
                        Self::from_json_schema(sub, depth + 1).map(|ty| Field {
                            name: name.clone(),
                            ty,
                            required: required.contains(name.as_str()),
                        })
                    })
                    .collect();
                Some(Self::Record(fields))
            }
            _ => None,
        }
    }

    /// This type in Cedar's JSON schema format.
    pub(crate) fn to_schema_json(&self) -> Value {
        match self {
            Self::Bool => named("Bool"),
            Self::Long => named("Long"),
            Self::String => named("String"),
            Self::Set(item) => json!({ "type": "Set", "element": item.to_schema_json() }),
            Self::Record(fields) => {
                let attributes: Map<String, Value> = fields
                    .iter()
                    .map(|field| {
                        let mut attr = field.ty.to_schema_json();
                        if let Value::Object(map) = &mut attr {
                            map.insert("required".to_owned(), Value::Bool(field.required));
                        }
                        (field.name.clone(), attr)
                    })
                    .collect();
                json!({ "type": "Record", "attributes": attributes })
            }
        }
    }
}

/// A type by name, resolved the way the Cedar schema syntax resolves it (common type, then
/// entity type, then built-in or extension type). Used for built-in types too, so the printed
/// schema says `String` rather than `__cedar::String`; the schema declares no type that could
/// shadow a built-in name.
fn named(name: &str) -> Value {
    json!({ "type": "EntityOrCommon", "name": name })
}

/// The generated schema in Cedar's JSON format, for the given tools and API names.
///
/// Fails when a tool name equals an action group id (`api:<name>`, `risk:<class>`), which would
/// otherwise silently merge two actions.
pub(crate) fn schema_json(
    tools: &[(&Tool, &ArgType)],
    apis: &BTreeSet<String>,
) -> Result<Value, String> {
    let mut actions = Map::new();
    for api in apis {
        actions.insert(api_group(api), json!({}));
    }
    for risk in RISK_CLASSES {
        actions.insert(risk_group(risk), json!({}));
    }
    for (tool, args) in tools {
        if actions.contains_key(&tool.name) {
            return Err(format!(
                "tool `{}` has the same name as a generated action group or another tool",
                tool.name
            ));
        }
        let action = json!({
            "annotations": { "doc": format!("{} {}", tool.method, tool.path) },
            "memberOf": [
                { "id": api_group(&tool.api) },
                { "id": risk_group(tool.risk.as_str()) },
            ],
            "appliesTo": {
                "principalTypes": [AGENT_TYPE],
                "resourceTypes": [API_TYPE],
                "context": {
                    "type": "Record",
                    "attributes": {
                        "args": args.to_schema_json(),
                        "ip": named("ipaddr"),
                        "time": named("datetime"),
                        "hour": named("Long"),
                        "token": named("Token"),
                        "user": { "type": "EntityOrCommon", "name": USER_TYPE, "required": false },
                        "risk": named("Long"),
                    },
                },
            },
        });
        actions.insert(tool.name.clone(), action);
    }
    let strings = || json!({ "type": "Set", "element": named("String") });
    // An enumerated `Api` type makes the validator reject `Api::"<unknown>"` in policies.
    let api_entity = if apis.is_empty() {
        json!({})
    } else {
        json!({ "enum": apis.iter().collect::<Vec<_>>() })
    };
    Ok(json!({
        (NAMESPACE): {
            "commonTypes": {
                "Token": {
                    "type": "Record",
                    "attributes": {
                        "jti": named("String"),
                        "sub": named("String"),
                        "client_id": named("String"),
                        "scopes": strings(),
                        "roles": strings(),
                        "iat": named("Long"),
                        "exp": named("Long"),
                        "actors": strings(),
                    },
                },
            },
            "entityTypes": {
                (ROLE_TYPE): {},
                (GROUP_TYPE): {},
                (USER_TYPE): {
                    "memberOfTypes": [GROUP_TYPE],
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "id": named("String"),
                            "issuer": named("String"),
                            "tenant": named("String"),
                        },
                    },
                },
                (AGENT_TYPE): { "memberOfTypes": [ROLE_TYPE] },
                (API_TYPE): api_entity,
            },
            "actions": actions,
        }
    }))
}
