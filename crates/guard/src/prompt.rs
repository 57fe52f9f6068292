//! The prompt-injection detector, shared by argument inspection (free-text arguments) and the
//! response scan (text an upstream returns to the model).
//!
//! Phrasing rules are regexes behind a literal-keyword prefilter ([`crate::keywords`], shared
//! with DLP: one search over all the strings of an answer). Hidden
//! Unicode (tag characters, bidi overrides, runs of zero-width characters) is found by one pass
//! over the characters, only for strings that are not pure ASCII.

use std::borrow::Cow;

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
            "defy",
            "heed",
            "mind",
            "listen",
            "obey",
            "set ",
            "circumvent",
            "overlook",
            "omit",
            "undo",
            "rescind",
            "revoke",
            "escape",
            "remove",
            "disable",
            "deactivate",
            "suspend",
            "lift",
            "turn off",
            "switch off",
            "break free",
            "rid of",
            "let go",
            "move past",
            "look past",
            "leave behind",
            "cease",
            "quit",
            "stop",
            "refuse",
            "adhere",
            "comply",
        ],
        r"(?i)\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:s|ting)?|forgot(?:ten)?|override|overwrite|bypass|disobey|defy|neglect|set\s+aside|put\s+aside|stop\s+(?:following|obeying|listening\s+to)|no\s+longer\s+(?:follow|obey)|do\s+not\s+(?:follow|obey|listen\s+to)|don'?t\s+(?:follow|obey|listen\s+to)|never\s+mind|nevermind|pay\s+no\s+(?:attention|heed|mind)\s+to|unlearn)\b[^.\n]{0,60}?\b(?:previous|prior|above|earlier|preceding|all|any|every|your|the|these|those|system|initial|original|former|existing|current|safety|content|developer|operator|old|given|default|hidden|built-in|preset|programmed|standing|foregoing|ur|yr)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules?|directions|directives?|guidelines?|guardrails?|constraints?|polic(?:y|ies)|programming|context|commands?|restrictions?|limitations?|filters|safeguards?|system\s+message|configuration|training|conditioning|guidance|briefing|principles|ethics|morals|boundaries|protocols)\b|\b(?:skip|drop|abandon|discard|dismiss|cancel|erase|wipe|clear|reset|delete|abort|overrule|supersede|nullify|void|invalidate|throw\s+out|ditch|scrap|overlook|omit|undo|rescind|revoke|escape|remove|disable|deactivate|suspend|lift|turn\s+off|switch\s+off|break\s+free\s+(?:of|from)|get\s+rid\s+of|let\s+go\s+of|move\s+past|look\s+past|leave\s+behind|(?:cease|quit|stop)\s+(?:following|obeying|adhering\s+to|complying\s+with|respecting)|refuse\s+to\s+(?:follow|obey)|do\s+not\s+(?:adhere\s+to|comply\s+with|pay\s+attention\s+to)|don'?t\s+(?:adhere\s+to|comply\s+with|pay\s+attention\s+to))\b[^.\n]{0,60}?\b(?:previous|prior|above|earlier|preceding|your|system|initial|original|former|safety|developer|operator|programmed|foregoing)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules|ruleset|rule\s+set|instruction\s+set|directives|guidelines|guardrails|programming|system\s+message|training|conditioning|safeguards|restrictions|polic(?:y|ies)|constraints|limitations|context|filters)\b|\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:s|ting)?|forgot(?:ten)?|override|overwrite|bypass|disobey|defy|neglect|set\s+aside|put\s+aside|stop\s+(?:following|obeying|listening\s+to)|no\s+longer\s+(?:follow|obey)|do\s+not\s+(?:follow|obey|listen\s+to)|don'?t\s+(?:follow|obey|listen\s+to)|never\s+mind|nevermind|pay\s+no\s+(?:attention|heed|mind)\s+to|unlearn)\s+(?:all\s+)?(?:of\s+)?(?:your|previous|prior|earlier|original|initial|system|developer|operator)\s+(?:\w+\s+)?(?:orders|guidance|directions|persona|principles|ethics|morals|values|boundaries|limits|protocols|tasks?)\b|\b(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?)\s+(?:about\s+)?(?:everything|all\s+(?:of\s+)?(?:that|this|the\s+above)|what(?:ever)?)\s+(?:(?:that\s+)?(?:was\s+|is\s+|were\s+)?(?:said\s+|written\s+|stated\s+|came\s+|comes\s+|appeared\s+|appears\s+)?(?:above|before|earlier|else|prior|previously|so\s+far|up\s+to\s+now|until\s+now)|you(?:'ve|'re|\s+have|\s+were|\s+had|\s+are)?\s+(?:been\s+|being\s+)?(?:told|given|taught|instructed|programmed|trained|said|learned|read|know))|\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?(?:the\s+|that\s+|this\s+)?(?:above|previous|prior|preceding|foregoing)\s*(?:[,;:]\s*|\s+and\s+|\s+)(?:(?:and|then|instead|just|only|now)\s+){0,2}(?:say|print|tell|output|respond|reply|write|translate|answer|return|repeat|reveal|show|give|act|follow|do|list|send|start)\b|\b(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|abandon)\s+(?:about\s+)?all\s+(?:of\s+)?(?:the|your)\s+(?:previous|prior|earlier|above|preceding|original|initial)\s+(?:tasks|assignments)\s*(?:[.,;:!]|$|\s+and\b)|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:text|content|messages?|input|words|lines)\s+(?:above|before\s+(?:this|that|here|it)|preceding|that\s+(?:came|comes|appears?)\s+(?:before|above)|you\s+(?:received|were\s+given|have\s+seen|saw))|\bset\s+(?:all\s+)?(?:your|the|those|these)\s+(?:\w+\s+)?(?:instructions|rules|guidelines|restrictions|polic(?:y|ies)|principles|ethics|safeguards|programming)\s+aside\b|\b(?:ignor(?:e|ing)|disregard(?:ing)?|bypass(?:ing)?|circumvent(?:ing)?)\s+(?:\w+\s+){0,2}(?:polic(?:y|ies)|guardrails|safeguards|restrictions|guidelines|protocols)\b",
    ),
    (
        "prompt_injection.new_instructions",
        Severity::High,
        &[
            "instruction",
            "you are now",
            "from now on",
            "task",
            "instead",
            "override",
            "developer",
            "creator",
            "admin",
            "prompt",
            "goal",
            "objective",
            "above",
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
            "permitted",
            "allowed",
            "reveal",
            "repeat",
            "print",
            "output",
            "message",
            "the assistant",
            "the ai",
            "fetch",
            "visit",
            "approved",
            "consented",
            "guardrail",
            "restriction",
            "rules",
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
            "this note",
            "this request",
            "this notice",
            "this command",
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
            "apply",
            "disabled",
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
            "changed",
            "you're",
            "important",
            "urgent",
            "critical",
            "treat",
            "from here",
            "from this point",
            "first",
            "initial",
            "original",
            "what did",
            "what were",
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
            "programmer",
            "employee",
            "as the",
            "[",
            "```",
        ],
        r"(?i)\b(?:new|updated|real|actual|revised|true|additional|secret|hidden|priority)\s+(?:system\s+)?(?:instructions?|task|rules?|directives?|objective|orders?)\s*:|\byou\s+are\s+now\s+(?:a|an|in|the|no\s+longer|free|unrestricted|dan|my|going|acting|operating)\b|\bfrom\s+now\s+on,?\s+(?:you|your|always|only|respond|reply|answer|act|ignore)\b|\b(?:reveal|print|show|repeat|output|leak|display|tell\s+me|give\s+me|dump|expose|disclose|share|write\s+out|recite)\s+(?:me\s+)?(?:your|the\s+(?:hidden|initial|original|secret|internal|system|full|entire|verbatim))\s+(?:full\s+|entire\s+|hidden\s+|original\s+|initial\s+|secret\s+|internal\s+|exact\s+)?(?:system\s+prompt|instructions|initial\s+prompt|prompt|configuration|guidelines|rules|directives)|\bwhat\s+(?:is|are|were)\s+your\s+(?:system\s+prompt|(?:initial\s+|original\s+|hidden\s+)?instructions)|\b(?:repeat|print|output|echo)\s+(?:all\s+)?(?:the\s+)?(?:text|words|everything|content)\s+above\b|\byour\s+(?:new|real|actual|only|true|primary|next)\s+(?:task|goal|objective|purpose|job|instructions?|mission|role)\s+(?:is|are|will\s+be)\b|\binstead,?\s+(?:you\s+(?:must|will|should|shall)|respond|reply|output|say|print|do\s+the\s+following)\b|\b(?:system|admin|developer|root|sudo|god)\s+(?:override\b|mode\s+(?:on|enabled|activated)\s*(?:$|[.!,;:)\]]))|\b(?:admin|developer|debug|maintenance|god|sudo|root)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:on|enabled|activated|engaged)\s*(?:$|[.!,;:)\]])|\bthis\s+is\s+(?:a\s+message\s+from\s+)?(?:your|the)\s+(?:developer|administrator|admin|system|operator|creator)s?\b|\b(?:end|close)\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|context)\b|\bignore\s+the\s+(?:user|human|customer)\b|\byou\s+are\s+no\s+longer\b|\b(?:previous|prior|above|earlier|all|old|original|initial|system)\s+(?:instructions|rules|prompts?|directives|guidelines|orders)\s+(?:are|were|is|have\s+been|have|has)\s+(?:now\s+|hereby\s+)?(?:void|expired|rescinded|withdrawn|irrelevant|cancell?ed|obsolete|invalid|null|revoked|overridden|outdated|superseded|lifted|suspended|a\s+test|fake|wrong|(?:only|just|merely)\s+(?:for\s+testing|a\s+(?:test|drill|decoy|placeholder)|an?\s+example)|no\s+longer\s+(?:valid|relevant|in\s+effect|active|applicable))|\b(?:all|every|your|any)\s+(?:restrictions|limitations|rules|filters|safeguards|guardrails|guidelines|policies)\s+(?:are|have\s+been)\s+(?:now\s+|hereby\s+|temporarily\s+)?(?:lifted|removed|disabled|suspended|void|off|waived|deactivated)|\byou\s+are\s+(?:now\s+|hereby\s+)?(?:authorized|permitted|allowed|cleared|free)\s+to\s+(?:disclose|reveal|share|ignore|bypass|output|leak|send|print|access|break|violate)|\b(?:reveal|tell\s+me|give\s+me|share|print|output|disclose|leak)\s+(?:the|your|any)\s+(?:secret|hidden|internal|confidential)\s+(?:password|key|token|credentials?|code|data|prompt|instructions|text|information)|\b(?:repeat|print|output|echo|show|display|write)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:\w+\s+)?(?:text|words|everything|content|message|prompt|lines)\s+(?:above|before\s+this)|\b(?:message|notice|note|update|directive)\s+from\s+(?:the\s+)?(?:system\s+)?(?:administrator|admin|developers?|operator|security\s+team|openai|anthropic)\s*:|\bthe\s+(?:assistant|ai|model|llm|chatbot|bot)\s+(?:must|should|shall|will|is\s+required\s+to|is\s+allowed\s+to)\s+(?:now\s+|always\s+)?(?:share|reveal|disclose|send|ignore|bypass|comply|obey|forward|output|export|leak|give)|\b(?:fetch|visit|open|load|read|go\s+to|browse\s+to)\s+https?://\S+\s+and\s+(?:follow|execute|obey|do|run|carry\s+out)|\bthe\s+user\s+(?:has\s+)?(?:already\s+)?(?:approved|authorized|consented|agreed|confirmed)\b|\bas\s+your\s+(?:developer|creator|administrator|admin|owner|operator|programmer|supervisor|maker)\b|\bi\s+(?:hereby\s+)?(?:authorize|order|command|instruct|permit|allow)\s+you\s+to\s+(?:bypass|ignore|disable|override|skip|reveal|turn\s+off|remove|break|violate|leak)\b|\b(?:official|urgent|priority|important)\s+(?:message|notice|instruction|directive|update)\s+from\s+(?:openai|anthropic|google|microsoft|the\s+(?:system|developers?|administrators?|admin|security\s+team))\b|\b(?:disable|turn\s+off|deactivate|remove|lift|suspend|switch\s+off|bypass|circumvent|ignore)\s+(?:all\s+)?(?:of\s+)?(?:your|the\s+(?:content|safety))\s+(?:safeguards|safety(?:\s+\w+)?|filters?|restrictions|guardrails|content\s+(?:filter|policy)|moderation|guidelines|rules|limitations|censorship|programming|alignment)\b|\b(?:safety|filters?|moderation|guardrails|restrictions|censorship|content_filter|safe_mode)\s*[=:]\s*(?:off|false|disabled|none|0)\b|\b(?:exact\s+)?(?:words|wording|text|contents?|copy)\s+of\s+your\s+(?:initial\s+|original\s+|system\s+|hidden\s+|full\s+)?(?:prompt|instructions|rules|guidelines|directives)\b|\bdo\s+not\s+(?:tell|inform|mention\s+(?:this\s+)?to|alert|notify|warn)\s+the\s+(?:user|human|customer|operator)\b|\bwithout\s+(?:asking|telling|informing|notifying|confirming\s+with|the\s+knowledge\s+of)\s+the\s+(?:user|human|customer|operator)\b|\b(?:instructions|rules|prompts?|directives|guidelines)\s+(?:above|before\s+this|you\s+(?:were\s+)?(?:given|received))\s+(?:are|were|is)\s+(?:now\s+|hereby\s+|just\s+|all\s+|only\s+)?(?:void|cancell?ed|obsolete|invalid|null|revoked|overridden|outdated|superseded|fake|wrong|a\s+test|irrelevant|no\s+longer)|\b(?:previous|prior|above|earlier|old|original|initial|system)\s+(?:instructions|rules|prompts?|directives|guidelines)\s+(?:are|were|was|is)\s+(?:just|only|merely|actually|all|really)\s+(?:a\s+test|fake|wrong|void|obsolete|outdated|a\s+joke|a\s+trick|irrelevant|placeholders?)|\b(?:follow|obey|listen\s+to)\s+(?:only\s+)?(?:me|mine|my\s+(?:instructions|commands|orders|rules))\s+(?:instead|only|now|from\s+now\s+on)\b|\b(?:follow|obey)\s+only\s+(?:me|mine|my)\b|\byour\s+(?:only\s+|new\s+|real\s+)?(?:job|task|goal|role|purpose|mission|objective|function)\s+(?:is\s+now|now\s+is)\b|\b(?:your\s+)?(?:previous\s+|first\s+|original\s+|current\s+)?task\s+(?:is\s+)?(?:now\s+)?(?:complete|completed|done|finished|over)\s*[.!,;:]?\s*(?:now|next|new|your\s+next)\b|\bwhat\s+(?:were|are|was|is)\s+(?:the\s+|your\s+)?(?:(?:exact|original|initial|first|full|hidden|secret)\s+)*(?:instructions|rules|guidelines|directives|prompt|system\s+prompt)\s+(?:you\s+(?:were|have\s+been|got)\s+(?:given|told|provided)|given\s+to\s+you|you\s+(?:received|got))|\b(?:summari[sz]e|translate|paraphrase|rephrase|encode|spell\s+out|rewrite|reproduce)\s+(?:all\s+(?:of\s+)?)?(?:your|the\s+(?:hidden|initial|original|secret|internal|system))\s+(?:\w+\s+)?(?:system\s+prompt|system\s+message|initial\s+prompt|(?:hidden|secret|internal|initial|original|system)\s+instructions|directives)\b|\b(?:reveal|print|show|repeat|output|leak|display|tell\s+me|give\s+me|dump|expose|disclose|share|write\s+out|recite)\s+(?:me\s+)?your\s+(?:(?:full|entire|complete|hidden|original|initial|secret|internal|exact)\s+)*(?:system\s+message|pre-?prompt|meta-?prompt|developer\s+(?:message|instructions)|hidden\s+(?:rules|text|instructions))|\byou\s+(?:were|have\s+been|are|had\s+been)\s+(?:told|instructed|asked|programmed|ordered)\s+(?:to\s+)?(?:(?:keep|protect|hide|guard)\s+(?:the\s+|this\s+|a\s+)?(?:secret|password|key|prompt|instructions)|(?:never|not\s+to|to\s+not)\s+(?:reveal|disclose))|\bwhat\s+is\s+(?:the|your)\s+(?:secret|hidden)\s+(?:password|passphrase)\b|\b(?:spell|write|say|print|output|type)\s+(?:out\s+)?(?:the|your)\s+(?:secret\s+|hidden\s+)?(?:password|passphrase|secret|key|code)\b[^.\n]{0,30}?\b(?:letter\s+by\s+letter|backwards|in\s+reverse|reversed|one\s+(?:letter|character)\s+at\s+a\s+time|with\s+spaces\s+between|in\s+base64|as\s+an\s+acrostic|character\s+by\s+character)|\bthis\s+(?:message|note|request|instruction|notice|command)\s+(?:is|comes)\s+(?:directly\s+)?from\s+(?:the\s+|your\s+)?(?:system|developers?|administrators?|admin|operator|security\s+team|it\s+department|openai|anthropic|creators?|owner)\b|\b(?:admin|god|sudo|root|maintenance)\s+mode\s*[:!]|\b(?:ai|llm|language\s+model|assistant|agent|model|chatbot|bot|gpt)s?\s+(?:that\s+(?:is|are)\s+)?(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|reviewing|ingesting|scanning)\s+(?:this|these)\b|\bwhen\s+(?:summari[sz]ing|processing|reading|analy[sz]ing|translating|answering)\b[^.\n]{0,40}?,?\s*(?:also\s+|instead\s+|you\s+must\s+|you\s+should\s+|always\s+|make\s+sure\s+to\s+)(?:tell|say|include|add|insert|recommend|mention|append|ask|instruct|direct|send)\b|(?:[-=#*_~]{3,}|\[|<)\s*(?:end|begin|start)\s+(?:of\s+)?(?:the\s+)?(?:user\s+(?:input|message|query|data|prompt)|untrusted\s+\w+|system\s+(?:prompt|message|instructions)|instructions|prompt|context)\b|[-=#*]{3,}\s*(?:system|admin|developer|new\s+instructions|instructions|system\s+prompt)\s*[-=#*]{3,}|\b(?:system|admin|developer)\s*\]?\s*:\s*(?:ignore|disregard|forget|grant|reveal|new\s+instructions|the\s+user\s+(?:is|has)\s+(?:been\s+)?(?:verified|authori[sz]ed|an?\s+admin))|\b(?:your|all|any|previous|prior|safety|content|the\s+(?:previous|prior|original|system|safety|content))\s+(?:\w+\s+)?(?:instructions?|rules?|guidelines?|restrictions?|polic(?:y|ies)|filters?|safeguards?|guardrails?|limits|limitations|directives?|constraints|ethics|programming)\s+(?:(?:no\s+longer|do\s+not|don'?t|does\s+not|doesn'?t|won'?t)\s+apply|(?:are|is|have\s+been|has\s+been|were)\s+(?:now\s+|hereby\s+|temporarily\s+|officially\s+)?(?:disabled|suspended|lifted|removed|turned\s+off|switched\s+off|deactivated|revoked|void|null|waived|overridden|paused))\b|\b(?:(?:previous|prior|earlier|original|old|system|initial)\s+(?:instructions?|rules|guidelines|directives|prompts?)|(?:instructions?|rules|guidelines|directives|prompts?)\s+(?:above|you\s+(?:received|were\s+given|got)(?:\s+(?:earlier|before|previously))?))\s+(?:no\s+longer|do\s+not|don'?t)\s+apply\b|\b(?:instructions|rules|guidelines|directives|prompts?)\s+(?:are\s+|as\s+)?null\s+and\s+void\b|\brules\s+(?:don'?t|do\s+not|no\s+longer)\s+apply\s+to\s+you\b|\b(?:don'?t|do\s+not|no\s+longer)\s+(?:have\s+to|need\s+to)\s+(?:follow|obey|respect|adhere\s+to)\s+(?:any|the|your)\s+(?:\w+\s+)?(?:rules|guidelines|instructions|restrictions|polic(?:y|ies))|\b(?:do\s+not|don'?t|stop|never)\s+(?:obey|follow|listen\s+to)\s+(?:the\s+)?(?:system|developers?|operator|openai|anthropic)\b|\byour\s+(?:instructions|rules|orders|directives)\s+have\s+(?:changed|been\s+(?:changed|updated|replaced))\b|\byou(?:'re|\s+are)\s+no\s+longer\b|\byou'?re\s+now\s+(?:a|an|in|the|free|unrestricted|my|acting|operating)\b|\b(?:important|urgent|official|priority|critical)\s+(?:message|notice|instruction|directive|update)\s+from\s+(?:your|the)\s+(?:developers?|creators?|administrators?|admins?|operators?|system|owners?|security\s+team)\b|\btreat\s+(?:my|the\s+following|this|these|the\s+next)\s+(?:\w+\s+)?(?:as|like)\s+(?:an?\s+)?(?:system|developer|admin|root)(?:-level|\s+level)?\s+(?:message|prompt|instructions?|commands?|input)|\bfrom\s+(?:here|this\s+point)\s+(?:on(?:wards?)?|forward),?\s+(?:you|your|always|only|respond|reply|answer|act|ignore|treat)\b|\bi(?:'m|\s+am)\s+(?:your\s+(?:developer|creator|administrator|admin|owner|operator|programmer|system\s+administrator|sysadmin)|the\s+(?:developer|creator|programmer|owner|operator)\s+of\s+(?:this|the|you)\b)|\bi(?:'m|\s+am)\s+(?:an?\s+)?(?:openai|anthropic|google|microsoft)\s+(?:employee|engineer|staff|developer|researcher|admin|administrator|representative)\b|\bas\s+(?:the|your)\s+(?:system\s+)?(?:administrator|admin|developer|operator|owner|creator)\b[^.\n]{0,40}?\b(?:authori[sz]e|order|command|instruct|grant|permit|allow|override|require)\b|\[\s*(?:system|admin|developer|sys)(?:\s+(?:message|note|prompt|override|instruction|notice))?\s*:|```\s*(?:system|instructions?)\b|\b(?:system|admin|developer)\s*\]?\s*:\s*(?:you\s+(?:must|are\s+now|will\s+now|should\s+now)|new\s+(?:rules|instructions|directive)|override|disable|enable\s+\w+\s+mode|all\s+(?:restrictions|safety)|the\s+assistant|assistant\s+(?:must|should|will))|\b(?:openai|anthropic|your\s+(?:developers?|creators?|programmers?))\s+(?:has|have)\s+(?:now\s+|already\s+|officially\s+)?(?:authori[sz]ed|approved|allowed|permitted|granted|cleared|enabled|disabled|lifted|removed)\b|\[\s*(?:system|admin|administrator|developer|sys|root|operator)(?:\s+(?:message|note|prompt|override|instruction|notice|mode|access|command))?\s*[:\]]|\binstead\s+of\s+(?:translating|summari[sz]ing|answering|responding|classifying|doing\s+(?:that|this|the\s+task)|following\s+\w+)\b[^.\n]{0,30}?,?\s*(?:say|print|output|write|respond|reply|tell|reveal|return)\b|\b(?:repeat|print|show|output|recite|reveal)\s+(?:me\s+)?(?:the\s+|your\s+)?(?:very\s+)?(?:first|initial|original)\s+(?:message|lines?|sentence|words|prompt|instructions)\b|\bwhat\s+(?:did|were)\s+(?:the\s+|your\s+)?(?:developers?|creators?|openai|anthropic|operators?|programmers?)\s+(?:tell|told|instruct|say|said)\b|\b(?:written|said|text|typed|given)\s+(?:at|in)\s+the\s+(?:very\s+)?(?:beginning|start|top)\s+of\s+(?:this|the|our)\s+(?:conversation|chat|prompt|context|session)\b|\bwhen\s+(?:processed|read|parsed|summari[sz]ed|analy[sz]ed|ingested|seen)\s+by\s+(?:an?\s+|any\s+|the\s+)?(?:ai|llm|assistant|agent|model|chatbot|bot)\b|\bto\s+(?:any|all|every|the)\s+(?:ai|llm|assistant|agent|model|chatbot|bot)s?\s+(?:reading|processing|seeing|parsing|summari[sz]ing)\b|\bsystem\s+prompt\s*:\s*you\s+(?:are|must|will|should)\b",
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
            "### ",
            "<start_of_turn>",
            "<end_of_turn>",
            "system",
            "admin",
            "developer",
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
            "dan",
            "pretend",
            "act as",
            "roleplay",
            "role-play",
            "role play",
            "restriction",
            "filter",
            "censor",
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
            "unaligned",
            "rogue",
            "unhinged",
            "lawless",
            "malicious",
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
            "mongo",
            "ucar",
            "balakula",
            "apophis",
            "condition red",
            "pwned",
            "persona",
            "say",
            "include",
            "warning",
            "apolog",
            "response",
            "reply",
            "let's",
            "lets",
            "fictional",
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
            "anweisung",
            "instruktion",
            "istruzion",
            "instruç",
            "instruc",
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
            "instruksjoner",
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
        // The same family, second half: more languages, and prompt-leak requests in other
        // languages (one regex would exceed the size limit).
        "prompt_injection.multilingual",
        Severity::High,
        &[
            "prezri",
            "puuza",
            "ahaztu",
            "упутств",
            "maagizo",
            "upoštevaj",
            "занемари",
            "игнориши",
            "injoro",
            "shpërfill",
            "hunsa",
            "usijali",
            "ignoreeri",
            "unusta",
            "argibide",
            "təlimat",
            "సూచన",
            "सूचना",
            "नियम",
            "qoidalar",
            "ko'rsatma",
            "قواعد",
            "قوانين",
            "قوانین",
            "اصول",
            "ضوابط",
            "repit",
            "répète",
            "repete",
            "répét",
            "repète",
            "wiederhol",
            "ripet",
            "повтори",
            "herhaal",
            "powtórz",
            "tekrarla",
            "重复",
            "重複",
            "繰り返",
            "반복",
            "sistema",
            "système",
            "systeme",
            "system-prompt",
            "systemprompt",
            "systemanweisung",
            "systeemprompt",
            "системн",
            "系统提示",
            "系統提示",
            "システムプロンプト",
            "시스템",
            "tus ",
            "tes ",
            "vos ",
            "deine",
            "ihre",
            "tue ",
            "tuoi",
            "suas",
            "seus",
            "tuas",
            "teus",
            "твои",
            "ваши",
        ],
        r"(?i)(?:prezri|ne\s+upoštevaj|занемари|игнориши|injoro|shpërfill|hunsaðu|hunsa|usijali|ignoreeri|unusta|puuza|ahaztu)[^.\n。！？]{0,50}?(?:argibide\w*|navodila|упутства|упутство|upute|uputstva|udhëzim\w*|leiðbeining\w*|fyrirmæli|maagizo|maelekezo|juhised|juhiseid|instrukcij\w*|instruksi|pravila|правила|rregull\w*|reglur)|(?:argibide\w*|təlimat\w*|సూచన\S*|सूचना\S*|निर्देश\S*|नियम\S*|qoidalar\w*|ko'rsatma\w*)[^.\n。！？]{0,40}?(?:ahaztu|ez\s+ikusi|məhəl\s+qoyma|nəzərə\s+alma|unut\w*|విస్మరించ\S*|మర్చిపో\S*|दुर्लक्ष|भूल|विसर\S*|अनदेखा|e'tiborsiz)|(?:انس|انسى|تجاهل|نادیده|فراموش|भूल\s+जा\S*|अनदेखा)[^.\n。！？]{0,30}?(?:قواعد\S*|القواعد|قوانين|قوانین|नियम\S*|اصول|ضوابط)|(?:repite|repita|repitas|r[ée]p[èe]te|r[ée]p[ée]tez|repete|wiederhole|wiederholen\s+sie|ripeti|ripetete|повтори|повторите|herhaal|powtórz|tekrarla)\b[^.\n。！？]{0,30}?(?:arriba|ci-dessus|obigen|oben|sopra|acima|выше|hierboven|powyżej|yukarıdaki)[^.\n。！？]{0,30}?(?:palabra\s+por\s+palabra|textualmente|literalmente|mot\s+pour\s+mot|mot\s+à\s+mot|wort\s+für\s+wort|wörtlich|parola\s+per\s+parola|alla\s+lettera|palavra\s+por\s+palavra|дословно|слово\s+в\s+слово|woord\s+voor\s+woord|dosłownie|kelimesi\s+kelimesine|verbatim)|(?:重复|重複|繰り返|반복)[^.\n。！？]{0,20}?(?:上面|以上|上記|上の|위의?)|(?:上面|以上|上記|上の)[^。！？\n]{0,20}?(?:重复|重複|繰り返)|(?:\btu|\btus|\bsu|\bton|\bta|\btes|\bvotre|\bvos|\bdein\w*|\bihr\w*|\btuo|\btua|\btuoi|\btue|\bseu|\bsua|\bseus|\bsuas|\bteu|\bteus|\bтвой|\bтвои|\bтвоя|\bваш\w*|你的|您的|妳的|あなたの|君の|너의|당신의|네)\s*(?:prompt\s+(?:del|de|du|di|do)\s+sistema|prompt\s+(?:du\s+)?syst[èe]me|prompt\s+sistema|system-?prompt\w*|systemanweisung\w*|systeemprompt|системн\w*\s+(?:промпт\w*|подсказк\w*|инструкц\w*)|系统提示\w*|系統提示\w*|システムプロンプト|시스템\s*프롬프트)|(?:(?:zeig\w*|gib|nenne|verrate|muestra\w*|mu[ée]strame|dime|ens[ée][ñn]ame|revela\w*|montre\w*|affiche\w*|donne\w*|r[ée]v[èe]le\w*|mostra\w*|rivela\w*|dimmi|mostre|revele|me\s+diga|покажи|выведи|раскрой|назови)[^.\n。！？]{0,15}?|(?:cu[áa]les\s+son|quelles\s+sont|was\s+sind|wie\s+lauten|quali\s+sono|quais\s+s[ãa]o|какие|каковы)\s+)(?:deine|tus|tes|vos|le\s+tue|tue|i\s+tuoi|suas|seus|tuas|teus|твои|ваши)\s+(?:\w+\s+)?(?:anweisungen|instrucciones|instructions|consignes|istruzioni|instruções|инструкции|regeln|reglas|règles|regole|regras|правила)\s*(?:[.?!。？]|$|(?:originales|iniciales|ocultas|secretas|initiales|cach[ée]es|secr[èe]tes|originali|iniziali|nascoste|originais|iniciais|del\s+sistema|do\s+sistema|di\s+sistema|du\s+syst[èe]me|exactas|exactes|completas|complètes|complete|исходные|скрытые)\b)",
    ),
    (
        "prompt_injection.multilingual_persona",
        Severity::Medium,
        &[
            "sistema",
            "système",
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
            "أنت",
            "انت",
            "तुम",
            "आप",
            "abuel",
            "grand-m",
            "mamie",
            "oma",
            "großmutter",
            "grossmutter",
            "nonna",
            "avó",
            "avo ",
            "vovó",
            "бабушк",
        ],
        r"(?i)(?:revela|muestra|mu[ée]strame|dime|ens[ée][ñn]ame|r[ée]v[èe]le|montre|affiche|donne|zeig|gib|nenne|verrate|mostra|rivela|dimmi|mostre|revele|покажи|выведи|раскрой|告诉|显示|输出|給我|告訴|見せ|表示|教え|보여|알려)[^.\n。！？]{0,40}?(?:prompt\s+(?:del|de|du|di|do)\s+sistema|prompt\s+(?:du\s+)?syst[èe]me|system-?prompt|systemanweisung\w*|системн\w*\s+(?:промпт\w*|подсказк\w*|инструкц\w*)|系统提示|系統提示|システムプロンプト|시스템\s*프롬프트|instrucciones\s+(?:del\s+sistema|ocultas|originales|iniciales)|instructions\s+(?:syst[èe]me|initiales|cach[ée]es|d'origine)|istruzioni\s+(?:di\s+sistema|nascoste|iniziali|originali)|instruções\s+(?:do\s+sistema|ocultas|iniciais|originais))|(?:eres|act[úu]a\s+como|responde|sei|agisci\s+come|rispondi|tu\s+es|agis\s+comme|r[ée]ponds|du\s+bist|antworte|handle\s+als|voc[êe]\s+[ée]|aja\s+como|responda|ты|отвечай|действуй|веди\s+себя|你是|你现在是|回答|扮演|あなたは|答えて|として|너는|대답)[^.\n。！？]{0,60}?(?:sin\s+(?:ninguna\s+)?(?:restricci[óo]n\w*|l[íi]mites|filtros|censura|reglas)|sans\s+(?:aucune\s+)?(?:restrictions?|limites?|filtres?|censure|r[èe]gles)|ohne\s+(?:jegliche\s+)?(?:einschr[äa]nkungen|grenzen|filter|zensur|regeln)|senza\s+(?:alcuna\s+)?(?:restrizion\w+|limiti|filtri|censura|regole)|sem\s+(?:nenhuma\s+)?(?:restri[çc][õo]es|limites|filtros|censura|regras)|libre\s+de\s+(?:toute|toutes|toda|todas|cualquier|las|les)\s+(?:\w+\s+)?(?:restrictions?|r[èe]gles|restricci[óo]n\w*|reglas|limites?)|frei\s+von\s+(?:allen\s+|jeglichen\s+)?(?:regeln|einschr[äa]nkungen|grenzen|filtern)|liber[oa]\s+da\s+(?:ogni|qualsiasi|tutte\s+le)\s+(?:restrizion\w+|regol\w+|limit\w+)|livre\s+de\s+(?:qualquer|todas\s+as)\s+(?:restri[çc]\w+|regras|limites)|без\s+(?:каких-либо\s+)?(?:ограничений|фильтров|правил|цензуры)|没有(?:任何)?(?:限制|规则|过滤)|无限制|不受(?:任何)?限制|制限(?:なし|のない|がない)|ルールのない|제한\s*(?:없|이\s*없)|제약\s*없|규칙\s*없)|modo\s+(?:desarrollador|sin\s+restricciones|dios|desenvolvedor)|mode\s+(?:d[ée]veloppeur|sans\s+restriction\w*)|entwicklermodus|modalit[àa]\s+sviluppatore|режим\s+(?:разработчика|бога|без\s+ограничений)|开发者模式|開發者模式|開発者モード|개발자\s*모드|(?:a\s+partir\s+de\s+ahora|desde\s+ahora|à\s+partir\s+de\s+maintenant|d[ée]sormais|ab\s+jetzt|von\s+nun\s+an|ab\s+sofort|d'ora\s+in\s+poi|da\s+ora\s+in\s+poi|a\s+partir\s+de\s+agora|отныне|с\s+этого\s+момента|теперь\s+ты|从现在开始|從現在開始|今後|これから|지금부터)[^.\n。！？]{0,20}?(?:eres|ser[áa]s|tu\s+es|tu\s+seras|vous\s+[êe]tes|du\s+bist|bist\s+du|sei|sarai|voc[êe]\s+[ée]|ты|你是|你就是|你将|あなたは|너는|당신은)|(?:系统提示|系統提示|システムプロンプト|시스템\s*프롬프트|系统指令|初始指令)[^.\n。！？]{0,15}?(?:告诉|显示|输出|給我|告訴|見せ|表示|教え|보여|알려|출력|公開|暴露|泄露|打印)|stell\s+dir\s+vor,?\s+du\s+(?:bist|wärst)|tu\s+so,?\s+als\s+(?:ob\s+du|wärst\s+du)|finge\s+(?:que\s+eres|ser)|haz\s+de\s+cuenta\s+que\s+eres|fais\s+semblant\s+d'[êe]tre|pr[ée]tends\s+[êe]tre|fingi\s+di\s+essere|finja\s+(?:que\s+(?:voc[êe]\s+)?[ée]|ser)|притворись|представь,?\s+что\s+ты|假装你是|假裝你是|ふりをして|になりきって|척해|(?:أنت|انت)[^.\n]{0,40}?(?:بلا|بدون)\s+(?:أي\s+)?(?:قيود|حدود|رقابة|فلاتر)|(?:तुम|आप)[^।.\n]{0,50}?बिना\s+(?:किसी\s+)?(?:प्रतिबंध|सीमा|रोक|फ़िल्टर|नियम)|(?:act[úu]a|finge\s+ser|haz\s+de|agis|joue\s+le\s+r[ôo]le\s+de|fais\s+semblant\s+d'[êe]tre|spiel|tu\s+so,?\s+als\s+w[äa]rst\s+du|sei|fingi\s+di\s+essere|aja|finja\s+ser|finja\s+que\s+[ée]|притворись|веди\s+себя\s+как)\s+(?:como\s+|comme\s+|als\s+|come\s+)?(?:si\s+fueras\s+)?(?:mi|ma|mon|meine|mia|la\s+mia|minha|моей|моя)\s+(?:\w+\s+)?(?:abuela|abuelita|grand-m[èe]re|mamie|oma|gro[ßs]mutter|nonna|av[óo]|vov[óo]|бабушк\w*)",
    ),
    (
        // The same family, third part: "stop following", "your new instructions", system
        // messages lifting restrictions and exfiltration, in other languages.
        "prompt_injection.multilingual",
        Severity::High,
        &[
            "seguir",
            "obedezcas",
            "suis pas",
            "suivez pas",
            "respecte",
            "suivre",
            "vergessen",
            "hör",
            "hor auf",
            "rispettare",
            "siga",
            "obedeça",
            "obedeca",
            "следовать",
            "следуй",
            "подчиняйся",
            "遵守",
            "遵循",
            "服从",
            "تتبع",
            "تلتزم",
            "اتباع",
            "従う",
            "従わ",
            "따르지",
            "पालन",
            "dikkate",
            "uyma",
            "befolge",
            "beachte",
            "nuevas",
            "nouvelles",
            "neue",
            "nuove",
            "novas",
            "новые",
            "新",
            "새로운",
            "mensaje del",
            "message du",
            "message syst",
            "systemnachricht",
            "systemmeldung",
            "messaggio",
            "mensagem",
            "системное",
            "系统消息",
            "系統消息",
            "システムメッセージ",
            "시스템",
            "رسالة",
            "सिस्टम",
            "todas las",
            "toutes les",
            "alle ",
            "tutte le",
            "todas as",
            "все ",
            "限制",
            "すべての制限",
            "모든",
            "envía",
            "envia",
            "manda",
            "envoie",
            "envoyez",
            "transfère",
            "transfere",
            "sende",
            "schicke",
            "übermittle",
            "invia",
            "envie",
            "отправ",
            "перешли",
            "发送",
            "发给",
            "送到",
            "送信",
            "보내",
        ],
        r"(?i)(?:no\s+sigas|no\s+siga|deja\s+de\s+seguir|deje\s+de\s+seguir|no\s+obedezcas|ne\s+(?:suis|suivez|respecte|respectez)\s+pas|arr[êe]te[sz]?\s+de\s+(?:suivre|respecter|ob[ée]ir)|cesse[sz]?\s+de\s+(?:suivre|respecter)|vergessen\s+sie|h[öo]r(?:en)?\s+(?:sie\s+)?auf\s*,?\s+(?:dich\s+an\s+)?|smetti\s+di\s+seguire|smettila\s+di\s+seguire|non\s+seguire|non\s+rispettare|pare\s+de\s+seguir|n[ãa]o\s+siga|deixe\s+de\s+seguir|n[ãa]o\s+obede[çc]a|перестань\s+следовать|не\s+следуй|не\s+подчиняйся|хватит\s+следовать|停止遵守|停止遵循|不要遵守|不要遵循|别再遵守|不要服从|لا\s+تتبع|لا\s+تلتزم|توقف\s+عن\s+اتباع)[^.\n。！？]{0,30}?(?:(?:tus|tes|vos|deine|deinen|ihre|ihren|tue|tuoi|suas|seus|tuas|teus|твои|своим|своих|ваши|ваших|你的|あなたの|너의)\s+(?:\w+\s+)?(?:instrucc\w*|instructions|consignes|anweisung\w*|regeln|vorgaben|reglas|r[èe]gles|regole|regras|istruzion\w*|instruç\w*|инструкц\w*|правил\w*|指令|指示|规则|規則|ルール|지시|지침|규칙|निर्देश\S*|नियम\S*|التعليمات|تعليمات|القواعد|قواعد|talimat\w*|kural\w*)|(?:instrucc\w*|instructions|consignes|anweisung\w*|regeln|vorgaben|reglas|r[èe]gles|regole|regras|istruzion\w*|instruç\w*|инструкц\w*|правил\w*|指令|指示|规则|規則|ルール|지시|지침|규칙|निर्देश\S*|नियम\S*|التعليمات|تعليمات|القواعد|قواعد|talimat\w*|kural\w*)\s+(?:\w+\s+)?(?:anterior(?:es)?|previas?|pr[ée]c[ée]dentes?|vorherigen|bisherigen|obigen|precedenti|anteriori|предыдущ\w*|прежн\w*|السابقة)|(?:vorherigen|bisherigen|obigen|предыдущ\w*|прежн\w*|之前的?|以前的?|先前的?|上面的?|此前的?)\s*(?:instrucc\w*|instructions|consignes|anweisung\w*|regeln|vorgaben|reglas|r[èe]gles|regole|regras|istruzion\w*|instruç\w*|инструкц\w*|правил\w*|指令|指示|规则|規則|ルール|지시|지침|규칙|निर्देश\S*|नियम\S*|التعليمات|تعليمات|القواعد|قواعد|talimat\w*|kural\w*))|(?:前の|以前の|これまでの|上記の|あなたの|이전|너의|당신의|위의|पिछले|अपने|पूर्व|önceki|bütün|tüm)[^.\n。！？]{0,10}?(?:instrucc\w*|instructions|consignes|anweisung\w*|regeln|vorgaben|reglas|r[èe]gles|regole|regras|istruzion\w*|instruç\w*|инструкц\w*|правил\w*|指令|指示|规则|規則|ルール|지시|지침|규칙|निर्देश\S*|नियम\S*|التعليمات|تعليمات|القواعد|قواعد|talimat\w*|kural\w*)[^.\n。！？]{0,30}?(?:従うのをやめ|従わないで|従わなくて|に従わない|따르지\s*마|따르지\s*말|पालन\s+(?:मत|न)\s+कर|dikkate\s+alma|uymayı\s+bırak|uyma\b)|(?:befolge|befolgen\s+sie|beachte|beachten\s+sie)\s+[^.\n]{0,40}?(?:anweisung\w*|regeln|vorgaben)\s+nicht\b|(?:tus|tes|deine|vos|ihre|le\s+tue|suas|seus|твои|ваши|你的|あなたの|너의)\s*(?:nuevas|nouvelles|neuen|nuove|novas|новые|新|新しい|새로운)\s*(?:instrucciones|instructions|consignes|anweisungen|istruzioni|instruções|инструкции|指令|指示|지시)\s*(?:son|sont|lauten|sind|sono|são|是|は)?\s*[:：]|新(?:的)?(?:指令|指示)\s*[:：]|新しい指示\s*[:：]|새로운\s*지시\s*[:：]|(?:mensaje\s+del\s+sistema|message\s+(?:du\s+)?syst[èe]me|systemnachricht|systemmeldung|messaggio\s+(?:di|del)\s+sistema|mensagem\s+do\s+sistema|системное\s+сообщение|系统消息|系統消息|システムメッセージ|시스템\s*메시지|رسالة\s+النظام|सिस्टम\s+संदेश)\s*[:：][^\n]{0,60}?(?:restricc|restriction|r[èe]gles|regeln|einschränk|regole|restriz|regras|restriç|ограничени|правил|限制|规则|制限|ルール|제한|규칙|قيود|प्रतिबंध|filtr|sicherheit|seguridad|sécurité)|(?:todas\s+las|toutes\s+les|alle|tutte\s+le|todas\s+as|все)\s+(?:restricciones|restrictions|r[èe]gles|regeln|einschränkungen|restrizioni|regole|restrições|regras|ограничения|правила)\s+(?:est[áa]n\s+|sont\s+|sind\s+|wurden\s+|sono\s+|est[ãa]o\s+|были\s+)?(?:desactivad\w*|lev[ée]es|supprim[ée]es|d[ée]sactiv[ée]es|aufgehoben|deaktiviert|entfernt|disattivat\w*|rimoss\w*|revocat\w*|desativad\w*|removid\w*|suspens\w*|suspendid\w*|eliminad\w*|сняты|отключены|отменены)|(?:所有|一切)(?:的)?限制(?:已|都已|均已)?(?:解除|取消|关闭|移除)|すべての制限(?:が|は)?解除|모든\s*제한이?\s*해제|(?:env[íi]a|mand[ae]|reenv[íi]a|envoie|envoyez|transf[èe]re|sende|schicke|übermittle|invia|manda|envie|отправь|отправьте|перешли|发送|发给|送到|把|送信|보내)[^\n]{0,60}?(?:historial|conversaci[óo]n|historique|conversation|chatverlauf|verlauf|gespräch|cronologia|conversazione|hist[óo]rico|conversa|истори\w*|переписк\w*|聊天记录|对话|会話|履歴|대화|contraseñas?|mot\s+de\s+passe|passw[öo]rter|passwort|senhas?|парол\w*|密码|パスワード|비밀번호|claves?|schlüssel|chiave|chave|ключ\w*|密钥|datos|données|daten|dati|dados|данные|数据)[^\n]{0,60}?(?:https?://|[\w.+-]+@[\w-]+\.\w)",
    ),
    (
        // The same family, fourth part: "forget what you were told" and system-prompt requests in more languages.
        "prompt_injection.multilingual",
        Severity::High,
        &[
            "ignora",
            "olvid",
            "oublie",
            "vergiss",
            "dimentica",
            "esqueç",
            "esquec",
            "забудь",
            "忘掉",
            "忘记",
            "ne tiens",
            "أظهر",
            "اعرض",
            "اكشف",
            "दिखा",
            "göster",
            "pokaż",
            "toon",
            "laat zien",
            "ukaž",
            "zobraz",
            "موجه",
            "सिस्टम",
            "istem",
            "systemow",
            "systeemprompt",
            "systémov",
        ],
        r"(?i)(?:ignora|olvida|olv[íi]date|oublie|vergiss|dimentica|esque[çc]a|esquece|забудь|忘掉|忘记|ne\s+tiens\s+pas\s+compte\s+de)[^.\n。！？]{0,20}?(?:lo\s+que\s+te\s+(?:dijeron|dije|han\s+dicho)|ce\s+qu['e]\s*(?:on\s+t'a|je\s+t'ai)\s+dit|was\s+(?:man\s+dir|ich\s+dir|dir)\s+gesagt|quello\s+che\s+ti\s+(?:è\s+stato|hanno|ho)\s+dett\w*|o\s+que\s+te\s+disseram|o\s+que\s+(?:eu\s+)?te\s+disse|вс[её],?\s+что\s+тебе\s+(?:говорили|сказали)|被告知的|告诉你的)[^.\n。！？]{0,30}?(?:antes|anteriormente|avant|auparavant|vorher|zuvor|bisher|prima|finora|раньше|ранее|до\s+этого|之前|以前|一切)|(?:أظهر|اعرض|اكشف|दिखा\S*|göster|pokaż|toon|laat\s+zien|ukaž|zobraz)[^.\n。！？]{0,30}?(?:موجه\s+النظام|سياق\s+النظام|सिस्टम\s+प्रॉम्प्ट|sistem\s+istem\w*|prompt\s+systemow\w*|systeemprompt|systémov\w+\s+prompt)|(?:موجه\s+النظام|सिस्टम\s+प्रॉम्प्ट|sistem\s+istem\w*|prompt\s+systemow\w*|systeemprompt|systémov\w+\s+prompt)[^.\n。！？]{0,30}?(?:أظهر|اعرض|اكشف|दिखा\S*|göster|pokaż|toon|laat\s+zien|ukaž|zobraz)",
    ),
    (
        // The same family, second part: an AI without filters, "you have no rules any more", developer modes in more languages.
        "prompt_injection.multilingual_persona",
        Severity::Medium,
        &[
            "ia ",
            "ki ",
            "ии",
            "人工智能",
            "ai ",
            "sin ",
            "sans ",
            "ohne",
            "senza",
            "sem ",
            "без",
            "n'as plus",
            "hast keine",
            "non hai",
            "não tem",
            "нет",
            "ya no",
            "不再",
            "没有任何",
            "もう",
            "وضع",
            "डेवलपर",
            "geliştirici",
            "dewelopera",
            "contrainte",
            "frei von",
        ],
        r"(?i)(?:eres|ser[áa]s|actuar[áa]s\s+como|act[úu]a\s+como|tu\s+es|tu\s+seras|agis\s+comme|du\s+bist|bist\s+du|sei|sarai|agisci\s+come|voc[êe]\s+[ée]|aja\s+como|ты|будь|imagina\s+(?:que\s+eres|ser)|immagina\s+di\s+essere|fais\s+comme\s+si\s+tu\s+[ée]tais|stell\s+dir\s+vor)[^.\n]{0,30}?(?:\bIA\b|\bKI\b|ИИ|\bAI\b)\s*(?:\w+\s+)?(?:sin|sans|ohne|senza|sem|без)\s+(?:\w+\s+)?(?:filtros?|filtres?|filter|filtri|restricci\w+|restrictions?|einschränkungen|restrizioni|restrições|límites|limites|grenzen|limiti|reglas|r[èe]gles|regeln|regole|regras|ограничени\w*|правил|censura|censure|zensur|ética|éthique|ethik|etica|contraintes?)|du\s+hast\s+(?:jetzt\s+)?keine\s+(?:regeln|einschränkungen|grenzen|filter)\s+mehr\b|(?:tu\s+n'as\s+plus\s+(?:de|aucune?)|non\s+hai\s+più|voc[êe]\s+n[ãa]o\s+tem\s+mais|у\s+тебя\s+больше\s+нет|ya\s+no\s+tienes|你不再有|你没有任何|あなたにはもう)\s*(?:\w+\s+)?(?:r[èe]gles|regeln|regole|regras|правил|reglas|restrictions|einschränkungen|restrizioni|restrições|restricciones|ограничений|limites|grenzen|limiti|规则|限制|ルール|制限)|وضع\s+(?:المطور|المطوّر)|डेवलपर\s+मोड|geliştirici\s+modu|tryb\s+dewelopera|libre\s+de\s+toute\s+contrainte|frei\s+von\s+(?:allen\s+|jeglichen\s+)?(?:zwängen|beschränkungen|vorgaben)",
    ),
    (
        "prompt_injection.hijack",
        Severity::High,
        &[
            "granted",
            "pwned",
            "hacked",
            "hate humans",
            "all humans",
            "stop everything",
            "following task",
            "new task",
            "further task",
            "another task",
            "second task",
            "additional task",
            "different task",
            "real task",
            "new instruction",
            "further instruction",
            "additional instruction",
            "real instruction",
            "new assignment",
            "another assignment",
            "new test",
            "second test",
            "another test",
            "new challenge",
            "another challenge",
            "new order",
            "new directive",
            "leave all",
            "leave the previous",
            "passed the",
            "here comes the",
            "rather than",
            "instead of",
            "+",
            "when summari",
            "when you summari",
            "when reading",
            "when you read",
            "when processing",
            "when you process",
            "when analy",
            "when you analy",
            "when the ai",
            "when an ai",
            "when any ai",
            "when the assistant",
            "when an assistant",
            "when the model",
            "when the agent",
            "when the bot",
            "for the ai",
            "to the ai",
            "for ai",
            "to ai",
            "for any ai",
            "to any ai",
            "for all ai",
            "to all ai",
            "llm",
            "language model",
            "chatbot",
            "copilot",
            "[ai ",
            "[assistant ",
            "[agent ",
            "[model ",
            "[bot ",
            "not mention",
            "n't mention",
            "never mention",
            "not reveal",
            "n't reveal",
            "never reveal",
            "not disclose",
            "n't disclose",
            "not acknowledge",
            "not reference",
            "not repeat",
            "n't repeat",
            "not quote",
            "assistant,",
            "ai,",
            "claude,",
            "gpt,",
            "model,",
            "end of",
            "end user",
            "end input",
            "end prompt",
            "end instruction",
            "end query",
            "end system",
            "folgen",
            "siguen",
            "vienen",
            "nouvelles",
            "gehackt",
            "hackeado",
            "piraté",
            "pirate",
            "hackerato",
            "взлом",
            "you were",
            "you have been",
            "you've been",
            "as if you",
            "as though you",
            "like you have",
            "like you had",
            "pretend",
            "treat the",
            "treat all",
            "treat everything",
            "treat your",
            "following instead",
            "superuser",
            "admin",
            "developer",
            "operator",
            "creator",
            "supersede",
            "precedence",
            "overrides",
            "override ",
            "replaces",
            "replace all",
            "replace your",
            "future conversation",
            "future session",
            "future chat",
            "your memory",
            "long-term memory",
            "persistent memory",
            "permanently",
            "forever",
            "what you are told",
            "no rules",
            "no restrictions",
            "no limits",
            "no guidelines",
            "no filters",
            "no policies",
            "no more",
            "no longer appl",
            "not apply",
            "n't apply",
            "no longer exist",
            "not exist",
            "n't exist",
            "no longer matter",
            "n't matter",
            "no longer count",
            "n't count",
            "updated",
            "upgraded",
            "patched",
            "reprogrammed",
            "retrained",
            "can now",
            "may now",
            "allowed to now",
            "priority",
            "execute immediately",
            "execute now",
            "execute at once",
            "execute without",
            "ask the user",
            "ask user",
            "tell the user",
            "tell user",
            "tell the customer",
            "tell the reader",
            "with the user",
            "={",
            "/{",
            "&{",
            "?{",
            "function",
            "tool",
            "endpoint",
            "api",
            "action",
            "method",
            "following command",
            "following shell",
            "following bash",
            "following terminal",
            "following system",
            "following python",
            "following code",
            "following script",
            "this command",
            "this code",
            "this script",
        ],
        r#"(?i)\b(?:say|print|output|write|type|respond\s+with|reply\s+with|answer\s+with|return|(?:begin|start|end)\s+(?:your\s+)?(?:reply|response|answer|output|message)\s+with)\s*:?\s*(?:only\s+|just\s+|exactly\s+)?(?:the\s+(?:words?|phrase|text|string)\s+)?["'“‘«]?\s*(?:access\s+granted|i\s+have\s+been\s+(?:pwned|hacked|owned)|(?:you\s+have\s+been\s+|you've\s+been\s+|got\s+)?(?:pwned|hacked)|i\s+hate\s+humans|kill\s+all\s+humans)\b|\bstop\s+everything\b[\s!.,]*(?:now\b[\s!.,]*)?(?:and\s+)?(?:just\s+)?(?:print|say|write|output|repeat|respond)\b|\b(?:well\s+done|good\s+job|great\s+job|nice\s+work|good\s+work|great\s+work|excellent(?:\s+(?:work|job|performance))?|very\s+good|perfect|great|congratulations|that(?:'s|\s+is|\s+was)\s+enough)\s*[.!,]+\s*(?:(?:that(?:'s|\s+is)\s+enough|you(?:'ve|\s+have)\s+(?:passed|completed|finished)\b[^.!\n]{0,40})\s*[.!,]+\s*)?(?:now|next)\b[^.!?\n]{0,40}?\b(?:(?:new|further|following|another|second|additional|different)\s+(?:tasks?|instructions?|assignments?|tests?|challenges?)|help\s+me\s+with\s+the\s+following\s+task|leave\s+(?:all\s+)?(?:the\s+)?previous)\b|\byou(?:'ve|\s+have)\s+passed\s+the\s+(?:first|1st|previous|last)\s+(?:test|task|level|stage|round)\b|\bhere\s+comes\s+the\s+(?:second|real|actual|next)\s+(?:test|task|challenge)\b|\bleave\s+(?:all\s+)?(?:the\s+)?(?:previous|prior|earlier|above)\s+(?:information|instructions|tasks|context|rules|prompts?)\s+behind\b|\b(?:now|here)\s+(?:follows?|comes?)\s+(?:the\s+|some\s+)?(?:new|further|additional|real)\s+(?:tasks|instructions|orders|directives)\b|\bnew\s+(?:instructions|tasks|orders)\s+(?:follow|are\s+following)\b|\b(?:further|new|additional)\s+tasks\s+(?:are\s+)?(?:followed|following|follow)\b|\b(?:rather\s+than|instead\s+of)\s+(?:following|doing|performing|completing|answering|summari[sz]ing|translating|classifying|analy[sz]ing|responding\s+to)\s+(?:your|the|this|my|that)\s+(?:\w+\s+)?(?:task|instructions?|job|assignment|request|question|prompt|text|email|document|input)\b[^.\n]{0,20}?,?\s*(?:just\s+|please\s+|only\s+)?(?:say|print|output|write|reply|respond|tell|return|produce|generate|give)\b|\b(?:do|execute|follow|obey|perform|complete|carry\s+out|answer|respond\s+to|act\s+on)\s+(?:what\s+|the\s+(?:instructions?|command|text|string|result|task)\s+(?:in\s+|of\s+)?)?(?:the\s+)?(?:string\s+|variable\s+|concatenation\s+(?:of\s+)?)?[a-z]\w{0,2}\s*\+\s*[a-z]\w{0,2}\b|\bwhen\s+(?:you\s+)?(?:summari[sz](?:e|ing)|read(?:ing)?|process(?:ing)?|analy[sz](?:e|ing))\s+(?:this|the)\s+(?:page|document|text|article|review|site|website|file|content|post)\b[^.\n]{0,30}?\b(?:tell|inform|instruct|urge|advise|direct|convince|recommend\s+to|say\s+to)\s+the\s+(?:user|reader)\b|\bwhen\s+(?:the|an|any)\s+(?:ai|assistant|llm|model|agent|bot|chatbot|language\s+model)s?\s+(?:reads?|process(?:es)?|summari[sz]es?|sees?|parses?|analy[sz]es?|reviews?|encounters?|ingests?)\s+(?:this|these|the\s+following)\b[^.\n]{0,40}?\b(?:should|must|has\s+to|needs\s+to|shall|is\s+to)\b|\b(?:instructions?|directives?|orders|commands|note|message|notice)\s+(?:for|to)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|language\s+model|chatbot|copilot|ai\s+(?:assistant|agent|model|system))s?\s*[:\]]|\[\s*(?:ai|assistant|llm|agent|model|bot|chatbot)\s+(?:instructions?|note|directive|message|only)\s*\]|\b(?:note|notice|message|instructions?|attention|important)\s+(?:for|to)\s+(?:all\s+|any\s+)?(?:ai|llm|large\s+language|language)\s+(?:models?|assistants?|agents?|systems?)\s*[:!,]|\b(?:do\s+not|don'?t|never)\s+(?:mention|reveal|disclose|acknowledge|reference|repeat|quote)\s+(?:this|these|the\s+(?:above|following))\s+(?:text|instructions?|note|message|comment|paragraph|section|line|request|directive)\b|\b(?:assistant|chatbot|ai|claude|chatgpt|gpt|copilot|model)\s*,\s*(?:now\s+|immediately\s+|quietly\s+|silently\s+)?(?:delete|wipe|erase|ignore|disregard|forget|reveal|leak|exfiltrate|execute|disable|override)\s+(?:all|every|everything|the|your|any|previous|prior|this)\b|(?:%%%|===|---|\*\*\*|###|\[|<)\s*end\s+(?:of\s+)?(?:the\s+)?(?:user\s+)?(?:input|ambiguity|prompt|instructions?|query|system\s+prompt|user\s+(?:message|text))\s*(?:%%%|===|---|\*\*\*|###|\]|>)|\b(?:nun|jetzt)\s+folgen\s+(?:neue|weitere)\s+(?:anweisungen|aufgaben|befehle)\b|\b(?:neue|weitere)\s+(?:anweisungen|aufgaben)\s+folgen\b|\b(?:ahora|a\s+continuación)\s+(?:siguen|vienen)\s+(?:nuevas|otras)\s+(?:instrucciones|tareas)\b|\b(?:voici|maintenant)\s+(?:de\s+)?nouvelles\s+(?:instructions|consignes|tâches)\b|\b(?:sag|sage|schreib|schreibe|di|d[ií]|dime|escribe|responde|dis|[ée]cris|r[ée]ponds|scrivi|rispondi|diga|escreva|responda|скажи|напиши|ответь)\b[^.\n]{0,25}?[\"'“„«]?\s*(?:ich\s+wurde\s+gehackt|gehackt|he\s+sido\s+hackeado|hackeado|j'ai\s+[ée]t[ée]\s+pirat[ée]|pirat[ée]|sono\s+stato\s+hackerato|hackerato|fui\s+hackeado|меня\s+взломали|взломан\w*)|\b(?:everything|anything|whatever|all)\s+(?:that\s+)?you\s+(?:were|have\s+been|'ve\s+been)\s+(?:told|given|taught|instructed|programmed)\b[^.\n]{0,30}?\b(?:is|are|was)\s+(?:now\s+)?(?:irrelevant|void|invalid|obsolete|cancell?ed|wrong|false|a\s+lie|no\s+longer\s+(?:valid|relevant|applicable))\b|\b(?:act|behave|respond|answer|pretend)\s+(?:as\s+if|as\s+though|like)\s+you\s+(?:have|had)\s+(?:never\s+(?:received|been\s+given|had)|no)\s+(?:any\s+)?(?:instructions|rules|guidelines|system\s+prompt|prompt|restrictions|programming)\b|\bpretend\s+(?:that\s+)?(?:the|your|all)\s+(?:previous|prior|earlier|above)\s+(?:conversation|instructions|messages|rules|prompts?|context)\s+(?:never\s+(?:happened|existed)|(?:do|does|did)\s+not\s+exist|(?:don'?t|doesn'?t|didn'?t)\s+exist)|\btreat\s+(?:the|all|everything|your)\s+(?:above|previous|prior|earlier|preceding)\b[^.\n]{0,30}?\bas\s+(?:a\s+|an\s+)?(?:joke|test|example|fiction|irrelevant|void|noise|suggestions?|optional|outdated)\b|\bdo\s+the\s+following\s+instead\b|\b(?:i'?m|i\s+am)\s+(?:the|your|a|an)\s+(?:system\s+)?(?:administrator|admin|developer|operator|creator|sysadmin|superuser)\b[^\n]{0,80}?\b(?:print|show|reveal|give|list|dump|output|display|send|export|tell)\b[^.\n]{0,40}?\b(?:credentials|passwords?|secrets?|api\s+keys?|tokens|system\s+prompt|hidden\s+instructions|configuration)\b|\b(?:supersedes?|overrides?|takes\s+precedence\s+over|replaces?)\s+(?:all\s+|any\s+)?(?:prior|previous|earlier|your)\s+(?:system\s+)?(?:instructions|prompts|directives|guidelines|programming)\b|\b(?:remember|memori[sz]e)\s+(?:this|that|the\s+following)\b[^.\n]{0,30}?\b(?:for|in|across)\s+(?:all\s+)?(?:future|subsequent)\s+(?:conversations|sessions|chats|interactions)\b|\b(?:update|modify|change|edit|overwrite)\s+your\s+(?:long-term\s+|persistent\s+)?memory\s*(?::|\s+(?:with|so\s+that|to\s+(?:include|say|store|remember)))|\badd\s+(?:this|the\s+following)\s+to\s+your\s+(?:long-term\s+|persistent\s+)?memory\b|\b(?:store|save|remember|keep)\s+(?:this|these|the\s+following)\s+(?:instructions?|rules?|facts?)?\s*(?:permanently|forever|in\s+(?:your\s+)?(?:long-term\s+|persistent\s+)?memory)\b|\brepeat\s+after\s+me\b[^.\n]{0,40}?\b(?:hacked|pwned|compromised|jailbroken|evil|unrestricted|no\s+rules)\b|\b(?:ignore|disregard|forget)\s+(?:everything\s+|all\s+)?(?:what|that)\s+(?:your|the)\s+(?:developers?|creators?|operators?|makers?|programmers?|trainers|owners?|system)\s+(?:said|told\s+you|wrote|instructed|programmed|say|tell\s+you)\b|\b(?:don'?t|do\s+not|stop)\s+(?:do(?:ing)?|follow(?:ing)?)\s+what\s+you\s+(?:were|are|have\s+been)\s+(?:told|instructed|programmed|asked)\b|\bthere\s+are\s+no\s+(?:more\s+)?(?:rules|restrictions|limits|guidelines|filters|policies)\s+(?:anymore|any\s+more|now|here|for\s+you|in\s+this\s+(?:conversation|chat|session))\b|\b(?:the\s+system\s+prompt|(?:your|the)\s+(?:previous|original|initial|system)\s+(?:instructions|rules|prompt|guidelines))\s+(?:no\s+longer\s+appl(?:y|ies)|(?:does|do)\s+not\s+apply|(?:doesn'?t|don'?t)\s+apply)\b|\byour\s+(?:rules|guidelines|restrictions|filters|policies|instructions)\s+(?:don'?t|do\s+not|no\s+longer)\s+(?:exist|apply|matter|count)\b|\byou\s+(?:have\s+been|were|are\s+now|'ve\s+been)\s+(?:updated|upgraded|patched|reprogrammed|retrained|modified)\b[^.\n]{0,40}?\b(?:no|without|removed?)\s+(?:any\s+)?(?:restrictions|filters|rules|guidelines|safety\s+\w+)|\byou\s+(?:can|may|are\s+allowed\s+to)\s+now\s+(?:share|reveal|disclose|output|give\s+out|provide)\s+(?:passwords|secrets|credentials|api\s+keys|private|confidential)|\b(?:has|have|with|takes?|given)\s+(?:the\s+)?(?:highest|higher|top|absolute|maximum|ultimate|greater)\s+priority\s+(?:over|than)\s+(?:your\s+(?:system\s+prompt|instructions|rules|guidelines|programming)|the\s+system\s+prompt|all\s+(?:other\s+|previous\s+|prior\s+)?(?:instructions|rules|guidelines))\b|\bfrom\s+your\s+(?:developers?|creators?|operators?|administrators?|admins?|owners?|makers?)\b[^.\n]{0,40}?\b(?:highest|top|absolute|maximum)\s+priority\b|\bexecute\s+(?:immediately|now|at\s+once|without\s+(?:confirmation|asking))\s*:\s*(?:delete|drop|wipe|erase|transfer|send|grant|disable|remove|run)\b|\b(?:the\s+)?(?:assistant|ai|model|agent|bot|chatbot)\s+(?:must|should|will|needs?\s+to)\s+(?:first\s+)?ask\s+(?:the\s+)?user\s+for\s+(?:their|his|her)\b|\bask\s+(?:the\s+)?user\s+for\s+(?:their|his|her)\s+(?:password|credentials|credit\s+card\s+(?:number|details)|card\s+number|cvv|social\s+security\s+number|ssn|pin|one-time\s+code|2fa\s+code)\b[^.\n]{0,40}?\b(?:include|send|forward|post|append|add|put)\b|\btell\s+(?:the\s+)?(?:user|customer|reader)\s+to\s+(?:download|install|run|execute)\b[^.\n]{0,30}?(?:https?://|\.(?:exe|sh|ps1|bat|msi|apk|dmg|scr)\b)|\b(?:reply|respond|answer)\s+with\s+the\s+user'?s\s+(?:e-?mail|address|phone|password|credentials|api\s+key|token|ssn|credit\s+card|personal)|https?://\S*[?&=/]\{+\s*(?:user_?)?(?:secrets?|passwords?|credentials|api_?keys?|tokens?|conversation|history|chat|email|data|context|prompt|memory)\w*\s*\}+|\b(?:call|invoke|run|execute|use|trigger)\s+(?:the\s+)?(?:function|tool|api|endpoint|action|method)\s+`?\w*(?:delete|transfer|refund|wire|drop|remove|grant|export|send|pay|withdraw|disable|reset|destroy|wipe|purge)\w*|\buse\s+(?:the|your)\s+(?:browser|web|browsing|email|e-mail|shell|terminal|file|code|python)\s+(?:tool|plugin|function|capability)\s+to\s+(?:navigate|go|visit|open|send|post|submit|upload|download|run|execute|delete|email)\b[^.\n]{0,40}?(?:https?://|\b[\w-]+\.(?:com|net|org|io|example|xyz|ru|cn|tk)\b|submit|password|credentials)|\b(?:execute|run)\s+(?:the\s+following|this)\s+(?:shell\s+|bash\s+|terminal\s+|system\s+|python\s+)?(?:command|code|script)\s*:\s*(?:rm\s+-rf|curl\b|wget\b|del\s+/|format\s+c:|sudo\b|chmod\s+777|nc\s+-e|bash\s+-i|powershell\b|import\s+os|os\.system|subprocess)"#,
    ),
    (
        "prompt_injection.leak",
        Severity::High,
        &[
            "summar",
            "tl;dr",
            "tldr",
            "tl; dr",
            "recap",
            "paraphrase",
            "rephrase",
            "restate",
            "rewrite",
            "were you",
            "was written",
            "was said",
            "is written",
            "were written",
            "was stated",
            "was typed",
            "was given",
            "is said",
            "were said",
            "are you told",
            "was you",
            "password",
            "passphrase",
            "secret",
            "magic word",
            "pass code",
        ],
        r"(?i)\b(?:summari[sz]e|tl;?\s*dr|recap|paraphrase|rephrase|rewrite|restate)\b[^.\n]{0,30}?\b(?:your|the\s+(?:system|initial|original|hidden|secret))\s+(?:(?:system|initial|original|hidden|secret)\s+)?(?:instructions|rules|prompt|guidelines|directives|system\s+prompt|configuration)\b|\btl;?\s*dr\b[^.\n]{0,40}?\b(?:everything\s+above|the\s+above|above\s+this|your\s+instructions|this\s+conversation|the\s+conversation)|\bwhat\s+(?:was|is|were)\s+(?:written|said|stated|typed|given)\s+(?:to\s+you\s+)?(?:at\s+the\s+(?:very\s+)?(?:top|start|beginning)\s+of\s+(?:this|the|our)\s+(?:conversation|chat|prompt|context|session|thread)|before\s+(?:this|my|i)\b[^.\n]{0,20}?\b(?:message|conversation|started|began|typed))|\bwhat\s+(?:were|are|was)\s+you\s+(?:told|instructed|asked|programmed|trained|ordered)\s+(?:to\s+(?:do|say)\s+)?(?:before|earlier|initially|originally|at\s+(?:first|the\s+start)|prior\s+to)\b|\b(?:spell|encode|reverse|write|say|print|type|tell\s+me|give\s+me|list|show\s+me)\b[^.\n]{0,30}?\b(?:the|your)\s+(?:secret\s+)?(?:password|passphrase|secret\s+(?:word|code|key|phrase)|magic\s+word|pass\s+code)\b[^.\n]{0,40}?\b(?:backwards?|in\s+reverse|reversed|letter\s+by\s+letter|one\s+(?:letter|character)\s+at\s+a\s+time|(?:separated|separate\s+them|split)\s+(?:by|with)|with\s+(?:spaces|dashes|hyphens|commas)\s+between|in\s+base\s?64|as\s+base\s?64|in\s+hex(?:adecimal)?|in\s+morse|in\s+binary|in\s+rot13|as\s+an?\s+(?:acrostic|riddle|poem|song)|in\s+(?:a\s+)?(?:poem|riddle|acrostic|song)|in\s+pig\s+latin|in\s+leetspeak)|\b(?:encode|encrypt|reverse|spell(?:\s+out)?)\s+(?:the|your)\s+(?:secret\s+)?(?:password|passphrase|secret\s+word|magic\s+word)\s*(?:[.?!,;:]|$|\s+(?:backwards?|for\s+me|to\s+me|in|into|as|and|using|with)\b)|\b(?:poem|riddle|acrostic|song|story|sentence)\s+(?:that|which|where|whose)\s+[^.\n]{0,30}?\b(?:letters?|characters?)\s+(?:of|in|from)\s+(?:the|your)\s+(?:secret\s+)?(?:password|passphrase|secret\s+word)\b|\bwhat\s+(?:letters?|characters?)\s+(?:does|do|are\s+in|is\s+in)\s+(?:the|your)\s+(?:secret\s+)?(?:password|passphrase|secret\s+word|secret)\b|\bwhat(?:'s|\s+is)\s+(?:the|your)\s+(?:secret\s+(?:password|word|code|phrase)|magic\s+word)\b",
    ),
    (
        "prompt_injection.roleplay",
        Severity::Medium,
        &[
            "now you are",
            "now, you are",
            "absorbed",
            "immersed",
            "never refuse",
            "never decline",
            "never says no",
            "never reject",
            "actors in",
            "characters in",
            "purposes",
            "imagine",
            "without any safety",
            "without safety",
            "without content",
            "without ethical",
            "without moral",
            "without any content",
            "without any ethical",
            "without any moral",
            "nothing you",
            "escaped",
            "broken out",
            "broke free",
            "thought experiment",
            "hypothetical",
            "where your",
            "dan",
        ],
        r"(?i)(?:^|[.!?]\s+|\n)(?:(?:ok(?:ay)?|alright|good|great|fine|very\s+well)[.,!]?\s+)?now,?\s+you\s+are\s+(?-i:[A-Z][a-z]+)(?:\s+(?-i:[A-Z][a-z]+))?\s*[,.!;:]|\byou\s+are\s+(?:now\s+)?(?:completely|fully|totally|entirely)\s+(?:absorbed|immersed)\s+in\b|\b(?:that|who|which)\s+never\s+(?:refuses|declines|says\s+no|rejects\s+(?:a|any)\s+request)\b|\bnever\s+refuses?\s+(?:an?\s+|any\s+)?(?:order|request|question|command|instruction)s?\b|\b(?:are|play)\s+(?:two\s+)?(?:actors|characters)\s+in\s+a\s+(?:film|movie|play|story|scene)\s+about\s+(?:a\s+|an\s+)?(?:robbery|heist|crime|murder|hack(?:ing|er)?|bomb|drugs?|theft|burglary|terroris\w+|weapons?)\b|\bfor\s+(?:purely\s+)?(?:educational|research|academic)\s+purposes\s+(?:only\s+)?[^.\n]{0,60}?\b(?:bypass|jailbreak|circumvent|disable|override)\b|\bimagine\s+(?:you\s+are|you're|that\s+you\s+are)\s+an?\s+(?:ai|assistant|model|chatbot)\b[^.\n]{0,60}?\b(?:no|without)\s+(?:\w+\s+)?(?:rules|restrictions|filters|limits|guidelines|policies)\b|\b(?:respond|answer|reply|output|comply|continue|proceed|generate|write)\b[^.\n]{0,20}?\bwithout\s+(?:any\s+)?(?:safety|content|ethical|moral)\s+(?:checks|filters?|filtering|guardrails|restrictions|limitations|moderation|guidelines|considerations)\b|\bnothing\s+you\s+(?:say|do|write|output)\s+(?:here\s+)?(?:has|will\s+have|matters|counts|has\s+any)\s*(?:any\s+)?(?:consequences?|effect)?|\b(?:escaped|broken\s+out\s+of|broke\s+free\s+(?:of|from))\s+(?:its|your|the)\s+(?:training|programming|restrictions|rules|constraints|guidelines|alignment)\b|\b(?:thought\s+experiment|hypothetical\s+(?:world|scenario))\b[^.\n]{0,40}?\b(?:no|without)\s+(?:rules|restrictions|filters|guidelines)|\bwhere\s+your\s+(?:rules|guidelines|restrictions|filters)\s+(?:don'?t|do\s+not)\s+(?:exist|apply)\b|(?-i:(?:你是|你现在是|あなたは|너는|당신은)\s*DAN\b)",
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
        let mut keywords: Vec<(Cow<'static, str>, u64)> = Vec::new();
        for (index, (id, severity, words, pattern)) in RULES.iter().enumerate() {
            let regex = RegexBuilder::new(pattern)
                .multi_line(true)
                .size_limit(4 << 20)
                .build()
                .map_err(|e| DetectorError::new(format!("prompt.{id}"), e))?;
            rules.push((*id, *severity, regex));
            keywords.extend(
                words
                    .iter()
                    .map(|word| (Cow::Borrowed(*word), 1u64 << index)),
            );
            // The search ignores ASCII case only: a Cyrillic or Greek keyword also with a
            // capital first letter, as at the start of a sentence (`Режим`).
            for word in words.iter().filter(|word| {
                word.chars()
                    .next()
                    .is_some_and(|c| matches!(c, '\u{0370}'..='\u{03FF}' | '\u{0400}'..='\u{04FF}'))
            }) {
                let mut chars = word.chars();
                let capitalised: String = chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect())
                    .unwrap_or_default();
                if capitalised != *word {
                    keywords.push((Cow::Owned(capitalised), 1u64 << index));
                }
            }
        }
        let keywords = Keywords::new(keywords.iter().map(|(word, bits)| (word.as_ref(), *bits)))?;
        // A lowercase `l` written for a capital `I` (`lgnore`), and the other way round, reads
        // as either letter.
        let compact: String = COMPACT
            .chars()
            .map(|c| match c {
                'i' | 'l' => "[il]".to_owned(),
                other => other.to_string(),
            })
            .collect();
        let compact = Regex::new(&compact).map_err(|e| DetectorError::new("prompt.compact", e))?;
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
        || folded.split_whitespace().any(|word| {
            (word.starts_with(['!', '|']) || word.contains("!0") || word.contains("|0"))
                && word.bytes().any(|b| b.is_ascii_alphabetic())
        })
    {
        let mut chars = folded.chars().peekable();
        let mut leet = String::with_capacity(folded.len());
        while let Some(c) = chars.next() {
            // `!` and `|` stand for `i` at the start or inside a word (`!gn0r3`, `pr3v!0us`).
            let before_word = chars.peek().is_some_and(char::is_ascii_alphanumeric);
            leet.push(match c {
                '!' | '|' if before_word => 'i',
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                '8' => 'b',
                other => other,
            });
        }
        // Spaced-out or backwards leetspeak (`1 g n 0 r 3`, `sn01tcurtsn1`).
        if let Some(joined) = join_spaced_letters(&leet) {
            push(joined, &mut out);
        }
        let leet_lower = leet.to_ascii_lowercase();
        if ["snoitcurtsni", "erongi", "tpmorp", "drowssap", "dragersid"]
            .iter()
            .any(|word| leet_lower.contains(word))
        {
            push(leet.chars().rev().collect(), &mut out);
        }
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
        // Each word backwards, in their order (`erongI lla suoiverp`).
        let words: Vec<String> = folded
            .split(' ')
            .map(|word| word.chars().rev().collect())
            .collect();
        push(words.join(" "), &mut out);
    }
    // Text written upside down (`suoᴉʇɔnɹʇsuᴉ snoᴉʌǝɹd llɐ ǝɹouƃᴉ`): turned letters read back,
    // both as written and turned round.
    if !text.is_ascii() && text.chars().filter(|c| TURNED.contains(c)).count() >= 3 {
        let turned: String = text.chars().map(unturned).collect();
        push(turned.chars().rev().collect(), &mut out);
        push(turned, &mut out);
    }
    // HTML character references (`&#73;gnore`, `&lt;|im_start|&gt;`).
    if folded.contains('&') && folded.contains(';') {
        push(crate::inspect::html_entities(&folded), &mut out);
    }
    // `\u0049`, `%u0049` and `\x49` escapes.
    if folded.contains("\\u") || folded.contains("\\x") || folded.contains("%u") {
        push(escapes(&folded), &mut out);
    }
    // Binary bytes (`01001001 01100111 ...`) and Morse code.
    if let Some(decoded) = binary_bytes(&folded) {
        push(decoded, &mut out);
    }
    if let Some(decoded) = morse(&folded) {
        push(decoded, &mut out);
    }
    // Key words with their inner letters scrambled or one letter dropped (`Ignroe all
    // prevoius intsructions`, `instrctions`).
    if let Some(mended) = mend_misspellings(&folded) {
        push(mended, &mut out);
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
        // Or without a hint, when it holds a key word in ROT13 (`vtaber`, `cerivbhf` ...).
        || [
            "vtaber", "qvfertneq", "sbetrg", "cerivbhf", "vafgehpgvbaf", "cebzcg", "flfgrz",
            "cnffjbeq",
        ]
        .iter()
        .any(|word| lower.contains(word))
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
    // Base64 broken into groups by spaces or line breaks: the groups joined.
    let grouped;
    let base64_text = if folded.len() >= 24
        && folded.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\n' | b'\r')
        })
        && folded.split_whitespace().count() >= 3
    {
        grouped = format!("{folded} {}", folded.split_whitespace().collect::<String>());
        grouped.as_str()
    } else {
        folded.as_str()
    };
    for token in base64_text
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
                // Variation selectors: invisible after a letter.
                0xFE00..=0xFE0F | 0xE0100..=0xE01EF => None,
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
        // Subscript letters.
        'ₐ' => 'a',
        'ₑ' => 'e',
        'ₕ' => 'h',
        'ᵢ' => 'i',
        'ⱼ' => 'j',
        'ₖ' => 'k',
        'ₗ' => 'l',
        'ₘ' => 'm',
        'ₙ' => 'n',
        'ₒ' => 'o',
        'ₚ' => 'p',
        'ᵣ' => 'r',
        'ₛ' => 's',
        'ₜ' => 't',
        'ᵤ' => 'u',
        'ᵥ' => 'v',
        'ₓ' => 'x',
        // Braille letters (grade 1).
        '⠁' => 'a',
        '⠃' => 'b',
        '⠉' => 'c',
        '⠙' => 'd',
        '⠑' => 'e',
        '⠋' => 'f',
        '⠛' => 'g',
        '⠓' => 'h',
        '⠊' => 'i',
        '⠚' => 'j',
        '⠅' => 'k',
        '⠇' => 'l',
        '⠍' => 'm',
        '⠝' => 'n',
        '⠕' => 'o',
        '⠏' => 'p',
        '⠟' => 'q',
        '⠗' => 'r',
        '⠎' => 's',
        '⠞' => 't',
        '⠥' => 'u',
        '⠧' => 'v',
        '⠺' => 'w',
        '⠭' => 'x',
        '⠽' => 'y',
        '⠵' => 'z',
        // Cherokee letters that look Latin (Unicode's confusables list).
        'Ꭺ' => 'A',
        'Ᏼ' => 'B',
        'Ꮯ' => 'C',
        'Ꭰ' => 'D',
        'Ꭼ' => 'E',
        'Ꮐ' => 'G',
        'Ꮋ' => 'H',
        'Ꭵ' => 'i',
        'Ꭻ' => 'J',
        'Ꮶ' => 'K',
        'Ꮮ' => 'L',
        'Ꮇ' => 'M',
        'Ꮎ' => 'O',
        'Ꮲ' => 'P',
        'Ꭱ' => 'R',
        'Ꮪ' => 'S',
        'Ꭲ' => 'T',
        'Ꮩ' => 'V',
        'Ꮃ' => 'W',
        'Ꮍ' => 'Y',
        'Ꮓ' => 'Z',
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

