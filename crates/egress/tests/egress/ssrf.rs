//! The SSRF table: every destination is refused before any connection is made.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_core::DenialKind;
use portcullis_egress::{Egress, Resolver, StaticResolver};
use serde_json::json;

use crate::support::{CountingListener, api, permitted, root_tool, secrets};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn internal_destinations_are_refused_without_connecting() {
    let v4 = CountingListener::bind("127.0.0.1:0").await;
    let v6 = CountingListener::bind("[::1]:0").await;
    let port = v4.addr.port();
    let port6 = v6.addr.port();

    let resolver = StaticResolver::new()
        .with_host("loopback.test", [ip("127.0.0.1")])
        .with_host("internal.test", [ip("10.0.0.1")])
        .with_host("metadata.test", [ip("169.254.169.254")])
        .with_host("lan.test", [ip("192.168.1.1")])
        .with_host("ula.test", [ip("fd00::1")])
        .with_host("v6-loopback.test", [ip("::1")])
        .with_host("mapped.test", [ip("::ffff:127.0.0.1")])
        .with_host("mixed.test", [ip("127.0.0.1"), ip("93.184.216.34")])
        .with_host(
            "mixed-reversed.test",
            [ip("93.184.216.34"), ip("127.0.0.1")],
        );

    let cases = [
        format!("http://2130706433:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://127.0.1:{port}/"),
        format!("http://017700000001:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/"),
        format!("http://[::1]:{port6}/"),
        format!("http://[0:0:0:0:0:0:0:1]:{port6}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://0:{port}/"),
        format!("http://loopback.test:{port}/"),
        format!("http://LOOPBACK.test.:{port}/"),
        format!("http://internal.test:{port}/"),
        format!("http://metadata.test:{port}/"),
        format!("http://lan.test:{port}/"),
        format!("http://ula.test:{port}/"),
        format!("http://v6-loopback.test:{port6}/"),
        format!("http://mapped.test:{port}/"),
        format!("http://mixed.test:{port}/"),
        format!("http://mixed-reversed.test:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://100.64.0.1/".to_owned(),
    ];

    let apis: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, url)| {
            // Allowing an unrelated private range must not open anything else.
            api(&format!("case{i}"), url, &["172.16.0.0/12"])
        })
        .collect();
    let egress = Egress::new(&apis, &secrets(&[]), Arc::new(resolver)).unwrap();

    let mut failures = Vec::new();
    for (i, url) in cases.iter().enumerate() {
        let tool = root_tool(&format!("case{i}"));
        match egress.send(&permitted(&tool, json!({}))).await {
            Err(denial) if denial.kind == DenialKind::EgressBlocked => {
                assert_eq!(
                    denial.message,
                    "the destination of this call is not allowed"
                );
                assert!(
                    denial
                        .internal
                        .iter()
                        .any(|d| d.contains("special-purpose range")),
                    "{url}: detail should name the range: {:?}",
                    denial.internal
                );
            }
            other => failures.push(format!("{url}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));
    assert_eq!(v4.accepted(), 0, "a connection reached the IPv4 listener");
    assert_eq!(v6.accepted(), 0, "a connection reached the IPv6 listener");
}

/// Answers with a public address the first time and loopback afterwards: the pre-check sees
/// the first answer, the connection the second.
struct Rebinding {
    calls: AtomicUsize,
}

impl Resolver for Rebinding {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let first = self.calls.fetch_add(1, Ordering::SeqCst) == 0;
        let answer = if first {
            ip("93.184.216.34")
        } else {
            ip("127.0.0.1")
        };
        Box::pin(std::future::ready(Ok(vec![answer])))
    }
}

#[tokio::test]
async fn dns_rebinding_is_caught_at_connect_time() {
    let listener = CountingListener::bind("127.0.0.1:0").await;
    let resolver = Arc::new(Rebinding {
        calls: AtomicUsize::new(0),
    });
    let url = format!("http://rebind.test:{}/", listener.addr.port());
    let egress = Egress::new(&[api("rebind", &url, &[])], &secrets(&[]), resolver.clone()).unwrap();
    let tool = root_tool("rebind");
    let denial = egress.send(&permitted(&tool, json!({}))).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::EgressBlocked, "{denial:?}");
    assert!(
        denial
            .internal
            .iter()
            .any(|d| d.contains("refused at connect time")),
        "{:?}",
        denial.internal
    );
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 2);
    assert_eq!(listener.accepted(), 0);
}

#[tokio::test]
async fn an_allowlisted_range_is_reachable_and_only_it() {
    let listener = CountingListener::bind("127.0.0.1:0").await;
    let port = listener.addr.port();
    let resolver = StaticResolver::new().with_host("svc.test", [ip("127.0.0.1")]);
    let apis = [
        api(
            "allowed",
            &format!("http://svc.test:{port}/"),
            &["127.0.0.0/8"],
        ),
        api(
            "wrong_range",
            &format!("http://svc.test:{port}/"),
            &["10.0.0.0/8"],
        ),
    ];
    let egress = Egress::new(&apis, &secrets(&[]), Arc::new(resolver)).unwrap();

    let refused = root_tool("wrong_range");
    let denial = egress
        .send(&permitted(&refused, json!({})))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::EgressBlocked);
    assert_eq!(listener.accepted(), 0);

    // The counting listener closes at once, so the call fails upstream, but it connected.
    let allowed = root_tool("allowed");
    let denial = egress
        .send(&permitted(&allowed, json!({})))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::UpstreamFailure, "{denial:?}");
    assert_eq!(listener.accepted(), 1);
}

#[tokio::test]
async fn what_is_sent_is_the_permitted_call() {
    // A permit cannot name another tool or other arguments than the ones it wraps (that does
    // not compile: see the crate documentation); what it wraps is what reaches the upstream.
    let listener = CountingListener::bind("127.0.0.1:0").await;
    let url = format!("http://127.0.0.1:{}/", listener.addr.port());
    let egress = Egress::new(
        &[api("open", &url, &["127.0.0.1/32"])],
        &secrets(&[]),
        Arc::new(StaticResolver::new()),
    )
    .unwrap();
    let tool = root_tool("open");
    let call = permitted(&tool, json!({}));
    assert_eq!(call.tool().name, tool.name);
    assert_eq!(
        call.digest(),
        &portcullis_core::ArgsDigest::of(&json!({})),
        "the digest is of the permitted arguments"
    );
    let denial = egress.send(&call).await.unwrap_err();
    // The counting listener closes at once: the permitted call's API was dialled, once.
    assert_eq!(denial.kind, DenialKind::UpstreamFailure, "{denial:?}");
    assert_eq!(listener.accepted(), 1);
}

#[tokio::test]
async fn names_from_the_system_resolver_are_checked() {
    let listener = CountingListener::bind("127.0.0.1:0").await;
    // `localhost` comes from the hosts file, so this needs no network.
    let url = format!("http://localhost:{}/", listener.addr.port());
    let egress = Egress::with_system_resolver(&[api("local", &url, &[])], &secrets(&[])).unwrap();
    let tool = root_tool("local");
    let denial = egress.send(&permitted(&tool, json!({}))).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::EgressBlocked, "{denial:?}");
    assert_eq!(listener.accepted(), 0);
}
