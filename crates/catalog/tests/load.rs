//! Loading OpenAPI documents into a catalog, end to end through `load_catalog`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

use std::path::{Path, PathBuf};

use portcullis_catalog::{
    Body, BodyMapping, Catalog, CatalogError, Param, ParamLocation, load_catalog,
};
use portcullis_config::{Config, RiskClass};
use serde_json::json;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A config exposing `apis` (name, document) with the `tools` section given as YAML.
fn config(apis: &[(&str, PathBuf)], tools: &str) -> Config {
    let mut yaml = String::from("policies: policies\napis:\n");
    for (name, file) in apis {
        let file = serde_json::to_string(&file.display().to_string()).unwrap();
        yaml.push_str(&format!(
            "  - name: {name}\n    base_url: https://{name}.example.com\n    openapi: {file}\n"
        ));
    }
    yaml.push_str("tools:\n");
    yaml.push_str(tools);
    Config::parse(&yaml, Path::new("portcullis.yaml")).unwrap()
}

fn load_one(api: &str, file: PathBuf, operations: &str) -> Result<Catalog, CatalogError> {
    load_catalog(&config(
        &[(api, file)],
        &format!("  - api: {api}\n    operations: {operations}\n"),
    ))
}

/// Writes `text` as `name` in a fresh folder and loads it with `operations` selected.
fn load_inline(name: &str, text: &str, operations: &str) -> Result<Catalog, CatalogError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    load_one("api", file, operations)
}

fn names(catalog: &Catalog) -> Vec<&str> {
    catalog.tools().iter().map(|t| t.name.as_str()).collect()
}

/// Every input schema must compile as a self-contained draft 2020-12 schema.
fn assert_schemas_compile(catalog: &Catalog) {
    for tool in catalog.tools() {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .offline()
            .build(&tool.input_schema)
            .unwrap_or_else(|e| panic!("schema of `{}` does not compile: {e}", tool.name));
    }
}

fn invalid(err: CatalogError) -> (String, String) {
    match err {
        CatalogError::Invalid {
            pointer, message, ..
        } => (pointer, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn openapi_30_yaml_document() {
    let catalog = load_one(
        "orders",
        data("orders-3.0.yaml"),
        "[listOrders, getOrder, createOrder, updateOrder]",
    )
    .unwrap();
    // Document order, not selection order; the operation without operationId is not a tool.
    assert_eq!(
        names(&catalog),
        ["listOrders", "createOrder", "getOrder", "updateOrder"]
    );
    assert_schemas_compile(&catalog);

    let list = catalog.get("listOrders").unwrap();
    assert_eq!(list.api, "orders");
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, "/orders");
    assert_eq!(list.description, "List orders\n\nNewest first.");
    assert_eq!(list.risk, RiskClass::Medium);
    assert_eq!(list.body, None);
    // `$ref` parameter resolved, nullable rewritten, `Authorization` header ignored.
    assert_eq!(
        list.input_schema,
        json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "maximum": 100, "description": "Page size."},
                "status": {
                    "type": ["string", "null"],
                    "enum": ["open", "shipped"],
                    "description": "Filter by status."
                }
            },
            "required": [],
            "additionalProperties": false
        })
    );

    let get = catalog.get("getOrder").unwrap();
    assert_eq!(get.description, "GET /orders/{id}");
    // Path-level parameters merged; the operation's `X-Trace` replaces the path-level one.
    assert_eq!(
        get.params,
        vec![
            Param {
                name: "id".into(),
                location: ParamLocation::Path,
                required: true,
            },
            Param {
                name: "X-Trace".into(),
                location: ParamLocation::Header,
                required: false,
            },
        ]
    );
    // Each parameter's schema lives in the input schema, with its description.
    assert_eq!(
        get.input_schema["properties"]["id"],
        json!({"type": "integer", "exclusiveMinimum": 0, "description": "Order id."})
    );
    assert_eq!(
        get.input_schema["properties"]["X-Trace"],
        json!({"type": "string", "maxLength": 64, "description": "Trace id."})
    );
    assert_eq!(get.input_schema["required"], json!(["id"]));
}

