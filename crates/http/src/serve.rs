//! The accept loop of every listener (agents' and admin, plain and TLS), built so that idle,
//! slow or numerous connections cannot take the gateway down for everyone:
//!
//! - a cap on the connections open at once, per listener and per client address; a connection
//!   beyond a cap is accepted and refused at once (a `503` problem+json on plain HTTP, closed
//!   before the handshake on TLS), so the accept loop keeps going and the backlog never fills;
//! - a header timeout (hyper's HTTP/1 header read timeout, which also bounds the wait for the
//!   next request on a keep-alive connection), a body timeout (each request body must arrive
//!   within it, [`TimedBody`]), and an idle timeout (a connection with no bytes either way and
//!   no request in progress is closed, [`Activity`]), which also covers HTTP/2 and streams;
//! - the process's soft open-file limit raised towards the hard one at start
//!   ([`raise_open_file_limit`]), and each listener's cap kept below what the limit leaves.
//!
//! At shutdown the loop stops accepting, MCP streams end, and the connections in progress finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use portcullis_config::ConnectionLimits;
use portcullis_core::BodyTimedOut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::tls::{ClientCertificate, HANDSHAKE_TIMEOUT};
use crate::{App, problem_body};

/// File descriptors kept out of the listeners' share of the open-file limit: the stores, the
/// upstream connection pools, the resolver, the log.
const RESERVED_FILES: u64 = 256;

/// Raises the process's soft open-file limit to its hard limit and returns the new soft limit
/// (or the current one when it cannot be raised); logs what it did. Call once at start, before
/// binding listeners.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None;
    };
    let target = hard.unwrap_or(soft.max(65_536));
    if target <= soft {
        tracing::info!(soft, "open-file limit");
        return Some(soft);
    }
    let raised = rustix::process::Rlimit {
        current: Some(target),
        maximum: hard,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = soft, to = target, "raised the open-file limit");
            Some(target)
        }
        Err(err) => {
            tracing::warn!(%err, soft, "cannot raise the open-file limit");
            Some(soft)
        }
    }
}

/// The connection cap a listener can honour: the configured one, kept below the share of the
/// open-file limit the listener may use (half of what is left after the reserve, so that the
/// upstream side of every accepted connection has a descriptor too).
fn effective_cap(configured: usize) -> usize {
    use rustix::process::{Resource, getrlimit};
    let Some(soft) = getrlimit(Resource::Nofile).current else {
        return configured;
    };
    let share = soft.saturating_sub(RESERVED_FILES) / 2;
    let share = usize::try_from(share.max(16)).unwrap_or(usize::MAX);
    configured.min(share)
}

/// Serves `app` on `listener` until `signal` completes, then ends MCP streams and drains the
/// connections in progress.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let App {
        router,
        shutdown,
        tls,
        connections,
    } = app;
    if let Some(tls) = &tls {
        tls.spawn_reloader(shutdown.clone());
    }
    let cap = effective_cap(connections.max_connections);
    if cap < connections.max_connections {
        tracing::warn!(
            configured = connections.max_connections,
            cap,
            "connection cap lowered to fit the open-file limit"
        );
    }
    let gate = Arc::new(Gate::new(cap, connections.max_per_client.min(cap)));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(connections.header_timeout.get());
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let ticket = match gate.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                tracing::warn!(%peer, cap = refusal.as_str(), "refused a connection at its cap");
                if tls.is_none() {
                    refuse_plain(&stream, refusal);
                }
                continue;
            }
        };
        // Answers are small and often streamed in pieces (MCP event streams): without
        // TCP_NODELAY, Nagle's algorithm meets the client's delayed ACK and each answer waits
        // about 40 ms.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            peer,
            limits: connections,
            _ticket: ticket,
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(stream, None));
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|leaf| ClientCertificate::new(leaf.clone().into_owned()));
                    connection.serve(stream, certificate).await;
                });
            }
        }
    }
    drop(listener);
    shutdown.cancel();
    graceful.shutdown().await;
    Ok(())
}

/// One accepted connection, ready to be served.
struct Connection {
    router: Router,
    builder: Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
    limits: ConnectionLimits,
    /// Holds the connection's place under the caps until the connection ends.
    _ticket: Ticket,
}

