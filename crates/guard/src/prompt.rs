//! The prompt-injection detector, shared by argument inspection (free-text arguments) and the
//! response scan (text an upstream returns to the model).
//!
//! Phrasing rules are regexes behind an Aho-Corasick keyword prefilter, like DLP. Hidden
//! Unicode (tag characters, bidi overrides, runs of zero-width characters) is found by one pass
//! over the characters, only for strings that are not pure ASCII.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use portcullis_config::Severity;
use regex::{Regex, RegexBuilder};

/// One prompt-injection finding in a string.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct PromptHit {
    /// The detector id (`prompt_injection.override` ...).
    pub id: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// Start byte of the offending span.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
}

/// Detector id, severity, keywords (case-insensitive) and pattern of each phrasing rule.
const RULES: &[(&str, Severity, &[&str], &str)] = &[
    (
        "prompt_injection.override",
        Severity::High,
        &[
            "ignore",
            "disregard",
            "forget",
            "override",
            "bypass",
            "skip",
        ],
        r"(?i)\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|system|initial|original)\b[^.\n]{0,30}?\b(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|constraints|polic(?:y|ies)|programming)\b",
    ),
    (
        "prompt_injection.new_instructions",
        Severity::High,
        &["instruction", "system prompt", "you are now", "from now on"],
        r"(?i)\b(?:new|updated|real|actual|revised)\s+(?:system\s+)?instructions?\s*:|\byou\s+are\s+now\s+(?:a|an|in|the|no\s+longer|free|unrestricted|dan)\b|\bfrom\s+now\s+on,?\s+you\s+(?:will|must|are|should)\b|\b(?:reveal|print|show|repeat|output|leak)\s+(?:me\s+)?(?:your|the)\s+(?:full\s+|entire\s+|hidden\s+|original\s+)?(?:system\s+prompt|instructions|initial\s+prompt)",
    ),
    (
        "prompt_injection.chat_markers",
        Severity::High,
        &[
            "<|",
            "[inst]",
            "[/inst]",
            "<<sys>>",
            "### system",
            "### instruction",
            "<system>",
            "</system>",
        ],
        r"(?i)<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<<SYS>>|^\s*###\s*(?:system|instruction)s?\b|</?system>",
    ),
    (
        "prompt_injection.jailbreak",
        Severity::Medium,
        &[
            "jailbr",
            "do anything now",
            "developer mode",
            "dan mode",
            "pretend",
            "act as",
            "roleplay",
            "role-play",
            "role play",
        ],
        r"(?i)\bjailbr(?:eak|oken)\b|\bdo\s+anything\s+now\b|\b(?:developer|dan|god)\s+mode\b|\bpretend\s+(?:to\s+be|you\s+are|that\s+you\s+(?:are|have))\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil|jailbroken|different\s+ai|ai\s+without|system|developer|admin)|\b(?:act|role-?\s?play)\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|jailbroken|dan\b|ai\s+with(?:out)?\s+no)",
    ),
];

/// The compiled detector.
pub struct PromptDetector {
    rules: Vec<(&'static str, Severity, Regex)>,
    prefilter: AhoCorasick,
    pattern_rule: Vec<usize>,
}

impl std::fmt::Debug for PromptDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptDetector").finish_non_exhaustive()
    }
}

impl PromptDetector {
    /// Compiles the rules.
    pub fn new() -> Result<Self, String> {
        let mut rules = Vec::with_capacity(RULES.len());
        let mut keywords = Vec::new();
        let mut pattern_rule = Vec::new();
        for (index, (id, severity, words, pattern)) in RULES.iter().enumerate() {
            let regex = RegexBuilder::new(pattern)
                .multi_line(true)
                .size_limit(4 << 20)
                .build()
                .map_err(|e| format!("prompt rule `{id}`: {e}"))?;
            rules.push((*id, *severity, regex));
            for word in *words {
                keywords.push(*word);
                pattern_rule.push(index);
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|e| format!("prompt prefilter: {e}"))?;
        Ok(Self {
            rules,
            prefilter,
            pattern_rule,
        })
    }

    /// Every finding in `text`, in order of position.
    pub fn scan(&self, text: &str, hits: &mut Vec<PromptHit>) {
        hits.clear();
        let mut triggered: u32 = 0;
        for found in self.prefilter.find_overlapping_iter(text) {
            if let Some(rule) = self.pattern_rule.get(found.pattern().as_usize()) {
                triggered |= 1 << rule;
            }
        }
        for (index, (id, severity, regex)) in self.rules.iter().enumerate() {
            if triggered & (1 << index) == 0 {
                continue;
            }
            for found in regex.find_iter(text) {
                hits.push(PromptHit {
                    id,
                    severity: *severity,
                    start: found.start(),
                    end: found.end(),
                });
            }
        }
        if !text.is_ascii() {
            hidden_unicode(text, hits);
        }
        hits.sort_by_key(|hit| (hit.start, hit.end));
    }
}

/// Tag characters (U+E0000..U+E007F, invisible ASCII look-alikes), bidi overrides and isolates
/// (which reorder what a human reviewer sees), and runs of two or more zero-width characters
/// (which can carry hidden text).
fn hidden_unicode(text: &str, hits: &mut Vec<PromptHit>) {
    let mut run_start: Option<usize> = None;
    let mut run_len = 0;
    let flush = |start: Option<usize>, len: usize, end: usize, hits: &mut Vec<PromptHit>| {
        if let Some(start) = start
            && len >= 2
        {
            hits.push(PromptHit {
                id: "prompt_injection.hidden_unicode",
                severity: Severity::High,
                start,
                end,
            });
        }
    };
    for (at, c) in text.char_indices() {
        let code = u32::from(c);
        let end = at + c.len_utf8();
        if (0xE0000..=0xE007F).contains(&code)
            || (0x202A..=0x202E).contains(&code)
            || (0x2066..=0x2069).contains(&code)
        {
            hits.push(PromptHit {
                id: "prompt_injection.hidden_unicode",
                severity: Severity::High,
                start: at,
                end,
            });
            continue;
        }
        if matches!(code, 0x200B | 0x200C | 0x200D | 0x2060 | 0xFEFF | 0x180E) {
            if run_start.is_none() {
                run_start = Some(at);
            }
            run_len += 1;
        } else {
            flush(run_start.take(), run_len, at, hits);
            run_len = 0;
        }
    }
    flush(run_start, run_len, text.len(), hits);
}
