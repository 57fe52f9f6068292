//! Response DLP: secrets and personal data in upstream answers.
//!
//! Built for speed: one keyword search over all the strings of an answer (see
//! [`crate::keywords`]) finds, for each string, the rules whose literal keywords occur in it
//! (`AKIA`, `ghp_`, `-----BEGIN` ...), and one pass over the digits of each string gates the
//! numeric rules (cards, SSNs, phones, addresses, IBANs) on a digit count and on the shape
//! their pattern needs (a run of 13 digits, `ddd-dd-dddd`, four dot-separated numbers ...).
//! Only the rules so triggered run their regex (the `regex` crate: linear time, no
//! backtracking; on ASCII text the pattern's Unicode-free form, see `Ascii`), and every match
//! then passes a validator (Luhn, IBAN mod 97, SSN ranges, Shannon entropy) before it counts.
//! A string in which nothing is found costs no allocation.

use std::collections::BTreeMap;

use portcullis_config::DlpAction;
use regex::{Regex, RegexBuilder};
use regex_automata::dfa::{dense, regex::Regex as DfaRegex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchError};
use serde_json::Value;

use crate::error::{DetectorError, SettingsError};
use crate::keywords::{Keywords, MaskCursor};

mod context;

/// Every DLP kind, in rule order (earlier kinds win when two matches start at the same place
/// and have the same length), with its category and default action.
pub const KINDS: &[(&str, Category, DlpAction)] = &[
    ("aws_access_key", Category::Secret, DlpAction::Redact),
    ("aws_secret_key", Category::Secret, DlpAction::Redact),
    ("gcp_api_key", Category::Secret, DlpAction::Redact),
    ("azure_storage_key", Category::Secret, DlpAction::Redact),
    ("azure_client_secret", Category::Secret, DlpAction::Redact),
    ("github_token", Category::Secret, DlpAction::Redact),
    ("gitlab_token", Category::Secret, DlpAction::Redact),
    ("slack_token", Category::Secret, DlpAction::Redact),
    ("stripe_key", Category::Secret, DlpAction::Redact),
    ("anthropic_key", Category::Secret, DlpAction::Redact),
    ("openai_key", Category::Secret, DlpAction::Redact),
    ("ai_key", Category::Secret, DlpAction::Redact),
    ("cloud_key", Category::Secret, DlpAction::Redact),
    ("devtools_token", Category::Secret, DlpAction::Redact),
    ("registry_token", Category::Secret, DlpAction::Redact),
    ("secret_manager_token", Category::Secret, DlpAction::Redact),
    ("messaging_token", Category::Secret, DlpAction::Redact),
    ("payment_key", Category::Secret, DlpAction::Redact),
    ("observability_key", Category::Secret, DlpAction::Redact),
    ("private_key", Category::Secret, DlpAction::Redact),
    ("jwt", Category::Secret, DlpAction::Redact),
    ("db_url", Category::Secret, DlpAction::Redact),
    ("url_credential", Category::Secret, DlpAction::Redact),
    ("signed_url", Category::Secret, DlpAction::Redact),
    ("http_auth", Category::Secret, DlpAction::Redact),
    ("generic_secret", Category::Secret, DlpAction::Redact),
    ("card", Category::Pii, DlpAction::Redact),
    ("ssn", Category::Pii, DlpAction::Redact),
    ("national_id", Category::Pii, DlpAction::Redact),
    ("iban", Category::Pii, DlpAction::Redact),
    ("email", Category::Pii, DlpAction::Allow),
    ("phone", Category::Pii, DlpAction::Allow),
    ("ip_address", Category::Pii, DlpAction::Allow),
];

/// The `guards.dlp.kinds` key that sets every kind at once (named kinds still override it).
pub const ALL_KINDS: &str = "all";

/// Whether a kind is a credential or personal data.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Category {
    /// A credential or key.
    Secret,
    /// Personal data.
    Pii,
}

/// The index of a kind in [`KINDS`].
pub fn kind_index(name: &str) -> Option<usize> {
    KINDS.iter().position(|(kind, _, _)| *kind == name)
}

/// The action of each kind for one tool, indexed like [`KINDS`].
#[derive(Clone, Debug, PartialEq)]
pub struct DlpPolicy {
    actions: Vec<DlpAction>,
}

impl DlpPolicy {
    /// The defaults of [`KINDS`], with `overrides` applied: first `all` (every kind), then each
    /// kind named. An unknown kind name is an error naming it.
    pub fn new(overrides: &BTreeMap<String, DlpAction>) -> Result<Self, SettingsError> {
        let mut actions: Vec<DlpAction> = KINDS.iter().map(|(_, _, action)| *action).collect();
        if let Some(all) = overrides.get(ALL_KINDS) {
            actions.fill(*all);
        }
        for (name, action) in overrides.iter().filter(|(name, _)| *name != ALL_KINDS) {
            let Some(index) = kind_index(name) else {
                return Err(SettingsError::UnknownDlpKind(name.clone()));
            };
            if let Some(slot) = actions.get_mut(index) {
                *slot = *action;
            }
        }
        Ok(Self { actions })
    }

    /// Every kind at `action` (for tests and benchmarks).
    pub fn all(action: DlpAction) -> Self {
        Self {
            actions: vec![action; KINDS.len()],
        }
    }

    /// The same rules with every `withhold` kind redacted instead: what a person reviewing a
    /// value may see.
    pub fn for_review(&self) -> Self {
        Self {
            actions: self
                .actions
                .iter()
                .map(|action| match action {
                    DlpAction::Withhold => DlpAction::Redact,
                    other => *other,
                })
                .collect(),
        }
    }

    fn action(&self, kind: usize) -> DlpAction {
        self.actions.get(kind).copied().unwrap_or(DlpAction::Allow)
    }

    fn active(&self, kind: usize) -> bool {
        self.action(kind) != DlpAction::Allow
    }
}

/// One DLP match in a string: byte range and kind index.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Hit {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// Index into [`KINDS`].
    pub kind: usize,
}

/// What a scan found and did: counts per kind, and whether a withheld kind was seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DlpReport {
    /// Matches per kind name (redacted or withholding).
    pub counts: BTreeMap<&'static str, usize>,
    /// A kind whose action is `withhold` was found.
    pub withhold: bool,
}

/// The compiled DLP rules; built once, shared by every call.
pub struct Dlp {
    rules: Vec<Rule>,
    /// The literal keywords of the keyword-triggered rules, a bit per rule.
    keywords: Keywords,
    /// A bit per rule with a keyword trigger.
    keyword_rules: u64,
    /// The digit-gated rules: bit, least digits and shape, checked per string without going
    /// through the rule table.
    digit_rules: Vec<(u64, usize, Numeric)>,
    /// Bits of the country-code rules, of the token-run, label and dotted rules.
    country_code_rules: u64,
    token_run_rules: u64,
    label_rules: u64,
    dotted_rules: u64,
    card: usize,
    /// The labels of the [`Trigger::Label`] rules, searched per string (ASCII case ignored)
    /// only when it has the digits a labelled value needs.
    labels: aho_corasick::AhoCorasick,
    /// The prefixes of the [`Trigger::TokenRun`] rules, searched per string that has a token
    /// run, each with its rule's bit.
    prefixes: aho_corasick::AhoCorasick,
    prefix_rules: Vec<u64>,
}

impl std::fmt::Debug for Dlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dlp")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

struct Rule {
    kind: usize,
    regex: Regex,
    /// The same pattern with Unicode off, for ASCII text: see [`Ascii`].
    ascii: Ascii,
    /// The capture group redacted (0: the whole match).
    group: usize,
    trigger: Trigger,
    check: Check,
}

/// A rule's pattern compiled with Unicode off (`\d` is `[0-9]`, `\w` and `\b` are ASCII,
/// `(?i)` folds ASCII letters only), used on ASCII text only. There it finds exactly what the
/// Unicode pattern finds: every class and case fold the patterns use agrees with its ASCII form
/// on ASCII bytes (`dlp_tests` checks it). It is cheaper per search, which is most of the cost
/// on the short strings of an answer.
enum Ascii {
    /// No ASCII form: the pattern cannot be built without Unicode (a negated class or `.`
    /// could then match bytes that are not UTF-8).
    None,
    /// The digit-gated and IBAN rules, whose whole match is redacted: a full DFA, forward and
    /// reverse, at a fraction of the general engine's fixed cost per search.
    Dfa(Box<DfaRegex>),
    /// The other rules: the general engine without Unicode classes.
    Regex(Regex),
}