#[test]
fn object_body_is_merged() {
    let catalog = load_one("orders", data("orders-3.0.yaml"), "[createOrder]").unwrap();
    let create = catalog.get("createOrder").unwrap();
    assert_eq!(
        create.body,
        Some(Body {
            mapping: BodyMapping::Merged {
                // `id` is readOnly: never sent in a request.
                properties: vec!["sku".into(), "quantity".into(), "shipping".into()],
            },
            required: true,
            content_type: "application/json".into(),
        })
    );
    assert_eq!(
        create.input_schema,
        json!({
            "type": "object",
            "properties": {
                "sku": {"type": "string", "example": "ABC-1"},
                "quantity": {"type": "integer", "minimum": 1},
                "shipping": {"type": ["object", "null"], "properties": {"line": {"type": "string"}}}
            },
            "required": ["sku", "quantity"],
            "additionalProperties": false
        })
    );
}

#[test]
fn colliding_body_is_wrapped() {
    let catalog = load_one("orders", data("orders-3.0.yaml"), "[updateOrder]").unwrap();
    let update = catalog.get("updateOrder").unwrap();
    assert_eq!(
        update.body,
        Some(Body {
            mapping: BodyMapping::Wrapped {
                argument: "body".into()
            },
            required: false,
            content_type: "application/merge-patch+json".into(),
        })
    );
    assert_eq!(
        update.input_schema["properties"]["body"],
        json!({"type": "object", "properties": {"id": {"type": "integer"}, "note": {"type": "string"}}})
    );
    // The path-level `X-Trace` header is required here (only `getOrder` overrides it).
    assert_eq!(update.input_schema["required"], json!(["id", "X-Trace"]));
}

#[test]
fn openapi_31_json_document() {
    let catalog = load_one("store", data("store-3.1.json"), "['*']").unwrap();
    assert_eq!(
        names(&catalog),
        ["createCategory", "bulkItems", "listItems", "upload"]
    );
    assert_schemas_compile(&catalog);

    // A recursive body keeps a `$defs` section; the body is one argument.
    let category = catalog.get("createCategory").unwrap();
    assert_eq!(category.description, "Create a category");
    assert_eq!(
        category.input_schema,
        json!({
            "type": "object",
            "properties": {"body": {"$ref": "#/$defs/Category"}},
            "required": ["body"],
            "additionalProperties": false,
            "$defs": {"Category": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Category"}}
                }
            }}
        })
    );

    // An array body is wrapped and gets the request body's description.
    let bulk = catalog.get("bulkItems").unwrap();
    assert_eq!(
        bulk.body.as_ref().unwrap().content_type,
        "application/vnd.store+json"
    );
    assert_eq!(
        bulk.input_schema["properties"]["body"],
        json!({
            "type": "array",
            "items": {"type": "object", "properties": {
                "sku": {"type": "string"},
                "price": {"type": "number", "exclusiveMinimum": 0}
            }},
            "description": "Items to upsert."
        })
    );

    // The JSON media type is chosen over text/plain; 3.1 `$ref` siblings apply.
    let upload = catalog.get("upload").unwrap();
    assert_eq!(
        upload.body,
        Some(Body {
            mapping: BodyMapping::Merged {
                properties: vec!["sku".into(), "price".into()]
            },
            required: false,
            content_type: "application/json; charset=utf-8".into(),
        })
    );

    let list = catalog.get("listItems").unwrap();
    assert_eq!(
        list.input_schema["properties"]["tag"],
        json!({"type": ["string", "null"]})
    );
}

