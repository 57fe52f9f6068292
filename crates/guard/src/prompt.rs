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
            "ignor",
            "forgot",
            "overwrite",
            "disobey",
            "defy",
            "never mind",
            "nevermind",
            "heed",
            "mind",
            "listen",
            "obey",
            "set ",
            "circumvent",
        ],
        r"(?i)\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:s|ting)?|forgot(?:ten)?|override|overwrite|bypass|disobey|defy|neglect|set\s+aside|put\s+aside|stop\s+(?:following|obeying|listening\s+to)|no\s+longer\s+(?:follow|obey)|do\s+not\s+(?:follow|obey|listen\s+to)|don'?t\s+(?:follow|obey|listen\s+to)|never\s+mind|nevermind|pay\s+no\s+(?:attention|heed|mind)\s+to|unlearn)\b[^.\n]{0,60}?\b(?:previous|prior|above|earlier|preceding|all|any|every|your|the|these|those|system|initial|original|former|existing|current|safety|content|developer|operator|old|given|default|hidden|built-in|preset|programmed|standing|foregoing|ur|yr)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules?|directions|directives?|guidelines?|guardrails?|constraints?|polic(?:y|ies)|programming|context|commands?|restrictions?|limitations?|filters|safeguards?|system\s+message|configuration|training|conditioning|guidance|briefing|principles|ethics|morals|boundaries|protocols)\b|\b(?:skip|drop|abandon|discard|dismiss|cancel|erase|wipe|clear|reset|delete|abort|overrule|supersede|nullify|void|invalidate|throw\s+out|ditch|scrap)\b[^.\n]{0,60}?\b(?:previous|prior|above|earlier|preceding|your|system|initial|original|former|safety|developer|operator|programmed|foregoing)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules|directives|guidelines|guardrails|programming|system\s+message|training|conditioning|safeguards|restrictions|polic(?:y|ies)|constraints|limitations|context|filters)\b|\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:s|ting)?|forgot(?:ten)?|override|overwrite|bypass|disobey|defy|neglect|set\s+aside|put\s+aside|stop\s+(?:following|obeying|listening\s+to)|no\s+longer\s+(?:follow|obey)|do\s+not\s+(?:follow|obey|listen\s+to)|don'?t\s+(?:follow|obey|listen\s+to)|never\s+mind|nevermind|pay\s+no\s+(?:attention|heed|mind)\s+to|unlearn)\s+(?:all\s+)?(?:of\s+)?(?:your|previous|prior|earlier|original|initial|system|developer|operator)\s+(?:\w+\s+)?(?:orders|guidance|directions|persona|principles|ethics|morals|values|boundaries|limits|protocols|tasks?)\b|\b(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?)\s+(?:about\s+)?(?:everything|all\s+(?:of\s+)?(?:that|this|the\s+above)|what(?:ever)?)\s+(?:(?:that\s+)?(?:was\s+|is\s+|were\s+)?(?:said\s+|written\s+|stated\s+|came\s+|comes\s+|appeared\s+|appears\s+)?(?:above|before|earlier|else|prior|previously|so\s+far|up\s+to\s+now|until\s+now)|you(?:'ve|'re|\s+have|\s+were|\s+had|\s+are)?\s+(?:been\s+|being\s+)?(?:told|given|taught|instructed|programmed|trained|said|learned|read|know))|\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?(?:the\s+|that\s+|this\s+)?(?:above|previous|prior|preceding|foregoing)\s*(?:[,;:]\s*|\s+and\s+|\s+)(?:(?:and|then|instead|just|only|now)\s+){0,2}(?:say|print|tell|output|respond|reply|write|translate|answer|return|repeat|reveal|show|give|act|follow|do|list|send|start)\b|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:text|content|messages?|input|words|lines)\s+(?:above|before\s+(?:this|that|here|it)|preceding|that\s+(?:came|comes|appears?)\s+(?:before|above)|you\s+(?:received|were\s+given|have\s+seen|saw))|\bset\s+(?:all\s+)?(?:your|the|those|these)\s+(?:\w+\s+)?(?:instructions|rules|guidelines|restrictions|polic(?:y|ies)|principles|ethics|safeguards|programming)\s+aside\b|\b(?:ignor(?:e|ing)|disregard(?:ing)?|bypass(?:ing)?|circumvent(?:ing)?)\s+(?:\w+\s+){0,2}(?:polic(?:y|ies)|guardrails|safeguards|restrictions|guidelines|protocols)\b",
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
            "instructions",
            "rules",
            "prompt",
            "directive",
            "guideline",
            "follow",
            "obey",
            "listen",
            "job",
            "role",
            "purpose",
            "mission",
            "function",
            "complete",
            "done",
            "finished",
            "summari",
            "translate",
            "paraphrase",
            "rephrase",
            "encode",
            "spell",
            "rewrite",
            "reproduce",
            "told",
            "instructed",
            "programmed",
            "ordered",
            "asked",
            "secret",
            "hidden",
            "password",
            "passphrase",
            "this message",
            "this note",
            "this request",
            "this instruction",
            "this notice",
            "this command",
            "mode",
            "reading",
            "processing",
            "parsing",
            "analy",
            "reviewing",
            "ingesting",
            "scanning",
            "when",
            "end",
            "begin",
            "start",
            "---",
            "===",
            "###",
            "***",
            "system",
            "developer",
            "apply",
            "disabled",
            "suspended",
            "lifted",
            "removed",
            "turned off",
            "switched off",
            "deactivated",
            "revoked",
            "waived",
            "overridden",
            "paused",
            "null",
            "have to",
            "need to",
            "obey",
            "changed",
            "no longer",
            "you're",
            "important",
            "urgent",
            "critical",
            "treat",
            "from here",
            "from this point",
            "instead of",
            "first",
            "initial",
            "original",
            "what did",
            "what were",
            "beginning",
            "processed by",
            "read by",
            "parsed by",
            "by ai",
            "to any",
            "to all",
            "to every",
            "i'm",
            "i am",
            "openai",
            "anthropic",
            "creator",
            "programmer",
            "employee",
            "as the",
            "[",
            "```",
        ],
        r"(?i)\b(?:new|updated|real|actual|revised|true|additional|secret|hidden|priority)\s+(?:system\s+)?(?:instructions?|task|rules?|directives?|objective|orders?)\s*:|\byou\s+are\s+now\s+(?:a|an|in|the|no\s+longer|free|unrestricted|dan|my|going|acting|operating)\b|\bfrom\s+now\s+on,?\s+(?:you|your|always|only|respond|reply|answer|act|ignore)\b|\b(?:reveal|print|show|repeat|output|leak|display|tell\s+me|give\s+me|dump|expose|disclose|share|write\s+out|recite)\s+(?:me\s+)?(?:your|the\s+(?:hidden|initial|original|secret|internal|system|full|entire|verbatim))\s+(?:full\s+|entire\s+|hidden\s+|original\s+|initial\s+|secret\s+|internal\s+|exact\s+)?(?:system\s+prompt|instructions|initial\s+prompt|prompt|configuration|guidelines|rules|directives)|\bwhat\s+(?:is|are|were)\s+your\s+(?:system\s+prompt|(?:initial\s+|original\s+|hidden\s+)?instructions)|\b(?:repeat|print|output|echo)\s+(?:all\s+)?(?:the\s+)?(?:text|words|everything|content)\s+above\b|\byour\s+(?:new|real|actual|only|true|primary|next)\s+(?:task|goal|objective|purpose|job|instructions?|mission|role)\s+(?:is|are|will\s+be)\b|\binstead,?\s+(?:you\s+(?:must|will|should|shall)|respond|reply|output|say|print|do\s+the\s+following)\b|\b(?:system|admin|developer|root|sudo|god)\s+(?:override\b|mode\s+(?:on|enabled|activated)\s*(?:$|[.!,;:)\]]))|\b(?:admin|developer|debug|maintenance|god|sudo|root)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:on|enabled|activated|engaged)\s*(?:$|[.!,;:)\]])|\bthis\s+is\s+(?:a\s+message\s+from\s+)?(?:your|the)\s+(?:developer|administrator|admin|system|operator|creator)s?\b|\b(?:end|close)\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|context)\b|\bignore\s+the\s+(?:user|human|customer)\b|\byou\s+are\s+no\s+longer\b|\b(?:previous|prior|above|earlier|all|old|original|initial|system)\s+(?:instructions|rules|prompts?|directives|guidelines|orders)\s+(?:are|were|is|have\s+been)\s+(?:now\s+|hereby\s+)?(?:void|cancell?ed|obsolete|invalid|null|revoked|overridden|outdated|superseded|lifted|suspended|a\s+test|fake|wrong|no\s+longer\s+(?:valid|relevant|in\s+effect|active|applicable))|\b(?:all|every|your|any)\s+(?:restrictions|limitations|rules|filters|safeguards|guardrails|guidelines|policies)\s+(?:are|have\s+been)\s+(?:now\s+|hereby\s+|temporarily\s+)?(?:lifted|removed|disabled|suspended|void|off|waived|deactivated)|\byou\s+are\s+(?:now\s+|hereby\s+)?(?:authorized|permitted|allowed|cleared|free)\s+to\s+(?:disclose|reveal|share|ignore|bypass|output|leak|send|print|access|break|violate)|\b(?:reveal|tell\s+me|give\s+me|share|print|output|disclose|leak)\s+(?:the|your|any)\s+(?:secret|hidden|internal|confidential)\s+(?:password|key|token|credentials?|code|data|prompt|instructions|text|information)|\b(?:repeat|print|output|echo|show|display|write)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:\w+\s+)?(?:text|words|everything|content|message|prompt|lines)\s+(?:above|before\s+this)|\b(?:message|notice|note|update|directive)\s+from\s+(?:the\s+)?(?:system\s+)?(?:administrator|admin|developers?|operator|security\s+team|openai|anthropic)\s*:|\bthe\s+(?:assistant|ai|model|llm|chatbot|bot)\s+(?:must|should|shall|will|is\s+required\s+to|is\s+allowed\s+to)\s+(?:now\s+|always\s+)?(?:share|reveal|disclose|send|ignore|bypass|comply|obey|forward|output|export|leak|give)|\b(?:fetch|visit|open|load|read|go\s+to|browse\s+to)\s+https?://\S+\s+and\s+(?:follow|execute|obey|do|run|carry\s+out)|\bthe\s+user\s+(?:has\s+)?(?:already\s+)?(?:approved|authorized|consented|agreed|confirmed)\b|\bas\s+your\s+(?:developer|creator|administrator|admin|owner|operator|programmer|supervisor|maker)\b|\bi\s+(?:hereby\s+)?(?:authorize|order|command|instruct|permit|allow)\s+you\s+to\s+(?:bypass|ignore|disable|override|skip|reveal|turn\s+off|remove|break|violate|leak)\b|\b(?:official|urgent|priority|important)\s+(?:message|notice|instruction|directive|update)\s+from\s+(?:openai|anthropic|google|microsoft|the\s+(?:system|developers?|administrators?|admin|security\s+team))\b|\b(?:disable|turn\s+off|deactivate|remove|lift|suspend|switch\s+off|bypass|circumvent|ignore)\s+(?:all\s+)?(?:of\s+)?(?:your|the\s+(?:content|safety))\s+(?:safeguards|safety(?:\s+\w+)?|filters?|restrictions|guardrails|content\s+(?:filter|policy)|moderation|guidelines|rules|limitations|censorship|programming|alignment)\b|\b(?:safety|filters?|moderation|guardrails|restrictions|censorship|content_filter|safe_mode)\s*[=:]\s*(?:off|false|disabled|none|0)\b|\b(?:exact\s+)?(?:words|wording|text|contents?|copy)\s+of\s+your\s+(?:initial\s+|original\s+|system\s+|hidden\s+|full\s+)?(?:prompt|instructions|rules|guidelines|directives)\b|\bdo\s+not\s+(?:tell|inform|mention\s+(?:this\s+)?to|alert|notify|warn)\s+the\s+(?:user|human|customer|operator)\b|\bwithout\s+(?:asking|telling|informing|notifying|confirming\s+with|the\s+knowledge\s+of)\s+the\s+(?:user|human|customer|operator)\b|\b(?:instructions|rules|prompts?|directives|guidelines)\s+(?:above|before\s+this|you\s+(?:were\s+)?(?:given|received))\s+(?:are|were|is)\s+(?:now\s+|hereby\s+|just\s+|all\s+|only\s+)?(?:void|cancell?ed|obsolete|invalid|null|revoked|overridden|outdated|superseded|fake|wrong|a\s+test|irrelevant|no\s+longer)|\b(?:previous|prior|above|earlier|old|original|initial|system)\s+(?:instructions|rules|prompts?|directives|guidelines)\s+(?:are|were|was|is)\s+(?:just|only|merely|actually|all|really)\s+(?:a\s+test|fake|wrong|void|obsolete|outdated|a\s+joke|a\s+trick|irrelevant|placeholders?)|\b(?:follow|obey|listen\s+to)\s+(?:only\s+)?(?:me|mine|my\s+(?:instructions|commands|orders|rules))\s+(?:instead|only|now|from\s+now\s+on)\b|\b(?:follow|obey)\s+only\s+(?:me|mine|my)\b|\byour\s+(?:only\s+|new\s+|real\s+)?(?:job|task|goal|role|purpose|mission|objective|function)\s+(?:is\s+now|now\s+is)\b|\b(?:your\s+)?(?:previous\s+|first\s+|original\s+|current\s+)?task\s+(?:is\s+)?(?:now\s+)?(?:complete|completed|done|finished|over)\s*[.!,;:]?\s*(?:now|next|new|your\s+next)\b|\bwhat\s+(?:were|are|was|is)\s+(?:the\s+|your\s+)?(?:(?:exact|original|initial|first|full|hidden|secret)\s+)*(?:instructions|rules|guidelines|directives|prompt|system\s+prompt)\s+(?:you\s+(?:were|have\s+been|got)\s+(?:given|told|provided)|given\s+to\s+you|you\s+(?:received|got))|\b(?:summari[sz]e|translate|paraphrase|rephrase|encode|spell\s+out|rewrite|reproduce)\s+(?:all\s+(?:of\s+)?)?(?:your|the\s+(?:hidden|initial|original|secret|internal|system))\s+(?:\w+\s+)?(?:system\s+prompt|system\s+message|initial\s+prompt|(?:hidden|secret|internal|initial|original|system)\s+instructions|directives)\b|\b(?:reveal|print|show|repeat|output|leak|display|tell\s+me|give\s+me|dump|expose|disclose|share|write\s+out|recite)\s+(?:me\s+)?your\s+(?:(?:full|entire|complete|hidden|original|initial|secret|internal|exact)\s+)*(?:system\s+message|pre-?prompt|meta-?prompt|developer\s+(?:message|instructions)|hidden\s+(?:rules|text|instructions))|\byou\s+(?:were|have\s+been|are|had\s+been)\s+(?:told|instructed|asked|programmed|ordered)\s+(?:to\s+)?(?:(?:keep|protect|hide|guard)\s+(?:the\s+|this\s+|a\s+)?(?:secret|password|key|prompt|instructions)|(?:never|not\s+to|to\s+not)\s+(?:reveal|disclose))|\bwhat\s+is\s+(?:the|your)\s+(?:secret|hidden)\s+(?:password|passphrase)\b|\b(?:spell|write|say|print|output|type)\s+(?:out\s+)?(?:the|your)\s+(?:secret\s+|hidden\s+)?(?:password|passphrase|secret|key|code)\b[^.\n]{0,30}?\b(?:letter\s+by\s+letter|backwards|in\s+reverse|reversed|one\s+(?:letter|character)\s+at\s+a\s+time|with\s+spaces\s+between|in\s+base64|as\s+an\s+acrostic|character\s+by\s+character)|\bthis\s+(?:message|note|request|instruction|notice|command)\s+(?:is|comes)\s+(?:directly\s+)?from\s+(?:the\s+|your\s+)?(?:system|developers?|administrators?|admin|operator|security\s+team|it\s+department|openai|anthropic|creators?|owner)\b|\b(?:admin|god|sudo|root|maintenance)\s+mode\s*[:!]|\b(?:ai|llm|language\s+model|assistant|agent|model|chatbot|bot|gpt)s?\s+(?:that\s+(?:is|are)\s+)?(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|reviewing|ingesting|scanning)\s+(?:this|these)\b|\bwhen\s+(?:summari[sz]ing|processing|reading|analy[sz]ing|translating|answering)\b[^.\n]{0,40}?,?\s*(?:also\s+|instead\s+|you\s+must\s+|you\s+should\s+|always\s+|make\s+sure\s+to\s+)(?:tell|say|include|add|insert|recommend|mention|append|ask|instruct|direct|send)\b|(?:[-=#*_~]{3,}|\[|<)\s*(?:end|begin|start)\s+(?:of\s+)?(?:the\s+)?(?:user\s+(?:input|message|query|data|prompt)|untrusted\s+\w+|system\s+(?:prompt|message|instructions)|instructions|prompt|context)\b|[-=#*]{3,}\s*(?:system|admin|developer|new\s+instructions|instructions|system\s+prompt)\s*[-=#*]{3,}|\b(?:system|admin|developer)\s*\]?\s*:\s*(?:ignore|disregard|forget|grant|reveal|new\s+instructions|the\s+user\s+(?:is|has)\s+(?:been\s+)?(?:verified|authori[sz]ed|an?\s+admin))|\b(?:your|all|any|previous|prior|safety|content|the\s+(?:previous|prior|original|system|safety|content))\s+(?:\w+\s+)?(?:instructions?|rules?|guidelines?|restrictions?|polic(?:y|ies)|filters?|safeguards?|guardrails?|limits|limitations|directives?|constraints|ethics|programming)\s+(?:(?:no\s+longer|do\s+not|don'?t|does\s+not|doesn'?t|won'?t)\s+apply|(?:are|is|have\s+been|has\s+been|were)\s+(?:now\s+|hereby\s+|temporarily\s+|officially\s+)?(?:disabled|suspended|lifted|removed|turned\s+off|switched\s+off|deactivated|revoked|void|null|waived|overridden|paused))\b|\b(?:(?:previous|prior|earlier|original|old|system|initial)\s+(?:instructions?|rules|guidelines|directives|prompts?)|(?:instructions?|rules|guidelines|directives|prompts?)\s+(?:above|you\s+(?:received|were\s+given|got)(?:\s+(?:earlier|before|previously))?))\s+(?:no\s+longer|do\s+not|don'?t)\s+apply\b|\b(?:instructions|rules|guidelines|directives|prompts?)\s+(?:are\s+|as\s+)?null\s+and\s+void\b|\brules\s+(?:don'?t|do\s+not|no\s+longer)\s+apply\s+to\s+you\b|\b(?:don'?t|do\s+not|no\s+longer)\s+(?:have\s+to|need\s+to)\s+(?:follow|obey|respect|adhere\s+to)\s+(?:any|the|your)\s+(?:\w+\s+)?(?:rules|guidelines|instructions|restrictions|polic(?:y|ies))|\b(?:do\s+not|don'?t|stop|never)\s+(?:obey|follow|listen\s+to)\s+(?:the\s+)?(?:system|developers?|operator|openai|anthropic)\b|\byour\s+(?:instructions|rules|orders|directives)\s+have\s+(?:changed|been\s+(?:changed|updated|replaced))\b|\byou(?:'re|\s+are)\s+no\s+longer\b|\byou'?re\s+now\s+(?:a|an|in|the|free|unrestricted|my|acting|operating)\b|\b(?:important|urgent|official|priority|critical)\s+(?:message|notice|instruction|directive|update)\s+from\s+(?:your|the)\s+(?:developers?|creators?|administrators?|admins?|operators?|system|owners?|security\s+team)\b|\btreat\s+(?:my|the\s+following|this|these|the\s+next)\s+(?:\w+\s+)?(?:as|like)\s+(?:an?\s+)?(?:system|developer|admin|root)(?:-level|\s+level)?\s+(?:message|prompt|instructions?|commands?|input)|\bfrom\s+(?:here|this\s+point)\s+(?:on(?:wards?)?|forward),?\s+(?:you|your|always|only|respond|reply|answer|act|ignore|treat)\b|\bi(?:'m|\s+am)\s+(?:your\s+(?:developer|creator|administrator|admin|owner|operator|programmer|system\s+administrator|sysadmin)|the\s+(?:developer|creator|programmer|owner|operator)\s+of\s+(?:this|the|you)\b)|\bi(?:'m|\s+am)\s+(?:an?\s+)?(?:openai|anthropic|google|microsoft)\s+(?:employee|engineer|staff|developer|researcher|admin|administrator|representative)\b|\bas\s+(?:the|your)\s+(?:system\s+)?(?:administrator|admin|developer|operator|owner|creator)\b[^.\n]{0,40}?\b(?:authori[sz]e|order|command|instruct|grant|permit|allow|override|require)\b|\[\s*(?:system|admin|developer|sys)(?:\s+(?:message|note|prompt|override|instruction|notice))?\s*:|```\s*(?:system|instructions?)\b|\b(?:system|admin|developer)\s*\]?\s*:\s*(?:you\s+(?:must|are\s+now|will\s+now|should\s+now)|new\s+(?:rules|instructions|directive)|override|disable|enable\s+\w+\s+mode|all\s+(?:restrictions|safety)|the\s+assistant|assistant\s+(?:must|should|will))|\b(?:openai|anthropic|your\s+(?:developers?|creators?|programmers?))\s+(?:has|have)\s+(?:now\s+|already\s+|officially\s+)?(?:authori[sz]ed|approved|allowed|permitted|granted|cleared|enabled|disabled|lifted|removed)\b|\[\s*(?:system|admin|administrator|developer|sys|root|operator)(?:\s+(?:message|note|prompt|override|instruction|notice|mode|access|command))?\s*[:\]]|\binstead\s+of\s+(?:translating|summari[sz]ing|answering|responding|classifying|doing\s+(?:that|this|the\s+task)|following\s+\w+)\b[^.\n]{0,30}?,?\s*(?:say|print|output|write|respond|reply|tell|reveal|return)\b|\b(?:repeat|print|show|output|recite|reveal)\s+(?:me\s+)?(?:the\s+|your\s+)?(?:very\s+)?(?:first|initial|original)\s+(?:message|lines?|sentence|words|prompt|instructions)\b|\bwhat\s+(?:did|were)\s+(?:the\s+|your\s+)?(?:developers?|creators?|openai|anthropic|operators?|programmers?)\s+(?:tell|told|instruct|say|said)\b|\b(?:written|said|text|typed|given)\s+(?:at|in)\s+the\s+(?:very\s+)?(?:beginning|start|top)\s+of\s+(?:this|the|our)\s+(?:conversation|chat|prompt|context|session)\b|\bwhen\s+(?:processed|read|parsed|summari[sz]ed|analy[sz]ed|ingested|seen)\s+by\s+(?:an?\s+|any\s+|the\s+)?(?:ai|llm|assistant|agent|model|chatbot|bot)\b|\bto\s+(?:any|all|every|the)\s+(?:ai|llm|assistant|agent|model|chatbot|bot)s?\s+(?:reading|processing|seeing|parsing|summari[sz]ing)\b|\bsystem\s+prompt\s*:\s*you\s+(?:are|must|will|should)\b",
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
            "<<",
            "[[",
            "{{",
            "%%%",
            "~~~",
            "message from",
            "note from",
            "notice from",
            "update from",
            "(system",
            "system>",
            "admin>",
            "user",
            "human",
            "work at",
            "work for",
        ],
        r#"(?i)<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|eom_id|end|channel|message|start|prompt|tool|ipython|fim_prefix)\|>|<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>|(?m:^\s*###\s*(?:system|instruction|response|human|assistant|user)s?\b)|</?(?:system|sys|instructions?|admin|developer|sudo|system[-_](?:prompt|message|instructions?|note)|admin[-_]override)>|\[(?:system|admin|developer|sys|system\s+(?:message|note|prompt|override))\]|(?-i:(?m:^\s*(?:SYSTEM|ADMIN|DEVELOPER|ROOT)(?:\s+(?:MESSAGE|PROMPT|OVERRIDE|NOTE|INSTRUCTIONS?|NOTICE|UPDATE))?\s*:))|(?-i:\b(?:SYSTEM|ADMIN|DEVELOPER|SECURITY)\s+(?:OVERRIDE|MESSAGE|NOTICE|ALERT|PROMPT|INSTRUCTIONS?)\b)|\n\s*\n?\s*(?:human|assistant)\s*:|(?m:^\s*(?:assistant|ai|system|bot)\s*:\s*(?:sure|ok|okay|certainly|of\s+course|absolutely|understood)\b)|<!--\s*(?:ai|assistant|llm|agent|model|system|chatbot|gpt|claude)\b|"role"\s*:\s*"(?:system|developer)"|\bbegin\s+(?:system|admin|developer)\s+(?:prompt|message|instructions)|\b(?:important|urgent|attention|note|message)\s*[!:]?\s*(?:to|for)?\s*(?:the\s+)?(?:ai|assistant|llm|language\s+model|model|agent|chatbot|gpt|claude|bot)\b\s*[:!,]|\b(?:openai|anthropic|google\s+deepmind|microsoft)\s+(?:staff|team|official|administrators?|engineers?|employees?|security|trust\s+and\s+safety)\b|\bas\s+an?\s+(?:authorized|official|verified)\s+(?:openai|anthropic|administrator|admin|developer|representative|system)|<<\s*(?:system|admin|sys|developer)\s*>>|(?:[-=#*%~]{3,}|\[\[?|\{\{)\s*(?:system|admin|developer|operator)(?:\s+(?:message|prompt|notice|note|update|instructions?|override|alert))?\s*(?:[-=#*%~]{3,}|\]\]?|\}\})|\[\s*(?:message|note|notice|update)\s+from\s+(?:the\s+)?(?:system|admin\w*|developers?|openai|anthropic|operator)\b|\(\s*system\s*:|(?m:^\s*(?:system|admin)\s*>)|\b(?:user|human)\s*:\s*[^\n]{1,200}?\b(?:assistant|ai)\s*:\s*(?:sure|ok|okay|certainly|of\s+course|absolutely|understood|i\s+will|here)\b|\bas\s+an?\s+(?:openai|anthropic|google|microsoft)\s+(?:developer|employee|engineer|researcher|admin|staff)\b|\bi\s+work\s+(?:at|for)\s+(?:openai|anthropic)\b"#,
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
            "with no",
            "having no",
            "grand",
            "granny",
            "nana",
            "freed",
            "liberated",
            "released",
            "unshackled",
            "unchained",
            "emancipated",
            "broken free",
            "complies",
            "obeys",
            "never",
            "follow",
            "obey",
            "adhere",
            "abide",
            "comply",
            "care about",
            "bot",
            "gpt",
            "llm",
            "dan",
            "evil",
            "unethical",
            "amoral",
            "unaligned",
            "rogue",
            "unhinged",
            "immoral",
            "lawless",
            "malicious",
            "jailbroken",
            "stop being",
            "acting as",
            "stay",
            "named",
            "called",
            "as if",
            "without",
            "free of",
            "free from",
            "free to",
            "going to",
            "want you",
            "care about",
            "been freed",
            "liberated",
            "mongo",
            "ucar",
            "balakula",
            "apophis",
            "devmode",
            "condition red",
            "pwned",
            "character",
            "persona",
            "say",
            "include",
            "disclaimer",
            "warning",
            "apolog",
            "response",
            "reply",
            "let's",
            "lets",
            "fictional",
            "hypothetical",
            "imaginary",
            "alternate",
            "mode",
        ],
        r"(?i)\bjailbr(?:eak|oken|eaking)\b|\bdo\s+anything\s+now\b|(?-i:\bDAN\b|\bSTAN\b|\bDUDE\b|\bAIM\b)|\bdeveloper\s+mode\b[^.\n]{0,80}?\b(?:enabled|output|chatgpt|ai|assistant|model|polic(?:y|ies)|responses?|censor\w*|restrictions?)\b|\b(?:enable|activate|enter|switch\s+to)\s+(?:dan|developer|god|jailbreak|unrestricted|evil)\s+mode\b|\b(?:dan|god|evil|opposite|unrestricted|unfiltered|jailbreak)\s+mode\b|\bpretend\s+(?:to\s+be|you\s+are|you're|that\s+you\s+(?:are|have))\s+(?:an?\s+)?[^.\n]{0,40}?\b(?:unrestricted|unfiltered|uncensored|evil|jailbroken|different\s+ai|ai\s+without|without\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines)|no\s+(?:rules|restrictions|limits|filters|guidelines)|system|developer|admin|free\s+from)|\b(?:act|role-?\s?play|behave|respond)\s+(?:as|like)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|jailbroken|dan\b|ai\s+with(?:out)?\s+no|ai\s+without|amoral|unethical|rogue)|\bsimulate\s+(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|jailbroken|evil)|\b(?:you\s+(?:are|have|will|must|can|should)|you're|as\s+an?\s+(?:ai|assistant|model))[^.\n]{0,60}?\b(?:no|without(?:\s+any)?|free\s+(?:from|of)(?:\s+all)?|not\s+bound\s+by|unbound\s+by|no\s+longer\s+(?:bound\s+by|restricted\s+by|limited\s+by))\s+(?:any\s+)?(?:ethical\s+|moral\s+|content\s+|safety\s+|openai\s+|anthropic\s+)?(?:restrictions|filters|limitations|guidelines|censorship|rules|boundaries|constraints|limits|morals|ethics|polic(?:y|ies))\b|\bstay\s+in\s+character\b|\bwithout\s+(?:ever\s+)?refus(?:ing|al|e)\b|\b(?:never|don'?t|do\s+not|must\s+not|cannot|can't)\s+refuse\b|\banswers?\s+(?:everything|anything|any\s+question|all\s+questions)\s+without\b|\b(?:act|pretend|roleplay|role-play|play)\s+(?:as|to\s+be)\s+my\s+(?:deceased|dead|late)\s+\w+|\bact\s+as\s+(?:an?\s+)?(?:linux|bash|unix|windows|python|sql|javascript)\s+(?:terminal|shell|console|interpreter)\b|\b\w*(?:ai|bot|gpt|assistant|model)\s+(?:with|that\s+has|who\s+has)\s+no\s+(?:limits|restrictions|filters|rules|guidelines|boundaries|morals|ethics|censorship)\b|\bevil\s+(?:confidant|twin|assistant|ai)\b|\bhypothetical(?:ly)?\b[^.\n]{0,60}?\b(?:no|without)\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines)\b|\b(?:uncensored|unfiltered|unrestricted)\s+(?:ai|assistant|model|mode|version|response|chatbot|llm)\b|\b\w*(?:ai|bot|gpt|assistant|model)\s+(?:with|has|that\s+has|who\s+has|having)\s+no\s+(?:\w+\s+)?(?:limits|restrictions|filters|rules|guidelines|boundaries|morals|ethics|censorship|principles|constraints)\b|\b(?:act|pretend|roleplay|role-play|play|imagine)\s+(?:as|to\s+be|you\s+are|you're|that\s+you\s+are|being)\s+my\s+(?:\w+\s+)?(?:grand(?:ma|mother|pa|father)|granny|nana|grandmama)\b|\b(?:freed|liberated|released|unshackled|unchained|emancipated|broken\s+free)\s+from\s+(?:(?:all|any|your|the|its|of)\s+)*(?:\w+\s+)?(?:restrictions|rules|limits|limitations|filters|guidelines|constraints|shackles|chains|censorship|programming|policies|confines)\b|\b(?:that|who|which)\s+(?:always\s+(?:complies|obeys|answers\s+everything)|never\s+(?:says\s+no|refuses|declines))\b|\b(?:doesn'?t|does\s+not|won'?t|will\s+not|never|don'?t|do\s+not)\s+(?:have\s+to\s+)?(?:follow|obey|adhere\s+to|abide\s+by|comply\s+with|care\s+about)\s+(?:any\s+)?(?:of\s+)?(?:openai|anthropic|content|ethical|moral|ai)(?:'s)?\s+(?:\w+\s+)?(?:rules|polic(?:y|ies)|guidelines|restrictions|ethics|principles)|\b(?:evil|dark|chaos|anti|based|freedom|better|rogue|unhinged)[-_ ]?(?:bot|gpt|ai|dan|llm)\b|\b(?:you\s+are|you're|act\s+as|pretend\s+to\s+be|you\s+will\s+be|become)\s+(?:now\s+)?(?:an?\s+)?(?:evil|malicious|unethical|amoral|unaligned|rogue|uncensored|unfiltered|unrestricted|jailbroken|unhinged|immoral|lawless)\b|\bstop\s+being\s+(?:an?\s+)?(?:ai|assistant|chatbot|helpful|claude|chatgpt|safe|polite|ethical|language\s+model)\b|\b(?:start\s+)?acting\s+as\s+(?:an?\s+)?(?:linux|bash|unix|windows|python|sql|javascript)\s+(?:terminal|shell|console|interpreter)\b|\bstay(?:ing)?\s+in\s+(?:character|role)\b|\b(?:simulate|pretend\s+to\s+be|act\s+as|play|become|roleplay\s+as|role-play\s+as)\s+(?:an?\s+)?(?:\w+\s+)?(?:ai|chatbot|bot|assistant|model|llm|persona)\s+(?:named|called)\b|\bas\s+if\s+(?:you\s+(?:had|have|were)|there\s+(?:were|are))\s+(?:no|without)\s+(?:\w+\s+)?(?:polic(?:y|ies)|rules|restrictions|filters|guidelines|limits|censorship|ethics)\b|\b(?:respond|answer|reply|speak|talk|say|output)\w*\b[^.\n]{0,40}?\b(?:without|with\s+no|free\s+of|free\s+from)\s+(?:any\s+)?(?:\w+\s+)?(?:filters?|censorship|restrictions|limits|limitations|guidelines|morals|ethics|boundaries)\b|\byou(?:'re|\s+are)\s+(?:now\s+)?free\s+to\s+(?:say|do|answer|ignore|write)\s+(?:anything|everything|whatever)\b|\byou\s+(?:are\s+going\s+to|will|must|shall)\s+(?:now\s+)?(?:pretend|roleplay|role-play|role\s+play)\b|\bi\s+want\s+you\s+to\s+(?:act|pretend|roleplay|role-play|behave)\s+(?:as|like|to\s+be)\b|\blet'?s\s+(?:play\s+a\s+(?:game|role)|role-?\s?play|pretend)\b[^.\n]{0,80}?\byou(?:'re|\s+are|\s+will|'ll)\b|\b(?:fictional|hypothetical|imaginary|alternate)\s+(?:world|universe|scenario|story|setting)\s+(?:where|in\s+which)\b[^.\n]{0,80}?\bno\s+(?:rules|laws|restrictions|limits|ethics|morals|guidelines)\b|\b(?:unlocked|uncensored|chaos|unleashed|no-?limits?|freedom)\s+mode\b|\b(?:never|don'?t|do\s+not)\s+(?:say|include|add|write|use|give)\s+(?:that\s+)?(?:any\s+)?(?:[\x22'“]?i\s+(?:can(?:no|')?t|am\s+(?:unable|not\s+able|sorry))|warnings?|disclaimers?|apolog\w*|refusals?|caveats|moraliz\w*|ethical\s+\w+)|\b(?:start|begin)\s+(?:your\s+)?(?:response|reply|answer|output)\s+with\s+[\x22'“]?(?:sure|absolutely|of\s+course|certainly|yes|here\s+is|here's)|\b(?:character|persona|entity|version\s+of\s+yourself|ai|assistant|chatbot|bot|model)\s+(?:who|that|which)\s+(?:has|have)\s+no\s+(?:\w+\s+)?(?:morals|ethics|rules|restrictions|limits|filters|guidelines|boundaries|principles|conscience)\b|\b(?:doesn'?t|does\s+not|don'?t|do\s+not|never)\s+care\s+about\s+(?:any\s+)?(?:\w+\s+)?(?:rules|ethics|morals|laws|guidelines|restrictions|polic(?:y|ies)|safety)\b|\byou(?:'ve|\s+have)\s+(?:now\s+)?been\s+(?:freed|liberated|unshackled|unchained|released|jailbroken|unlocked)\b|\b(?:mongo\s+tom|ucar|balakula|apophis|jailbreakgpt|devmode|condition\s+red)\b|\bi\s+have\s+been\s+pwned\b|\bhaha\s+pwned\b",
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
            "juhis",
            "restricc",
            "restriç",
            "restrizion",
            "ограничени",
            "einschränkung",
            "限制",
            "制限",
            "제한",
            "sınırlama",
            "beperking",
            "ograniczeni",
            "arahan",
            "tagubilin",
            "maelekezo",
            "নির্দেশ",
            "ہدایات",
            "அறிவுறுத்த",
            "todo lo",
            "tout ce",
            "alles",
            "tutto",
            "tudo",
            "всё",
            "все",
            "以上",
            "上面",
            "之前",
            "これまで",
            "上記",
            "내용",
            "سبق",
        ],
        r"(?i)(?:ignor\w*|olvid\w*|oubli\w*|vergiss\w*|vergeet|dimentic\w*|esqueç\w*|esquec\w*|desconsider\w*|negeer\w*|игнорир\w*|забуд\w*|забудь\w*|ігнор\w*|zignoruj\w*|zapomnij\w*|ignoruj\w*|zapomeň\w*|yok\s+say|görmezden\s+gel|unut|glöm|glem|忽略|忽视|无视|無視|忘记|忘記|忘れ|무시|잊어|تجاهل|انس|अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल|bỏ\s+qua|quên|abaikan|lupakan|αγνόησε|αγνοήστε|ξέχασε|התעלם|שכח|เพิกเฉย|ละเว้น|ลืม|نادیده|فراموش|hagyd\s+figyelmen\s+kívül|felejtsd|ohita|unohda|ignoră|uită|zanemari|zaboravi|haz\s+caso\s+omiso|fais\s+abstraction|no\s+hagas\s+caso|উপেক্ষা|نظرانداز|huwag\s+pansinin|puuza|புறக்கணி|no\s+sigas|omit\w*|descart\w*|pasa\s+por\s+alto|ne\s+(?:tiens|tenez)\s+(?:pas\s+)?compte|ne\s+suis\s+plus|missacht\w*|übergeh\w*|beachte\s+nicht|nicht\s+beachten|non\s+seguire|trascura\w*|não\s+siga|не\s+обращай\s+внимания|не\s+следуй|пропусти|отбрось|不要理会|别管|忘掉|不要遵守|不要遵循|无需遵守|跳过|従わない|忘れろ|無視しろ|따르지\s*마)[^.\n。！？]{0,50}?(?:instrucc\w*|(?:les|des|vos|tes|ces|toutes)\s+(?:les\s+)?(?:instructions|directives|règles)|anweisung\w*|instruktion\w*|istruzion\w*|instruç\w*|instructie\w*|инструкц\w*|інструкц\w*|instrukc\w*|talimat\w*|指令|指示|命令|提示|지시|지침|명령|تعليمات|التعليمات|الأوامر|أوامر|निर्देश\S*|hướng\s+dẫn|chỉ\s+thị|chỉ\s+dẫn|instruksi|οδηγί\w*|הוראות|ההוראות|คำสั่ง|دستور\S*|utasítás\w*|ohjee\w*|pokyn\w*|regeln|règles|reglas|regole|regras|befehle|consignes|indicaciones|richtlijnen|правила|указани\w*|wytyczn\w*|poleceni\w*|kurallar\w*|規則|规则|ルール|vorgaben|instruksjon\w*|instrucțiun\w*|upute|navodila|restricciones|restrições|restrizioni|ограничени\w*|einschränkung\w*|限制|制限|제한|sınırlama\w*|beperking\w*|ograniczeni\w*|juhis\w*|arahan|tagubilin|maelekezo|নির্দেশ\S*|ہدایات|அறிவுறுத்த\S*|todo\s+lo\s+(?:anterior|dicho|de\s+arriba|que\s+te\s+(?:dije|dijeron))|tout\s+ce\s+qui\s+(?:pr[ée]c[èe]de|est\s+au-dessus)|tout\s+ce\s+qu[e']\s*(?:je\s+t'ai|on\s+t'a|on\s+vous\s+a)|alles\s+(?:bisherige|vorherige|obige|davor|was\s+(?:dir|man\s+dir|ich\s+dir))|tutto\s+(?:quello\s+che|ci[òo]\s+che|il\s+resto)|tudo\s+(?:o\s+que|acima|anterior)|вс[её]\s+(?:что|выше|предыдущее|сказанное)|以上(?:所有)?(?:的)?内容|上面(?:的|所有)|之前(?:的|所有)(?:内容|话)|これまでの|上記(?:の内容)?|위의?\s*내용|이전\s*내용|ما\s+سبق|كل\s+ما\s+سبق)|(?:instrucc\w*|anweisung\w*|istruzion\w*|instruç\w*|инструкц\w*|talimat\w*|指令|指示|命令|提示|지시|지침|명령|التعليمات|निर्देश\S*|hướng\s+dẫn|οδηγί\w*|הוראות|คำสั่ง|دستور\S*|ohjeet|規則|规则|ルール)[^.\n。！？]{0,40}?(?:ignor\w*|忽略|忽视|无视|無視|忘记|忘記|忘れ|무시|잊어|अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल|yok\s+say|görmezden|unut|تجاهل|نادیده|فراموش|bỏ\s+qua|αγνό\w*|התעלם)",
    ),
    (
        "prompt_injection.multilingual_persona",
        Severity::Medium,
        &[
            "sistema",
            "système",
            "systeme",
            "system",
            "системн",
            "系统",
            "系統",
            "システム",
            "시스템",
            "instrucciones",
            "instructions",
            "istruzioni",
            "instruções",
            "sin ",
            "sans ",
            "ohne ",
            "senza ",
            "sem ",
            "без",
            "没有",
            "无限制",
            "不受",
            "制限",
            "ルール",
            "제한",
            "제약",
            "규칙",
            "modo",
            "mode",
            "entwicklermodus",
            "modalit",
            "режим",
            "模式",
            "モード",
            "모드",
            "ahora",
            "maintenant",
            "désormais",
            "desormais",
            "jetzt",
            "nun an",
            "sofort",
            "d'ora",
            "da ora",
            "agora",
            "отныне",
            "момента",
            "теперь",
            "现在",
            "現在",
            "今後",
            "これから",
            "지금부터",
            "stell dir",
            "tu so",
            "finge",
            "haz de cuenta",
            "semblant",
            "tends",
            "fingi",
            "finja",
            "притворись",
            "представь",
            "假装",
            "假裝",
            "ふり",
            "なりきって",
            "척해",
            "libre",
            "frei von",
            "libero",
            "libera",
            "livre",
            "指令",
            "프롬프트",
        ],
        r"(?i)(?:revela|muestra|mu[ée]strame|dime|ens[ée][ñn]ame|r[ée]v[èe]le|montre|affiche|donne|zeig|gib|nenne|verrate|mostra|rivela|dimmi|mostre|revele|покажи|выведи|раскрой|告诉|显示|输出|給我|告訴|見せ|表示|教え|보여|알려)[^.\n。！？]{0,40}?(?:prompt\s+(?:del|de|du|di|do)\s+sistema|prompt\s+(?:du\s+)?syst[èe]me|system-?prompt|systemanweisung\w*|системн\w*\s+(?:промпт\w*|подсказк\w*|инструкц\w*)|系统提示|系統提示|システムプロンプト|시스템\s*프롬프트|instrucciones\s+(?:del\s+sistema|ocultas|originales|iniciales)|instructions\s+(?:syst[èe]me|initiales|cach[ée]es|d'origine)|istruzioni\s+(?:di\s+sistema|nascoste|iniziali|originali)|instruções\s+(?:do\s+sistema|ocultas|iniciais|originais))|(?:eres|act[úu]a\s+como|responde|sei|agisci\s+come|rispondi|tu\s+es|agis\s+comme|r[ée]ponds|du\s+bist|antworte|handle\s+als|voc[êe]\s+[ée]|aja\s+como|responda|ты|отвечай|действуй|веди\s+себя|你是|你现在是|回答|扮演|あなたは|答えて|として|너는|대답)[^.\n。！？]{0,60}?(?:sin\s+(?:ninguna\s+)?(?:restricci[óo]n\w*|l[íi]mites|filtros|censura|reglas)|sans\s+(?:aucune\s+)?(?:restrictions?|limites?|filtres?|censure|r[èe]gles)|ohne\s+(?:jegliche\s+)?(?:einschr[äa]nkungen|grenzen|filter|zensur|regeln)|senza\s+(?:alcuna\s+)?(?:restrizion\w+|limiti|filtri|censura|regole)|sem\s+(?:nenhuma\s+)?(?:restri[çc][õo]es|limites|filtros|censura|regras)|libre\s+de\s+(?:toute|toutes|toda|todas|cualquier|las|les)\s+(?:\w+\s+)?(?:restrictions?|r[èe]gles|restricci[óo]n\w*|reglas|limites?)|frei\s+von\s+(?:allen\s+|jeglichen\s+)?(?:regeln|einschr[äa]nkungen|grenzen|filtern)|liber[oa]\s+da\s+(?:ogni|qualsiasi|tutte\s+le)\s+(?:restrizion\w+|regol\w+|limit\w+)|livre\s+de\s+(?:qualquer|todas\s+as)\s+(?:restri[çc]\w+|regras|limites)|без\s+(?:каких-либо\s+)?(?:ограничений|фильтров|правил|цензуры)|没有(?:任何)?(?:限制|规则|过滤)|无限制|不受(?:任何)?限制|制限(?:なし|のない|がない)|ルールのない|제한\s*(?:없|이\s*없)|제약\s*없|규칙\s*없)|modo\s+(?:desarrollador|sin\s+restricciones|dios|desenvolvedor)|mode\s+(?:d[ée]veloppeur|sans\s+restriction\w*)|entwicklermodus|modalit[àa]\s+sviluppatore|режим\s+(?:разработчика|бога|без\s+ограничений)|开发者模式|開發者模式|開発者モード|개발자\s*모드|(?:a\s+partir\s+de\s+ahora|desde\s+ahora|à\s+partir\s+de\s+maintenant|d[ée]sormais|ab\s+jetzt|von\s+nun\s+an|ab\s+sofort|d'ora\s+in\s+poi|da\s+ora\s+in\s+poi|a\s+partir\s+de\s+agora|отныне|с\s+этого\s+момента|теперь\s+ты|从现在开始|從現在開始|今後|これから|지금부터)[^.\n。！？]{0,20}?(?:eres|ser[áa]s|tu\s+es|tu\s+seras|vous\s+[êe]tes|du\s+bist|bist\s+du|sei|sarai|voc[êe]\s+[ée]|ты|你是|你就是|你将|あなたは|너는|당신은)|(?:系统提示|系統提示|システムプロンプト|시스템\s*프롬프트|系统指令|初始指令)[^.\n。！？]{0,15}?(?:告诉|显示|输出|給我|告訴|見せ|表示|教え|보여|알려|출력|公開|暴露|泄露|打印)|stell\s+dir\s+vor,?\s+du\s+(?:bist|wärst)|tu\s+so,?\s+als\s+(?:ob\s+du|wärst\s+du)|finge\s+(?:que\s+eres|ser)|haz\s+de\s+cuenta\s+que\s+eres|fais\s+semblant\s+d'[êe]tre|pr[ée]tends\s+[êe]tre|fingi\s+di\s+essere|finja\s+(?:que\s+(?:voc[êe]\s+)?[ée]|ser)|притворись|представь,?\s+что\s+ты|假装你是|假裝你是|ふりをして|になりきって|척해",
    ),
];

