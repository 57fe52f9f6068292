use portcullis_catalog::{Body, Param};
use portcullis_config::RiskClass;
use serde_json::json;

use super::*;

fn param(name: &str, location: ParamLocation) -> Param {
    Param {
        name: name.to_owned(),
        location,
        required: false,
    }
}

fn tool(method: &str, path: &str, params: Vec<Param>, body: Option<Body>) -> Tool {
    Tool {
        name: "t".into(),
        api: "orders".into(),
        operation_id: "t".into(),
        method: method.into(),
        path: path.into(),
        description: String::new(),
        params,
        body,
        input_schema: json!({"type": "object"}),
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

fn args(value: Value) -> Arguments {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

fn base() -> Url {
    Url::parse("http://api.test:8080/v1/").unwrap()
}

fn get_order() -> Tool {
    tool(
        "GET",
        "/orders/{id}",
        vec![param("id", ParamLocation::Path)],
        None,
    )
}

#[test]
fn path_values_stay_one_segment() {
    let cases = [
        ("42", "/v1/orders/42"),
        ("../admin", "/v1/orders/..%2Fadmin"),
        ("..\\admin", "/v1/orders/..%5Cadmin"),
        ("a/b?c#d%e", "/v1/orders/a%2Fb%3Fc%23d%25e"),
        ("%2e%2e", "/v1/orders/%252e%252e"),
        ("...", "/v1/orders/..."),
        ("a b", "/v1/orders/a%20b"),
        ("é", "/v1/orders/%C3%A9"),
        ("x\r\ny", "/v1/orders/x%0D%0Ay"),
        ("~user_1.2-3", "/v1/orders/~user_1.2-3"),
    ];
    for (id, expected) in cases {
        let prepared = prepare(&base(), &get_order(), &args(json!({ "id": id }))).unwrap();
        assert_eq!(prepared.url.path(), expected, "id {id:?}");
        assert_eq!(prepared.url.host_str(), Some("api.test"));
        assert_eq!(prepared.url.query(), None);
    }
    let prepared = prepare(&base(), &get_order(), &args(json!({ "id": 7 }))).unwrap();
    assert_eq!(prepared.url.as_str(), "http://api.test:8080/v1/orders/7");
}

#[test]
fn dot_segments_are_refused_not_encoded() {
    // The WHATWG parser treats `%2E%2E` as `..`: encoding the dots would not be enough.
    let parsed = Url::parse("http://h/v1/orders/%2E%2E/admin").unwrap();
    assert_eq!(parsed.path(), "/v1/admin");

    for id in [".", ".."] {
        let denial = prepare(&base(), &get_order(), &args(json!({ "id": id }))).unwrap_err();
        assert_eq!(denial.kind, DenialKind::InvalidArguments, "id {id:?}");
    }
    // Two values that together make `..` are refused too.
    let split = tool(
        "GET",
        "/x/{a}{b}",
        vec![
            param("a", ParamLocation::Path),
            param("b", ParamLocation::Path),
        ],
        None,
    );
    let denial = prepare(&base(), &split, &args(json!({"a": ".", "b": "."}))).unwrap_err();
    assert_eq!(denial.kind, DenialKind::InvalidArguments);
    // A dot segment in the operator's template makes the parser rewrite the path: fail closed.
    let odd = tool(
        "GET",
        "/a/../b/{id}",
        vec![param("id", ParamLocation::Path)],
        None,
    );
    let denial = prepare(&base(), &odd, &args(json!({"id": "1"}))).unwrap_err();
    assert_eq!(denial.kind, DenialKind::Internal);
}

#[test]
fn path_parameters_must_be_present_scalars() {
    let missing = prepare(&base(), &get_order(), &args(json!({}))).unwrap_err();
    assert_eq!(missing.kind, DenialKind::InvalidArguments);
    assert_eq!(missing.violations[0].path, "/id");
    assert_eq!(missing.violations[0].rule, "required");
    for bad in [json!(""), json!(null), json!([1]), json!({"a": 1})] {
        let denial = prepare(&base(), &get_order(), &args(json!({ "id": bad }))).unwrap_err();
        assert_eq!(denial.kind, DenialKind::InvalidArguments, "value {bad}");
    }
}

#[test]
fn query_parameters_are_encoded_and_repeated() {
    let list = tool(
        "GET",
        "/orders",
        vec![
            param("status", ParamLocation::Query),
            param("q", ParamLocation::Query),
            param("limit", ParamLocation::Query),
            param("flag", ParamLocation::Query),
            param("skip", ParamLocation::Query),
            param("absent", ParamLocation::Query),
        ],
        None,
    );
    let prepared = prepare(
        &base(),
        &list,
        &args(json!({
            "status": ["open", "paid"],
            "q": "a b&c=d+e#f",
            "limit": 10,
            "flag": false,
            "skip": null,
        })),
    )
    .unwrap();
    assert_eq!(
        prepared.url.query(),
        Some("status=open&status=paid&q=a%20b%26c%3Dd%2Be%23f&limit=10&flag=false")
    );
    assert_eq!(prepared.url.path(), "/v1/orders");

    let nested = prepare(&base(), &list, &args(json!({"status": {"a": 1}}))).unwrap_err();
    assert_eq!(nested.kind, DenialKind::InvalidArguments);
    assert_eq!(nested.violations[0].path, "/status");
}

#[test]
fn base_url_query_is_kept() {
    let base = Url::parse("https://api.test/root?v=2").unwrap();
    let list = tool(
        "GET",
        "/orders",
        vec![param("a", ParamLocation::Query)],
        None,
    );
    let prepared = prepare(&base, &list, &args(json!({"a": "1"}))).unwrap();
    assert_eq!(
        prepared.url.as_str(),
        "https://api.test/root/orders?v=2&a=1"
    );
}

#[test]
fn header_parameters_are_checked_and_reserved_names_skipped() {
    let t = tool(
        "GET",
        "/orders",
        vec![
            param("X-Request-Tag", ParamLocation::Header),
            param("X-Ids", ParamLocation::Header),
            param("Host", ParamLocation::Header),
            param("Authorization", ParamLocation::Header),
            param("Transfer-Encoding", ParamLocation::Header),
        ],
        None,
    );
    let prepared = prepare(
        &base(),
        &t,
        &args(json!({
            "X-Request-Tag": "abc",
            "X-Ids": [1, 2, "three"],
            "Host": "evil.test",
            "Authorization": "Bearer agent-token",
            "Transfer-Encoding": "chunked",
        })),
    )
    .unwrap();
    assert_eq!(prepared.headers["x-request-tag"], "abc");
    assert_eq!(prepared.headers["x-ids"], "1,2,three");
    assert!(!prepared.headers.contains_key("host"));
    assert!(!prepared.headers.contains_key("authorization"));
    assert!(!prepared.headers.contains_key("transfer-encoding"));

    for bad in ["a\r\nX-Injected: 1", "a\nb", "nul\0", "é"] {
        let denial = prepare(&base(), &t, &args(json!({ "X-Request-Tag": bad }))).unwrap_err();
        assert_eq!(denial.kind, DenialKind::InvalidArguments, "value {bad:?}");
        assert_eq!(denial.violations[0].path, "/X-Request-Tag");
        assert!(!denial.message.contains(bad));
    }
}

#[test]
fn bodies_follow_the_mapping() {
    let merged = tool(
        "POST",
        "/orders/{id}/refund",
        vec![param("id", ParamLocation::Path)],
        Some(Body {
            mapping: BodyMapping::Merged {
                properties: vec!["amount".into(), "reason".into(), "note".into()],
            },
            required: true,
            content_type: "application/merge-patch+json".into(),
        }),
    );
    let prepared = prepare(
        &base(),
        &merged,
        &args(json!({"id": "9", "reason": "late", "amount": 5, "other": true})),
    )
    .unwrap();
    assert_eq!(prepared.method, Method::POST);
    assert_eq!(
        prepared.headers[CONTENT_TYPE],
        "application/merge-patch+json"
    );
    let body: Value = serde_json::from_slice(prepared.body.as_ref().unwrap()).unwrap();
    assert_eq!(body, json!({"amount": 5, "reason": "late"}));

    let empty = prepare(&base(), &merged, &args(json!({"id": "9"}))).unwrap();
    assert_eq!(empty.body.as_deref(), Some(&b"{}"[..]));

    let wrapped = tool(
        "PUT",
        "/tags",
        vec![],
        Some(Body {
            mapping: BodyMapping::Wrapped {
                argument: "body".into(),
            },
            required: false,
            content_type: "application/json".into(),
        }),
    );
    let prepared = prepare(&base(), &wrapped, &args(json!({"body": ["a", "b"]}))).unwrap();
    assert_eq!(prepared.body.as_deref(), Some(&br#"["a","b"]"#[..]));
    let none = prepare(&base(), &wrapped, &args(json!({}))).unwrap();
    assert!(none.body.is_none());
    assert!(!none.headers.contains_key(CONTENT_TYPE));
}
