//! End-to-end tests of `Egress::send` and `MetadataClient::get_json` over loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod metadata;
mod redirects;
mod ssrf;
mod support;
mod upstream;

/// The gateway shares one `Egress` across tasks and awaits `send` inside handlers.
#[test]
fn egress_and_its_futures_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert_send_sync::<portcullis_egress::Egress>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let egress = portcullis_egress::Egress::new(
        &[],
        &support::secrets(&[]),
        std::sync::Arc::new(portcullis_egress::StaticResolver::new()),
    )
    .unwrap();
    let tool = support::root_tool("none");
    let permitted = support::permitted(&tool, serde_json::json!({}));
    let future = egress.send(&permitted);
    assert_send(&future);
    let denial = runtime.block_on(future).unwrap_err();
    assert_eq!(denial.kind, portcullis_core::DenialKind::Internal);
}
