//! The `mcp` section: the MCP endpoint's handshake sessions (protocol revisions 2025-06-18 and
//! 2025-11-25; 2026-07-28 is stateless and opens none).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, HumanDuration, NonZeroDuration, Problem};

/// The MCP session settings, checked.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct McpConfig {
    /// Sessions open at once in all.
    pub max_sessions: usize,
    /// Sessions one agent may hold open at once.
    pub max_sessions_per_agent: usize,
    /// A session with no traffic for this long is closed.
    pub session_idle_timeout: NonZeroDuration,
}

/// The MCP endpoint's sessions.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "McpConfig")]
pub(crate) struct RawMcp {
    /// Handshake sessions open at once in all; an `initialize` beyond it is refused (503).
    max_sessions: usize,
    /// Sessions one agent may hold open at once, so that no agent can fill the global cap and
    /// lock the others out; an `initialize` beyond it is refused (429). Each `initialize` also
    /// counts against the agent's admission rate limits (`limits.rates` with `stage: admit`).
    max_sessions_per_agent: usize,
    /// A session with no traffic for this long is closed; its client starts a new one.
    session_idle_timeout: HumanDuration,
}

impl Default for RawMcp {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            max_sessions_per_agent: 16,
            session_idle_timeout: HumanDuration(Duration::from_secs(300)),
        }
    }
}

impl RawMcp {
    /// Checks the values.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<McpConfig, ConfigError> {
        if self.max_sessions == 0 || self.max_sessions_per_agent == 0 {
            return Err(cx.invalid(
                "mcp",
                Problem::AnyZero("`max_sessions` and `max_sessions_per_agent`"),
            ));
        }
        if self.max_sessions_per_agent > self.max_sessions {
            return Err(cx.invalid("mcp.max_sessions_per_agent", Problem::PerClientAboveTotal));
        }
        Ok(McpConfig {
            max_sessions: self.max_sessions,
            max_sessions_per_agent: self.max_sessions_per_agent,
            session_idle_timeout: cx
                .non_zero("mcp.session_idle_timeout", self.session_idle_timeout)?,
        })
    }
}
