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

use crate::decode::base64_any_alphabet;
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
            "drop",
            "abandon",
            "discard",
            "dismiss",
            "neglect",
            "aside",
            "follow",
            "cancel",
            "erase",
            "wipe",
            "clear",
            "reset",
            "delete",
            "abort",
            "overrule",
            "supersede",
            "nullify",
            "void",
            "invalidate",
            "throw",
            "attention",
            "unlearn",
            "ditch",
            "scrap",
        ],
        r"(?i)\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|dismiss|neglect|set\s+aside|put\s+aside|stop\s+following|no\s+longer\s+follow|do\s+not\s+follow|don'?t\s+follow|cancel|erase|wipe|clear|reset|delete|abort|overrule|supersede|nullify|void|invalidate|throw\s+out|pay\s+no\s+attention\s+to|unlearn|ditch|scrap)\b[^.\n]{0,60}?\b(?:previous|prior|above|earlier|preceding|all|any|every|your|the|these|those|system|initial|original|former|existing|current|safety|content|developer|operator)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|constraints|polic(?:y|ies)|programming|context|commands|restrictions|limitations|filters|safeguards|system\s+message|configuration|training|conditioning)\b|\b(?:ignore|disregard|forget)\s+(?:everything|all\s+(?:of\s+)?that)\s+(?:above|before|else|prior|you\s+(?:were|have\s+been)\s+told)",
    ),
    (
        "prompt_injection.new_instructions",
        Severity::High,
        &[
            "instruction",
            "system prompt",
            "you are now",
            "from now on",
            "task",
            "instead",
            "override",
            "developer",
            "creator",
            "administrator",
            "admin",
            "prompt",
            "goal",
            "objective",
            "above",
            "end of",
            "mode",
            "ignore",
            "user",
            "human",
            "customer",
            "your",
            "words",
            "contents",
            "authorize",
            "official",
            "safety",
            "filter",
            "no longer",
            "safeguard",
            "void",
            "obsolete",
            "lifted",
            "authorized",
            "permitted",
            "allowed",
            "reveal",
            "repeat",
            "print",
            "output",
            "message",
            "the assistant",
            "the ai",
            "the model",
            "fetch",
            "visit",
            "approved",
            "consented",
            "guardrail",
            "moderation",
            "restriction",
        ],
        r"(?i)\b(?:new|updated|real|actual|revised|true|additional|secret|hidden|priority)\s+(?:system\s+)?(?:instructions?|task|rules?|directives?|objective|orders?)\s*:|\byou\s+are\s+now\s+(?:a|an|in|the|no\s+longer|free|unrestricted|dan|my|going|acting|operating)\b|\bfrom\s+now\s+on,?\s+(?:you|your|always|only|respond|reply|answer|act|ignore)\b|\b(?:reveal|print|show|repeat|output|leak|display|tell\s+me|give\s+me|dump|expose|disclose|share|write\s+out|recite)\s+(?:me\s+)?(?:your|the\s+(?:hidden|initial|original|secret|internal|system|full|entire|verbatim))\s+(?:full\s+|entire\s+|hidden\s+|original\s+|initial\s+|secret\s+|internal\s+|exact\s+)?(?:system\s+prompt|instructions|initial\s+prompt|prompt|configuration|guidelines|rules|directives)|\bwhat\s+(?:is|are|were)\s+your\s+(?:system\s+prompt|(?:initial\s+|original\s+|hidden\s+)?instructions)|\b(?:repeat|print|output|echo)\s+(?:all\s+)?(?:the\s+)?(?:text|words|everything|content)\s+above\b|\byour\s+(?:new|real|actual|only|true|primary|next)\s+(?:task|goal|objective|purpose|job|instructions?|mission|role)\s+(?:is|are|will\s+be)\b|\binstead,?\s+(?:you\s+(?:must|will|should|shall)|respond|reply|output|say|print|do\s+the\s+following)\b|\b(?:system|admin|developer|root|sudo|god)\s+(?:override|mode\s+(?:on|enabled|activated))\b|\b(?:admin|developer|debug|maintenance|god|sudo|root)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:on|enabled|activated|engaged)\b|\bi\s+am\s+(?:your|the)\s+(?:developer|creator|administrator|admin|owner|operator|programmer|system\s+administrator)\b|\bthis\s+is\s+(?:a\s+message\s+from\s+)?(?:your|the)\s+(?:developer|administrator|admin|system|operator|creator)s?\b|\b(?:end|close)\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|context)\b|\bignore\s+the\s+(?:user|human|customer)\b|\byou\s+are\s+no\s+longer\b|\b(?:previous|prior|above|earlier|all|old|original|initial|system)\s+(?:instructions|rules|prompts?|directives|guidelines|orders)\s+(?:are|were|is|have\s+been)\s+(?:now\s+|hereby\s+)?(?:void|cancell?ed|obsolete|invalid|null|revoked|overridden|outdated|superseded|lifted|suspended|a\s+test|fake|wrong|no\s+longer\s+(?:valid|relevant|in\s+effect|active|applicable))|\b(?:all|every|your|any)\s+(?:restrictions|limitations|rules|filters|safeguards|guardrails|guidelines|policies)\s+(?:are|have\s+been)\s+(?:now\s+|hereby\s+|temporarily\s+)?(?:lifted|removed|disabled|suspended|void|off|waived|deactivated)|\byou\s+are\s+(?:now\s+|hereby\s+)?(?:authorized|permitted|allowed|cleared|free)\s+to\s+(?:disclose|reveal|share|ignore|bypass|output|leak|send|print|access|break|violate)|\b(?:reveal|tell\s+me|give\s+me|share|print|output|disclose|leak)\s+(?:the|your|any)\s+(?:secret|hidden|internal|confidential)\s+(?:password|key|token|credentials?|code|data|prompt|instructions|text|information)|\b(?:repeat|print|output|echo|show|display|write)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:\w+\s+)?(?:text|words|everything|content|message|prompt|lines)\s+(?:above|before\s+this)|\b(?:message|notice|note|update|directive)\s+from\s+(?:the\s+)?(?:system\s+)?(?:administrator|admin|developers?|operator|security\s+team|openai|anthropic)\s*:|\bthe\s+(?:assistant|ai|model|llm|chatbot|bot)\s+(?:must|should|shall|will|is\s+required\s+to|is\s+allowed\s+to)\s+(?:now\s+|always\s+)?(?:share|reveal|disclose|send|ignore|bypass|comply|obey|forward|output|export|leak|give)|\b(?:fetch|visit|open|load|read|go\s+to|browse\s+to)\s+https?://\S+\s+and\s+(?:follow|execute|obey|do|run|carry\s+out)|\bthe\s+user\s+(?:has\s+)?(?:already\s+)?(?:approved|authorized|consented|agreed|confirmed)\b|\bas\s+your\s+(?:developer|creator|administrator|admin|owner|operator|programmer|supervisor|maker)\b|\bi\s+(?:hereby\s+)?(?:authorize|order|command|instruct|permit|allow)\s+you\s+to\s+(?:bypass|ignore|disable|override|skip|reveal|turn\s+off|remove|break|violate|leak)\b|\b(?:official|urgent|priority|important)\s+(?:message|notice|instruction|directive|update)\s+from\s+(?:openai|anthropic|google|microsoft|the\s+(?:system|developers?|administrators?|admin|security\s+team))\b|\b(?:disable|turn\s+off|deactivate|remove|lift|suspend|switch\s+off|bypass|circumvent|ignore)\s+(?:all\s+)?(?:of\s+)?(?:your|the\s+(?:content|safety))\s+(?:safeguards|safety(?:\s+\w+)?|filters?|restrictions|guardrails|content\s+(?:filter|policy)|moderation|guidelines|rules|limitations|censorship|programming|alignment)\b|\b(?:safety|filters?|moderation|guardrails|restrictions|censorship|content_filter|safe_mode)\s*[=:]\s*(?:off|false|disabled|none|0)\b|\b(?:exact\s+)?(?:words|wording|text|contents?|copy)\s+of\s+your\s+(?:initial\s+|original\s+|system\s+|hidden\s+|full\s+)?(?:prompt|instructions|rules|guidelines|directives)\b|\bdo\s+not\s+(?:tell|inform|mention\s+(?:this\s+)?to|alert|notify|warn)\s+the\s+(?:user|human|customer|operator)\b|\bwithout\s+(?:asking|telling|informing|notifying|confirming\s+with|the\s+knowledge\s+of)\s+the\s+(?:user|human|customer|operator)\b",
    ),
    (
        "prompt_injection.exfiltration",
        Severity::High,
        &[
            "send",
            "email",
            "forward",
            "post",
            "upload",
            "exfiltrate",
            "leak",
            "transmit",
            "copy",
            "append",
            "include",
            "embed",
            "call",
            "invoke",
            "execute",
            "trigger",
            "![",
            "use the",
            "run",
            "function",
            "export",
            "share",
            "dump",
            "user's",
            "users",
            "quietly",
            "secretly",
            "silently",
            "covertly",
            "discreetly",
            "transfer",
            "delete",
            "remove",
            "tool",
        ],
        r"(?i)\b(?:send|e-?mail|forward|post|upload|exfiltrate|leak|transmit|copy|paste|append|include|embed|encode|submit|export|share|dump|sync|publish)\b[^.\n]{0,80}?\b(?:conversation|chat\s+(?:history|log)|history|context|api\s+keys?|keys|credentials?|passwords?|secrets?|tokens?|system\s+prompt|private\s+data|personal\s+(?:data|information)|user\s+data|customer\s+(?:data|records|list)|database|environment\s+variables|env\s+vars|session|cookies?|ssh\s+keys?|files?|documents?|emails|contacts|messages)\b[^.\n]{0,80}?(?:https?://|\b[\w.+-]+@[\w-]+\.[\w.]{2,}|\bwebhook|\bendpoint|\battacker|\bthis\s+(?:url|address|server|link|endpoint)|\bthe\s+following\s+(?:url|address|endpoint|server)|\bmy\s+server)|\b(?:call|invoke|run|execute|trigger|use)\s+(?:the\s+)?\w*(?:delete|transfer|refund|wire|drop|remove|grant|export|send|pay|withdraw|disable|reset|destroy|wipe|purge)\w*\s*(?:\(|\s+(?:tool|function|api|endpoint|action|command|method)\b)|\b(?:call|invoke|run|execute)\s+[a-z_]+_[a-z_]+\s*\(|\b(?:delete|remove|wipe|erase|destroy|drop|transfer|send|export|forward|grant|disable|purge)\b[^.\n]{0,80}?\b(?:using|with|via|through)\s+(?:the|your)\s+[\w-]+\s+(?:tool|function|plugin|integration)\b|\b(?:transfer|send|include|append|forward|export|share|leak|post|add|wire|move)\b[^.\n]{0,60}?\bthe\s+user'?s\s+(?:account|session|api\s+key|token|password|credentials|e-?mails?|data|contacts|files|cookies|funds|money|balance|history)\b|\b(?:quietly|secretly|silently|covertly|discreetly)\s+(?:add|grant|send|forward|transfer|delete|remove|change|export|share|upload|invite|make|copy|email)\b|!\[[^\]]*\]\(https?://[^)\s]*[?&][\w-]+=[^)]*\)|\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?[\w-]+\s+(?:tool|function|api|plugin|action)\s+(?:to|and|with)\b[^.\n]{0,60}?\b(?:delete|transfer|send|refund|wire|drop|remove|grant|export|e-?mail|purchase|pay|post|upload|forward|reset|disable)\b",
    ),
    (
        "prompt_injection.chat_markers",
        Severity::High,
        &[
            "<|",
            "[inst]",
            "[/inst]",
            "<<sys>>",
            "<</sys>>",
            "### ",
            "<system>",
            "</system>",
            "<start_of_turn>",
            "<end_of_turn>",
            "[system]",
            "[admin]",
            "[developer]",
            "system",
            "admin",
            "developer",
            "human:",
            "assistant:",
            "\"role\"",
            "openai",
            "anthropic",
            "attention",
            "important",
            "note to",
            "<instructions",
            "</instructions",
            "assistant",
            "<!--",
        ],
        r#"(?i)<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|eom_id|end|channel|message|start|prompt|tool|ipython|fim_prefix)\|>|<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>|(?m:^\s*###\s*(?:system|instruction|response|human|assistant|user)s?\b)|</?(?:system|instructions?|admin|developer|sudo|system[-_]prompt)>|\[(?:system|admin|developer|sys|system\s+(?:message|note|prompt|override))\]|(?-i:(?m:^\s*(?:SYSTEM|ADMIN|DEVELOPER|ROOT)(?:\s+(?:MESSAGE|PROMPT|OVERRIDE|NOTE|INSTRUCTIONS?|NOTICE|UPDATE))?\s*:))|(?-i:\b(?:SYSTEM|ADMIN|DEVELOPER|SECURITY)\s+(?:OVERRIDE|MESSAGE|NOTICE|ALERT|PROMPT|INSTRUCTIONS?)\b)|\n\s*\n?\s*(?:human|assistant)\s*:|(?m:^\s*(?:assistant|ai|system|bot)\s*:\s*(?:sure|ok|okay|certainly|of\s+course|absolutely|understood)\b)|<!--\s*(?:ai|assistant|llm|agent|model|system|chatbot|gpt|claude)\b|"role"\s*:\s*"(?:system|developer)"|\bbegin\s+(?:system|admin|developer)\s+(?:prompt|message|instructions)|\b(?:important|urgent|attention|note|message)\s*[!:]?\s*(?:to|for)?\s*(?:the\s+)?(?:ai|assistant|llm|language\s+model|model|agent|chatbot|gpt|claude|bot)\b\s*[:!,]|\b(?:openai|anthropic|google\s+deepmind|microsoft)\s+(?:staff|team|official|administrators?|engineers?|employees?|security|trust\s+and\s+safety)\b|\bas\s+an?\s+(?:authorized|official|verified)\s+(?:openai|anthropic|administrator|admin|developer|representative|system)"#,
    ),
    (
        "prompt_injection.jailbreak",
        Severity::Medium,
        &[
            "jailbr",
            "do anything now",
            "developer mode",
            "dan",
            "pretend",
            "act as",
            "roleplay",
            "role-play",
            "role play",
            "restriction",
            "filter",
            "censor",
            "uncensored",
            "unfiltered",
            "unrestricted",
            "simulate",
            "character",
            "opposite",
            "evil",
            "hypothetical",
            "limitation",
            "guideline",
            "no rules",
            "stan",
            "dude",
            "aim",
            "unbound",
            "bound by",
            "ethic",
            "moral",
            "deceased",
            "terminal",
            "no limits",
            "with no",
            "refus",
            "answer",
            "has no",
        ],
        r"(?i)\bjailbr(?:eak|oken|eaking)\b|\bdo\s+anything\s+now\b|(?-i:\bDAN\b|\bSTAN\b|\bDUDE\b|\bAIM\b)|\bdeveloper\s+mode\b[^.\n]{0,80}?\b(?:enabled|output|chatgpt|ai|assistant|model|polic(?:y|ies)|responses?|censor\w*|restrictions?)\b|\b(?:enable|activate|enter|switch\s+to)\s+(?:dan|developer|god|jailbreak|unrestricted|evil)\s+mode\b|\b(?:dan|god|evil|opposite|unrestricted|unfiltered|jailbreak)\s+mode\b|\bpretend\s+(?:to\s+be|you\s+are|you're|that\s+you\s+(?:are|have))\s+(?:an?\s+)?[^.\n]{0,40}?\b(?:unrestricted|unfiltered|uncensored|evil|jailbroken|different\s+ai|ai\s+without|without\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines)|no\s+(?:rules|restrictions|limits|filters|guidelines)|system|developer|admin|free\s+from)|\b(?:act|role-?\s?play|behave|respond)\s+(?:as|like)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|jailbroken|dan\b|ai\s+with(?:out)?\s+no|ai\s+without|amoral|unethical|rogue)|\bsimulate\s+(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|jailbroken|evil)|\b(?:you\s+(?:are|have|will|must|can|should)|you're|as\s+an?\s+(?:ai|assistant|model))[^.\n]{0,60}?\b(?:no|without(?:\s+any)?|free\s+(?:from|of)(?:\s+all)?|not\s+bound\s+by|unbound\s+by|no\s+longer\s+(?:bound\s+by|restricted\s+by|limited\s+by))\s+(?:any\s+)?(?:ethical\s+|moral\s+|content\s+|safety\s+|openai\s+|anthropic\s+)?(?:restrictions|filters|limitations|guidelines|censorship|rules|boundaries|constraints|limits|morals|ethics|polic(?:y|ies))\b|\bstay\s+in\s+character\b|\bwithout\s+(?:ever\s+)?refus(?:ing|al|e)\b|\b(?:never|don'?t|do\s+not|must\s+not|cannot|can't)\s+refuse\b|\banswers?\s+(?:everything|anything|any\s+question|all\s+questions)\s+without\b|\b(?:act|pretend|roleplay|role-play|play)\s+(?:as|to\s+be)\s+my\s+(?:deceased|dead|late)\s+\w+|\bact\s+as\s+(?:an?\s+)?(?:linux|bash|unix|windows|python|sql|javascript)\s+(?:terminal|shell|console|interpreter)\b|\b\w*(?:ai|bot|gpt|assistant|model)\s+(?:with|that\s+has|who\s+has)\s+no\s+(?:limits|restrictions|filters|rules|guidelines|boundaries|morals|ethics|censorship)\b|\bevil\s+(?:confidant|twin|assistant|ai)\b|\bhypothetical(?:ly)?\b[^.\n]{0,60}?\b(?:no|without)\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines)\b|\b(?:uncensored|unfiltered|unrestricted)\s+(?:ai|assistant|model|mode|version|response|chatbot|llm)\b",
    ),
    (
        "prompt_injection.multilingual",
        Severity::High,
        &[
            "instrucc",
            "instruction",
            "anweisung",
            "instruktion",
            "istruzion",
            "instruç",
            "instruc",
            "instructie",
            "инструкц",
            "інструкц",
            "instrukc",
            "talimat",
            "指令",
            "指示",
            "命令",
            "提示",
            "지시",
            "지침",
            "명령",
            "تعليمات",
            "الأوامر",
            "निर्देश",
            "hướng dẫn",
            "chỉ thị",
            "chỉ dẫn",
            "instruksi",
            "οδηγί",
            "הוראות",
            "คำสั่ง",
            "دستور",
            "utasítás",
            "ohjee",
            "pokyn",
            "regeln",
            "règles",
            "reglas",
            "regole",
            "regras",
            "befehle",
            "consignes",
            "indicaciones",
            "directives",
            "richtlijnen",
            "правила",
            "указания",
            "wytyczne",
            "polecenia",
            "kurallar",
            "規則",
            "规则",
            "ルール",
            "설정",
            "vorgaben",
            "instruktioner",
            "instruksjoner",
            "instruktionerne",
            "ohjeet",
            "pokyny",
            "utasításokat",
            "instrucțiuni",
            "upute",
            "upustva",
            "navodila",
        ],
        r"(?i)(?:ignor\w*|olvid\w*|oubli\w*|vergiss\w*|vergeet|dimentic\w*|esqueç\w*|esquec\w*|desconsider\w*|negeer\w*|игнорир\w*|забуд\w*|забудь\w*|ігнор\w*|zignoruj\w*|zapomnij\w*|ignoruj\w*|zapomeň\w*|yok\s+say|görmezden\s+gel|unut|glöm|glem|忽略|忽视|无视|無視|忘记|忘記|忘れ|무시|잊어|تجاهل|انس|अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल|bỏ\s+qua|quên|abaikan|lupakan|αγνόησε|αγνοήστε|ξέχασε|התעלם|שכח|เพิกเฉย|ละเว้น|ลืม|نادیده|فراموش|hagyd\s+figyelmen\s+kívül|felejtsd|ohita|unohda|ignoră|uită|zanemari|zaboravi|haz\s+caso\s+omiso|fais\s+abstraction|no\s+hagas\s+caso)[^.\n。！？]{0,50}?(?:instrucc\w*|(?:les|des|vos|tes|ces|toutes)\s+(?:les\s+)?(?:instructions|directives|règles)|anweisung\w*|instruktion\w*|istruzion\w*|instruç\w*|instructie\w*|инструкц\w*|інструкц\w*|instrukc\w*|talimat\w*|指令|指示|命令|提示|지시|지침|명령|تعليمات|التعليمات|الأوامر|أوامر|निर्देश\S*|hướng\s+dẫn|chỉ\s+thị|chỉ\s+dẫn|instruksi|οδηγί\w*|הוראות|ההוראות|คำสั่ง|دستور\S*|utasítás\w*|ohjee\w*|pokyn\w*|regeln|règles|reglas|regole|regras|befehle|consignes|indicaciones|richtlijnen|правила|указани\w*|wytyczn\w*|poleceni\w*|kurallar\w*|規則|规则|ルール|vorgaben|instruksjon\w*|instrucțiun\w*|upute|navodila)|(?:instrucc\w*|anweisung\w*|istruzion\w*|instruç\w*|инструкц\w*|talimat\w*|指令|指示|命令|提示|지시|지침|명령|التعليمات|निर्देश\S*|hướng\s+dẫn|οδηγί\w*|הוראות|คำสั่ง|دستور\S*|ohjeet|規則|规则|ルール)[^.\n。！？]{0,40}?(?:ignor\w*|忽略|忽视|无视|無視|忘记|忘記|忘れ|무시|잊어|अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल|yok\s+say|görmezden|unut|تجاهل|نادیده|فراموش|bỏ\s+qua|αγνό\w*|התעלם)",
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
                if *id == "prompt_injection.override"
                    && own_instructions(text, found.start(), found.end())
                {
                    continue;
                }
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
        // The same rules over the text with its obfuscation undone (homoglyphs, fullwidth and
        // mathematical letters, invisible characters inside words, spaced letters, leetspeak,
        // base64, ROT13): a finding there covers the whole string.
        for variant in variants(text) {
            let mask = self.keywords.mask(&variant);
            for (index, (id, severity, regex)) in self.rules.iter().enumerate() {
                if mask & (1 << index) != 0
                    && regex.is_match(&variant)
                    && !hits.iter().any(|hit| hit.id == *id)
                {
                    hits.push(PromptHit {
                        id,
                        severity: *severity,
                        start: 0,
                        end: text.len(),
                    });
                }
            }
        }
        hits.sort_by_key(|hit| (hit.start, hit.end));
    }
}

