//! The two guard stages as the pipeline calls them: [`Guards::inspect`] (stage 6) and
//! [`Guards::filter`] (stage 11), with each tool's settings resolved once at start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{
    Config, DlpAction, GuardSettings, InspectMode, ResponseInjectionAction, Severity,
};
use portcullis_core::{Denial, DenialKind, UpstreamResponse, Violation, truncate_for_message};
use serde_json::Value;

use crate::dlp::{Dlp, DlpPolicy, DlpReport};
use crate::error::{GuardError, SettingsError};
use crate::inspect::{Classifier, Disabled, Finding, Inspector, risk};
use crate::prompt::{AnswerScan, PromptDetector, PromptHit};
use crate::shape::Shaper;

/// Most findings written into one audit record (the counts cover the rest).
const MAX_AUDITED_FINDINGS: usize = 10;

/// The guard stages, built once per catalog.
pub struct Guards {
    dlp: Dlp,
    prompt: Arc<PromptDetector>,
    inspector: Inspector,
    tools: HashMap<String, ToolGuards>,
    fallback: ToolGuards,
}

impl std::fmt::Debug for Guards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guards")
            .field("tools", &self.tools.len())
            .finish_non_exhaustive()
    }
}

/// One tool's resolved settings.
#[derive(Clone, Debug)]
struct ToolGuards {
    mode: InspectMode,
    block_severity: Severity,
    disabled: Disabled,
    dlp: Option<DlpPolicy>,
    response_injection: ResponseInjectionAction,
    shaper: Option<Shaper>,
}

/// The outcome of inspection for a call that may go on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspection {
    /// Every finding (none blocked the call).
    pub findings: Vec<Finding>,
    /// The risk score for `context.risk`, 0 to 100.
    pub risk: i64,
}

impl Inspection {
    /// Audit lines: one per finding (detector, severity, argument path), never the value.
    pub fn audit_lines(&self) -> Vec<String> {
        audit_findings(&self.findings)
    }
}

/// What the response filter did, for the audit record: kinds and detector ids with counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterReport {
    /// Audit lines (`dlp: card x1 redacted`, `response injection: ... flagged`).
    pub lines: Vec<String>,
}

impl Guards {
    /// Compiles the detectors and resolves every tool's settings (tool selection over global
    /// over defaults). `classify` is the egress address classifier.
    pub fn new(
        catalog: &Catalog,
        config: &Config,
        classify: Classifier,
    ) -> Result<Self, GuardError> {
        let settings_error = |key: String, source| GuardError::Settings { key, source };
        let dlp = Dlp::new()?;
        let prompt = Arc::new(PromptDetector::new()?);
        let inspector = Inspector::new(Arc::clone(&prompt), classify)?;
        let fallback =
            resolve(&config.guards, None).map_err(|e| settings_error("guards".into(), e))?;
        let mut tools = HashMap::with_capacity(catalog.len());
        for tool in catalog.tools() {
            let selection = config
                .tools
                .iter()
                .enumerate()
                .filter(|(_, s)| portcullis_catalog::selects(s, tool))
                .rev()
                .find(|(_, s)| s.guards != GuardSettings::default());
            let resolved = match selection {
                Some((index, selection)) => resolve(&config.guards, Some(&selection.guards))
                    .map_err(|e| settings_error(format!("tools[{index}].guards"), e))?,
                None => fallback.clone(),
            };
            tools.insert(tool.name.clone(), resolved);
        }
        Ok(Self {
            dlp,
            prompt,
            inspector,
            tools,
            fallback,
        })
    }

    /// Whether response shaping applies to `tool`: a shaped answer may lack fields or carry the
    /// truncation marker, so it need not match the tool's declared output schema.
    pub fn reshapes(&self, tool: &str) -> bool {
        self.settings(tool).shaper.is_some()
    }

    fn settings(&self, tool: &str) -> &ToolGuards {
        self.tools.get(tool).unwrap_or(&self.fallback)
    }