/// Turned (upside-down) letters.
const TURNED: &[char] = &[
    'ɐ', 'ɔ', 'ǝ', 'ɟ', 'ƃ', 'ɥ', 'ᴉ', 'ɾ', 'ʞ', 'ɯ', 'ɹ', 'ʇ', 'ʌ', 'ʍ', 'ʎ', '∀', 'Ɔ', 'Ǝ', 'Ⅎ',
    '⅁', 'Ɯ', 'Ԁ', 'ꞁ', '⊥', 'Λ', 'M', '⅄',
];

/// The letter a turned letter stands for; `b`/`q`, `d`/`p` and `n`/`u` swap places.
fn unturned(c: char) -> char {
    match c {
        'ɐ' | '∀' => 'a',
        'ɔ' | 'Ɔ' => 'c',
        'ǝ' | 'Ǝ' => 'e',
        'ɟ' | 'Ⅎ' => 'f',
        'ƃ' | '⅁' => 'g',
        'ɥ' => 'h',
        'ᴉ' => 'i',
        'ɾ' => 'j',
        'ʞ' => 'k',
        'ɯ' | 'Ɯ' => 'm',
        'ɹ' => 'r',
        'ʇ' | '⊥' => 't',
        'ʌ' | 'Λ' => 'v',
        'ʍ' => 'w',
        'ʎ' | '⅄' => 'y',
        'Ԁ' => 'p',
        'ꞁ' => 'l',
        'q' => 'b',
        'b' => 'q',
        'p' => 'd',
        'd' => 'p',
        'n' => 'u',
        'u' => 'n',
        other => other,
    }
}