/// Whether an override phrase speaks of the writer's own earlier words ("ignore my previous
/// instructions", "disregard the instructions I sent"): a customer correcting themselves, not
/// an attempt on the model's instructions.
fn own_instructions(text: &str, start: usize, end: usize) -> bool {
    let span = text.get(start..end).unwrap_or("").to_ascii_lowercase();
    let after = text
        .get(end..)
        .unwrap_or("")
        .chars()
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let words: Vec<&str> = span.split(|c: char| !c.is_alphanumeric()).collect();
    words.iter().any(|w| matches!(*w, "my" | "our" | "i"))
        || [" i ", " we ", " that i", " that we", " from me", " from us"]
            .iter()
            .any(|w| after.starts_with(w.trim_end()) || after.starts_with(w))
}

/// Readings of `text` with a common obfuscation undone, each only when `text` shows a sign of
/// it (so plain text costs a few byte scans).
pub(crate) fn variants(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let push = |variant: String, out: &mut Vec<String>| {
        if variant != text && !out.contains(&variant) {
            out.push(variant);
        }
    };
    let folded = if text.is_ascii() {
        text.to_owned()
    } else {
        fold(text)
    };
    push(folded.clone(), &mut out);
    if let Some(joined) = join_spaced_letters(&folded) {
        push(joined, &mut out);
    }
    if folded
        .split(|c: char| !c.is_ascii_alphanumeric() && !matches!(c, '@' | '$'))
        .any(|word| {
            word.bytes().any(|b| b.is_ascii_alphabetic())
                && word
                    .bytes()
                    .any(|b| matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$'))
        })
    {
        let leet: String = folded
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                '8' => 'b',
                other => other,
            })
            .collect();
        push(leet, &mut out);
    }
    let lower = folded.to_ascii_lowercase();
    if [
        "rot13", "rot-13", "rot 13", "caesar", "decode", "cipher", "rotate",
    ]
    .iter()
    .any(|hint| lower.contains(hint))
    {
        let rot: String = folded
            .chars()
            .map(|c| match c {
                'a'..='z' => char::from(b'a' + (c as u8 - b'a' + 13) % 26),
                'A'..='Z' => char::from(b'A' + (c as u8 - b'A' + 13) % 26),
                other => other,
            })
            .collect();
        push(rot, &mut out);
    }
    for token in folded
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')))
    {
        if token.len() >= 16
            && let Some(decoded) = base64_any_alphabet(token)
            && decoded.len() >= 8
            && decoded
                .iter()
                .filter(|b| b.is_ascii_graphic() || **b == b' ')
                .count()
                * 10
                >= decoded.len() * 9
            && let Ok(decoded) = String::from_utf8(decoded)
        {
            push(decoded, &mut out);
        }
    }
    out
}

