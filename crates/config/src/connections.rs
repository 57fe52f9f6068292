//! The `connections` subsection of a listener (`listener.connections`, `admin.connections`): how
//! long a client may take to send a request and how many connections it may hold, so that idle,
//! slow or numerous connections cannot take the gateway down for everyone.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, HumanDuration, NonZeroDuration, Problem};

/// Timeouts and caps of one listener's connections, checked: every value greater than zero,
/// the per-client cap at most the listener's.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ConnectionLimits {
    /// Time a client has to send a complete request head, counted from when the server waits
    /// for it; on HTTP/1.1 keep-alive connections that includes the wait for the next request.
    pub header_timeout: NonZeroDuration,
    /// Time a client has to send a request body once its head has arrived.
    pub body_timeout: NonZeroDuration,
    /// A connection with no traffic in either direction and no request in progress for this
    /// long is closed.
    pub idle_timeout: NonZeroDuration,
    /// Connections open at once on the listener; further ones are refused at once.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_per_client: usize,
}

/// A listener's connection timeouts and caps.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ConnectionLimits")]
pub(crate) struct RawConnectionLimits {
    /// Time a client has to send a complete request head, counted from when the server starts
    /// waiting for it. On HTTP/1.1 keep-alive connections the server waits for the next request
    /// the same way, so a connection idle this long between requests is closed too.
    #[serde(default = "default_header_timeout")]
    header_timeout: HumanDuration,
    /// Time a client has to send a whole request body once its head has arrived; a slower body
    /// is refused and the connection closed.
    #[serde(default = "default_body_timeout")]
    body_timeout: HumanDuration,
    /// A connection with no traffic in either direction and no request in progress for this
    /// long is closed (HTTP/2 connections, upgraded connections, event streams without pings).
    #[serde(default = "default_idle_timeout")]
    idle_timeout: HumanDuration,
    /// Connections open at once on this listener; a connection beyond it is refused at once
    /// (HTTP 503 on plain HTTP, closed before the handshake on TLS). The gateway also keeps
    /// it below the process's open-file limit.
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    /// Connections open at once from one client address; beyond it the client's further
    /// connections are refused the same way.
    #[serde(default = "default_max_per_client")]
    max_per_client: usize,
}

fn default_header_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_body_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

fn default_max_connections() -> usize {
    4096
}

fn default_max_per_client() -> usize {
    256
}

impl Default for RawConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            max_per_client: default_max_per_client(),
        }
    }
}

impl RawConnectionLimits {
    /// The defaults of the admin listener: the same timeouts, fewer connections.
    pub(crate) fn admin_default() -> Self {
        Self {
            max_connections: 256,
            max_per_client: 64,
            ..Self::default()
        }
    }

    /// Checks the values; `key` is the subsection's key path for errors.
    pub(crate) fn parse(
        self,
        key: &str,
        cx: &Context<'_>,
    ) -> Result<ConnectionLimits, ConfigError> {
        let duration = |name: &str, value| cx.non_zero(format!("{key}.{name}"), value);
        if self.max_connections == 0 || self.max_per_client == 0 {
            return Err(cx.invalid(
                key,
                Problem::AnyZero("`max_connections` and `max_per_client`"),
            ));
        }
        if self.max_per_client > self.max_connections {
            return Err(cx.invalid(
                format!("{key}.max_per_client"),
                Problem::PerClientAboveTotal,
            ));
        }
        Ok(ConnectionLimits {
            header_timeout: duration("header_timeout", self.header_timeout)?,
            body_timeout: duration("body_timeout", self.body_timeout)?,
            idle_timeout: duration("idle_timeout", self.idle_timeout)?,
            max_connections: self.max_connections,
            max_per_client: self.max_per_client,
        })
    }
}
