//! The `admin` section: the admin API's own listener and its bearer credential.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Context, SecretRef};

/// The admin API section.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Socket address of the admin listener; never the agents' listener.
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// The admin bearer credential (`env:NAME` or `file:PATH`). Without it the admin API does
    /// not start. It is never an agent's token.
    pub token: Option<SecretRef>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            token: None,
        }
    }
}

impl AdminConfig {
    /// Resolves the token's file. That the address is not the agents' is checked with the
    /// other references between sections.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Self {
        Self {
            listen: self.listen,
            token: self.token.map(|token| cx.secret(token)),
        }
    }
}