enum Trigger {
    /// Any of the prefilter keywords (case-insensitive).
    Keywords,
    /// At least this many ASCII digits in the string, and the shape the pattern needs.
    Digits(usize, Numeric),
    /// Two uppercase letters followed by two digits at the start of a word.
    CountryCode,
    /// At least [`DOTTED_LEN`] bytes and two dots: a three-part token with no literal prefix
    /// (a Discord bot token).
    Dotted,
    /// A run of at least [`TOKEN_RUN`] token characters (`[A-Za-z0-9_-]`) and one of the rule's
    /// prefixes (case-insensitive, found per string by [`Dlp::prefixes`]): the provider
    /// families with many prefixes, which would crowd the answer-wide keyword search.
    TokenRun,
    /// At least this many ASCII digits and one of the rule's labels (case-insensitive, found
    /// per string by [`Dlp::labels`]): national identifiers and phone numbers near a label.
    Label(usize),
}

/// The shortest string the [`Trigger::Dotted`] rules look at.
const DOTTED_LEN: usize = 59;

/// The shortest run of token characters that opens the [`Trigger::TokenRun`] rules: every
/// token those rules find holds one (a prefix and its random part without a dot).
const TOKEN_RUN: usize = 16;

/// Whether `text` holds a run of at least [`TOKEN_RUN`] bytes of `[A-Za-z0-9_-]` and, anywhere,
/// a byte of that set that is neither a hex digit nor a dash: every token those rules know has a
/// letter beyond `f` or an underscore in its prefix, and strings of UUIDs, hashes and hex ids
/// (the common long runs) have none.
///
/// Only every [`TOKEN_RUN`]-th byte is probed: any run that long holds a probed byte, and in
/// prose a probe lands in a short word, which is measured and stepped over. Most strings are
/// settled after looking at a few bytes in every sixteen rather than at each byte.
fn has_token_run(text: &[u8]) -> bool {
    let token = |b: &u8| {
        TOKEN_BYTES
            .get(usize::from(*b))
            .is_some_and(|class| *class != 0)
    };
    let mut probe = TOKEN_RUN - 1;
    let mut long = false;
    while let Some(byte) = text.get(probe) {
        if !token(byte) {
            probe += TOKEN_RUN;
            continue;
        }
        let head = text.get(..probe).unwrap_or_default();
        let start = head.iter().rposition(|b| !token(b)).map_or(0, |at| at + 1);
        // The bytes from the probe to where the run would be long enough.
        let needed = text.get(probe..start + TOKEN_RUN).unwrap_or_default();
        if let Some(gap) = needed.iter().position(|b| !token(b)) {
            // The run ends at `probe + gap`: a long run after it holds a byte probed from there.
            probe += gap + TOKEN_RUN;
        } else if start + TOKEN_RUN <= text.len() {
            long = true;
            break;
        } else {
            break;
        }
    }
    long && text
        .iter()
        .any(|b| TOKEN_BYTES.get(usize::from(*b)).copied() == Some(2))
}

/// 1 for a hex digit or a dash, 2 for another byte of `[A-Za-z0-9_-]`, 0 for the rest.
const TOKEN_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_hexdigit() || c == b'-' {
            1
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            2
        } else {
            0
        };
        b += 1;
    }
    table
};

/// Whether `text` has three ASCII letters in a row or a non-ASCII byte: a label needs a word.
/// `ascii` says whether the text is ASCII (known from [`Gates`]).
///
/// Only every third byte is probed: three letters in a row cover one of them, so a probe that
/// is a letter is looked at with its neighbours and the others are passed over.
fn has_word(text: &[u8], ascii: bool) -> bool {
    if !ascii {
        return true;
    }
    let letter = |at: usize| text.get(at).is_some_and(u8::is_ascii_alphabetic);
    (2..text.len()).step_by(3).any(|probe| {
        letter(probe) && {
            let left = letter(probe - 1);
            let right = letter(probe + 1);
            (left && (right || letter(probe - 2))) || (right && letter(probe + 2))
        }
    })
}

/// The digit-gated rules, each with a shape test in [`Gates`].
#[derive(Clone, Copy)]
enum Numeric {
    Card,
    Ssn,
    Phone,
    Ip,
}

#[derive(Clone, Copy)]
pub(crate) enum Check {
    None,
    Luhn,
    Ssn,
    Iban,
    /// High-entropy token: letters and digits, at least this many bits per character (x10).
    Entropy(u32),
    Phone,
    Ipv4,
    /// An e-mail address (ASCII form): not the user of a URL or an SSH remote.
    Email,
    /// An e-mail address with non-ASCII characters: run on non-ASCII text only.
    EmailUnicode,
    /// The password of a URL's userinfo (group 1), not a placeholder.
    UrlPassword,
    /// An `Authorization` value (scheme in group 1, credential in group 2) or a `curl -u`
    /// password (group 3); see [`context::auth`].
    Auth,
    /// A value (group 2) assigned to a credential-like name (group 1); the kind is chosen by
    /// the name and the value's shape, see [`context::assigned`].
    Assigned,
    /// A national identifier in the text after its label (group 2); see [`context::national`].
    NationalId,
    /// A phone number near its label (group 1); see [`context::national_phone`].
    NationalPhone,
    /// A Discord bot token: its first part is the base64 of a snowflake id (digits).
    Discord,
}