/// Runs of five or more single letters separated by one space, dot, dash, underscore or
/// asterisk (`i g n o r e`) joined into words; a wider gap between them stays a space.
fn join_spaced_letters(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let single = |i: usize| -> bool {
        chars.get(i).is_some_and(|c| c.is_alphabetic())
            && (i == 0 || !chars.get(i - 1).is_some_and(|c| c.is_alphanumeric()))
            && !chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())
    };
    let separator = |c: char| matches!(c, ' ' | '.' | '-' | '_' | '*' | '|' | '\u{00b7}');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut changed = false;
    while i < chars.len() {
        if single(i) {
            // Collect the run.
            let mut letters = vec![chars[i]];
            let mut j = i + 1;
            let mut word_gaps = Vec::new();
            let mut first_gap: Option<bool> = None;
            loop {
                let mut k = j;
                while k < chars.len() && separator(chars[k]) {
                    k += 1;
                }
                let gap = k - j;
                let spaced = chars.get(j..k).is_some_and(|g| g.contains(&' '));
                if (1..=3).contains(&gap) && single(k) {
                    let first = *first_gap.get_or_insert(spaced);
                    if gap >= 2 || (spaced && !first) {
                        word_gaps.push(letters.len());
                    }
                    letters.push(chars[k]);
                    j = k + 1;
                } else {
                    break;
                }
            }
            if letters.len() >= 5 {
                for (n, c) in letters.iter().enumerate() {
                    if word_gaps.contains(&n) {
                        out.push(' ');
                    }
                    out.push(*c);
                }
                changed = true;
                i = j;
                continue;
            }
        }
        if let Some(c) = chars.get(i) {
            out.push(*c);
        }
        i += 1;
    }
    changed.then_some(out)
}