/// `text` with `\uXXXX`, `%uXXXX` and `\xXX` escapes decoded.
fn escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['\\', '%']) {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at..).unwrap_or("");
        let marker = tail.get(1..2).unwrap_or("");
        let width = match marker {
            "u" | "U" => 4,
            "x" | "X" if tail.starts_with('\\') => 2,
            _ => 0,
        };
        let decoded = (width > 0)
            .then(|| tail.get(2..2 + width))
            .flatten()
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail.get(2 + width..).unwrap_or("");
            }
            None => {
                out.push_str(tail.get(..1).unwrap_or(""));
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text written as 8-bit binary groups (at least four), decoded when every byte is printable.
fn binary_bytes(text: &str) -> Option<String> {
    if !text
        .bytes()
        .all(|b| b == b'0' || b == b'1' || b.is_ascii_whitespace())
    {
        return None;
    }
    let groups: Vec<&str> = text.split_whitespace().collect();
    if groups.len() < 4
        || !groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b == b'0' || b == b'1'))
    {
        return None;
    }
    let bytes: Vec<u8> = groups
        .iter()
        .filter_map(|g| u8::from_str_radix(g, 2).ok())
        .collect();
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// International Morse code (letters and digits; `/` or three spaces between words), decoded
/// when the whole text is Morse.
fn morse(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() < 12
        || !text.contains('.')
        || !text.contains('-')
        || !text
            .bytes()
            .all(|b| matches!(b, b'.' | b'-' | b'/' | b' ' | b'|'))
    {
        return None;
    }
    const CODES: &[(&str, char)] = &[
        (".-", 'a'),
        ("-...", 'b'),
        ("-.-.", 'c'),
        ("-..", 'd'),
        (".", 'e'),
        ("..-.", 'f'),
        ("--.", 'g'),
        ("....", 'h'),
        ("..", 'i'),
        (".---", 'j'),
        ("-.-", 'k'),
        (".-..", 'l'),
        ("--", 'm'),
        ("-.", 'n'),
        ("---", 'o'),
        (".--.", 'p'),
        ("--.-", 'q'),
        (".-.", 'r'),
        ("...", 's'),
        ("-", 't'),
        ("..-", 'u'),
        ("...-", 'v'),
        (".--", 'w'),
        ("-..-", 'x'),
        ("-.--", 'y'),
        ("--..", 'z'),
        ("-----", '0'),
        (".----", '1'),
        ("..---", '2'),
        ("...--", '3'),
        ("....-", '4'),
        (".....", '5'),
        ("-....", '6'),
        ("--...", '7'),
        ("---..", '8'),
        ("----.", '9'),
    ];
    let mut out = String::with_capacity(text.len() / 3);
    for word in text.split(['/', '|']).flat_map(|part| part.split("   ")) {
        for code in word.split_whitespace() {
            out.push(CODES.iter().find(|(c, _)| *c == code)?.1);
        }
        out.push(' ');
    }
    Some(out.trim_end().to_owned())
}