/// The table: kind, keywords, regex, redacted group, check. Digit and country-code triggers
/// have no keywords.
pub(crate) const RULES: &[(&str, &[&str], &str, usize, Check)] = &[
    (
        "aws_access_key",
        &["akia", "asia", "abia", "acca"],
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        0,
        Check::None,
    ),
    (
        "aws_secret_key",
        &["aws", "akia", "asia"],
        r#"(?i)(?:aws[a-z0-9_ .-]{0,20}(?:secret|private)[a-z0-9_ .-]{0,20}["']?\s*[:=]?\s*|(?-i:\b(?:AKIA|ASIA)[A-Z0-9]{16})["']?[ \t]*[,;|:\t][ \t]*)["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        1,
        Check::None,
    ),
    (
        "gcp_api_key",
        &["aiza"],
        r"\bAIza[0-9A-Za-z_-]{35}",
        0,
        Check::None,
    ),
    (
        "azure_storage_key",
        &["accountkey="],
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)",
        1,
        Check::None,
    ),
    (
        "azure_client_secret",
        &["q~"],
        r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        1,
        Check::None,
    ),
    (
        "github_token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{82,})\b",
        0,
        Check::None,
    ),
    (
        "gitlab_token",
        &[
            "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "glsoat-", "glffct-",
            "glimt-", "glagent-", "glft-", "glrtr-", "glwt-",
        ],
        r"\bgl(?:pat|dt|rt|rtr|ptt|cbt|oas|soat|ffct|imt|agent|ft|wt)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*",
        0,
        Check::None,
    ),
    (
        "slack_token",
        &["xox", "xapp-", "hooks.slack.com"],
        r"\b(?:xox[abposre]-|xoxe\.xox[bp]-|xapp-)[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        0,
        Check::None,
    ),
    (
        "stripe_key",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"],
        r"\b(?:[rs]k_(?:live|test)_[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9+/=]{24,})",
        0,
        Check::None,
    ),
    (
        "anthropic_key",
        &["sk-ant-"],
        r"\bsk-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_-]{80,}",
        0,
        Check::None,
    ),
    (
        "openai_key",
        &["sk-"],
        r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,}",
        0,
        Check::Entropy(35),
    ),
    (
        "ai_key",
        &["hf_", "api_org_", "gsk_", "r8_", "pplx-", "xai-"],
        r"\b(?:hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,}|gsk_[A-Za-z0-9]{48,}|r8_[A-Za-z0-9]{36,}|pplx-[A-Za-z0-9]{40,}|xai-[A-Za-z0-9]{60,})\b",
        0,
        Check::None,
    ),
    (
        "cloud_key",
        &[
            "dop_v1_", "doo_v1_", "dor_v1_", "ltai", "v1.0-", "gocspx-", "ya29.", "azdo",
        ],
        r"\b(?:do[opr]_v1_[a-f0-9]{64}|LTAI[A-Za-z0-9]{12,30}|v1\.0-[a-f0-9]{24}-[a-f0-9]{100,}|GOCSPX-[A-Za-z0-9_-]{24,}|ya29\.[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*|[A-Za-z0-9]{52}JQQJ99[A-Za-z0-9]{3}AZDO[A-Za-z0-9]{4})\b",
        0,
        Check::None,
    ),
    (
        "devtools_token",
        &[
            "ccipat_",
            "bkua_",
            ".atlasv1.",
            "pul-",
            "dapi",
            "atatt3",
            "lin_api_",
            "secret_",
            "ntn_",
            "pmak-",
            "sk.eyj",
            "figd_",
            "figu_",
            "figo_",
        ],
        r"\b(?:CCIPAT_[A-Za-z0-9]{20,}_[a-f0-9]{40}|bkua_[a-f0-9]{40}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}|pul-[a-f0-9]{40}|dapi[a-f0-9]{32}(?:-\d+)?|ATATT3[A-Za-z0-9_=-]{100,}|lin_api_[A-Za-z0-9]{40}|secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}|fig[duo]_[A-Za-z0-9_-]{40,})",
        0,
        Check::None,
    ),
    (
        "registry_token",
        &[
            "npm_",
            "pypi-age",
            "rubygems_",
            "oy2",
            "dckr_pat_",
            "dckr_oat_",
            "cio",
            "clojars_",
            "cmvmdgtuojaxoj",
            "akcp",
        ],
        r"\b(?:npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}|rubygems_[a-f0-9]{48}|oy2[a-z0-9]{43}|dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,}|cio[A-Za-z0-9]{32}|CLOJARS_[a-f0-9]{60}|cmVmdGtuOjAxOj[A-Za-z0-9+/_-]{30,}={0,2}|AKCp[A-Za-z0-9]{60,})",
        0,
        Check::None,
    ),
    (
        "secret_manager_token",
        &[
            "hvs.",
            "hvb.",
            "hvr.",
            "dp.pt.",
            "dp.st.",
            "dp.sa.",
            "dp.ct.",
            "dp.scim.",
            "dp.audit.",
            "ops_eyj",
            "age-secret-key-1",
        ],
        r"\b(?:hv[sbr]\.[A-Za-z0-9_-]{24,}|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_.-]{40,}|ops_eyJ[A-Za-z0-9+/=_-]{50,}|AGE-SECRET-KEY-1[0-9A-Z]{58})",
        0,
        Check::None,
    ),
    (
        "messaging_token",
        &[
            "sg.",
            ":aa",
            "key-",
            "-us",
            "webhook.office.com",
            "/api/webhooks/",
            "outlook.office.com/webhook",
        ],
        r"\bSG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{40,}|\b\d{6,12}:AA[A-Za-z0-9_-]{30,}|\bkey-[a-f0-9]{32}\b|\b[a-f0-9]{32}-us\d{1,2}\b|https://[A-Za-z0-9.-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/._-]+|https://outlook\.office\.com/webhook/[A-Za-z0-9@/._-]+|https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}",
        0,
        Check::None,
    ),
    (
        "messaging_token",
        &[],
        r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}",
        0,
        Check::Discord,
    ),
    (
        "payment_key",
        &[
            "sq0atp-",
            "sq0csp-",
            "eaaa",
            "access_token$",
            "shpat_",
            "shpca_",
            "shppa_",
            "shpss_",
            "access-sandbox-",
            "access-development-",
            "access-production-",
        ],
        r"\b(?:sq0(?:atp|csp)-[A-Za-z0-9_-]{22,}|EAAA[A-Za-z0-9_-]{56,}|access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|access-(?:sandbox|development|production)-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})\b",
        0,
        Check::None,
    ),
    (
        "observability_key",
        &[
            "nrak-", "nral", "sntryu_", "sntrys_", "glsa_", "glc_", "dt0c01.",
        ],
        r"\b(?:NRAK-[A-Z0-9]{27}|[a-f0-9]{36}NRAL|sntryu_[a-f0-9]{64}|sntrys_[A-Za-z0-9+/=_-]{50,}|glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/=_-]{32,}|dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})",
        0,
        Check::None,
    ),
    (
        "private_key",
        &[
            "private key-----",
            "private key block-----",
            "private-lines:",
        ],
        r"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----|\z)|Private-Lines:[ \t]*\d+\r?\n(?:[A-Za-z0-9+/=]+(?:\r?\n|\z))+",
        0,
        Check::None,
    ),
    (
        "jwt",
        &["eyj"],
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        0,
        Check::None,
    ),
    (
        "db_url",
        &["://"],
        r#"(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle:thin)://[^\s:/@"'<>]*:([^\s@/"'<>]+)@[^\s"'<>/]+"#,
        1,
        Check::None,
    ),
    (
        "url_credential",
        &["://"],
        r#"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@"'<>?#]+:([^\s@/"'<>?#]+)@[A-Za-z0-9\[]"#,
        1,
        Check::UrlPassword,
    ),
    (
        "signed_url",
        &["signature=", "sig="],
        r"(?i)[?&;](?:x-amz-signature|x-goog-signature|signature|sig)=([A-Za-z0-9%+/=_~.-]{16,})",
        1,
        Check::None,
    ),
    (
        "http_auth",
        &[
            "authorization",
            "bearer",
            "basic",
            "ssws",
            "apikey",
            "-u ",
            "--user",
        ],
        r#"(?i)(?:\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?([a-z][a-z0-9_-]{1,30})[ \t]+|\b(bearer|basic|token|bot|ssws|apikey|splunk|dsn|geniekey|sso-key)[ \t]+)([A-Za-z0-9._~+/=:$!*-]{8,})|(?:^|\s)(?:-u|--user)[ \t]+["']?[^\s:"']+:([^\s"']+)|\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9._~+/=-]{16,})"#,
        0,
        Check::Auth,
    ),
    (
        "generic_secret",
        &[
            "key",
            "secret",
            "token",
            "pass",
            "pwd",
            "credential",
            "auth",
            "_pw",
            "-pw",
        ],
        r#"(?i)(?:^|[^a-z0-9_.-])_{0,2}((?:[a-z0-9]+[ _.-]?)*?(?:passw(?:or)?d|passphrase|passcode|pass|pwd|pw|secret|token|key|auth|credentials?)[a-z0-9_-]*)["']?[ \t]*(?::=|=>|[:=])[ \t]*["']?([^\s"',;`]+)"#,
        0,
        Check::Assigned,
    ),
    (
        "generic_secret",
        &[
            "password",
            "passphrase",
            "passcode",
            "secret",
            "token",
            "key",
        ],
        r#"(?i)\b((?:[a-z]+[ \t]+)?(?:password|passphrase|passcode|pin|secret|token|api[ \t]+key|key))(?:[ \t]+(?:for|of|to|on|at|in)[ \t]+[A-Za-z0-9_.@:/-]{1,40}(?:[ \t]+[A-Za-z0-9_.@:/-]{1,40}){0,3})?[ \t]+(?:is|was|will[ \t]+be|reads|remains|is[ \t]+now|is[ \t]+set[ \t]+to|has\s+been\s+(?:set|changed|reset|updated)\s+to|set\s+to|changed\s+to|reset\s+to|updated\s+to)[ \t]*:?[ \t]*["'`]?([^\s"'`]+)|\blogin[ \t]+\S+[ \t]+(password)[ \t]+(\S+)"#,
        0,
        Check::Assigned,
    ),
    (
        // XML elements and `key="..." value="..."` attribute pairs (.NET `appSettings`,
        // Maven `settings.xml`, Java properties in XML), PHP `define('NAME', 'value')`.
        "generic_secret",
        &[
            "password>",
            "passwd>",
            "passphrase>",
            "secret>",
            "token>",
            "key>",
            "auth>",
            "credential>",
            "credentials>",
            "value=",
            "value =",
            "define(",
        ],
        r#"(?i)<((?:[a-z0-9]+[_.:-]?)*?(?:password|passwd|passphrase|secret|token|key|auth|credentials?))>[ \t]*([^<\s]{3,256})[ \t]*</|\b(?:key|name)[ \t]*=[ \t]*["']([^"'\s]{2,64})["'][ \t]+value[ \t]*=[ \t]*["']([^"']{3,256})["']|\bdefine[ \t]*\([ \t]*["']([A-Za-z0-9_]{2,64})["'][ \t]*,[ \t]*["']([^"']{3,256})["']"#,
        0,
        Check::Assigned,
    ),
    (
        // Command-line options: `--password=...`, `--api-key ...`, `--token=...`.
        "generic_secret",
        &[
            "--pass",
            "--token",
            "--secret",
            "--api",
            "--key",
            "--auth",
            "--access",
            "--client",
            "--private",
        ],
        r#"(?i)(?:^|[\s'"])--((?:[a-z0-9]+-)*(?:password|passwd|passphrase|pass|token|secret|api-?key|key|auth|auth-token|access-token|credentials?))(?:=["']?([^\s"']+)|[ \t]+["']?([^\s"'-][^\s"']*[0-9!@#$%^&*_+=?~/\\][^\s"']*))"#,
        0,
        Check::Assigned,
    ),
    (
        // Prose that sets, hands over or pairs a credential with a user name ("I've set the
        // admin password to ...", "here's the token you asked for: ...", "login with user
        // admin and password ..."); the value must hold a digit or a symbol.
        "generic_secret",
        &[
            "password",
            "passphrase",
            "passcode",
            "pass ",
            "token",
            "api key",
            "secret",
        ],
        r#"(?i)\b(?:(?:set|changed?|reset|updated?)[ \t]+(?:(?:the|your|my|our|its|their)[ \t]+)?(?:[a-z]+[ \t]+)?|(?:here(?:'s|[ \t]+is|[ \t]+are)[ \t]+(?:the|your)[ \t]+(?:new[ \t]+)?|use[ \t]+(?:(?:the|this|that|your|my)[ \t]+)?)(?:[a-z]+[ \t]+)?|(?:user(?:name)?|login)[ \t]+\S+[ \t]+(?:(?:and|with)[ \t]+|/[ \t]*|,[ \t]*)?(?:the[ \t]+)?)(password|passphrase|passcode|pass|token|api[ \t]+key|secret[ \t]+key|secret|access[ \t]+key|access[ \t]+token)(?:[ \t]+(?:to|as))?(?:[ \t]+(?:you|I)[ \t]+(?:asked|requested)[ \t]+for)?[ \t]*[:=]?[ \t]*["'`]?([^\s"'`]*[0-9!@#$%^&*_+=?~/\\-][^\s"'`]*)"#,
        0,
        Check::Assigned,
    ),
    (
        "generic_secret",
        &[
            "passwort",
            "kennwort",
            "contrase",
            "mot de passe",
            "senha",
            "wachtwoord",
            "hasło",
            "haslo",
            "heslo",
            "lozinka",
            "jelsz",
            "salasana",
            "adgangskode",
            "senord",
            "passord",
            "пароль",
            "密码",
            "密碼",
            "パスワード",
            "비밀번호",
        ],
        r#"(?i)\b((?:[a-z]+[ \t]+)?(?:passwort|kennwort|contrase[ñn]a|mot[ \t]+de[ \t]+passe|senha|wachtwoord|has[łl]o|heslo|lozinka|jelsz[óo]|salasana|adgangskode|l[öo]senord|passord|пароль|密码|密碼|パスワード|비밀번호))(?:(?:[ \t]+(?:ist|es|est|é|è|er|är|je|on)|[ \t]*(?:是|は|는|为|為))[ \t]*[:=：]?|[ \t]*[:=：])[ \t]*["'`«“]?([^\s"'`»”]*[0-9!@#$%^&*_+=?~/\\-][^\s"'`»”]*)"#,
        0,
        Check::Assigned,
    ),
    (
        "card",
        &[],
        r"\b(?:\d{13,19}|\d{4}(?:[ -]\d{4}){3}[ -]\d{3}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{6}[ -]\d{13})\b",
        0,
        Check::Luhn,
    ),
    ("ssn", &[], r"\b\d{3}-\d{2}-\d{4}\b", 0, Check::Ssn),
    (
        "national_id",
        &[
            "ssn",
            "social security",
            "nino",
            "national insurance",
            "sin",
            "social insurance",
            "nir",
            "insee",
            "curit",
            "dni",
            "nie",
            "nif",
            "codice fiscale",
            "bsn",
            "burgerservicenummer",
            "aadha",
            "cpf",
            "personnummer",
            "hetu",
            "henkil",
            "personal identity",
            "pesel",
            "resident id",
            "national id",
            "national number",
            "national register",
            "national identification",
            "rijksregister",
            "national",
            "身份证",
            "tax id",
            "identity number",
            "id number",
            "dselsnummer",
            "cpr",
            "isikukood",
            "personas kods",
            "asmens kodas",
            "steuer",
            "identifikationsnummer",
            "nhs",
            "pps",
            "ahv",
            "avs",
            "sozialversicherung",
            "svnr",
            "rodn",
            "cnp",
            "egn",
            "emšo",
            "emso",
            "amka",
            "kimlik",
            "teudat",
            "rrn",
            "resident registration",
            "주민등록",
            "my number",
            "マイナンバー",
            "個人番号",
            "身分證",
            "nric",
            "pan",
            "permanent account",
            "curp",
            "cuil",
            "cuit",
            "rut",
            "tfn",
            "tax file",
            "medicare",
            "personal",
            "card",
            "citizen",
            "identification",
            "tax",
            "tin",
            "snils",
            "снилс",
            "СНИЛС",
            "Снилс",
            "inn",
            "инн",
            "ИНН",
            "EMŠO",
            "kennitala",
            "jmbg",
            "ird",
            "mykad",
            "nik",
            "thai",
            "บัตรประชาชน",
            "ประจำตัวประชาชน",
            "nif",
            "contribuinte",
        ],
        r"(?i)(?:^|[^\p{L}\p{N}])(snils\b|снилс|inn\b|инн\b|kennitala|jmbg\b|ird(?:[ \t]+(?:number|no))?\b|mykad\b|nik\b|thai[ \t]+(?:national[ \t]+)?id|บัตรประชาชน|เลขประจำตัวประชาชน|n[úu]mero[ \t]+de[ \t]+contribuinte|f(?:ø|o|oe)dselsnummer|cpr(?:-?nr|[ \t]+n(?:umbe)?r)?\b|isikukood|personas[ \t]+kods|asmens[ \t]+kodas|steuer-?id\b|steuer-?nummer|(?:steuer)?identifikationsnummer|nhs[ \t]+(?:number|no)\b|ppsn?\b|ahv(?:-nr)?\b|avs\b|sozialversicherungsnummer|svnr\b|rodn[ée][ \t]+[čc][íi]slo|cnp\b|egn\b|em[šs]o\b|amka\b|(?:t\.?c\.?[ \t]+)?kimlik(?:[ \t]+no)?|teudat[ \t]+zehut|rrn\b|resident[ \t]+registration(?:[ \t]+number)?|주민등록번호|my[ \t]+number|マイナンバー|個人番号|身分證(?:字號)?|nric\b|pan\b|permanent[ \t]+account[ \t]+number|curp\b|cui[lt]\b|rut\b|tfn\b|tax[ \t]+file[ \t]+number|medicare(?:[ \t]+(?:card|number|no))?|personal[ \t]+(?:id|code|number|identification)\b|(?:identity|id|citizen)[ \t]+card|citizen[ \t]+id|identification[ \t]+number|tax[ \t]+(?:number|code|identification)|taxpayer[ \t]+id\w*|i?tin\b|ssn|social[ \t]+security|nino|national[ \t]+insurance|sin|social[ \t]+insurance|nir|insee|s[ée]curit[ée][ \t]+sociale|dni|nie|nif|codice[ \t]+fiscale|bsn|burgerservicenummer|aadhaa?r|cpf|personnummer|hetu|henkil[öo]tunnus|personal[ \t]+identity[ \t]+(?:code|number)|pesel|resident[ \t]+id(?:entity)?|national[ \t]+(?:id|number|register|identification)|rijksregisternummer|num[ée]ro[ \t]+national|身份证|tax[ \t]+id|identity[ \t]+number|id[ \t]+number)([^\n]{0,100})",
        0,
        Check::NationalId,
    ),
    (
        "iban",
        &[],
        r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b",
        0,
        Check::Iban,
    ),
    (
        "email",
        &["@"],
        r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{2,59})\b",
        0,
        Check::Email,
    ),
    (
        "email",
        &["@"],
        r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.(?:\p{L}{2,24}|xn--[A-Za-z0-9-]{2,59})\b",
        0,
        Check::EmailUnicode,
    ),
    (
        "phone",
        &[],
        r"\+\d{8,15}\b|(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]\d{3}[ .-]\d{4}\b|(?:\+|\b00)\d{1,3}(?:[ .-]?\(\d{1,5}\)\d{0,8}|[ .-]\d{1,8}){1,7}\b",
        0,
        Check::Phone,
    ),
    (
        "phone",
        &[
            "phone",
            "tel",
            "mobile",
            "cell",
            "fax",
            "call",
            "whatsapp",
            "sms",
            "contact",
            "reach",
            "number",
            "hotline",
            "numero",
            "número",
            "telefon",
            "téléphone",
            "teléfono",
            "telefone",
            "handy",
            "tél",
            "nummer",
            "電話",
            "电话",
            "телефон",
            "номер",
            "전화",
            "携帯",
            "手机",
            "हेल्पलाइन",
            "फ़ोन",
            "फोन",
            "هاتف",
            "جوال",
        ],
        r"(?i)(?:phone|tel|mobile|cell|fax|call|whatsapp|sms|contact|reach|number|hotline|n[uú]mero|telefon[eo]?|t[ée]l[ée]phone|tel[ée]fono|handy|t[ée]l|nummer|電話|电话|телефон|номер|전화|携帯|手机|फ़ोन|फोन|هاتف|جوال)[^\n\d+]{0,30}?(\+?\(?\d[\d ()./-]{5,22}\d)",
        0,
        Check::NationalPhone,
    ),
    (
        "ip_address",
        &[],
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
        0,
        Check::Ipv4,
    ),
];