#[test]
fn glob_selection_and_highest_risk_wins() {
    let catalog = load_catalog(&config(
        &[("store", data("store-3.1.json"))],
        "  - api: store\n    operations: ['*Items']\n    risk: low\n  - api: store\n    operations: [bulkItems]\n    risk: high\n",
    ))
    .unwrap();
    assert_eq!(names(&catalog), ["bulkItems", "listItems"]);
    assert_eq!(catalog.get("bulkItems").unwrap().risk, RiskClass::High);
    assert_eq!(catalog.get("listItems").unwrap().risk, RiskClass::Low);
}

#[test]
fn an_operation_picked_twice_needs_the_scopes_of_both_selections() {
    let catalog = load_catalog(&config(
        &[("store", data("store-3.1.json"))],
        "  - api: store\n    operations: ['*Items']\n    scopes: [store:read]\n  - api: store\n    operations: [bulkItems]\n    scopes: [store:write, store:read]\n",
    ))
    .unwrap();
    assert_eq!(catalog.get("listItems").unwrap().scopes, ["store:read"]);
    assert_eq!(
        catalog.get("bulkItems").unwrap().scopes,
        ["store:read", "store:write"]
    );
}

#[test]
fn shared_operation_id_prefixes_both_tools() {
    let catalog = load_catalog(&config(
        &[
            ("store", data("store-3.1.json")),
            ("billing", data("billing-3.1.yaml")),
        ],
        "  - api: store\n    operations: [listItems, upload]\n  - api: billing\n    operations: ['list*']\n",
    ))
    .unwrap();
    assert_eq!(
        names(&catalog),
        [
            "store_listItems",
            "upload",
            "billing_listItems",
            "listInvoices"
        ]
    );
    let billing = catalog.get("billing_listItems").unwrap();
    assert_eq!(billing.api, "billing");
    assert_eq!(billing.operation_id, "listItems");

    // Not shared when only one API exposes it.
    let catalog = load_catalog(&config(
        &[
            ("store", data("store-3.1.json")),
            ("billing", data("billing-3.1.yaml")),
        ],
        "  - api: store\n    operations: [listItems]\n  - api: billing\n    operations: [listInvoices]\n",
    ))
    .unwrap();
    assert_eq!(names(&catalog), ["listItems", "listInvoices"]);
}

#[test]
fn body_argument_avoids_a_parameter_named_body() {
    let catalog = load_one("billing", data("billing-3.1.yaml"), "[refundInvoice]").unwrap();
    let refund = catalog.get("refundInvoice").unwrap();
    assert_eq!(
        refund.body.as_ref().unwrap().mapping,
        BodyMapping::Wrapped {
            argument: "request_body".into()
        }
    );
    assert_eq!(
        refund.input_schema["properties"],
        json!({"id": {"type": "string"}, "body": {"type": "string"}, "request_body": {"type": "string"}})
    );
}

#[test]
fn unknown_operation_or_pattern_is_refused() {
    for (operations, index, suggestion) in [
        ("[listOrders, nope]", 1, None),
        ("['zz*']", 0, None),
        ("[listOrders, getOrdr]", 1, Some("getOrder")),
    ] {
        let err = load_one("orders", data("orders-3.0.yaml"), operations).unwrap_err();
        let CatalogError::UnknownOperation {
            api,
            operation,
            place,
            ..
        } = &err
        else {
            panic!("expected UnknownOperation, got {err:?}");
        };
        assert_eq!(api, "orders");
        assert!(operations.contains(operation.as_str()));
        assert_eq!((place.selection, place.index), (0, index), "{operations}");
        assert_eq!(place.suggestion.as_deref(), suggestion, "{operations}");
        let message = err.to_string();
        assert!(
            message.contains("is not in the OpenAPI document of API `orders`"),
            "{message}"
        );
        assert!(
            message.starts_with(&format!("`tools[0].operations[{index}]`")),
            "{message}"
        );
        if let Some(suggestion) = suggestion {
            assert!(
                message.ends_with(&format!("; did you mean `{suggestion}`?")),
                "{message}"
            );
        }
    }
}

