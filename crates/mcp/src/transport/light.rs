//! The stateless `tools/call` in its usual shape, decoded without `rmcp`'s message types.
//!
//! Decoding a request into `ClientJsonRpcMessage` tries the message kinds and the request
//! methods in turn, buffering the body and building an error for each kind it is not; for the
//! one request every agent sends over and over that is most of the transport's cost. This
//! decoder accepts one narrow shape and nothing else:
//!
//! ```json
//! {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
//!  "params": {"name": "getOrder", "arguments": {...},
//!             "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
//!                       "io.modelcontextprotocol/clientCapabilities": {...},
//!                       "io.modelcontextprotocol/clientInfo": {...}}}}
//! ```
//!
//! Every member is decoded with the type `rmcp` decodes it with (`RequestId`,
//! `ClientCapabilities`, `Implementation`, a JSON object for the arguments), so whatever this
//! accepts, `rmcp` accepts with the same meaning. Any other member, a duplicate, another
//! protocol version or method, or anything that does not decode returns `None`, and the
//! request takes the general path, which decides it and words any refusal. The transport tests
//! post the same requests to a server with and without this path and compare the answers byte
//! for byte.

use std::borrow::Cow;

use rmcp::model::{ClientCapabilities, Implementation, JsonObject, ProtocolVersion, RequestId};
use serde::Deserialize;

/// A decoded stateless `tools/call`.
pub(super) struct LightCall {
    pub(super) id: RequestId,
    pub(super) name: String,
    pub(super) arguments: Option<JsonObject>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: RequestId,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Params<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(rename = "_meta", borrow)]
    meta: Meta<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow)]
    protocol_version: Cow<'a, str>,
    // Decoded only to make sure `rmcp` would find it valid (it is a required key).
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities")]
    _client_capabilities: ClientCapabilities,
    // Optional; decoded so that a malformed one goes the general way.
    #[serde(rename = "io.modelcontextprotocol/clientInfo", default)]
    _client_info: Option<Implementation>,
}

/// The call, when `body` is exactly the shape above; `None` for anything else.
pub(super) fn decode(body: &[u8]) -> Option<LightCall> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    let plain = envelope.jsonrpc == "2.0"
        && envelope.method == "tools/call"
        && envelope.params.meta.protocol_version == ProtocolVersion::V_2026_07_28.as_str();
    plain.then(|| LightCall {
        id: envelope.id,
        name: envelope.params.name.into_owned(),
        arguments: envelope.params.arguments,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta() -> serde_json::Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
        })
    }

    fn body(value: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap_or_default()
    }

    #[test]
    fn the_usual_call_decodes() {
        let call = decode(&body(&json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "get\\u006frder", "arguments": {"id": 42}, "_meta": meta()}
        })));
        let Some(call) = call else {
            panic!("the usual call must decode");
        };
        assert_eq!(call.id, RequestId::Number(7));
        assert_eq!(call.name, "get\\u006frder");
        assert_eq!(call.arguments, json!({"id": 42}).as_object().cloned());
    }

    #[test]
    fn ids_decode_as_rmcp_decodes_them() {
        for (id, expected) in [
            (json!("abc"), RequestId::String("abc".into())),
            (json!(3.0), RequestId::Number(3)),
            (json!(-1), RequestId::Number(-1)),
        ] {
            let call = decode(&body(&json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "t", "_meta": meta()}
            })));
            assert_eq!(call.map(|c| c.id), Some(expected));
        }
    }

    #[test]
    fn anything_else_takes_the_general_way() {
        let cases = [
            // Another version, method or JSON-RPC version.
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t",
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2025-11-25",
                          "io.modelcontextprotocol/clientCapabilities": {}}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"name": "t", "_meta": meta()}}),
            json!({"jsonrpc": "1.0", "id": 1, "method": "tools/call", "params": {"name": "t", "_meta": meta()}}),
            // Missing or malformed required members.
            json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "t", "_meta": meta()}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t"}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t",
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t",
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": "all"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t",
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "t"}}}}),
            json!({"jsonrpc": "2.0", "id": 1.5, "method": "tools/call", "params": {"name": "t", "_meta": meta()}}),
            json!({"jsonrpc": "2.0", "id": null, "method": "tools/call", "params": {"name": "t", "_meta": meta()}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5, "_meta": meta()}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "arguments": [1], "_meta": meta()}}),
            // Members this decoder does not know: retry fields, a progress token, extensions.
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "requestState": "x", "_meta": meta()}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}, "progressToken": 1}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "extra": true, "params": {"name": "t", "_meta": meta()}}),
        ];
        for case in cases {
            assert!(decode(&body(&case)).is_none(), "{case}");
        }
        // Not one object: duplicates, batches, trailing bytes.
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}} x"#,
        ] {
            assert!(decode(text.as_bytes()).is_none(), "{text}");
        }
    }
}