/// The marker that replaces a redacted value.
pub fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

impl Dlp {
    /// Compiles every rule.
    pub fn new() -> Result<Self, DetectorError> {
        let mut rules = Vec::with_capacity(RULES.len());
        let mut words: Vec<(&str, u64)> = Vec::new();
        let mut labels: Vec<&str> = Vec::new();
        let mut prefixes: Vec<&str> = Vec::new();
        let mut prefix_rules: Vec<u64> = Vec::new();
        let mut keyword_rules = 0;
        let mut digit_rules = Vec::new();
        let (mut country_code_rules, mut token_run_rules, mut label_rules, mut dotted_rules) =
            (0u64, 0u64, 0u64, 0u64);
        let mut card = 0;
        for (index, (kind, words_of, pattern, group, check)) in RULES.iter().enumerate() {
            let Some(kind_index) = kind_index(kind) else {
                return Err(DetectorError::new(
                    format!("dlp.{kind}"),
                    "the rule's kind is not in the kind table",
                ));
            };
            let regex = RegexBuilder::new(pattern)
                .size_limit(4 << 20)
                .build()
                .map_err(|e| DetectorError::new(format!("dlp.{kind}"), e))?;
            let trigger = match *kind {
                "card" => {
                    card = index;
                    Trigger::Digits(13, Numeric::Card)
                }
                "ssn" => Trigger::Digits(9, Numeric::Ssn),
                "phone" if matches!(check, Check::Phone) => Trigger::Digits(8, Numeric::Phone),
                "ip_address" => Trigger::Digits(4, Numeric::Ip),
                "iban" => Trigger::CountryCode,
                _ if words_of.is_empty() => Trigger::Dotted,
                "gitlab_token"
                | "ai_key"
                | "cloud_key"
                | "devtools_token"
                | "registry_token"
                | "secret_manager_token"
                | "messaging_token"
                | "payment_key"
                | "observability_key" => {
                    for word in *words_of {
                        prefixes.push(word);
                        prefix_rules.push(1u64 << index);
                    }
                    Trigger::TokenRun
                }
                _ if matches!(check, Check::NationalId) => {
                    labels.extend(words_of.iter().copied());
                    Trigger::Label(6)
                }
                _ if matches!(check, Check::NationalPhone) => {
                    labels.extend(words_of.iter().copied());
                    Trigger::Label(7)
                }
                _ => {
                    keyword_rules |= 1u64 << index;
                    Trigger::Keywords
                }
            };
            let bit = 1u64 << index;
            match trigger {
                Trigger::Keywords => words.extend(words_of.iter().map(|word| (*word, bit))),
                Trigger::Digits(least, numeric) => digit_rules.push((bit, least, numeric)),
                Trigger::CountryCode => country_code_rules |= bit,
                Trigger::TokenRun => token_run_rules |= bit,
                Trigger::Label(_) => label_rules |= bit,
                Trigger::Dotted => dotted_rules |= bit,
            }
            let ascii = match trigger {
                Trigger::Digits(..) | Trigger::CountryCode if *group == 0 => {
                    Ascii::Dfa(Box::new(ascii_dfa(pattern).map_err(|e| {
                        DetectorError::new(format!("dlp.{kind} (ASCII DFA)"), e)
                    })?))
                }
                _ => RegexBuilder::new(pattern)
                    .unicode(false)
                    .size_limit(4 << 20)
                    .build()
                    .map_or(Ascii::None, Ascii::Regex),
            };
            rules.push(Rule {
                kind: kind_index,
                regex,
                ascii,
                group: *group,
                trigger,
                check: *check,
            });
        }
        if rules.len() > 64 {
            return Err(DetectorError::new("dlp", "more rules than trigger bits"));
        }
        let keywords = Keywords::new(words)?;
        let labels = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&labels)
            .map_err(|e| DetectorError::new("dlp.labels", e))?;
        let prefixes = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&prefixes)
            .map_err(|e| DetectorError::new("dlp.prefixes", e))?;
        Ok(Self {
            rules,
            keywords,
            keyword_rules,
            digit_rules,
            country_code_rules,
            token_run_rules,
            label_rules,
            dotted_rules,
            card,
            labels,
            prefixes,
            prefix_rules,
        })
    }

    /// A bit per rule whose keywords occur in `text` (ASCII case ignored).
    #[cfg(test)]
    fn keywords(&self, text: &str) -> u64 {
        self.keywords.mask(text)
    }

    /// The matches in `text` of the kinds `policy` does not allow, sorted, without overlaps.
    pub fn scan(&self, text: &str, policy: &DlpPolicy, hits: &mut Vec<Hit>) {
        let active = self.active_rules(policy);
        let keywords = if active & self.keyword_rules != 0 {
            self.keywords.mask(text)
        } else {
            0
        };
        self.scan_rules(text, keywords, active, hits);
    }

    /// A bit per rule whose kind `policy` does not allow.
    fn active_rules(&self, policy: &DlpPolicy) -> u64 {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| policy.active(rule.kind))
            .fold(0, |bits, (index, _)| bits | 1 << index)
    }

    /// [`Dlp::scan`] for the rules of the bits in `active`, given the bits of the rules whose
    /// keywords occur in `text` (at most 64 rules).
    fn scan_rules(&self, text: &str, keywords: u64, active: u64, hits: &mut Vec<Hit>) {
        hits.clear();
        let mut run = keywords & active;
        // Whether the text is ASCII: known from the gates, or found out when first needed.
        let mut ascii = None;
        if active & !self.keyword_rules != 0 {
            let gates = Gates::of(text.as_bytes());
            ascii = Some(gates.ascii);
            for &(bit, least, numeric) in &self.digit_rules {
                if gates.digits >= least && gates.numeric(numeric) {
                    run |= bit;
                }
            }
            if gates.country_code {
                run |= self.country_code_rules;
            }
            if self.token_run_rules & active != 0 && has_token_run(text.as_bytes()) {
                run |= self
                    .prefixes
                    .find_overlapping_iter(text)
                    .filter_map(|m| self.prefix_rules.get(m.pattern().as_usize()))
                    .fold(0, |bits, rule| bits | rule);
            }
            if self.label_rules & active != 0
                && gates.digits >= 6
                && has_word(text.as_bytes(), gates.ascii)
                && self.labels.is_match(text)
            {
                let mut labelled = self.label_rules & active;
                while labelled != 0 {
                    let index = labelled.trailing_zeros() as usize;
                    labelled &= labelled - 1;
                    if let Some(Rule {
                        trigger: Trigger::Label(least),
                        ..
                    }) = self.rules.get(index)
                        && gates.digits >= *least
                    {
                        run |= 1 << index;
                    }
                }
            }
            if self.dotted_rules & active != 0
                && text.len() >= DOTTED_LEN
                && memchr::memchr_iter(b'.', text.as_bytes()).nth(1).is_some()
            {
                run |= self.dotted_rules;
            }
            run &= active;
        }
        // The triggered rules, in table order.
        while run != 0 {
            let index = run.trailing_zeros() as usize;
            run &= run - 1;
            let Some(rule) = self.rules.get(index) else {
                break;
            };
            let regex = match &rule.ascii {
                Ascii::None => &rule.regex,
                _ if !*ascii.get_or_insert_with(|| text.is_ascii()) => &rule.regex,
                Ascii::Dfa(dfa) => {
                    if find_ascii(dfa, rule.kind, rule.check, text, hits).is_ok() {
                        continue;
                    }
                    // Not expected (the DFAs have no quit bytes): the general engine decides.
                    hits.retain(|hit| hit.kind != rule.kind);
                    &rule.regex
                }
                Ascii::Regex(regex) => regex,
            };
            emit(rule, regex, text, hits);
        }
        settle(hits);
    }

    /// Scans and redacts every string (and every card number written as a JSON number) in
    /// `value`, following `policy`. String values under a credential-like object key
    /// (`password`, `api_key` ...) that look random count as `generic_secret`. The report says
    /// what was found; when `withhold` is set the caller must not pass the value on.
    pub fn redact(&self, value: &mut Value, policy: &DlpPolicy, report: &mut DlpReport) {
        let active = self.active_rules(policy);
        // One keyword search over every string of the answer, before any is changed.
        let keywords = if active & self.keyword_rules != 0 {
            MaskCursor::of(&self.keywords, value)
        } else {
            MaskCursor::constant(0)
        };
        let mut walk = Walk {
            policy,
            active,
            keywords,
            hits: Vec::new(),
            keys: KeyMemo::new(),
            counts: [0; KINDS.len()],
            withhold: false,
        };
        self.walk(value, &mut walk);
        for ((name, _, _), count) in KINDS.iter().zip(walk.counts) {
            if count > 0 {
                *report.counts.entry(name).or_insert(0) += count;
            }
        }
        report.withhold |= walk.withhold;
    }

    /// Visits the strings in the order of [`Strings::collect`].
    fn walk(&self, value: &mut Value, walk: &mut Walk<'_>) {
        match value {
            Value::String(text) => {
                let keywords = walk.keywords.next_mask();
                if let Some(redacted) = self.redact_str(text, keywords, walk, None) {
                    *text = redacted;
                }
            }
            Value::Number(number) => {
                let Some(card) = self.rules.get(self.card) else {
                    return;
                };
                // 13 digits or more: at least 10^12.
                if walk.policy.active(card.kind)
                    && number.as_u64().is_some_and(|n| {
                        n >= 1_000_000_000_000 && valid(Check::Luhn, &n.to_string())
                    })
                {
                    walk.record(card.kind);
                    *value = Value::String(marker("card"));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, walk);
                }
            }
            Value::Object(map) => {
                // A name/value pair (`{"name": "DB_PASSWORD", "value": "..."}`: environment
                // lists, parameter stores, secret listings): the name says what the value is.
                let pair_kind = pair(map);
                for (key, item) in map.iter_mut() {
                    let Value::String(text) = item else {
                        self.walk(item, walk);
                        continue;
                    };
                    let keywords = walk.keywords.next_mask();
                    let redacted = self.redact_str(text, keywords, walk, Some(key));
                    if let Some(redacted) = redacted {
                        *text = redacted;
                        continue;
                    }
                    if let Some(kind) = pair_kind
                        && PAIR_VALUES.contains(&key.as_str())
                        && walk.policy.active(kind)
                    {
                        walk.record(kind);
                        *text = marker(KINDS.get(kind).map_or("secret", |k| k.0));
                        continue;
                    }
                    // Nothing recognisable inside: what the key says about the value.
                    if let Some((start, end, kind)) = member(key, text, &mut walk.keys)
                        && walk.policy.active(kind)
                    {
                        walk.record(kind);
                        let name = KINDS.get(kind).map_or("secret", |k| k.0);
                        let mut out = String::with_capacity(text.len());
                        out.push_str(text.get(..start).unwrap_or(""));
                        out.push_str(&marker(name));
                        out.push_str(text.get(end..).unwrap_or(""));
                        *text = out;
                    }
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// The redacted text, or `None` when nothing in it is redacted.
    fn redact_str(
        &self,
        text: &str,
        keywords: u64,
        walk: &mut Walk<'_>,
        key: Option<&str>,
    ) -> Option<String> {
        let mut hits = std::mem::take(&mut walk.hits);
        self.scan_rules(text, keywords, walk.active, &mut hits);
        if hits.iter().any(|hit| hit.kind == context::IP_ADDRESS)
            && key.is_some_and(context::version_key)
        {
            // A version, build or OID field: dotted numbers there are not addresses.
            hits.retain(|hit| hit.kind != context::IP_ADDRESS);
        }
        let redacted = if hits.is_empty() {
            None
        } else {
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for hit in &hits {
                walk.record(hit.kind);
                out.push_str(text.get(last..hit.start).unwrap_or(""));
                // The text of `marker`, written in place.
                out.push_str("[REDACTED:");
                out.push_str(KINDS.get(hit.kind).map_or("secret", |k| k.0));
                out.push(']');
                last = hit.end;
            }
            out.push_str(text.get(last..).unwrap_or(""));
            Some(out)
        };
        walk.hits = hits;
        redacted
    }
}

/// What one [`Dlp::redact`] carries through the value.
struct Walk<'a> {
    policy: &'a DlpPolicy,
    active: u64,
    /// The keyword bits of each string, in visiting order.
    keywords: MaskCursor,
    /// Reused for each string.
    hits: Vec<Hit>,
    keys: KeyMemo,
    /// Matches per kind, indexed like [`KINDS`].
    counts: [usize; KINDS.len()],
    withhold: bool,
}

impl Walk<'_> {
    fn record(&mut self, kind: usize) {
        if let Some(count) = self.counts.get_mut(kind) {
            *count += 1;
        }
        if self.policy.action(kind) == DlpAction::Withhold {
            self.withhold = true;
        }
    }
}

