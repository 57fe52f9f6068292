//! `portcullis approvals list|show|approve|deny`: the approvals of held calls, read and decided
//! on the data folder's store.
//!
//! Whoever runs the CLI holds the data folder (the signing keys, the audit log), so the CLI asks
//! for no approver secret: `--as` names a configured approver, whose groups must include the
//! approval's. For that reason it cannot keep the two-person rule: approving for a group that
//! needs several approvers is refused here and done through the admin API, where each approver
//! authenticates. Denying needs one person and is allowed. The decision is written to the store at once; a running gateway sharing the
//! folder wakes the waiting call within a fraction of a second and writes the decision into the
//! audit chain (the chain has one writer: the gateway).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use portcullis_config::{Config, Loaded};
use portcullis_store::approvals::{ApprovalStatus, ApprovalStore as _, SqliteApprovals, Vote};

/// Where the approvals are: a configuration, or the gateway that last started on a data folder.
#[derive(clap::Args, Debug)]
pub(crate) struct Where {
    /// The configuration file (default: the one the gateway on `--data-dir` started with).
    #[arg(long, short = 'c', env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// The gateway's data directory (default: the configuration's `data_dir`, or `.portcullis`
    /// without `--config`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// List held calls, newest first, as JSON lines (arguments DLP-redacted).
    List {
        #[command(flatten)]
        at: Where,
        /// Only those in this state: pending, approved, denied, expired, executed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one held call: who asked, the redacted arguments, why it needs approval, the votes.
    Show {
        #[command(flatten)]
        at: Where,
        /// The approval id (`apr_...`).
        id: String,
    },
    /// Approve a held call; it runs once (now if the agent still waits, else when it repeats
    /// the identical call).
    Approve {
        #[command(flatten)]
        at: Where,
        /// The approval id (`apr_...`).
        id: String,
        /// The approver deciding (an id of `approvals.approvers`).
        #[arg(long = "as")]
        approver: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a held call; the agent is told the reason.
    Deny {
        #[command(flatten)]
        at: Where,
        /// The approval id (`apr_...`).
        id: String,
        /// The approver deciding (an id of `approvals.approvers`).
        #[arg(long = "as")]
        approver: String,
        /// Why: the agent reads it.
        #[arg(long)]
        reason: String,
    },
}

fn load(at: Where) -> anyhow::Result<Loaded> {
    match at.config {
        Some(config) => {
            let mut loaded = Config::load(&config)?;
            if let Some(dir) = at.data_dir {
                loaded.config.data_dir = dir;
            }
            Ok(loaded)
        }
        None => {
            let dir = at.data_dir.unwrap_or_else(|| PathBuf::from(".portcullis"));
            Ok(crate::state::started_on(dir)?.0)
        }
    }
}

pub(crate) async fn run(command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let at = match &command {
        ApprovalsCommand::List { .. } | ApprovalsCommand::Show { .. } => None,
        ApprovalsCommand::Approve { approver, .. } | ApprovalsCommand::Deny { approver, .. } => {
            Some(approver.clone())
        }
    };
    let (where_, id) = match command {
        ApprovalsCommand::List { at, status, limit } => {
            let loaded = load(at)?;
            let store = open(&loaded).await?;
            let status = status
                .map(|s| {
                    ApprovalStatus::parse(&s).with_context(|| {
                        format!(
                            "`{s}` is not a state: pending, approved, denied, expired, executed"
                        )
                    })
                })
                .transpose()?;
            for record in store.list(status, limit.clamp(1, 10_000)).await? {
                println!("{}", portcullis_pipeline::approval_json(&record, true));
            }
            return Ok(ExitCode::SUCCESS);
        }
        ApprovalsCommand::Show { at, id } => {
            let loaded = load(at)?;
            let store = open(&loaded).await?;
            let record = store
                .get(&id)
                .await?
                .with_context(|| format!("no approval `{id}`"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&portcullis_pipeline::approval_json(&record, true))?
            );
            return Ok(ExitCode::SUCCESS);
        }
        ApprovalsCommand::Approve { at, id, reason, .. } => ((at, reason, true), id),
        ApprovalsCommand::Deny { at, id, reason, .. } => ((at, Some(reason), false), id),
    };
    let (at_config, reason, approve) = where_;
    let approver = at.unwrap_or_default();
    let loaded = load(at_config)?;
    let Some(approvals) = &loaded.config.approvals else {
        anyhow::bail!("the configuration has no `approvals` section: no call is ever held");
    };
    let Some(person) = approvals
        .approvers
        .iter()
        .find(|a| a.id.as_str() == approver)
    else {
        anyhow::bail!("`{approver}` is not an approver (`approvals.approvers`)");
    };
    let store = open(&loaded).await?;
    let record = store
        .get(&id)
        .await?
        .with_context(|| format!("no approval `{id}`"))?;
    if !person.groups.iter().any(|g| g.as_str() == record.group) {
        anyhow::bail!(
            "`{approver}` is not an approver of the `{}` group this approval needs",
            record.group
        );
    }
    if record.binding.user == approver {
        anyhow::bail!("`{approver}` is the user this call acts for and cannot approve it");
    }
    // `--as` asks for no secret (whoever runs this holds the data folder), so it cannot prove
    // that two distinct people decided: the two-person rule is kept by the admin API, where
    // each approver authenticates.
    if approve && record.required > 1 {
        anyhow::bail!(
            "the `{}` group needs {} distinct approvers; each approves through the admin API with their own credentials (`POST /admin/approvals/{id}/approve`)",
            record.group,
            record.required
        );
    }
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if !approve && reason.is_none() {
        anyhow::bail!("a denial needs a `--reason` the agent can act on");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let decided = store
        .decide(Vote {
            approval: id.clone(),
            approver,
            approve,
            reason,
            at: now,
            source: "cli".to_owned(),
            recorded: false,
        })
        .await?;
    match portcullis_pipeline::decision_result(&id, decided) {
        Ok(record) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&portcullis_pipeline::approval_json(&record, true))?
            );
            let next = match record.status {
                ApprovalStatus::Approved => {
                    "approved: the call runs once (now, if the agent still waits)"
                }
                ApprovalStatus::Denied => "denied: the agent is told the reason",
                _ => "counted: more approvers of the group must approve",
            };
            eprintln!("{next}");
            Ok(ExitCode::SUCCESS)
        }
        Err(denial) => {
            eprintln!("error: {}", denial.message);
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn open(loaded: &Loaded) -> anyhow::Result<SqliteApprovals> {
    Ok(SqliteApprovals::open(&loaded.config.data_dir).await?)
}
