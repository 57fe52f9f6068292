//! The `admin` section: the admin API's own listener, its connection limits and its bearer
//! credential.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connections::RawConnectionLimits;
use crate::{ConfigError, ConnectionLimits, Context, SecretRef};

/// The admin API section, checked.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// Socket address of the admin listener; never the agents' listener.
    pub listen: SocketAddr,
    /// The admin bearer credential. Without it the admin API does not start.
    pub token: Option<SecretRef>,
    /// The admin listener's connection timeouts and caps.
    pub connections: ConnectionLimits,
}

/// The admin API section.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "AdminConfig")]
pub(crate) struct RawAdmin {
    /// Socket address of the admin listener; never the agents' listener.
    #[schemars(with = "String")]
    listen: SocketAddr,
    /// The admin bearer credential (`env:NAME` or `file:PATH`). Without it the admin API does
    /// not start. It is never an agent's token.
    token: Option<SecretRef>,
    /// Timeouts and caps of the admin listener's connections (as `listener.connections`, with
    /// 256 connections in all and 64 per client by default).
    #[serde(default = "RawConnectionLimits::admin_default")]
    connections: RawConnectionLimits,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            token: None,
            connections: RawConnectionLimits::admin_default(),
        }
    }
}

impl RawAdmin {
    /// Resolves the token's file and checks the connection limits. That the address is not the
    /// agents' is checked with the other references between sections.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<AdminConfig, ConfigError> {
        Ok(AdminConfig {
            listen: self.listen,
            token: self.token.map(|token| cx.secret(token)),
            connections: self.connections.parse("admin.connections", cx)?,
        })
    }
}