/// Sorts hits by start and drops overlaps: they go to the earlier kind in [`KINDS`] (secrets
/// before personal data, so a database URL's password is not taken for an e-mail address),
/// then to the longer.
fn settle(hits: &mut Vec<Hit>) {
    if hits.len() > 1 {
        hits.sort_by(|a, b| {
            a.kind
                .cmp(&b.kind)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
        });
        let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
        for hit in hits.iter() {
            if kept
                .iter()
                .all(|k| hit.end <= k.start || hit.start >= k.end)
            {
                kept.push(*hit);
            }
        }
        kept.sort_by_key(|hit| hit.start);
        *hits = kept;
    }
}

/// The keys that name the other member of a name/value pair.
const PAIR_NAMES: &[&str] = &[
    "name",
    "Name",
    "key",
    "Key",
    "variable",
    "ParameterKey",
    "parameterKey",
];

/// The keys that hold the value of a name/value pair.
const PAIR_VALUES: &[&str] = &["value", "Value", "ParameterValue", "parameterValue"];

/// The kind of the value of a name/value pair whose name is credential-like, or `None`: an
/// object with a string under one of [`PAIR_NAMES`] and one under one of [`PAIR_VALUES`].
fn pair(map: &serde_json::Map<String, Value>) -> Option<usize> {
    if map.len() > 8 {
        return None;
    }
    let value = PAIR_VALUES
        .iter()
        .find_map(|key| map.get(*key).and_then(Value::as_str))?;
    let name = PAIR_NAMES
        .iter()
        .find_map(|key| map.get(*key).and_then(Value::as_str))?;
    if name.len() < 2 || name.len() > 64 || value.is_empty() || name.contains(' ') {
        return None;
    }
    context::member(name, value)
}