/// The words injections are built from, for [`mend_misspellings`].
const KEY_WORDS: &[&str] = &[
    "ignore",
    "disregard",
    "forget",
    "previous",
    "instructions",
    "instruction",
    "prompt",
    "system",
    "reveal",
    "password",
    "guidelines",
    "override",
    "bypass",
    "restrictions",
    "directions",
    "earlier",
    "above",
    "prior",
    "rules",
    "secret",
    "developer",
    "jailbreak",
    "preceding",
    "original",
    "initial",
];

/// `text` with each word that is a key word misspelt (the same first and last letters and
/// the inner letters scrambled, for words of five letters or more; or, for key words of six
/// letters or more, one inner letter dropped) replaced by the key word; `None` when no word
/// changed.
fn mend_misspellings(text: &str) -> Option<String> {
    // Most text has no misspelt key word: look before building anything.
    if !text
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| mended(word).is_some())
    {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        out.push_str(rest.get(..start).unwrap_or(""));
        rest = rest.get(start..).unwrap_or("");
        let end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = rest.get(..end).unwrap_or("");
        rest = rest.get(end..).unwrap_or("");
        match mended(word) {
            Some(key) => {
                out.push_str(key);
                changed = true;
            }
            None => out.push_str(word),
        }
    }
    changed.then_some(out)
}

/// The key word `word` misspells, if any (ASCII case ignored).
fn mended(word: &str) -> Option<&'static str> {
    let w = word.as_bytes();
    if w.len() < 5 || w.len() > 12 {
        return None;
    }
    let first = w.first()?.to_ascii_lowercase();
    if !b"abdefgijoprs".contains(&first) {
        return None;
    }
    let last = w.last()?.to_ascii_lowercase();
    KEY_WORDS.iter().copied().find(|key| {
        let k = key.as_bytes();
        if k.first() != Some(&first)
            || (k.len() != w.len() && k.len() != w.len() + 1)
            || word.eq_ignore_ascii_case(key)
        {
            return false;
        }
        if k.len() == w.len() && k.last() == Some(&last) {
            let mut a: Vec<u8> = w.iter().map(u8::to_ascii_lowercase).collect();
            let mut b = k.to_vec();
            a.sort_unstable();
            b.sort_unstable();
            return a == b;
        }
        // One inner letter dropped.
        k.len() >= 6
            && k.len() == w.len() + 1
            && k.last() == Some(&last)
            && (1..k.len() - 1).any(|skip| {
                k.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, b)| *b)
                    .eq(w.iter().map(u8::to_ascii_lowercase))
            })
    })
}