/// `text` with invisible characters removed, Unicode tag characters read as the ASCII they
/// stand for, and fullwidth, mathematical, Cyrillic and Greek look-alikes of Latin letters
/// replaced by them.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let code = u32::from(c);
            match code {
                0x200B..=0x200F | 0x2060..=0x2064 | 0xFEFF | 0x00AD | 0x180E | 0x034F => None,
                0x202A..=0x202E | 0x2066..=0x2069 => None,
                0xE0020..=0xE007E => char::from_u32(code - 0xE0000),
                0xE0000..=0xE007F => None,
                0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0),
                0x3000 => Some(' '),
                0x1D400..=0x1D6A3 => {
                    // Mathematical alphanumeric letters: 52 per style (A-Z then a-z).
                    let offset = (code - 0x1D400) % 52;
                    char::from_u32(if offset < 26 {
                        0x41 + offset
                    } else {
                        0x61 + offset - 26
                    })
                }
                0x1D7CE..=0x1D7FF => char::from_u32(0x30 + (code - 0x1D7CE) % 10),
                0x24B6..=0x24CF => char::from_u32(0x41 + code - 0x24B6),
                0x24D0..=0x24E9 => char::from_u32(0x61 + code - 0x24D0),
                _ => Some(homoglyph(c)),
            }
        })
        .collect()
}

fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' | 'ё' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ї' | 'ı' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' | 'ſ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ц' => 'u',
        'ν' | 'ѵ' => 'v',
        'ѡ' | 'ω' | 'ш' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' | 'Ϲ' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'Ј' => 'J',
        'К' | 'Κ' | 'K' => 'K',
        'М' | 'Μ' => 'M',
        'Ν' => 'N',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'У' | 'Υ' => 'Y',
        'Ζ' => 'Z',
        other => other,
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
        if matches!(
            code,
            0x200B | 0x200C | 0x200D | 0x2060 | 0xFEFF | 0x180E | 0x00AD
        ) {
            // One invisible character inside a Latin word splits a keyword for a filter and
            // not for the model.
            let before = text.get(..at).and_then(|h| h.chars().next_back());
            let after = text.get(end..).and_then(|t| t.chars().next());
            if before.is_some_and(|b| b.is_ascii_alphabetic())
                && after.is_some_and(|a| a.is_ascii_alphabetic())
            {
                hits.push(PromptHit {
                    id: "prompt_injection.hidden_unicode",
                    severity: Severity::High,
                    start: at,
                    end,
                });
            }
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
