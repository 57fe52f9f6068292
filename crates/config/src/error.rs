//! Configuration errors. Each names the file, and the line or the key, that is wrong.

use std::fmt;
use std::path::PathBuf;

use crate::types::UrlError;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the schema (unknown key, wrong type).
    #[error("{}{}: {message}", path.display(), Position(*line, *column))]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A value is well-formed but wrong (duplicate name, dangling reference).
    #[error("{}: `{key}`: {problem}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key path, such as `apis[0].base_url`.
        key: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A file or folder the config names does not exist.
    #[error("{}: `{key}`: `{}` does not exist", path.display(), file.display())]
    MissingFile {
        /// The config file.
        path: PathBuf,
        /// The key naming the file.
        key: String,
        /// The resolved path that is missing.
        file: PathBuf,
    },
}

/// What is wrong with a well-formed value; [`ConfigError::Invalid`] names its file and key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A single value that must be greater than zero is zero.
    #[error("must be greater than zero")]
    Zero,
    /// One of several values that must all be greater than zero is zero; names them.
    #[error("{0} must be greater than zero")]
    AnyZero(&'static str),
    /// A cap per client (or per agent) larger than the total it is a share of.
    #[error("must not be greater than the total it is a share of")]
    PerClientAboveTotal,
    /// A URL that is not an absolute http(s) URL without user information.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A `*`/`?` tool pattern that does not compile.
    #[error(transparent)]
    Pattern(#[from] crate::types::PatternError),
    /// A scope that is not an RFC 6749 scope token (shown cut to 64 characters).
    #[error(
        "`{0}` is not a valid scope; use printable ASCII without spaces, quotes or backslashes"
    )]
    Scope(String),
    /// Client certificates requested without the CAs to verify them.
    #[error("client certificates need `client_ca`, the CAs they are verified against")]
    ClientCaMissing,
    /// An agent id that is not a [`crate::Name`].
    #[error("`{0}` is not a valid agent id; use letters, digits, `-`, `_`, `.` and `@`")]
    AgentId(String),
    /// Two agents with one id.
    #[error("agent `{0}` is declared twice")]
    DuplicateAgent(String),
    /// An agent with both a secret hash and a secret reference.
    #[error("give either `client_secret_hash` or `client_secret`, not both")]
    TwoSecrets,
    /// An agent with no way to authenticate.
    #[error(
        "agent needs `client_secret_hash`, `client_secret` (`env:NAME` or `file:PATH`) or `certificate`"
    )]
    NoCredential,
    /// A `client_secret_hash` that is not an argon2 PHC string.
    #[error(
        "must be an argon2 PHC string (`$argon2id$...`); a plain secret belongs in an `env:` or `file:` reference"
    )]
    NotArgon2,
    /// A role name that is not a [`crate::Name`].
    #[error("`{0}` is not a valid role name")]
    RoleName(String),
    /// An agent certificate naming neither or both of its identities.
    #[error("give exactly one of `subject` and `spiffe_id`")]
    CertificateIdentity,
    /// An agent certificate while the listener does not ask for client certificates.
    #[error("needs `listener.tls` with `client_auth: optional` or `required`")]
    NoClientCertificates,
    /// An external issuer URL over plain http without `allow_insecure_http`.
    #[error("`{0}` must use https (set `allow_insecure_http` only for a loopback test issuer)")]
    InsecureHttp(String),
    /// An external issuer that is the gateway itself.
    #[error("this is the gateway's own issuer")]
    OwnIssuer,
    /// Two identity providers with one issuer.
    #[error("issuer `{0}` is declared twice")]
    DuplicateIssuer(String),
    /// An identity provider without algorithms.
    #[error("pin at least one algorithm, e.g. `[RS256]`")]
    NoAlgorithm,
    /// An algorithm outside [`crate::EXTERNAL_ALGORITHMS`].
    #[error("`{0}` is not accepted; use one of {list}", list = crate::EXTERNAL_ALGORITHMS.join(", "))]
    Algorithm(String),
    /// An API name that is not an [`crate::ApiName`].
    #[error("`{0}` is not a valid API name; use letters, digits, `-` and `_`")]
    ApiName(String),
    /// Two APIs with one name.
    #[error("API `{0}` is declared twice")]
    DuplicateApi(String),
    /// A credential header name that is not an HTTP token.
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    /// A credential query parameter without a name.
    #[error("query parameter name must not be empty")]
    EmptyQueryName,
    /// A tool selection naming an API the file does not declare.
    #[error("unknown API `{0}`; declare it under `apis`")]
    UnknownApi(String),
    /// A tool selection without operations.
    #[error("list at least one operationId or pattern")]
    NoOperations,
    /// A token lifetime of zero or above the longest allowed.
    #[error("must be greater than zero and at most `issuer.max_token_ttl`")]
    TokenTtl,
    /// A signing key rotation under one minute.
    #[error("must be at least one minute")]
    KeyRotation,
    /// A value below its lower bound.
    #[error("must be at least {0}")]
    AtLeast(&'static str),
    /// The admin API on the agents' listener address.
    #[error("the admin API needs its own address, not `listener.address`")]
    AdminAddress,
    /// A limit name that is not a [`crate::Name`], or one used twice.
    #[error("`{0}` is not a valid limit name or is used twice")]
    LimitName(String),
    /// An `admit` rate limit keyed or filtered by what is only known after resolve.
    #[error(
        "an `admit` limit runs before the tool is resolved; key it by `agent`, `user` or `tenant` only, without `tools`"
    )]
    AdmitKey,
    /// An authorization code lifetime of zero or over ten minutes.
    #[error("must be greater than zero and at most ten minutes")]
    CodeTtl,
    /// A redirect URI pattern that is not an absolute URI or a prefix ending in one `*`.
    #[error("`{0}` is not a redirect URI or a prefix ending in `*` (`scheme:...`, no fragment)")]
    RedirectPattern(String),
    /// A user id that is not a [`crate::Name`].
    #[error("`{0}` is not a valid user id; use letters, digits, `-`, `_`, `.` and `@`")]
    UserId(String),
    /// Two users with one id.
    #[error("user `{0}` is declared twice")]
    DuplicateUser(String),
    /// A user with both a password hash and a password reference.
    #[error("give either `password_hash` or `password`, not both")]
    TwoPasswords,
    /// A `sign_in` section with neither users nor an identity provider.
    #[error("nobody could sign in: list `users` or set `identity_provider`")]
    NoSignInMethod,
    /// An empty or overlong client id at the identity provider.
    #[error("must be 1 to 256 characters")]
    UpstreamClientId,
    /// `sign_in.identity_provider.issuer` naming no configured identity provider.
    #[error(
        "`{0}` is not the issuer of any entry of `identity_providers`; declare it there (its keys, claims and egress rules apply)"
    )]
    UnknownSignInIssuer(String),
    /// A user with no password.
    #[error("user needs `password_hash` or `password` (`env:NAME` or `file:PATH`)")]
    NoPassword,
    /// `approvals.expiry` not longer than `approvals.wait`.
    #[error("must be longer than `approvals.wait`")]
    ExpiryBeforeWait,
    /// An `approvals` section without groups.
    #[error("declare at least one approver group")]
    NoApproverGroups,
    /// A group name that is not a [`crate::Name`].
    #[error("`{0}` is not a valid group name; use letters, digits, `-`, `_`, `.` and `@`")]
    GroupName(String),
    /// A name used twice in one list.
    #[error("`{0}` is declared twice")]
    DuplicateName(String),
    /// An approver with no secret.
    #[error("approver needs `secret_hash` or `secret` (`env:NAME` or `file:PATH`)")]
    NoApproverSecret,
    /// A group name no `approvals.groups` entry declares.
    #[error("`{0}` is not an approver group; declare it under `approvals.groups`")]
    UnknownApproverGroup(String),
    /// A group needing more approvers than it has members.
    #[error("needs {required} distinct approvers but only {members} approvers are in the group")]
    TooFewApprovers {
        /// Approvers required.
        required: u32,
        /// Approvers in the group.
        members: usize,
    },
    /// A group named like the built-in `user` group.
    #[error(
        "`user` is the built-in group of the user the agent acts for; name this group otherwise"
    )]
    ReservedGroup,
    /// `tools[].approval` without an `approvals` section.
    #[error("names an approver group, but there is no `approvals` section")]
    NoApprovals,
    /// A Redis key prefix that is empty or holds a hash-tag brace.
    #[error("must be non-empty and without `{{` or `}}`")]
    RedisPrefix,
}

struct Position(Option<u64>, Option<u64>);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(col)) => write!(f, ":{line}:{col}"),
            (Some(line), None) => write!(f, ":{line}"),
            _ => Ok(()),
        }
    }
}

/// The first line of a multi-line parser message (the rest is a source snippet), without the
/// parser's own `error: line L column C: ` prefix: the error names the place once, as
/// `file:line:column`.
pub(crate) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let unplaced = line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(place, _)| {
            place
                .split(' ')
                .all(|word| word == "column" || word.bytes().all(|b| b.is_ascii_digit()))
        })
        .map_or(line, |(_, message)| message);
    unplaced.to_owned()
}