    /// Stage 6, inspect: runs the detectors over the (already validated) arguments. A finding
    /// at or above the block severity refuses the call in block mode, with the argument path
    /// and what to change; otherwise the findings and their risk score are returned.
    pub fn inspect(
        &self,
        tool: &Tool,
        args: &serde_json::Map<String, Value>,
    ) -> Result<Inspection, Denial> {
        let settings = self.settings(&tool.name);
        if settings.mode == InspectMode::Off {
            return Ok(Inspection::default());
        }
        let findings = self
            .inspector
            .inspect(&tool.input_schema, args, settings.disabled);
        let risk = risk(&findings);
        if settings.mode == InspectMode::Block
            && let Some(first) = findings
                .iter()
                .find(|f| f.severity >= settings.block_severity)
        {
            let mut denial = Denial::new(
                DenialKind::GuardBlocked,
                format!(
                    "argument `{}` was refused: {}",
                    truncate_for_message(&first.path, 64),
                    remedy(first.detector)
                ),
            );
            denial.violations = findings
                .iter()
                .filter(|f| f.severity >= settings.block_severity)
                .take(crate::MAX_VIOLATIONS)
                .map(|f| Violation {
                    path: truncate_for_message(&f.path, 64),
                    rule: f.detector.to_owned(),
                    message: remedy(f.detector).to_owned(),
                })
                .collect();
            denial.internal = audit_findings(&findings);
            denial.internal.push(format!("inspect: risk {risk}"));
            return Err(denial);
        }
        Ok(Inspection { findings, risk })
    }

    /// The arguments of a held call as approvers see them: the tool's DLP rules applied as on
    /// its answers, with `withhold` kinds redacted too (a review cannot be withheld), and the
    /// default rules when DLP is off for the tool, so that an approver never reads a card
    /// number or a credential the agent sent.
    pub fn redact_for_review(&self, tool: &str, args: &Value) -> Value {
        let review = match &self.settings(tool).dlp {
            Some(policy) => policy.for_review(),
            None => DlpPolicy::new(&std::collections::BTreeMap::new())
                .unwrap_or_else(|_| DlpPolicy::all(portcullis_config::DlpAction::Redact)),
        };
        let mut value = args.clone();
        self.dlp
            .redact(&mut value, &review, &mut DlpReport::default());
        value
    }

    /// Stage 11, filter: DLP, the response prompt-injection scan, then shaping, as the tool's
    /// settings say. A withheld answer becomes a [`DenialKind::ResponseWithheld`] denial.
    pub fn filter(
        &self,
        tool: &str,
        response: &mut UpstreamResponse,
    ) -> Result<FilterReport, Denial> {
        let settings = self.settings(tool);
        let mut report = FilterReport::default();
        if let Some(policy) = &settings.dlp {
            let mut dlp = DlpReport::default();
            self.dlp.redact(&mut response.body, policy, &mut dlp);
            for (kind, count) in &dlp.counts {
                report.lines.push(format!("dlp: {kind} x{count}"));
            }
            if dlp.withhold {
                let kinds: Vec<&str> = dlp.counts.keys().copied().collect();
                let mut denial = Denial::new(
                    DenialKind::ResponseWithheld,
                    format!(
                        "the answer of `{}` was withheld: it contains data this tool may not return ({})",
                        truncate_for_message(tool, 64),
                        kinds.join(", ")
                    ),
                );
                denial.internal = report.lines.clone();
                denial.internal.push("dlp: answer withheld".to_owned());
                return Err(denial);
            }
        }
        if settings.response_injection != ResponseInjectionAction::Off {
            let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
            let strip = settings.response_injection == ResponseInjectionAction::Strip;
            let mut hits = Vec::new();
            let mut prompt = self.prompt.answer_scan(&response.body);
            scan_strings(
                &mut response.body,
                &mut prompt,
                strip,
                &mut counts,
                &mut hits,
            );
            if !counts.is_empty() {
                let verb = match settings.response_injection {
                    ResponseInjectionAction::Strip => "stripped",
                    ResponseInjectionAction::Withhold => "withheld",
                    _ => "flagged",
                };
                let summary: Vec<String> = counts
                    .iter()
                    .map(|(id, count)| format!("{id} x{count}"))
                    .collect();
                let line = format!("response injection: {} {verb}", summary.join(", "));
                if settings.response_injection == ResponseInjectionAction::Withhold {
                    let mut denial = Denial::new(
                        DenialKind::ResponseWithheld,
                        format!(
                            "the answer of `{}` was withheld: it contains instructions aimed at the assistant",
                            truncate_for_message(tool, 64)
                        ),
                    );
                    denial.internal = report.lines.clone();
                    denial.internal.push(line);
                    return Err(denial);
                }
                response.notices.push(line.clone());
                report.lines.push(line);
            }
        }
        if let Some(shaper) = &settings.shaper {
            let shaped = shaper.apply(&mut response.body);
            if shaped.truncated() {
                report.lines.push(format!(
                    "shape: {} arrays shortened, {} strings cut{}",
                    shaped.arrays.len(),
                    shaped.strings_cut,
                    if shaped.previewed { ", previewed" } else { "" }
                ));
            }
        }
        Ok(report)
    }
}