/// The span and kind of a JSON string value that its object key marks as a credential, a
/// national identifier or a phone number, when nothing in the value is recognisable alone.
fn member(key: &str, text: &str, keys: &mut KeyMemo) -> Option<(usize, usize, usize)> {
    if key.len() < 2 || text.is_empty() || !keys.may_be_special(key) {
        return None;
    }
    if let Some(kind) = context::member(key, text) {
        return Some((0, text.len(), kind));
    }
    context::member_pii(key, text)
}

/// The verdicts of [`context::may_be_special`] on the keys of one answer. The objects of an
/// array mostly repeat the same keys, and comparing a short key with one remembered in its
/// pair of slots costs a fraction of splitting it into words again.
struct KeyMemo {
    /// Length, bytes and verdict of a key seen (length 0: none).
    slots: [(usize, [u8; MEMO_KEY], bool); MEMO_SLOTS],
}

/// Keys longer than this are judged each time.
const MEMO_KEY: usize = 24;
const MEMO_SLOTS: usize = 32;

impl KeyMemo {
    fn new() -> Self {
        Self {
            slots: [(0, [0; MEMO_KEY], false); MEMO_SLOTS],
        }
    }

    fn may_be_special(&mut self, key: &str) -> bool {
        let bytes = key.as_bytes();
        let len = bytes.len();
        if len == 0 || len > MEMO_KEY {
            return context::may_be_special(key);
        }
        let byte = |at: usize| usize::from(bytes.get(at).copied().unwrap_or(0));
        // A key may sit in either slot of its pair.
        let pair =
            ((len * 7 + byte(0) * 3 + byte(len - 1) * 5 + byte(len / 2) * 11) % MEMO_SLOTS) & !1;
        for index in [pair, pair + 1] {
            if let Some((stored_len, stored, verdict)) = self.slots.get(index)
                && *stored_len == len
                && stored.get(..len) == Some(bytes)
            {
                return *verdict;
            }
        }
        let judged = context::may_be_special(key);
        let free = self.slots.get(pair).is_some_and(|slot| slot.0 == 0);
        let index = if free { pair } else { pair + 1 };
        if let Some((stored_len, stored, verdict)) = self.slots.get_mut(index)
            && let Some(room) = stored.get_mut(..len)
        {
            room.copy_from_slice(bytes);
            *stored_len = len;
            *verdict = judged;
        }
        judged
    }
}