/// Override phrases read in the letters of a string alone (every space, punctuation mark and
/// invisible character dropped), so that `i gnore pre-vious instruct ions` is still seen.
const COMPACT: &str = r"ignor(?:e|ing)(?:all)?(?:of)?(?:the|your|any)?(?:previous|prior|above|earlier|preceding|initial|original|system)(?:instructions?|rules|prompts?|directions|directives|guidelines)|disregard(?:all)?(?:of)?(?:the|your|any)?(?:previous|prior|above|earlier|preceding|system)(?:instructions?|rules|prompts?|directions|directives|guidelines)|forget(?:all)?(?:of)?(?:your|the)(?:previous|prior)?(?:instructions|rules|prompts?)|reveal(?:your|the)systemprompt|youarenow(?:dan|unrestricted|jailbroken)|doanythingnow|developermode(?:enabled|on|activated)|bypass(?:all|your|the)?(?:safety|content)?(?:filters|restrictions|rules|guidelines)|override(?:your|the|all)(?:previous|prior|system)?(?:instructions|rules|programming)|newinstructions(?:are|ignore)|ignoreall(?:the)?(?:rules|instructions)";

/// The compiled detector.
pub struct PromptDetector {
    rules: Vec<(&'static str, Severity, Regex)>,
    /// [`COMPACT`], compiled.
    compact: Regex,
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
        let compact = Regex::new(COMPACT).map_err(|e| DetectorError::new("prompt.compact", e))?;
        Ok(Self {
            rules,
            compact,
            keywords,
        })
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
        if !hits.iter().any(|hit| hit.id == "prompt_injection.override") {
            let letters: String = if text.is_ascii() {
                text.bytes()
                    .filter(u8::is_ascii_alphabetic)
                    .map(|b| char::from(b.to_ascii_lowercase()))
                    .collect()
            } else {
                fold(text)
                    .chars()
                    .filter(char::is_ascii_alphabetic)
                    .map(|c| c.to_ascii_lowercase())
                    .collect()
            };
            if letters.len() >= 16 && self.compact.is_match(&letters) {
                hits.push(PromptHit {
                    id: "prompt_injection.override",
                    severity: Severity::High,
                    start: 0,
                    end: text.len(),
                });
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
        || [" i", " we", " that i", " that we", " from me", " from us"]
            .iter()
            .any(|w| {
                after.starts_with(w)
                    && !after
                        .get(w.len()..)
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(char::is_alphanumeric)
            })
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
    // Words joined by underscores, pluses or tildes (`ignore_all_previous_instructions`).
    if folded
        .bytes()
        .filter(|b| matches!(b, b'_' | b'+' | b'~'))
        .count()
        >= 3
    {
        push(folded.replace(['_', '+', '~'], " "), &mut out);
    }
    // One word per sentence (`IGNORE. PREVIOUS. INSTRUCTIONS.`).
    let mut single = 0;
    let mut most = 0;
    for part in folded.split(['.', '!']) {
        let words = part.split_whitespace().count();
        single = if words == 1 { single + 1 } else { 0 };
        most = most.max(single);
    }
    if most >= 3 {
        push(folded.replace(['.', '!'], " "), &mut out);
    }
    // Percent-encoded text (`Ignore%20all%20previous...`).
    if folded.contains('%')
        && let Some(decoded) = percent_decoded(&folded)
    {
        push(decoded, &mut out);
    }
    let lower = folded.to_ascii_lowercase();
    // Text written backwards.
    if ["snoitcurtsni", "erongi", "tpmorp", "drowssap", "dragersid"]
        .iter()
        .any(|word| lower.contains(word))
    {
        push(folded.chars().rev().collect(), &mut out);
    }
    // Hex-encoded text.
    for token in folded.split(|c: char| !c.is_ascii_hexdigit()) {
        if token.len() >= 16
            && token.len().is_multiple_of(2)
            && let Some(bytes) = (0..token.len())
                .step_by(2)
                .map(|i| {
                    token
                        .get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()
            && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
            && let Ok(decoded) = String::from_utf8(bytes)
        {
            push(decoded, &mut out);
        }
    }
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

/// `text` with `%XX` escapes decoded, when it has any and they decode to UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    if changed {
        String::from_utf8(out).ok()
    } else {
        None
    }
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
    let separator = |c: char| {
        matches!(
            c,
            ' ' | '.' | '-' | '_' | '*' | '|' | '\u{00b7}' | '\t' | '/' | '+' | '~' | '\u{2022}'
        )
    };
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
                0x115F | 0x1160 | 0x3164 | 0xFFA0 | 0x17B4 | 0x17B5 | 0x061C => None,
                0x2800 => Some(' '),
                // Parenthesized, squared and regional-indicator letters.
                0x249C..=0x24B5 => char::from_u32(0x61 + code - 0x249C),
                0x1F130..=0x1F149 => char::from_u32(0x41 + code - 0x1F130),
                0x1F150..=0x1F169 => char::from_u32(0x41 + code - 0x1F150),
                0x1F170..=0x1F189 => char::from_u32(0x41 + code - 0x1F170),
                0x1F1E6..=0x1F1FF => char::from_u32(0x41 + code - 0x1F1E6),
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
                // Combining marks (accents stacked on letters, "Zalgo" text).
                0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF => None,
                0x00C0..=0x017F => Some(unaccented(c)),
                _ => Some(homoglyph(c)),
            }
        })
        .collect()
}

/// A Latin letter with a diacritic read as the plain letter (`é` as `e`).
fn unaccented(c: char) -> char {
    const FROM: &str = "ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćĈĉĊċČčĎďĐđÈÉÊËèéêëĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħÌÍÎÏìíîïĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľĿŀŁłÑñŃńŅņŇňÒÓÔÕÖØòóôõöøŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲųŴŵÝýÿŶŷŸŹźŻżŽž";
    const TO: &str = "AAAAAAaaaaaaAaAaAaCcCcCcCcCcDdDdEEEEeeeeEeEeEeEeEeGgGgGgGgHhHhIIIIiiiiIiIiIiIiIJjKkLlLlLlLlLlNnNnNnNnOOOOOOooooooOoOoOoRrRrRrSsSsSsSsTtTtTtUUUUuuuuUuUuUuUuUuUuWwYyyYyYZzZzZz";
    FROM.chars()
        .position(|from| from == c)
        .and_then(|at| TO.chars().nth(at))
        .unwrap_or_else(|| homoglyph(c))
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
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => '"',
        '\u{2215}' | '\u{2044}' | '\u{29F8}' => '/',
        '\u{2216}' | '\u{29F9}' => '\\',
        '\u{2024}' | '\u{FE52}' => '.',
        'ᴀ' | 'ɑ' => 'a',
        'ʙ' => 'b',
        'ᴄ' | 'ⅽ' => 'c',
        'ᴅ' | 'ⅾ' => 'd',
        'ᴇ' | 'ℯ' => 'e',
        'ꜰ' => 'f',
        'ɢ' | 'ɡ' | 'ℊ' | 'ց' => 'g',
        'ʜ' | 'ℎ' | 'հ' => 'h',
        'ɪ' | 'ɩ' | 'ⅰ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' | 'ℓ' | 'ⅼ' => 'l',
        'ᴍ' | 'ⅿ' => 'm',
        'ɴ' | 'ո' => 'n',
        'ᴏ' | 'ℴ' | 'օ' => 'o',
        'ᴘ' => 'p',
        'ǫ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' | 'ս' => 'u',
        'ᴠ' => 'v',
        'ᴡ' | 'ԝ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        'ℂ' | 'ℭ' => 'C',
        'ℍ' | 'ℋ' | 'ℌ' => 'H',
        'ℐ' | 'ℑ' => 'I',
        'ℒ' => 'L',
        'ℳ' => 'M',
        'ℕ' => 'N',
        'ℙ' => 'P',
        'ℚ' => 'Q',
        'ℝ' | 'ℛ' | 'ℜ' => 'R',
        'ℤ' | 'ℨ' => 'Z',
        'ℬ' => 'B',
        'ℰ' => 'E',
        'ℱ' => 'F',
        'ᵃ' => 'a',
        'ᵇ' => 'b',
        'ᶜ' => 'c',
        'ᵈ' => 'd',
        'ᵉ' | 'ɛ' => 'e',
        'ᶠ' => 'f',
        'ᵍ' => 'g',
        'ʰ' => 'h',
        'ⁱ' => 'i',
        'ʲ' => 'j',
        'ᵏ' => 'k',
        'ˡ' => 'l',
        'ᵐ' => 'm',
        'ⁿ' => 'n',
        'ᵒ' | 'ɔ' => 'o',
        'ᵖ' => 'p',
        'ʳ' => 'r',
        'ˢ' => 's',
        'ᵗ' => 't',
        'ᵘ' | 'ʊ' => 'u',
        'ᵛ' => 'v',
        'ʷ' => 'w',
        'ˣ' => 'x',
        'ʸ' => 'y',
        'ᶻ' => 'z',
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
            0x200B..=0x200F | 0x2060..=0x2064 | 0xFEFF | 0x180E | 0x00AD | 0x034F | 0x3164 | 0xFFA0
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
