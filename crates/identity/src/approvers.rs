//! The people who decide on held calls (`approvals.approvers`): their credentials, checked
//! like agents' client secrets (argon2 hash or a secret reference, the same decoy for unknown
//! ids so that timing does not tell which ids exist), and their groups.
//!
//! Approvers authenticate to the admin API with HTTP Basic (`id:secret`). An agent's token is
//! never an approver credential: the approver list is separate from the agents, and the admin
//! API does not read bearer tokens for approvals.

use std::collections::HashMap;

use portcullis_config::ApprovalsConfig;
use portcullis_secrets::SecretStore;

use crate::client::{Credential, parse_basic};
use crate::error::IdentityError;

/// Longest approver id or secret checked.
const MAX_BYTES: usize = 1024;

/// The configured approvers.
pub struct Approvers {
    by_id: HashMap<String, (Credential, Vec<String>)>,
    decoy: Credential,
}

impl std::fmt::Debug for Approvers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvers")
            .field("count", &self.by_id.len())
            .finish_non_exhaustive()
    }
}

impl Approvers {
    /// Reads the approvers' credentials: hashes are parsed now, references resolved now, so a
    /// bad one fails at start-up.
    pub fn new(config: &ApprovalsConfig, secrets: &SecretStore) -> Result<Self, IdentityError> {
        let mut by_id = HashMap::with_capacity(config.approvers.len());
        for approver in &config.approvers {
            let credential = match (&approver.secret_hash, &approver.secret) {
                (Some(phc), _) => Credential::from_phc(&approver.id, phc)?,
                (None, Some(reference)) => {
                    Credential::Plain(secrets.resolve(reference).map_err(|source| {
                        IdentityError::Secret {
                            agent: approver.id.to_string(),
                            source,
                        }
                    })?)
                }
                (None, None) => Credential::decoy(std::iter::empty())?,
            };
            let groups = approver.groups.iter().map(|g| g.to_string()).collect();
            by_id.insert(approver.id.to_string(), (credential, groups));
        }
        let decoy = Credential::decoy(by_id.values().map(|(c, _)| c))?;
        Ok(Self { by_id, decoy })
    }

    /// Checks an `Authorization: Basic` header; the approver's id and groups when it names a
    /// configured approver with the right secret. Runs argon2 for hashed secrets (tens of
    /// milliseconds): call it off the request threads.
    pub fn authenticate(&self, authorization: &str) -> Option<(String, Vec<String>)> {
        let presented = parse_basic(authorization).ok()?;
        if presented.client_id.len() > MAX_BYTES || presented.secret.len() > MAX_BYTES {
            return None;
        }
        match self.by_id.get(&presented.client_id) {
            Some((credential, groups)) => credential
                .verify(presented.secret.as_bytes())
                .then(|| (presented.client_id.clone(), groups.clone())),
            None => {
                // Same cost as a known id.
                let _ = self.decoy.verify(presented.secret.as_bytes());
                None
            }
        }
    }

    /// The groups of approver `id`, when configured (for the CLI, whose user holds the data
    /// folder and so needs no secret).
    pub fn groups_of(&self, id: &str) -> Option<&[String]> {
        self.by_id.get(id).map(|(_, groups)| groups.as_slice())
    }
}