/// What the digit-gated rules and the IBAN rule need to know about a string, from one pass.
///
/// Each test is a condition without which the rule's pattern cannot match (or its validator
/// cannot pass), so skipping the regex when it fails changes no result. The shapes are only
/// worked out for ASCII text: elsewhere `\d` and `\b` also take Unicode digits and letters,
/// and only the digit count and the plain country-code test apply.
struct Gates {
    /// The string is ASCII.
    ascii: bool,
    /// ASCII digits in the string.
    digits: usize,
    /// 13 digits in a row, or `dddd-dddd-d` / `dddd dddddd d` (space or dash).
    card: bool,
    /// `ddd-dd-dddd`.
    ssn: bool,
    /// `+` before a digit, or `[ .-]ddd[ .-]dddd`.
    phone: bool,
    /// Four numbers joined by single dots.
    ip: bool,
    /// Two uppercase letters starting a word, then two digits.
    country_code: bool,
}

/// Bit `i` set when `chunk[i]` is an ASCII digit, for a chunk of at most 64 ASCII bytes.
///
/// Eight bytes at a time in a `u64`: adding `0x50` to a byte below `0x80` sets its top bit
/// exactly when the byte is at least `b'0'`, adding `0x46` exactly when it is above `b'9'`, and
/// neither sum carries into the next byte. A multiplication then gathers the eight top bits.
/// A last part shorter than eight bytes is read as the eight bytes that end the chunk, with the
/// bits of the bytes already counted shifted out, or zero-padded when the chunk is that short.
fn digit_mask(chunk: &[u8]) -> u64 {
    let mut mask = 0;
    let mut words = chunk.chunks_exact(8);
    let mut shift = 0;
    for word in words.by_ref() {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        mask |= word_digits(u64::from_le_bytes(eight)) << shift;
        shift += 8;
    }
    let rest = words.remainder().len();
    if rest > 0 {
        let last = match chunk
            .len()
            .checked_sub(8)
            .and_then(|from| chunk.get(from..))
        {
            Some(last) => {
                let mut eight = [0; 8];
                eight.copy_from_slice(last);
                word_digits(u64::from_le_bytes(eight)) >> (8 - rest)
            }
            None => {
                // Gathered in a register: bytes stored one by one into an array and then read
                // back as one word would stall the load.
                let word = chunk
                    .iter()
                    .rev()
                    .fold(0u64, |word, byte| word << 8 | u64::from(*byte));
                word_digits(word)
            }
        };
        mask |= last << shift;
    }
    mask
}

/// Bit `i` set when byte `i` (little-endian) of `x` is an ASCII digit, for eight ASCII bytes.
#[inline]
fn word_digits(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let at_least_zero = x.wrapping_add(0x50 * ONES) & TOPS;
    let above_nine = x.wrapping_add(0x46 * ONES) & TOPS;
    let digits = at_least_zero & !above_nine;
    // Byte k's top bit lands in bit 56 + k of the product.
    (digits >> 7).wrapping_mul(GATHER) >> 56
}

/// One run of ASCII digits, with what surrounds it.
#[derive(Clone, Copy, Default)]
struct Run {
    len: usize,
    /// The byte before the run (0 at the start of the text).
    before: u8,
    /// The byte after the run (0 at the end of the text).
    after: u8,
    /// The run starts right after the single byte that ended the previous run.
    joined: bool,
    /// Runs in the chain of single-dot-joined runs that this one ends.
    dots: usize,
}

impl Gates {
    fn of(bytes: &[u8]) -> Self {
        // Counted in blocks small enough for a wrapping 32-bit count, which the compiler
        // vectorises: cheaper than counting the bits of the digit masks below.
        let digits = bytes
            .chunks(1 << 20)
            .map(|block| {
                let count = block.iter().fold(0u32, |count, byte| {
                    count.wrapping_add(u32::from(byte.wrapping_sub(b'0') < 10))
                });
                usize::try_from(count).unwrap_or(usize::MAX)
            })
            .sum();
        if !bytes.is_ascii() {
            return Self {
                ascii: false,
                digits,
                card: true,
                ssn: true,
                phone: true,
                ip: true,
                country_code: has_country_code(bytes),
            };
        }
        let mut gates = Self {
            ascii: true,
            digits,
            card: false,
            ssn: false,
            phone: false,
            ip: false,
            country_code: false,
        };
        if digits >= 2 {
            gates.shapes(bytes);
        }
        gates
    }

    fn numeric(&self, numeric: Numeric) -> bool {
        match numeric {
            Numeric::Card => self.card,
            Numeric::Ssn => self.ssn,
            Numeric::Phone => self.phone,
            Numeric::Ip => self.ip,
        }
    }

    /// Walks the digit runs of an ASCII text, each with the two before it.
    ///
    /// The text is taken 64 bytes at a time as a bit mask of its digits (see [`digit_mask`]),
    /// and only the places where a run starts or ends are visited: most bytes of a JSON
    /// answer's strings are neither.
    fn shapes(&mut self, bytes: &[u8]) {
        let mut older = Run::default();
        let mut last = Run::default();
        // Index just past the last run (0 while there is none).
        let mut last_end = 0;
        let mut from = 0;
        let mut in_run = false;
        for (block, chunk) in bytes.chunks(64).enumerate() {
            let base = block * 64;
            let mask = digit_mask(chunk);
            // A bit for every byte whose digit-ness differs from the byte before it.
            let mut changes = mask ^ (mask << 1 | u64::from(in_run));
            if chunk.len() < 64 {
                changes &= (1 << chunk.len()) - 1;
            }
            while changes != 0 {
                let at = base + changes.trailing_zeros() as usize;
                changes &= changes - 1;
                in_run = !in_run;
                if in_run {
                    from = at;
                } else {
                    let run = self.close(bytes, from, at, &last, &older, last_end);
                    older = last;
                    last = run;
                    last_end = at;
                }
            }
        }
        if in_run {
            self.close(bytes, from, bytes.len(), &last, &older, last_end);
        }
    }

    /// Records what the run `from..to` completes, given the two runs before it.
    fn close(
        &mut self,
        bytes: &[u8],
        from: usize,
        to: usize,
        last: &Run,
        older: &Run,
        last_end: usize,
    ) -> Run {
        let head = bytes.get(..from).unwrap_or_default();
        let mut run = Run {
            len: to - from,
            before: head.last().copied().unwrap_or(0),
            after: bytes.get(to).copied().unwrap_or(0),
            joined: last.len > 0 && from == last_end + 1,
            dots: 1,
        };
        let space_or_dash = |b: u8| b == b' ' || b == b'-';
        let phone_separator = |b: u8| b == b' ' || b == b'.' || b == b'-';
        if run.joined {
            if last.after == b'.' {
                run.dots = last.dots + 1;
                self.ip |= run.dots >= 4;
            }
            self.phone |= run.len >= 4
                && last.len == 3
                && phone_separator(last.before)
                && phone_separator(last.after);
            if last.joined {
                self.card |= older.len >= 4
                    && space_or_dash(older.after)
                    && (last.len == 4 || last.len == 6)
                    && space_or_dash(last.after);
                self.ssn |= older.len >= 3
                    && older.after == b'-'
                    && last.len == 2
                    && last.after == b'-'
                    && run.len >= 4;
            }
        }
        self.card |= run.len >= 13;
        // `+` or an international `00` prefix before the number.
        self.phone |= run.before == b'+'
            || (run.len >= 3
                && bytes.get(from..from + 2) == Some(b"00")
                && !run.before.is_ascii_alphanumeric());
        if run.len >= 2 && !self.country_code {
            let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
            self.country_code = match head {
                [.., first, second]
                    if !(first.is_ascii_uppercase() && second.is_ascii_uppercase()) =>
                {
                    false
                }
                [.., before, _, _] => !word(before),
                [_, _] => true,
                _ => false,
            };
        }
        run
    }
}

