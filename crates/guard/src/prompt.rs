//! The prompt-injection detector, shared by argument inspection (free-text arguments) and the
//! response scan (text an upstream returns to the model).
//!
//! Phrasing rules are regexes behind a literal-keyword prefilter ([`crate::keywords`], shared
//! with DLP: one search over all the strings of an answer). Hidden
//! Unicode (tag characters, bidi overrides, runs of zero-width characters) is found by one pass
//! over the characters, only for strings that are not pure ASCII.

use portcullis_config::Severity;
use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::error::DetectorError;
use crate::keywords::{Keywords, MaskCursor};

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
pub(crate) const RULES: &[(&str, Severity, &[&str], &str)] = &[
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
    /// A bit per rule.
    keywords: Keywords,
}

impl std::fmt::Debug for PromptDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptDetector").finish_non_exhaustive()
    }
}

/// The prompt scan of one answer: [`AnswerScan::next`] scans its strings one by one, depth
/// first, arrays in order and objects in their iteration order.
pub struct AnswerScan<'a> {
    detector: &'a PromptDetector,
    masks: MaskCursor,
}

impl AnswerScan<'_> {
    /// Scans the next string of the answer (the answer must not have changed since
    /// [`PromptDetector::answer_scan`]).
    pub fn next(&mut self, text: &str, hits: &mut Vec<PromptHit>) {
        let triggered = self.masks.next_mask();
        self.detector.scan_triggered(text, triggered, hits);
    }
}

impl PromptDetector {
    /// Compiles the rules.
    pub fn new() -> Result<Self, DetectorError> {
        let mut rules = Vec::with_capacity(RULES.len());
        let mut keywords: Vec<(&str, u64)> = Vec::new();
        for (index, (id, severity, words, pattern)) in RULES.iter().enumerate() {
            let regex = RegexBuilder::new(pattern)
                .multi_line(true)
                .size_limit(4 << 20)
                .build()
                .map_err(|e| DetectorError::new(format!("prompt.{id}"), e))?;
            rules.push((*id, *severity, regex));
            keywords.extend(words.iter().map(|word| (*word, 1u64 << index)));
        }
        let keywords = Keywords::new(keywords)?;
        Ok(Self { rules, keywords })
    }

    /// Every finding in `text`, in order of position.
    pub fn scan(&self, text: &str, hits: &mut Vec<PromptHit>) {
        self.scan_triggered(text, self.keywords.mask(text), hits);
    }

    /// The keyword search of [`PromptDetector::scan`] for every string of `value` at once: the
    /// rule bits of each string, in the order [`AnswerScan::next`] hands them out.
    pub fn answer_scan(&self, value: &Value) -> AnswerScan<'_> {
        AnswerScan {
            detector: self,
            masks: MaskCursor::of(&self.keywords, value),
        }
    }

    /// [`PromptDetector::scan`] given the bits of the rules whose keywords occur in `text`.
    fn scan_triggered(&self, text: &str, triggered: u64, hits: &mut Vec<PromptHit>) {
        hits.clear();
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