impl Connection {
    /// Serves requests on `io` until the client closes, a timeout fires or shutdown drains it.
    async fn serve<I>(self, io: I, certificate: Option<ClientCertificate>)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let Self {
            router,
            builder,
            watcher,
            peer,
            limits,
            _ticket,
        } = self;
        let activity = Arc::new(Activity::new());
        let body_timeout = limits.body_timeout.get();
        let in_service = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let busy = in_service.begin();
            let mut request = request.map(|body| {
                if body.is_end_stream() {
                    Body::new(body)
                } else {
                    Body::new(TimedBody::new(body, body_timeout))
                }
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(busy);
                response
            }
        });
        let io = TokioIo::new(Watched {
            inner: io,
            activity: Arc::clone(&activity),
        });
        let connection = watcher.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        tokio::pin!(connection);
        let idle = limits.idle_timeout.get();
        loop {
            tokio::select! {
                result = &mut connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(activity.idle_deadline(idle)) => {
                    if activity.is_idle(idle) {
                        tracing::debug!(%peer, "closed an idle connection");
                        return;
                    }
                }
            }
        }
    }
}

/// Which cap refused a connection.
#[derive(Clone, Copy, Debug)]
enum CapRefusal {
    /// The listener's.
    Listener,
    /// The client address's.
    Client,
}

impl CapRefusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::Client => "client",
        }
    }
}

/// The connection caps of one listener.
struct Gate {
    total: Arc<Semaphore>,
    per_client: parking_lot::Mutex<HashMap<IpAddr, usize>>,
    max_per_client: usize,
}

/// A connection's place under the caps, given back when dropped.
struct Ticket {
    _permit: OwnedSemaphorePermit,
    gate: Arc<Gate>,
    client: IpAddr,
}

impl Gate {
    fn new(max: usize, max_per_client: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(max)),
            per_client: parking_lot::Mutex::new(HashMap::new()),
            max_per_client,
        }
    }

    /// A place for a connection from `client`, unless a cap is reached.
    fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Ticket, CapRefusal> {
        let client = client.to_canonical();
        let permit = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| CapRefusal::Listener)?;
        let mut counts = self.per_client.lock();
        let count = counts.entry(client).or_insert(0);
        if *count >= self.max_per_client {
            return Err(CapRefusal::Client);
        }
        *count += 1;
        Ok(Ticket {
            _permit: permit,
            gate: Arc::clone(self),
            client,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.gate.per_client.lock();
        if let Some(count) = counts.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// Answers a connection refused at a cap on plain HTTP with a `503` problem+json, if the
/// socket takes it at once, and closes it. Nothing waits on the client.
fn refuse_plain(stream: &tokio::net::TcpStream, refusal: CapRefusal) {
    let detail = match refusal {
        CapRefusal::Listener => "the gateway has too many open connections; retry later",
        CapRefusal::Client => "too many open connections from this address; close some and retry",
    };
    let body = problem_body(portcullis_core::DenialKind::Overloaded, detail);
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let answer = [head.as_bytes(), &body].concat();
    // Best effort: a client that does not read gets nothing, and the socket closes on drop.
    let _ = stream.try_write(&answer);
    // Closing a socket with unread bytes sends a reset, which can make the client's system
    // drop the answer before the client reads it (RFC 9112 section 9.6). What the client has
    // already sent is read and discarded without waiting, so the close is an orderly one.
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are in progress.
struct Activity {
    started: Instant,
    /// Milliseconds since `started` of the last byte read or written.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request in progress; ends when dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// When the connection becomes idle if nothing happens before.
    fn idle_deadline(&self, idle: Duration) -> tokio::time::Instant {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        tokio::time::Instant::from_std(self.started + last + idle)
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.started.elapsed()
                >= Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's byte stream, noting each byte that moves in [`Activity`].
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive whole within a deadline set when its head arrived; after
/// it, the body yields [`BodyTimedOut`] and the front answers 408.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_listener_and_per_client_and_free_on_drop() {
        let gate = Arc::new(Gate::new(3, 2));
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert!(matches!(gate.admit(a), Err(CapRefusal::Client)));
        let _third = gate.admit(b).unwrap();
        assert!(matches!(gate.admit(b), Err(CapRefusal::Listener)));
        drop(first);
        assert!(gate.admit(a).is_ok(), "a freed place is taken again");

        // An IPv4-mapped IPv6 address is the same client as its IPv4 form.
        let gate = Arc::new(Gate::new(10, 1));
        let _held = gate.admit(b).unwrap();
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped());
        assert!(matches!(gate.admit(mapped), Err(CapRefusal::Client)));
    }

    #[test]
    fn a_connection_is_idle_only_without_traffic_and_without_requests() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_millis(0);
        assert!(activity.is_idle(idle));
        let busy = activity.begin();
        assert!(!activity.is_idle(idle), "a request in progress is not idle");
        drop(busy);
        assert!(activity.is_idle(idle));
        assert!(!activity.is_idle(Duration::from_secs(60)));
    }
}