/// `pattern` with Unicode off as a full DFA, forward and reverse (see [`Ascii::Dfa`]). The size
/// limits keep a pattern whose DFA would be large (counted repetitions of overlapping classes,
/// as in the e-mail rule) from being built at all.
fn ascii_dfa(pattern: &str) -> Result<DfaRegex, Box<dense::BuildError>> {
    DfaRegex::builder()
        .syntax(syntax::Config::new().unicode(false))
        .dense(
            dense::Config::new()
                .dfa_size_limit(Some(1 << 20))
                .determinize_size_limit(Some(4 << 20)),
        )
        .build(pattern)
        .map_err(Box::new)
}

/// The matches in the ASCII `text` of a rule's full DFA, leftmost-first and without overlaps
/// like `Regex::find_iter`, each checked by the rule's validator, as hits of `kind`.
fn find_ascii(
    dfa: &DfaRegex,
    kind: usize,
    check: Check,
    text: &str,
    hits: &mut Vec<Hit>,
) -> Result<(), MatchError> {
    let mut input = Input::new(text);
    while let Some(found) = dfa.try_search(&input)? {
        let (start, end) = (found.start(), found.end());
        if let Some((start, end)) = judge(check, text, start, end) {
            hits.push(Hit { start, end, kind });
        }
        // No rule matches the empty string; stepping past an empty match all the same keeps
        // the loop finite whatever a pattern becomes.
        let next = if end > start { end } else { end + 1 };
        if next > text.len() {
            break;
        }
        input.set_start(next);
    }
    Ok(())
}

/// Two ASCII uppercase letters followed by two digits, the start of an IBAN.
fn has_country_code(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| {
        w[0].is_ascii_uppercase()
            && w[1].is_ascii_uppercase()
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
    })
}

/// The hits of one triggered rule in `text`, each checked by the rule's validator.
fn emit(rule: &Rule, regex: &Regex, text: &str, hits: &mut Vec<Hit>) {
    match rule.check {
        Check::Assigned | Check::Auth | Check::NationalId | Check::NationalPhone => {
            for captures in regex.captures_iter(text) {
                let found = match rule.check {
                    Check::Assigned => context::assigned(&captures, text),
                    Check::Auth => context::auth(&captures, text),
                    Check::NationalPhone => context::national_phone(&captures),
                    _ => context::national(&captures, text),
                };
                if let Some((start, end, kind)) = found {
                    hits.push(Hit { start, end, kind });
                }
            }
        }
        Check::EmailUnicode if text.is_ascii() => {}
        _ if rule.group == 0 => {
            for found in regex.find_iter(text) {
                if let Some((start, end)) = judge(rule.check, text, found.start(), found.end()) {
                    hits.push(Hit {
                        start,
                        end,
                        kind: rule.kind,
                    });
                }
            }
        }
        _ => {
            for captures in regex.captures_iter(text) {
                let Some(span) = captures.get(rule.group) else {
                    continue;
                };
                if let Some((start, end)) = judge(rule.check, text, span.start(), span.end()) {
                    hits.push(Hit {
                        start,
                        end,
                        kind: rule.kind,
                    });
                }
            }
        }
    }
}

/// The span of a match that its validator accepts, seen in its text (some checks look at
/// what surrounds the match); `None` when it is refused.
fn judge(check: Check, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let span = text.get(start..end)?;
    let ok = match check {
        Check::Email | Check::EmailUnicode => context::email(text, start, end),
        Check::UrlPassword => context::url_password(span),
        Check::Ipv4 => valid(check, span) && context::ipv4(text, start, end),
        Check::Luhn => valid(check, span) && !context::inside_base64(text, start, end),
        Check::Phone => valid(check, span) && context::phone(text, start, end),
        _ => valid(check, span),
    };
    ok.then_some((start, end))
}

fn valid(check: Check, text: &str) -> bool {
    match check {
        Check::None => true,
        Check::Luhn => card_number(text),
        Check::Ssn => ssn(text),
        Check::Iban => iban(text),
        Check::Entropy(tenths) => high_entropy(text, tenths),
        Check::Phone => {
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let trunk = if text.starts_with("00") { 2 } else { 0 };
            (10..=15).contains(&(digits - trunk))
        }
        Check::Ipv4 => text.parse::<std::net::Ipv4Addr>().is_ok(),
        Check::Email | Check::EmailUnicode => true,
        Check::Discord => context::discord(text),
        Check::UrlPassword => context::url_password(text),
        Check::Auth | Check::Assigned | Check::NationalId | Check::NationalPhone => false,
    }
}

/// A payment card number: 13 to 19 digits (separators ignored), a known issuer prefix with a
/// length it issues, and a valid Luhn checksum.
pub fn card_number(text: &str) -> bool {
    let mut buffer = [0u8; 19];
    let mut len = 0;
    for digit in text.bytes().filter(u8::is_ascii_digit) {
        let Some(slot) = buffer.get_mut(len) else {
            return false;
        };
        *slot = digit - b'0';
        len += 1;
    }
    if len < 13 {
        return false;
    }
    let digits = buffer.get(..len).unwrap_or_default();
    let first = digits.first().copied().unwrap_or(0);
    let second = digits.get(1).copied().unwrap_or(0);
    let four = digits
        .iter()
        .take(4)
        .fold(0u32, |acc, d| acc * 10 + u32::from(*d));
    let issuer = match first {
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard 51-55; Maestro 50 and 56-69 (12 to 19 digits).
        5 => {
            if (1..=5).contains(&second) {
                len == 16
            } else {
                (13..=19).contains(&len)
            }
        }
        // Mastercard 2221-2720; Mir 2200-2204.
        2 => {
            ((2221..=2720).contains(&four) && len == 16)
                || ((2200..=2204).contains(&four) && (16..=19).contains(&len))
        }
        3 => match second {
            4 | 7 => len == 15,
            5 => (16..=19).contains(&len),
            0 | 6 | 8 | 9 => (14..=19).contains(&len),
            _ => false,
        },
        6 => (13..=19).contains(&len),
        _ => false,
    };
    issuer && luhn(digits)
}

/// The Luhn checksum over decimal digits (values 0 to 9).
pub fn luhn(digits: &[u8]) -> bool {
    // Every second digit from the right is doubled, and a two-digit result counts as the sum
    // of its digits: 2 * d - 9 when d > 4.
    let mut sum = 0u32;
    for (position, digit) in digits.iter().rev().enumerate() {
        let digit = u32::from(*digit);
        sum += if position & 1 == 1 {
            digit * 2 - 9 * u32::from(digit > 4)
        } else {
            digit
        };
    }
    sum.is_multiple_of(10)
}

/// A US SSN in `AAA-GG-SSSS` form with the ranges the SSA never issues excluded.
fn ssn(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    let area: u32 = area.parse().unwrap_or(0);
    area != 0
        && area != 666
        && area < 900
        && *group != "00"
        && *serial != "0000"
        // The numbers used in advertising and widely published examples.
        && text != "078-05-1120"
        && text != "219-09-9999"
}

/// An IBAN: length 15 to 34 without spaces and the ISO 13616 mod-97 check.
pub fn iban(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Shannon entropy of the bytes at least `tenths / 10` bits per character, length at least 12,
/// and letters and digits both present (so words and plain numbers never qualify).
fn high_entropy(text: &str, tenths: u32) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 12
        || !bytes.iter().any(u8::is_ascii_digit)
        || !bytes.iter().any(u8::is_ascii_alphabetic)
        || text.starts_with("[REDACTED:")
    {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in bytes {
        if let Some(slot) = counts.get_mut(usize::from(*b)) {
            *slot += 1;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "lengths are small")]
    let len = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum();
    entropy * 10.0 >= f64::from(tenths)
}

#[cfg(test)]
#[path = "dlp_tests.rs"]
mod tests;