#[test]
fn cookie_parameter_is_refused_when_selected() {
    let err = load_one("orders", data("orders-3.0.yaml"), "[cookieOp]").unwrap_err();
    let (pointer, message) = invalid(err);
    assert_eq!(pointer, "/paths/~1orders~1{id}~1cookie/get/parameters/0/in");
    assert_eq!(message, "cookie parameter `session` is not supported");
}

#[test]
fn remote_ref_is_refused() {
    let doc = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    post:
      operationId: a
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                x: {$ref: "https://evil.example/schema.json#/X"}
      responses: {"200": {description: ok}}
"#;
    let (pointer, message) = invalid(load_inline("a.yaml", doc, "[a]").unwrap_err());
    assert_eq!(
        pointer,
        "/paths/~1a/post/requestBody/content/application~1json/schema/properties/x/$ref"
    );
    assert_eq!(
        message,
        "remote $ref `https://evil.example/schema.json#/X` is not allowed"
    );
}

#[test]
fn versions_other_than_30_and_31_are_refused() {
    for (doc, pointer, needle) in [
        (
            "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
            "/swagger",
            "Swagger 2.0",
        ),
        (
            "info: {title: t}\npaths: {}\n",
            "/openapi",
            "missing `openapi`",
        ),
        (
            "openapi: 3.2.0\npaths: {}\n",
            "/openapi",
            "unsupported OpenAPI version `3.2.0`",
        ),
        ("openapi: 3.1\npaths: {}\n", "/openapi", "version string"),
    ] {
        let err = load_inline("v.yaml", doc, "[x]").unwrap_err();
        let (got_pointer, message) = invalid(err);
        assert_eq!(got_pointer, pointer);
        assert!(message.contains(needle), "{message}");
    }
}

#[test]
fn yaml_syntax_error_names_the_line() {
    let doc = "openapi: 3.1.0\ninfo:\n  title: t\n  version: [1\npaths: {}\n";
    let err = load_inline("bad.yaml", doc, "[x]").unwrap_err();
    let CatalogError::Syntax { line, message, .. } = &err else {
        panic!("expected Syntax, got {err:?}");
    };
    assert!(matches!(line, Some(4 | 5)), "line {line:?}");
    assert!(message.starts_with("invalid YAML"), "{message}");
    assert!(!message.contains('\n'));
    assert!(
        err.to_string()
            .contains(&format!("bad.yaml:{}", line.unwrap()))
    );
}

#[test]
fn json_syntax_error_names_the_line() {
    let doc = "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}\n";
    let err = load_inline("bad.json", doc, "[x]").unwrap_err();
    let CatalogError::Syntax { line, .. } = err else {
        panic!("expected Syntax, got {err:?}");
    };
    assert_eq!(line, Some(3));
}

#[test]
fn missing_document_is_a_read_error() {
    let err = load_one("gone", data("does-not-exist.yaml"), "[x]").unwrap_err();
    assert!(matches!(err, CatalogError::Read { .. }), "{err:?}");
}

/// One operation `op` whose operation body is `operation` (YAML, indented 6).
fn single_operation(path: &str, operation: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  {path}:\n    post:\n      operationId: op\n{operation}      responses: {{'200': {{description: ok}}}}\n"
    )
}

#[test]
fn non_json_body_is_refused() {
    let doc = single_operation(
        "/upload",
        "      requestBody:\n        content:\n          application/xml: {schema: {type: string}}\n          text/plain: {}\n",
    );
    let (pointer, message) = invalid(load_inline("x.yaml", &doc, "[op]").unwrap_err());
    assert_eq!(pointer, "/paths/~1upload/post/requestBody/content");
    assert!(
        message.contains("no JSON media type (found `application/xml`, `text/plain`)"),
        "{message}"
    );
}

#[test]
fn undefined_path_parameter_is_refused() {
    let doc = single_operation("/a/{id}", "");
    let (pointer, message) = invalid(load_inline("x.yaml", &doc, "[op]").unwrap_err());
    assert_eq!(pointer, "/paths/~1a~1{id}/post");
    assert!(message.contains("path parameter `id`"), "{message}");
}

