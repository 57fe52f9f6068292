//! The checks between sections, run once every section is parsed: each names the key that
//! refers to another section.

use crate::{Config, ConfigError, Context, Problem};

/// Checks that tool selections name declared APIs, that agent certificates have client TLS to
/// arrive on, that no identity provider is the gateway itself, and that the admin API has an
/// address of its own.
pub(crate) fn check(config: &Config, cx: &Context<'_>) -> Result<(), ConfigError> {
    for (i, agent) in config.agents.iter().enumerate() {
        if agent.certificate.is_some() && !config.listener.asks_client_certificates() {
            return Err(cx.invalid(
                format!("agents[{i}].certificate"),
                Problem::NoClientCertificates,
            ));
        }
    }
    let own_issuer = config.issuer_url();
    for (i, idp) in config.identity_providers.iter().enumerate() {
        if idp.issuer == own_issuer.as_str() {
            return Err(cx.invalid(
                format!("identity_providers[{i}].issuer"),
                Problem::OwnIssuer,
            ));
        }
    }
    if let Some(upstream) = config
        .sign_in
        .as_ref()
        .and_then(|s| s.identity_provider.as_ref())
        && !config
            .identity_providers
            .iter()
            .any(|idp| idp.issuer.as_str() == upstream.issuer)
    {
        return Err(cx.invalid(
            "sign_in.identity_provider.issuer",
            Problem::UnknownSignInIssuer(portcullis_core::truncate_for_message(
                &upstream.issuer,
                128,
            )),
        ));
    }
    for (i, selection) in config.tools.iter().enumerate() {
        if !config.apis.iter().any(|api| api.name == selection.api) {
            return Err(cx.invalid(
                format!("tools[{i}].api"),
                Problem::UnknownApi(selection.api.to_string()),
            ));
        }
        if let Some(group) = &selection.approval {
            let Some(approvals) = &config.approvals else {
                return Err(cx.invalid(format!("tools[{i}].approval"), Problem::NoApprovals));
            };
            if !approvals.knows_group(group.as_str()) {
                return Err(cx.invalid(
                    format!("tools[{i}].approval.group"),
                    Problem::UnknownApproverGroup(group.to_string()),
                ));
            }
        }
    }
    if config.admin.token.is_some() && config.admin.listen == config.listener.address {
        return Err(cx.invalid("admin.listen", Problem::AdminAddress));
    }
    Ok(())
}