/// Applies one tool's settings over the global ones over the defaults.
fn resolve(
    global: &GuardSettings,
    tool: Option<&GuardSettings>,
) -> Result<ToolGuards, SettingsError> {
    let pick =
        |f: fn(&GuardSettings) -> Option<InspectMode>| tool.and_then(f).or_else(|| f(global));
    let mode = pick(|s| s.inspect.mode).unwrap_or(InspectMode::Block);
    let block_severity = tool
        .and_then(|t| t.inspect.block_severity)
        .or(global.inspect.block_severity)
        .unwrap_or(Severity::High);
    let disabled = tool
        .and_then(|t| t.inspect.disabled.as_ref())
        .or(global.inspect.disabled.as_ref())
        .map(|names| Disabled::new(names))
        .transpose()?
        .unwrap_or_default();
    let enabled = tool
        .and_then(|t| t.dlp.enabled)
        .or(global.dlp.enabled)
        .unwrap_or(true);
    let mut kinds = global.dlp.kinds.clone();
    if let Some(tool) = tool {
        kinds.extend(tool.dlp.kinds.iter().map(|(k, v)| (k.clone(), *v)));
    }
    let policy = DlpPolicy::new(&kinds)?;
    let dlp = (enabled && policy != DlpPolicy::all(DlpAction::Allow)).then_some(policy);
    let response_injection = tool
        .and_then(|t| t.response_injection)
        .or(global.response_injection)
        .unwrap_or(ResponseInjectionAction::Flag);
    let shaper = tool
        .and_then(|t| t.shape.as_ref())
        .or(global.shape.as_ref())
        .map(Shaper::new)
        .transpose()?;
    Ok(ToolGuards {
        mode,
        block_severity,
        disabled,
        dlp,
        response_injection,
        shaper,
    })
}

/// Scans every string of `value` for prompt injection; with `strip`, replaces each offending
/// span by a marker.
fn scan_strings(
    value: &mut Value,
    prompt: &mut AnswerScan<'_>,
    strip: bool,
    counts: &mut BTreeMap<&'static str, usize>,
    hits: &mut Vec<PromptHit>,
) {
    match value {
        Value::String(text) => {
            prompt.next(text, hits);
            if hits.is_empty() {
                return;
            }
            for hit in hits.iter() {
                *counts.entry(hit.id).or_insert(0) += 1;
            }
            if strip {
                let mut out = String::with_capacity(text.len());
                let mut last = 0;
                for hit in hits.iter() {
                    if hit.start < last {
                        last = last.max(hit.end);
                        continue;
                    }
                    out.push_str(text.get(last..hit.start).unwrap_or(""));
                    out.push_str("[REMOVED:prompt_injection]");
                    last = hit.end;
                }
                out.push_str(text.get(last..).unwrap_or(""));
                *text = out;
            }
        }
        Value::Array(items) => {
            for item in items {
                scan_strings(item, prompt, strip, counts, hits);
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                scan_strings(item, prompt, strip, counts, hits);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn audit_findings(findings: &[Finding]) -> Vec<String> {
    let mut lines: Vec<String> = findings
        .iter()
        .take(MAX_AUDITED_FINDINGS)
        .map(|f| {
            format!(
                "inspect: {} ({}) at {}",
                f.detector,
                severity_name(f.severity),
                truncate_for_message(&f.path, 64)
            )
        })
        .collect();
    if findings.len() > MAX_AUDITED_FINDINGS {
        lines.push(format!(
            "inspect: {} more findings",
            findings.len() - MAX_AUDITED_FINDINGS
        ));
    }
    lines
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

/// What the agent should change, per detector family.
fn remedy(detector: &str) -> &'static str {
    match detector.split('.').next().unwrap_or("") {
        "sql" => {
            "it looks like SQL injection; send plain text without SQL syntax (quotes with OR/UNION, `;` statements, comments)"
        }
        "shell" => {
            "it looks like shell command injection; send plain text without command separators or substitutions"
        }
        "path_traversal" => {
            "it looks like path traversal; use a plain name without `..` or system paths"
        }
        "template" => {
            "it looks like template injection; remove template expressions such as `{{ }}` and `${ }`"
        }
        "script" => {
            "it looks like script injection; remove HTML tags, event handlers and script URLs"
        }
        "internal_url" => {
            "it points inside the network (loopback, private, link-local or metadata address, or an internal name), uses a scheme no upstream should receive (`file:`, `gopher:` ...) or is not a URL the guard can parse; use a public http(s) URL"
        }
        "prompt_injection" => {
            "it contains instructions aimed at the assistant or hidden characters; send the user's request without them"
        }
        _ => "it looks like an injection attempt",
    }
}
