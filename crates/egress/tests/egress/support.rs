//! Test fixtures: counting listeners, a recording upstream, and builders for APIs and tools.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use portcullis_catalog::{Body, BodyMapping, Param, ParamLocation, Tool};
use portcullis_config::{
    ApiConfig, ApiName, CredentialConfig, EgressConfig, HttpUrl, HumanDuration, RiskClass,
};
use portcullis_core::{CallArgs, CallMeta, Front, Principal};
use portcullis_policy::{Call, Permitted};
use portcullis_secrets::{OverlayEnv, SecretStore};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A TCP listener that accepts and counts connections, and closes each at once.
pub(crate) struct CountingListener {
    pub(crate) addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl CountingListener {
    pub(crate) async fn bind(addr: &str) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, accepted }
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// An HTTP upstream on loopback that records every request. Its behaviour depends on the
/// last path segment: `slow`, `big`, `text`, `bad-json`, `missing`, `redirect` (to the `to`
/// query parameter, status from `status`), anything else answers `{"ok": true}`.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&recorded));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, recorded }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    pub(crate) fn last(&self) -> Recorded {
        self.requests().pop().expect("the upstream saw no request")
    }
}

async fn handle(
    State(recorded): State<Arc<Mutex<Vec<Recorded>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let last = uri.path().rsplit('/').next().unwrap_or("");
    let param = |name: &str| {
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match last {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late".into_response()
        }
        "big" => ([(header::CONTENT_TYPE, "text/plain")], vec![b'x'; 10_000]).into_response(),
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "plain answer",
        )
            .into_response(),
        "bad-json" => ([(header::CONTENT_TYPE, "application/json")], "{not json").into_response(),
        "missing" => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/problem+json")],
            r#"{"title":"no such order"}"#,
        )
            .into_response(),
        "redirect" => {
            let status = param("status")
                .and_then(|s| s.parse::<u16>().ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::FOUND);
            let to = param("to").unwrap_or_default();
            (status, [(header::LOCATION, to)]).into_response()
        }
        _ => axum::Json(json!({"ok": true})).into_response(),
    }
}

/// A raw HTTP/1.1 server that answers every connection with a chunked body of `total` bytes
/// and no Content-Length, so only a streaming cap can stop it.
pub(crate) async fn chunked_server(total: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'y'; 1000];
                let mut sent = 0;
                while sent < total {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if stream.write_all(frame.as_bytes()).await.is_err()
                        || stream.write_all(&chunk).await.is_err()
                        || stream.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    addr
}

/// An API with short timeouts and the given private ranges allowed.
pub(crate) fn api(name: &str, base_url: &str, allow_private: &[&str]) -> ApiConfig {
    ApiConfig {
        name: ApiName::new(name).unwrap(),
        base_url: HttpUrl::parse(base_url).unwrap(),
        openapi: PathBuf::from("unused.yaml"),
        credential: None,
        egress: EgressConfig {
            allow_private: allow_private
                .iter()
                .map(|net| net.parse::<IpNet>().unwrap())
                .collect(),
            connect_timeout: HumanDuration(Duration::from_secs(1)),
            timeout: HumanDuration(Duration::from_secs(5)),
            max_redirects: 0,
            max_response_bytes: 1024 * 1024,
            ca_certificates: Vec::new(),
        },
    }
}

pub(crate) fn with_credential(mut api: ApiConfig, credential: CredentialConfig) -> ApiConfig {
    api.credential = Some(credential);
    api
}

/// A secret store with the given variables.
pub(crate) fn secrets(vars: &[(&str, &str)]) -> SecretStore {
    let mut env = OverlayEnv::new();
    for (name, value) in vars {
        env.set(*name, *value);
    }
    SecretStore::new(Arc::new(env))
}

pub(crate) fn param(name: &str, location: ParamLocation) -> Param {
    Param {
        name: name.to_owned(),
        location,
        required: location == ParamLocation::Path,
    }
}

pub(crate) fn tool(api: &str, name: &str, method: &str, path: &str, params: Vec<Param>) -> Tool {
    Tool {
        name: name.to_owned(),
        api: api.to_owned(),
        operation_id: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        description: String::new(),
        params,
        body: None,
        input_schema: json!({"type": "object"}),
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

pub(crate) fn with_merged_body(mut tool: Tool, properties: &[&str]) -> Tool {
    tool.body = Some(Body {
        mapping: BodyMapping::Merged {
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
        },
        required: true,
        content_type: "application/json".to_owned(),
    });
    tool
}

/// A call of `tool` with `arguments` (an object), permitted without a policy decision.
pub(crate) fn permitted(tool: &Tool, arguments: Value) -> Permitted<Call> {
    let principal = Principal {
        agent: "agent".to_owned(),
        subject: "agent".to_owned(),
        roles: Vec::new(),
        scopes: Vec::new(),
        token_id: "jti".to_owned(),
        issued_at: 0,
        expires_at: i64::MAX,
        user: None,
        actors: Vec::new(),
        certificate_thumbprint: None,
        mcp_only: false,
    };
    let call = Call::new(
        Arc::new(principal),
        CallMeta::now(Front::Http, None),
        Arc::new(tool.clone()),
        CallArgs::new(arguments),
    )
    .unwrap_or_else(|args| panic!("arguments must be an object, got {}", args.value()));
    Permitted::for_tests(call)
}

/// A GET tool at the API root with no parameters.
pub(crate) fn root_tool(api: &str) -> Tool {
    tool(api, &format!("{api}_root"), "GET", "/", vec![])
}

/// A GET tool whose path is fixed (`/<last>`), for the recording upstream's behaviours.
pub(crate) fn fixed_tool(api: &str, last: &str) -> Tool {
    tool(
        api,
        &format!("{api}_{last}"),
        "GET",
        &format!("/{last}"),
        vec![],
    )
}

/// A tool that asks the recording upstream to redirect.
pub(crate) fn redirect_tool(api: &str, method: &str) -> Tool {
    tool(
        api,
        &format!("{api}_redirect_{}", method.to_ascii_lowercase()),
        method,
        "/redirect",
        vec![
            param("to", ParamLocation::Query),
            param("status", ParamLocation::Query),
        ],
    )
}
