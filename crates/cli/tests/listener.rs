//! The listener under hostile load, against the real `portcullis serve` process with a low
//! open-file limit (set with `ulimit -n` before it starts): more half-open connections than the
//! limit allows do not lock a normal client out, and slow or idle connections are closed by
//! their timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_e2e::copy_dir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const SECRET: &str = "demo-secret-for-the-listener-test";
/// The open-file limit the gateway runs under, soft and hard.
const FILE_LIMIT: u32 = 512;
/// The attacker's connections: more than the gateway could hold open.
const ATTACK: usize = 700;

/// The gateway process, killed when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(connections: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart"),
        dir.path(),
    );
    let config = dir.path().join("portcullis.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let anchor = "  max_body_bytes: 1048576\n";
    assert!(text.contains(anchor));
    let text = text.replacen(anchor, &format!("{anchor}  connections:\n{connections}"), 1);
    std::fs::write(&config, text).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = dir.path().join("gateway.log");
    let command = format!(
        "ulimit -n {FILE_LIMIT} && exec \"$0\" serve --config \"$1\" --data-dir \"$2\" --listen \"$3\""
    );
    let child = Command::new("sh")
        .args(["-c", &command, BIN])
        .arg(&config)
        .arg(dir.path().join("data"))
        .arg(addr.to_string())
        .env("PORTCULLIS_LOG", "info")
        .env("PORTCULLIS_DEMO_CLIENT_SECRET", SECRET)
        .env("PORTCULLIS_READONLY_CLIENT_SECRET", "readonly-secret")
        .env("PORTCULLIS_ASSISTANT_CLIENT_SECRET", "assistant-secret")
        .env("PORTCULLIS_DEMO_OPERATOR_SECRET", "operator-secret")
        .env("PORTCULLIS_DEMO_USER_PASSWORD", "user-password")
        .env("ORDERS_API_TOKEN", "upstream-token")
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Gateway {
        child,
        addr,
        log,
        _dir: dir,
    }
}

impl Gateway {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("gateway exited with {status}: {}", self.log());
            }
            if http
                .get(format!("http://{}/healthz", self.addr))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("gateway did not start: {}", self.log());
    }
}

/// A client connection from `from` (any loopback address works on Linux).
async fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A normal client's whole exchange: a token, then the tool list.
async fn normal_client(http: &reqwest::Client, addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth("demo-agent", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let listed = http
        .get(format!("http://{addr}/v1/tools"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    started.elapsed()
}

/// Reads until the peer closes or `within` passes; true when it closed.
async fn closes_within(stream: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (true, received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (false, received),
        }
    }
}

#[tokio::test]
async fn half_open_connections_beyond_the_file_limit_do_not_lock_out_a_normal_client() {
    let mut gateway = start(
        "    header_timeout: 2s\n    body_timeout: 2s\n    idle_timeout: 3s\n    max_per_client: 64\n",
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    gateway.wait_ready(&http).await;

    // The attacker, at another loopback address: connections that send half a request head and
    // then nothing, more of them than the gateway has file descriptors.
    let attacker = IpAddr::from([127, 0, 0, 2]);
    let mut streams = Vec::with_capacity(ATTACK);
    for _ in 0..ATTACK {
        let mut stream = connect(attacker, gateway.addr).await.unwrap();
        // Refused ones may already be closed; a failed write is part of the answer.
        let _ = stream
            .write_all(b"POST /v1/tools/getOrder/call HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await;
        streams.push(stream);
    }

    // Meanwhile a normal client is served at once.
    let took = normal_client(&http, gateway.addr).await;
    assert!(took < Duration::from_secs(1), "normal client took {took:?}");

    // Beyond its cap the attacker was refused at once with a 503 problem; the connections held
    // are closed by the header timeout, within a few seconds.
    let mut refused = 0;
    let mut closed = 0;
    for stream in &mut streams {
        let (was_closed, answer) = closes_within(stream, Duration::from_secs(6)).await;
        if was_closed {
            closed += 1;
        }
        if String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503") {
            refused += 1;
            assert!(
                String::from_utf8_lossy(&answer).contains("application/problem+json"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    assert!(refused >= ATTACK - 64, "refused {refused} of {ATTACK}");
    assert_eq!(closed, ATTACK, "every slow connection was closed");
    let log = gateway.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("open-file limit"), "{log}");

    // And the normal client is still served after the attack.
    let took = normal_client(&http, gateway.addr).await;
    assert!(took < Duration::from_secs(1), "normal client took {took:?}");
}

#[tokio::test]
async fn slow_bodies_get_408_and_idle_connections_are_closed() {
    let mut gateway = start("    header_timeout: 1s\n    body_timeout: 1s\n    idle_timeout: 2s\n");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    gateway.wait_ready(&http).await;
    let local = IpAddr::from([127, 0, 0, 1]);

    // A body that never finishes: 408 with a problem body, recorded like any refusal.
    let mut stream = connect(local, gateway.addr).await.unwrap();
    stream
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant",
        )
        .await
        .unwrap();
    let (closed, answer) = closes_within(&mut stream, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("timed_out"), "{answer}");
    let _ = closed;

    // A keep-alive connection left idle after a request: closed by the gateway.
    let mut stream = connect(local, gateway.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (closed, answer) = closes_within(&mut stream, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed, "idle keep-alive connection left open");
    assert!(started.elapsed() < Duration::from_secs(4));

    // An HTTP/2 connection that says nothing after its preface: closed by the idle timeout.
    let mut stream = connect(local, gateway.addr).await.unwrap();
    // The client preface and an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let started = Instant::now();
    let (closed, _) = closes_within(&mut stream, Duration::from_secs(6)).await;
    assert!(closed, "idle HTTP/2 connection left open");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}
