//! The `agents` section: the OAuth clients allowed to obtain tokens, how each authenticates,
//! its roles and the scopes it may be granted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, Name, Problem, Scope, SecretRef};

/// An agent, checked: a valid unique id and role names, scope tokens, exactly one usable way to
/// authenticate (a secret hash, a secret reference, or a certificate with no secret).
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The client id; also the Cedar `Agent` entity id.
    pub id: Name,
    /// Argon2 PHC string of the client secret; never set together with `client_secret`.
    pub client_secret_hash: Option<String>,
    /// A reference to the client secret itself (its file resolved).
    pub client_secret: Option<SecretRef>,
    /// Roles; each is a Cedar `Role` entity the agent is a member of.
    pub roles: Vec<Name>,
    /// Scopes the agent may be granted.
    pub scopes: Vec<Scope>,
    /// Whether the agent may use the token-exchange grant (RFC 8693) to act for a user.
    pub token_exchange: bool,
    /// The client certificate that authenticates the agent (RFC 8705 `tls_client_auth`).
    pub certificate: Option<AgentCertificate>,
}

crate::deserialize_as_entry!(AgentConfig, RawAgent, "agent");

/// An agent: an OAuth client that obtains tokens with the client-credentials grant.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AgentConfig")]
pub(crate) struct RawAgent {
    /// The client id; also the Cedar `Agent` entity id.
    id: String,
    /// Argon2 PHC string of the client secret (`portcullis hash-secret` makes one).
    #[serde(default)]
    client_secret_hash: Option<String>,
    /// A reference to the client secret itself, for secrets managed outside this file.
    #[serde(default)]
    client_secret: Option<SecretRef>,
    /// Roles; each is a Cedar `Role` entity the agent is a member of.
    #[serde(default)]
    roles: Vec<String>,
    /// Scopes the agent may be granted.
    #[serde(default)]
    scopes: Vec<String>,
    /// Whether the agent may use the token-exchange grant (RFC 8693) to act for a user.
    /// Off by default: an agent acts only as itself unless this is set.
    #[serde(default)]
    token_exchange: bool,
    /// Authenticate the agent at the token endpoint by its TLS client certificate (RFC 8705
    /// `tls_client_auth`) instead of, or as well as, a secret. Needs `listener.tls` with client
    /// certificates.
    #[serde(default)]
    certificate: Option<AgentCertificate>,
}

/// Which client certificate identifies an agent: exactly one of `subject` and `spiffe_id`.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentCertificate {
    /// The certificate's subject distinguished name, RFC 4514 form (`CN=billing-bot,O=Shop`).
    pub subject: Option<String>,
    /// A URI subject alternative name, typically a SPIFFE id (`spiffe://shop.example/billing`).
    pub spiffe_id: Option<String>,
    /// Bind the tokens issued on such a request to the certificate (RFC 8705 `cnf.x5t#S256`):
    /// they are refused on any connection that does not present the same certificate.
    pub bind_tokens: bool,
}

impl Default for AgentCertificate {
    fn default() -> Self {
        Self {
            subject: None,
            spiffe_id: None,
            bind_tokens: true,
        }
    }
}

impl RawAgent {
    /// Checks one agent; that ids are unique is checked over the list.
    pub(crate) fn parse(self, key: &str, cx: &Context<'_>) -> Result<AgentConfig, ConfigError> {
        let id = Name::new(&self.id)
            .ok_or_else(|| cx.invalid(format!("{key}.id"), Problem::AgentId(self.id.clone())))?;
        let client_secret = match (&self.client_secret_hash, self.client_secret) {
            (Some(_), Some(_)) => return Err(cx.invalid(key, Problem::TwoSecrets)),
            (None, None) if self.certificate.is_none() => {
                return Err(cx.invalid(key, Problem::NoCredential));
            }
            (Some(hash), None) if !hash.starts_with("$argon2") => {
                return Err(cx.invalid(format!("{key}.client_secret_hash"), Problem::NotArgon2));
            }
            (_, secret) => secret.map(|secret| cx.secret(secret)),
        };
        let roles = self
            .roles
            .iter()
            .map(|role| {
                Name::new(role).ok_or_else(|| {
                    cx.invalid(format!("{key}.roles"), Problem::RoleName(role.clone()))
                })
            })
            .collect::<Result<_, _>>()?;
        let scopes = cx.scopes(format!("{key}.scopes"), &self.scopes)?;
        if let Some(certificate) = &self.certificate
            && certificate.subject.is_some() == certificate.spiffe_id.is_some()
        {
            return Err(cx.invalid(format!("{key}.certificate"), Problem::CertificateIdentity));
        }
        Ok(AgentConfig {
            id,
            client_secret_hash: self.client_secret_hash,
            client_secret,
            roles,
            scopes,
            token_exchange: self.token_exchange,
            certificate: self.certificate,
        })
    }
}
