//! The `apis` section: the upstream APIs, their OpenAPI documents, the credential injected into
//! every request and the egress rules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApiName, ConfigError, Context, HttpUrl, HumanDuration, Problem, SecretRef};

/// An upstream API, checked: a unique valid name, an http(s) base URL, an OpenAPI document that
/// exists (when loaded from a file), a well-formed credential and non-zero timeouts.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Short name, used in tool names on collision and as the Cedar `Api` entity id.
    pub name: ApiName,
    /// Base URL requests are sent to; operation paths are appended to it.
    pub base_url: HttpUrl,
    /// The OpenAPI 3.0 or 3.1 document.
    pub openapi: PathBuf,
    /// The credential injected into every upstream request.
    pub credential: Option<CredentialConfig>,
    /// Egress rules for this API.
    pub egress: EgressConfig,
}

crate::deserialize_as_entry!(ApiConfig, RawApi, "api");

/// An upstream API.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApiConfig")]
pub(crate) struct RawApi {
    /// Short name, used in tool names on collision and as the Cedar `Api` entity id.
    name: String,
    /// Base URL requests are sent to; operation paths are appended to it.
    base_url: String,
    /// OpenAPI 3.0 or 3.1 document (YAML or JSON). Relative to the config file.
    openapi: PathBuf,
    /// The credential injected into every upstream request.
    #[serde(default)]
    credential: Option<CredentialConfig>,
    /// Egress rules for this API.
    #[serde(default)]
    egress: EgressConfig,
}

/// How the upstream credential is presented.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The token.
        secret: SecretRef,
    },
    /// `<name>: <secret>`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        secret: SecretRef,
    },
    /// `?<name>=<secret>` appended to the URL.
    Query {
        /// Query parameter name.
        name: String,
        /// Its value.
        secret: SecretRef,
    },
    /// HTTP Basic with a fixed user name.
    Basic {
        /// User name (not secret).
        username: String,
        /// Password.
        secret: SecretRef,
    },
}

/// Egress rules for one API.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// CIDR ranges this API may reach although they are special-purpose (loopback, private,
    /// link-local ...). Empty by default: only public addresses are reachable.
    #[schemars(with = "Vec<String>")]
    pub allow_private: Vec<ipnet::IpNet>,
    /// Time to establish the TCP (and TLS) connection.
    pub connect_timeout: HumanDuration,
    /// Time for the whole upstream exchange.
    pub timeout: HumanDuration,
    /// Redirects followed (each hop re-checked). 0 disables following.
    pub max_redirects: u8,
    /// Largest upstream response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// PEM files of further certificate authorities trusted for this destination's TLS (an
    /// organization's internal PKI), beside the system's trusted roots. Relative paths start at
    /// the configuration file's folder.
    #[schemars(with = "Vec<String>")]
    pub ca_certificates: Vec<PathBuf>,
}

impl EgressConfig {
    /// Checks the section under `key`: timeouts above zero, CA files present (paths resolved).
    pub(crate) fn checked(self, key: &str, cx: &Context<'_>) -> Result<Self, ConfigError> {
        if self.timeout.0.is_zero() || self.connect_timeout.0.is_zero() {
            return Err(cx.invalid(key, Problem::AnyZero("timeouts")));
        }
        let ca_certificates = self
            .ca_certificates
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                cx.existing(format!("{key}.ca_certificates[{i}]"), path, Path::is_file)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            ca_certificates,
            ..self
        })
    }
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            allow_private: Vec::new(),
            connect_timeout: HumanDuration(Duration::from_secs(3)),
            timeout: HumanDuration(Duration::from_secs(15)),
            max_redirects: 0,
            max_response_bytes: 4 * 1024 * 1024,
            ca_certificates: Vec::new(),
        }
    }
}

impl RawApi {
    /// Checks one API; that names are unique is checked over the list.
    pub(crate) fn parse(self, key: &str, cx: &Context<'_>) -> Result<ApiConfig, ConfigError> {
        let name = ApiName::new(&self.name).ok_or_else(|| {
            cx.invalid(format!("{key}.name"), Problem::ApiName(self.name.clone()))
        })?;
        let base_url =
            HttpUrl::parse(&self.base_url).map_err(|e| cx.invalid(format!("{key}.base_url"), e))?;
        let openapi = cx.existing(format!("{key}.openapi"), self.openapi, Path::is_file)?;
        let credential = self
            .credential
            .map(|credential| credential.parse(key, cx))
            .transpose()?;
        let egress = self.egress.checked(&format!("{key}.egress"), cx)?;
        Ok(ApiConfig {
            name,
            base_url,
            openapi,
            credential,
            egress,
        })
    }
}

impl CredentialConfig {
    /// Checks the header or parameter name and resolves the secret's file.
    fn parse(self, key: &str, cx: &Context<'_>) -> Result<Self, ConfigError> {
        let name_key = || format!("{key}.credential.name");
        Ok(match self {
            Self::Bearer { secret } => Self::Bearer {
                secret: cx.secret(secret),
            },
            Self::Basic { username, secret } => Self::Basic {
                username,
                secret: cx.secret(secret),
            },
            Self::Header { name, .. } if http_header_name_invalid(&name) => {
                return Err(cx.invalid(name_key(), Problem::HeaderName(name)));
            }
            Self::Header { name, secret } => Self::Header {
                name,
                secret: cx.secret(secret),
            },
            Self::Query { name, .. } if name.is_empty() => {
                return Err(cx.invalid(name_key(), Problem::EmptyQueryName));
            }
            Self::Query { name, secret } => Self::Query {
                name,
                secret: cx.secret(secret),
            },
        })
    }
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