#[test]
fn same_argument_name_in_two_locations_is_refused() {
    let doc = single_operation(
        "/a",
        "      parameters:\n        - {name: q, in: query, schema: {type: string}}\n        - {name: q, in: header, schema: {type: string}}\n",
    );
    let (pointer, message) = invalid(load_inline("x.yaml", &doc, "[op]").unwrap_err());
    assert_eq!(pointer, "/paths/~1a/post/parameters/1/name");
    assert!(message.contains("shares its argument name"), "{message}");
}

#[test]
fn invalid_tool_name_is_refused() {
    let doc = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: get.order\n      responses: {'200': {description: ok}}\n";
    let (pointer, message) = invalid(load_inline("x.yaml", doc, "[get.order]").unwrap_err());
    assert_eq!(pointer, "/paths/~1a/get/operationId");
    assert!(
        message.contains("tool name `get.order` is not valid"),
        "{message}"
    );
}

#[test]
fn duplicate_operation_id_is_refused() {
    let doc = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {operationId: x, responses: {}}\n    put: {operationId: x, responses: {}}\n";
    let (pointer, message) = invalid(load_inline("x.yaml", doc, "[x]").unwrap_err());
    assert_eq!(pointer, "/paths/~1a/put/operationId");
    assert!(
        message.contains("also used at `/paths/~1a/get`"),
        "{message}"
    );
}

#[test]
fn recursive_parameter_schema_is_refused() {
    let doc = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: op\n      parameters:\n        - {name: f, in: query, schema: {$ref: '#/components/schemas/F'}}\n      responses: {}\ncomponents:\n  schemas:\n    F: {type: object, properties: {next: {$ref: '#/components/schemas/F'}}}\n";
    let (_, message) = invalid(load_inline("x.yaml", doc, "[op]").unwrap_err());
    assert_eq!(message, "recursive schemas are not supported in parameters");
}

#[test]
fn apis_without_selected_tools_give_no_tools() {
    let catalog = load_catalog(&config(&[("orders", data("orders-3.0.yaml"))], "  []\n")).unwrap();
    assert!(catalog.is_empty());
}

#[test]
fn error_messages_name_file_and_pointer() {
    let err = load_one("orders", data("orders-3.0.yaml"), "[cookieOp]").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("orders-3.0.yaml: `/paths/"), "{text}");
}

#[test]
fn output_schema_is_the_first_success_response_when_it_is_an_object() {
    let doc = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      operationId: objectAnswer
      responses:
        "404": {description: no, content: {application/json: {schema: {type: string}}}}
        "201": {$ref: "#/components/responses/Created"}
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
  /b:
    get:
      operationId: arrayAnswer
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: array, items: {type: string}}}}}
  /c:
    get:
      operationId: textAnswer
      responses:
        "2XX": {description: ok, content: {text/plain: {schema: {type: object}}}}
  /d:
    delete:
      operationId: noContent
      responses:
        "204": {description: gone}
components:
  responses:
    Created: {description: made, content: {application/json: {schema: {type: object}}}}
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: integer}
        note: {type: string, nullable: true}
"##;
    let catalog = load_inline("api.yaml", doc, "[\"*\"]").unwrap();
    let output = |name: &str| catalog.get(name).unwrap().output_schema.clone();
    // "200" comes before "201"; the `$ref` is inlined and 3.0's `nullable` rewritten.
    let thing = output("objectAnswer").unwrap();
    assert_eq!(thing["type"], "object");
    assert_eq!(thing["required"], json!(["id"]));
    assert_eq!(thing["properties"]["id"], json!({"type": "integer"}));
    assert_eq!(
        thing["properties"]["note"]["type"],
        json!(["string", "null"])
    );
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .offline()
        .build(&thing)
        .unwrap();
    // Not an object, not JSON, or no content: no output schema.
    assert_eq!(output("arrayAnswer"), None);
    assert_eq!(output("textAnswer"), None);
    assert_eq!(output("noContent"), None);
}
