//! Argument inspection: injection detectors over every string argument, after schema validation
//! and before authorization.
//!
//! Each string is judged by what its schema says it is:
//! - an `enum` field was already pinned down by the schema and is skipped;
//! - a URL field (`format: uri`, `hostname` ... or a name ending in `url`, `uri`, `host`) is
//!   parsed whole and its host classified; the pattern detectors run too, but not the
//!   prompt-injection phrasing;
//! - an identifier (a `pattern`, or a `format` such as `uuid` or `date`) gets the pattern
//!   detectors only;
//! - everything else is free text and gets every detector.
//!
//! Percent-encoded strings are also checked decoded once and twice, so `..%252f` is found.
//! Internal addresses are recognised with the egress classifier (passed in as a function so
//! this crate does not depend on egress) and a list of internal names; no name is resolved.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_config::Severity;
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value};
use url::{Host, Url};

use crate::error::{DetectorError, SettingsError};
use crate::prompt::{PromptDetector, PromptHit};

/// The detector families, as named in `guards.inspect.disabled`.
pub const FAMILIES: &[&str] = &[
    "sql",
    "shell",
    "path_traversal",
    "template",
    "script",
    "internal_url",
    "prompt_injection",
];

/// Names the special-purpose range of an address, `None` for an ordinary public one (the egress
/// classifier).
pub type Classifier = fn(IpAddr) -> Option<&'static str>;

/// One finding: which detector, how bad, and where (JSON pointer into the arguments).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Finding {
    /// Detector id, `<family>.<rule>`.
    pub detector: &'static str,
    /// Severity.
    pub severity: Severity,
    /// JSON pointer of the argument.
    pub path: String,
}

/// The risk a severity adds to `context.risk`.
pub fn weight(severity: Severity) -> i64 {
    match severity {
        Severity::Low => 10,
        Severity::Medium => 25,
        Severity::High => 50,
    }
}

/// The risk score of a set of findings: the sum of their weights, at most 100.
pub fn risk(findings: &[Finding]) -> i64 {
    findings
        .iter()
        .map(|f| weight(f.severity))
        .sum::<i64>()
        .min(100)
}

/// Detector id, severity and pattern of each pattern rule.
const PATTERNS: &[(&str, Severity, &str)] = &[
    (
        "sql.tautology",
        Severity::High,
        r#"(?i)['"`]\s*\)*\s*(?:or|and|\|\||&&|xor)\s*\(*\s*['"`]?[\w@.]+(?:\s*\([^)]{0,20}\))?['"`]?\s*\)*\s*(?:==?|<>|!=|<=?|>=?|\blike\b|\bregexp\b|\brlike\b)\s*\(*['"`]?[\w@%]|['"`]\s*(?:or|\|\|)\s*['"`]{0,2}\s*=\s*['"`]|\b(?:or|and)\s+\(?\d+\s*(?:=|<>|!=|<|>)\s*\(?\d+\b|\bor\s+(?:true|not\s+false)\b|['"`]\s*(?:or|and)\s+(?:true\b|false\b|not\s+\w|\d+\s*(?:--|#|$|=|<|>)|sleep\s*\(|exists\s*\(|\(\s*select\b)|['"`]\s*=\s*['"`]\s*(?:or|and)\b|\b(?:or|and)\s+['"`]\w*['"`]\s*(?:==?|<>|!=|\blike\b)\s*['"`]\w*['"`]|['"`)]\s*(?:or|and)\s+\d+\s+between\s+\d+\s+and\s+\d+|\b(?:or|and)\s+\d+\s+in\s*\(\s*select\b|['"`]\s*\)*\s*(?:or|and)\s+\w+\s+is\s+(?:not\s+)?null\b|^\s*['"`]\s*[-=&^*|+%/]\s*['"`]\s*$|['"`]\s*(?:or|and)\s+['"`]{2}\s*[-=&^*|+%/ ]\s*['"`]|['"`]\s*=\s*\d+\s*(?:--|#)|['"`]\s*\|\|\s*['"`]?\w+['"`]?\s*==\s*['"`]?\w|['"`]\s*(?:or|and)\s+['"`]?\d+['"`]?\s*(?:--|#|$)|^\s*['"`]\s*(?:like|or|and|xor|div)\s*['"`]\s*$|\b(?:and|or)\s+\(\s*select\b|['"`]\s*(?:\|\||\+|&)\s*\(\s*select\b"#,
    ),
    (
        "sql.union",
        Severity::High,
        r"(?i)\bunion\b(?:\s+|/\*.*?\*/|\(|%20|\+)*(?:all\b|distinct\b)?(?:\s+|/\*.*?\*/|\(|%20|\+)*select\b",
    ),
    (
        "sql.stacked",
        Severity::High,
        r"(?i);\s*(?:drop|delete|truncate|alter|insert|update|create|exec(?:ute)?|shutdown|grant|declare|select|waitfor|revoke|merge|call|set\s+@|replace|rename|load\s+data|copy)\s+[\w@(*`\x22\x27]|;\s*shutdown\b\s*(?:--|#|;|$|with\b)|\b(?:exec(?:ute)?)\s+(?:master\.\.|sp_|xp_)\w+",
    ),
    (
        "sql.comment",
        Severity::Medium,
        r#"['"`]\s*\)*\s*;?\s*(?:--(?:[\s+-]|$)|#(?:\s|$)|/\*|%00|\x00)|\b(?:admin|root|user|administrator)['"`]\s*\)*\s*(?:--|#|/\*)"#,
    ),
    (
        "sql.time",
        Severity::High,
        r"(?i)\b(?:sleep|pg_sleep|benchmark|dbms_lock\.sleep|randomblob)\s*\(\s*[\d(]|\bwaitfor\s+(?:delay|time)\s+'|\bdbms_pipe\.receive_message\s*\(",
    ),
    (
        "sql.metadata",
        Severity::Medium,
        r#"(?i)\binformation_schema\b|\bxp_cmdshell\b|\binto\s+(?:out|dump)file\b|\bload_file\s*\(|@@version\b|\bversion\s*\(\s*\)|\bsysobjects\b|\bpg_catalog\b|\bsqlite_master\b|\ball_tables\b|\butl_inaddr\b|\bctxsys\.|\b(?:extractvalue|updatexml)\s*\(|\bconvert\s*\(\s*int\b|\bexp\s*\(\s*~|\bfloor\s*\(\s*rand\s*\(|\bxmltype\s*\(|\b(?:n?char|chr)\s*\(\s*\d+\s*\)\s*(?:\+|\|\||,)|\bchar\s*\(\s*\d+(?:\s*,\s*\d+){2,}|\bconcat(?:_ws)?\s*\(\s*0x[0-9a-f]+|\bselect\b.{0,80}\bfrom\s+(?:dual\b|information_|mysql\.|sys\.|pg_)|\b(?:and|or)\s+\(?\s*(?:ascii|substr(?:ing)?|mid|length|ord|unicode|len)\s*\(|\b(?:order|group)\s+by\s+\d+(?:\s*,\s*\d+)*\s*,?\s*(?:--|#|/\*)|(?:\|\||&&)\s*\d+\s*=\s*\d+|['")]\s*(?:order|group)\s+by\s+\d|\bhaving\s+\d+\s*=\s*\d+|\butl_http\.|\bxp_(?:dirtree|fileexist|subdirs|regread|cmdshell|servicecontrol)\b|\bmaster\.\.\w+|\bdbms_\w+\.\w+\s*\(|\bcast\s*\(\s*\(?\s*(?:select|@@|version|user|db_name|current_user|database)\b|\bprocedure\s+analyse\s*\(|\bsys\.(?:user_|dba_|all_|objects|tables|columns|databases)|\bmysql\.user\b|\bpg_(?:shadow|user|read_file|ls_dir)\b|\b(?:user|database|schema|current_user|system_user|session_user|db_name|@@hostname)\s*\(\s*\)\s*(?:--|#|,|\)|$)|\d\s+(?:order|group)\s+by\s+\d+(?:\s*,\s*\d+)*\s*$|\{\s*['"]\$(?:ne|gt|gte|lt|lte|regex|where|exists|nin|in|or|and|not|expr|elemMatch)['"]\s*:|\[\$(?:ne|gt|gte|lt|lte|regex|where|exists|nin|in)\]|['"`];\s*return\s+(?:true|1)\b|\$where\s*['":]"#,
    ),
    (
        "shell.chain",
        Severity::High,
        r"(?:[;&|\n\r]|&&|\|\||%0a|%0d|\$\(|`)\s*(?:rm\s+-[rf]|curl\s+\S|wget\s+\S|nc\s+\S|ncat\s|netcat\s|bash\b|sh\s+-|sh\s*$|zsh\b|dash\b|ksh\b|cat\s+\S|chmod\s+[0-7+]|chown\s|python[23]?\s+-c|perl\s+-e|ruby\s+-e|php\s+-r|powershell\b|pwsh\b|cmd(?:\.exe)?\s*/[ck]|mkfifo\s|socat\s|telnet\s|id\s*(?:$|[;&|#])|id\b\s*$|whoami\b|uname\b|hostname\s*$|ifconfig\b|ipconfig\b|systeminfo\b|tasklist\b|net\s+user\b|ping\s+-[cn]\b|ping\s+\d|nslookup\s+\S|dig\s+\S+\.\S|sleep\s+\d|ls(?:\s+-\w+)?\s*(?:$|[;&|/])|ls\s+-|dir\s*(?:$|[;&|])|type\s+[a-z]:\\|echo\s+\S+\s*(?:[>|;&]|$)|printenv\b|env\s*$|set\s*$|xargs\s|base64\s+-d|busybox\s|certutil\b|bitsadmin\b|wmic\b|reg\s+query|eval\s|exec\s|touch\s+/|/bin/|/usr/bin/|\.\/|tee\s+/|ps\s+(?:aux|-ef)\b|kill\s+-\d|(?:find|head|tail|more|less|grep)\s+\S*\s*/(?:etc|proc|var|root|home|tmp)\b|calc(?:\.exe)?\b|notepad(?:\.exe)?\b|export\s+\w+=|awk\s|sudo\s+\S|su\s+-|shutdown\s+(?:-[hrfs]|/[srft]|now)|(?:reboot|halt|poweroff)\s*$|useradd\s|crontab\s+-|nohup\s|dd\s+if=|tar\s+-?[cxzt]v?f|openssl\s+(?:s_client|enc|req|x509|genrsa|rand|base64)|docker\s+(?:run|exec|ps|images|cp)\b|kubectl\s+(?:get|exec|apply|delete|run)\b|nmap\s|netstat\s*(?:-\w+|$)|lsof\s*(?:-\w+|$)|uptime\s*$|history\s*$|getent\s|xxd\s|traceroute\s|tracert\s|ssh\s+(?:-\w|\w+@)|scp\s|rundll32\b|regsvr32\b|mshta\b|cscript\b|wscript\b|msiexec\b|taskkill\b|netsh\b|icacls\b|schtasks\b|wevtutil\b|findstr\s|reg\s+(?:add|delete|save)\b|sc\s+(?:query|create|stop|start)\b|del\s+/|(?:cp|mv|mkdir)\s+(?:-\w+\s+)?/|sed\s+-|node\s+-e\b|lua\s+-e\b|cat\s*<|base64\s+/|find\s+/(?:\s|$)|net\s+(?:user|localgroup|group|view|share|use|accounts|config|session|start|stop)\b|ver\s*$|dir\s+(?:[a-z]:\\|/)|[a-z0-9_]+(?:\s+[^\s;&|]+){0,3}\s+/(?:etc|proc|root|dev|bin|usr/bin)/|(?i:get-(?:content|childitem|process|item)|set-content|start-process|new-object|invoke-\w+|iwr|irm|iex)\b)",
    ),
    (
        "shell.substitution",
        Severity::High,
        r"\$\(\s*[a-z][a-z0-9_]*(?:\s[^)]*)?\)|`\s*(?:rm|curl|wget|cat|id|whoami|uname|nc|bash|sh|python[23]?|perl|ls|ping|sleep|echo|nslookup|env|hostname)\b[^`]*`|\$\{IFS\}|\$IFS\b|\$\{[A-Z_]+:\d+:\d+\}|\$'\\x[0-9a-fA-F]{2}|[<>]\(\s*[a-z]+\s[^)]*\)|\{(?:cat|ls|id|wget|curl|nc|bash|sh|echo|rm|ping|whoami|uname|python[23]?|perl),[^}\s]*\}|\|\s*(?:ba|z|da)?sh\b|\bbase64\s+(?:-d|--decode)\b|/[?*][?*a-z]*/[a-z?*]*[?*][a-z?*]*|\b(?:IEX|Invoke-Expression|Invoke-WebRequest|DownloadString|FromBase64String)\b|-EncodedCommand\b|%COMSPEC%|\bcmd(?:\.exe)?\s*/[ck]\b",
    ),
    (
        "shell.device",
        Severity::High,
        r"/dev/(?:tcp|udp)/|/bin/(?:ba|z|da|k)?sh\b|\bnc\s+(?:-\w+\s+)*-e\b|\bbash\s+-i\b|>&\s*/dev/|0>&1",
    ),
    (
        "path_traversal.dotdot",
        Severity::High,
        r"(?:^|[\\/=:])\.\.(?:[\\/]|;[\\/]|$)|\.\.[\\/]|\.{3,}[\\/]{1,2}|\.\.;",
    ),
    (
        "path_traversal.encoded",
        Severity::High,
        r"(?i)%c0%ae|%c0%af|%c1%9c|%c1%1c|%e0%80%ae|%u002e|%u2215|%u2216|%uff0e|%252e%252e|0x2e0x2e|%25c0%25ae|%c[01]%[0-9a-f]{2}|%e0%[89][0-9a-f]%[0-9a-f]{2}|%f0%80%80%[0-9a-f]{2}|\\x2e\\x2e|\\u002e\\u002e|%2e%2e(?:%2f|%5c|/|\\)|\.\.%2f|\.\.%5c",
    ),
    (
        "path_traversal.sensitive_file",
        Severity::High,
        r"(?i)/etc/(?:passwd|shadow|sudoers|master\.passwd|security/)|/proc/(?:self|\d+)/|/proc/(?:version|cpuinfo|meminfo|mounts|cmdline|environ|net/)|/var/run/secrets/|/root/|[a-z]:[\\/]+windows[\\/]+(?:system32|win\.ini|system\.ini|repair)|\bwin\.ini\b|\bboot\.ini\b|\\windows\\system32|\.ssh[\\/](?:id_[a-z0-9]+|authorized_keys|known_hosts)\b|\bweb\.config\b|\.htaccess\b|\.htpasswd\b|[\\/]\.git[\\/]|\\\\\?\\|\\\\\.\\|^\\\\[^\\\s]+\\[a-z$]*\$|^\\\\\d+\.\d+\.\d+\.\d+\\|%00|\x00|\.\w{1,4}%00|/inetpub/|[\\/]inetpub[\\/]|\bWEB-INF[\\/]|\bMETA-INF[\\/]|\.aws[\\/]credentials\b|\.git-credentials\b|\.docker[\\/]config\.json\b|\.kube[\\/]config\b|[\\/]\.netrc\b|[\\/]\.bash_history\b|^\s*(?:file://)?(?:/var/log/(?:apache2?|nginx|httpd|auth\.log|secure|syslog|messages|mail)|/etc/(?:hosts|group|issue|hostname|crontab|fstab|os-release|resolv\.conf|mysql/|apache2/|nginx/|ssh/|httpd/))\S*\s*$",
    ),
    (
        "template.expression",
        Severity::High,
        r#"\{\{[^}]{0,120}?(?:\d\s*[*+/-]\s*['"]?\d|__|\bconfig\b|\bself\b|\brequest\b|lipsum|cycler|joiner|namespace|\|\s*attr|\|\s*safe|range\(|\(|\[|constructor|\bos\b|popen|subprocess|settings\.|\.Env\b|printf|\blookup\b|\bthis\b|\bdefine\b|\bcall\b|\btemplate\b|_self|\.getClass|Runtime)[^}]{0,120}\}\}|\$\{[^}]{0,120}?(?:\d\s*[*+/-]\s*\d|jndi|T\s*\(|Runtime|getClass|\benv:|\bsys:|lower:|upper:|::-|\$\{|\(|\bnew\b|class\.|\.exec|#|@|\?new|freemarker|'\s*\+|"\s*\+)[^}]{0,120}\}|#\{[^}]{0,120}?(?:\d\s*[*+/-]\s*\d|\(|T\s*\(|`|%x|system|exec|File\.|IO\.|Runtime|getClass|\.class)[^}]{0,120}\}|%\{[^}]{0,120}?(?:#|@|\(|\d\s*[*+]\s*\d)[^}]{0,120}\}|\*\{[^}]{0,120}?(?:T\s*\(|\(|\d\s*[*+]\s*\d)[^}]{0,120}\}|@\(\s*\d+\s*[*+/-]\s*\d+\s*\)|@\{[^}]{0,120}\}|@System\.|@Html\.Raw|@java\.lang\.|#_memberAccess|#context\[|__\$\{|\[=[^\]]*\]|\{\$smarty\b|\{php\}|\{(?:system|exec|passthru|shell_exec)\s*\(|\{Smarty_|\$class\.inspect|\$\w+\.getClass\(|#(?:set|foreach|evaluate|parse|include|define|macro)\s*\(|<#(?:assign|if|list|include|import|macro|function|attempt|ftl|setting)\b|\[#(?:assign|if|list)\b|\?new\s*\(|\?api\.\w|\{\{=|\{!!|\{@\w+\s|\$\{[^}]{0,120}?(?:applicationScope|sessionScope|requestScope|pageContext|facesContext|initParam)"#,
    ),
    (
        "template.directive",
        Severity::Medium,
        r"<%[=#!-]?\s*[^%]{1,120}%>|<%(?:!|namespace|include|inherit|def|block)\b|\{%-?\s*(?:import|include|extends|for|set|macro|debug|load|raw|call|filter|with|block|from|print|if)\b|\{\{\s*(?:[#/^>]|else\b)|\{\{\s*\.\s*\}\}",
    ),
    (
        "script.tag",
        Severity::High,
        r"(?i)<\s*/?\s*(?:script|iframe|object|embed|applet|frameset|frame|svg|math|portal|xss|isindex)\b|<\s*meta\s+http-equiv|<\s*base\s+href|<\s*!\[CDATA\[|<!--\s*<",
    ),
    (
        "script.handler",
        Severity::High,
        r#"(?i)<[a-z][^>]*[\s/"']+on[a-z]{3,}\s*=|["']\s*(?:/\s*)?(?:autofocus\s+|tabindex=\S+\s+)*on[a-z]{3,}\s*=\s*["']?[a-z(]|\b(?:alert|prompt|confirm)(?:\(|`)\s*(?:\d|document|window|'|"|`|/|\))|document\.(?:cookie|domain|write|location)|window\.location|String\.fromCharCode\s*\(|:\s*expression\s*\(|-moz-binding\s*:|\bbehavior\s*:\s*url|@import\s+['"]?(?:javascript|data|https?):|srcdoc\s*="#,
    ),
    (
        "script.url",
        Severity::High,
        r"(?i)\b(?:j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t|livescript|mocha)\s*:(?:[^\s]|\s+[^\s(]*[(`])|data\s*:\s*(?:text/html|text/javascript|application/(?:x-)?javascript|image/svg\+xml|application/xhtml)",
    ),
];

/// Names that always mean "inside": exact names and suffixes.
const INTERNAL_NAMES: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "instance-data",
    "kubernetes.default",
    "kubernetes.default.svc",
];
const INTERNAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".localdomain",
    ".private",
    ".local",
    ".internal",
    ".intranet",
    ".corp",
    ".lan",
    ".home.arpa",
    ".svc",
    ".cluster.local",
];

/// The compiled detectors; built once, shared by every call.
pub struct Inspector {
    set: RegexSet,
    urls: Regex,
    /// `path_traversal.sensitive_file` as read in an `http(s)` URL: see [`sensitive_in_url`].
    sensitive_in_url: Regex,
    prompt: Arc<PromptDetector>,
    classify: Classifier,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").finish_non_exhaustive()
    }
}

/// Which detector families are off, as a bit per [`FAMILIES`] entry.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Disabled(u8);

impl Disabled {
    /// From family names; an unknown name is an error naming it.
    pub fn new(names: &[String]) -> Result<Self, SettingsError> {
        let mut bits = 0;
        for name in names {
            let Some(index) = FAMILIES.iter().position(|f| f == name) else {
                return Err(SettingsError::UnknownDetectorFamily {
                    name: name.clone(),
                    known: FAMILIES.join(", "),
                });
            };
            bits |= 1 << index;
        }
        Ok(Self(bits))
    }

    fn off(self, detector: &str) -> bool {
        let family = detector.split('.').next().unwrap_or(detector);
        FAMILIES
            .iter()
            .position(|f| *f == family)
            .is_some_and(|index| self.0 & (1 << index) != 0)
    }
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum FieldClass {
    Enum,
    Url,
    Identifier,
    FreeText,
}

impl Inspector {
    /// Compiles the detectors; `classify` is the egress address classifier.
    pub fn new(prompt: Arc<PromptDetector>, classify: Classifier) -> Result<Self, DetectorError> {
        // The set is large: the lazy DFA needs room for its states, or it gives up and the
        // search falls back to the much slower PikeVM on every argument.
        let set = RegexSetBuilder::new(PATTERNS.iter().map(|(_, _, p)| *p))
            .size_limit(32 << 20)
            .dfa_size_limit(32 << 20)
            .build()
            .map_err(|e| DetectorError::new("inspect.patterns", e))?;
        // Special schemes also with fewer slashes (or backslashes): a WHATWG parser reads
        // `http:/127.0.0.1` and `http:127.0.0.1` as `http://127.0.0.1`.
        let urls =
            Regex::new(r#"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://|(?:https?|wss?|ftp):)[^\s"'<>`]+"#)
                .map_err(|e| DetectorError::new("inspect.urls", e))?;
        let sensitive_in_url = PATTERNS
            .iter()
            .find(|(id, _, _)| *id == "path_traversal.sensitive_file")
            .and_then(|(_, _, pattern)| sensitive_in_url(pattern))
            .ok_or_else(|| {
                DetectorError::new("inspect.sensitive_in_url", "a system path is not found")
            })
            .and_then(|pattern| {
                Regex::new(&pattern).map_err(|e| DetectorError::new("inspect.sensitive_in_url", e))
            })?;
        Ok(Self {
            set,
            urls,
            sensitive_in_url,
            prompt,
            classify,
        })
    }

    /// Every finding in `args`, judged against the tool's `input_schema`.
    pub fn inspect(
        &self,
        input_schema: &Value,
        args: &Map<String, Value>,
        disabled: Disabled,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut path = String::new();
        for (key, value) in args {
            let schema = input_schema.get("properties").and_then(|p| p.get(key));
            push_segment(&mut path, key);
            self.walk(value, schema, key, &mut path, disabled, &mut findings);
            path.clear();
        }
        findings
    }

    fn walk(
        &self,
        value: &Value,
        schema: Option<&Value>,
        name: &str,
        path: &mut String,
        disabled: Disabled,
        findings: &mut Vec<Finding>,
    ) {
        match value {
            Value::String(text) => {
                let class = classify_field(schema, name);
                self.string(text, class, path, disabled, findings);
            }
            Value::Array(items) => {
                let items_schema = schema.and_then(|s| s.get("items"));
                let len = path.len();
                for (i, item) in items.iter().enumerate() {
                    path.push_str(&format!("/{i}"));
                    self.walk(item, items_schema, name, path, disabled, findings);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                let len = path.len();
                for (key, item) in map {
                    let inner = schema
                        .and_then(|s| s.get("properties"))
                        .and_then(|p| p.get(key));
                    push_segment(path, key);
                    self.walk(item, inner, key, path, disabled, findings);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn string(
        &self,
        text: &str,
        class: FieldClass,
        path: &str,
        disabled: Disabled,
        findings: &mut Vec<Finding>,
    ) {
        if class == FieldClass::Enum || text.is_empty() {
            return;
        }
        let mut add = |detector: &'static str, severity: Severity| {
            if disabled.off(detector)
                || findings
                    .iter()
                    .any(|f| f.detector == detector && f.path == path)
            {
                return;
            }
            findings.push(Finding {
                detector,
                severity,
                path: path.to_owned(),
            });
        };
        let once = percent_decode(text);
        let twice = once.as_deref().and_then(percent_decode);
        let decoded = twice.as_deref().or(once.as_deref()).unwrap_or(text);
        let readings = readings(decoded);
        let resolved_url = class == FieldClass::Url
            && Url::parse(text.trim()).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        for variant in [Some(text), once.as_deref(), twice.as_deref()]
            .into_iter()
            .flatten()
            .chain(readings.iter().map(String::as_str))
        {
            for index in self.set.matches(variant).iter() {
                if let Some((id, severity, _)) = PATTERNS.get(index) {
                    // In a URL the parser resolves literal dot segments before anything is
                    // sent, so they cannot leave the URL's host (encoded ones still count).
                    if *id == "path_traversal.dotdot"
                        && resolved_url
                        && !climbs(variant)
                        && (std::ptr::eq(variant, text)
                            || once
                                .as_deref()
                                .is_some_and(|once| std::ptr::eq(variant, once)))
                    {
                        continue;
                    }
                    if *id == "path_traversal.sensitive_file"
                        && resolved_url
                        && !self.sensitive_in_url.is_match(variant)
                    {
                        continue;
                    }
                    add(id, *severity);
                }
            }
            if !disabled.off("internal_url")
                && let Some(severity) = self.internal(variant, class, std::ptr::eq(variant, text))
            {
                add("internal_url.address", severity);
            }
        }
        if class == FieldClass::FreeText && !disabled.off("prompt_injection") {
            let mut hits: Vec<PromptHit> = Vec::new();
            self.prompt.scan(text, &mut hits);
            for hit in hits {
                add(hit.id, hit.severity);
            }
        }
    }

    /// The severity when `text` is, or contains, a URL or host that points inside. `whole`:
    /// `text` is the argument as sent (not a decoded form), so a URL field's value that does
    /// not parse is refused (fail closed).
    fn internal(&self, text: &str, class: FieldClass, whole: bool) -> Option<Severity> {
        let trimmed = text.trim();
        if class == FieldClass::Url {
            if !trimmed.is_empty() && self.url_value_refused(trimmed, whole) {
                return Some(Severity::High);
            }
        } else if !trimmed.is_empty()
            && !trimmed.contains("://")
            && !trimmed.contains(char::is_whitespace)
        {
            // A bare host[:port][/path]. Outside URL fields only IP literals written in full
            // and the well-known internal names count, so version strings (`10.0.1`) and file
            // names (`notes.local`) stay quiet.
            let host = bare_host(trimmed);
            let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            let judged = if numeric {
                host.matches('.').count() == 3
            } else {
                host.starts_with('[')
                    || INTERNAL_NAMES.contains(&host.to_ascii_lowercase().as_str())
            };
            if judged
                && let Ok(url) = Url::parse(&format!("http://{trimmed}"))
                && self.internal_url(&url)
            {
                return Some(Severity::High);
            }
        }
        for found in self.urls.find_iter(text) {
            if let Ok(url) = Url::parse(found.as_str())
                && (self.internal_url(&url) || self.authority_internal(found.as_str()))
            {
                return Some(Severity::High);
            }
        }
        None
    }

    /// Whether the value of a URL field is refused: a scheme no upstream should receive, a
    /// host inside (as the WHATWG parser reads it, or as an RFC 3986 parser would), or, for the
    /// value as sent, a URL that does not parse at all.
    fn url_value_refused(&self, value: &str, whole: bool) -> bool {
        // Read the value as the WHATWG parser does: leading and trailing C0 controls and spaces
        // dropped, and every tab and line break removed wherever it stands (`htt\np://` is
        // `http://`).
        let value = value.trim_matches(|c: char| c <= ' ');
        let unbroken;
        let value = if value.contains(['\t', '\n', '\r']) {
            unbroken = value.replace(['\t', '\n', '\r'], "");
            unbroken.as_str()
        } else {
            value
        };
        let scheme = value
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                scheme.len() >= 2
                    && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            });
        // `host:port` (and `localhost:6379/0`) is a host, not a scheme: a port is one to five
        // digits up to the path, query or fragment (`tel:5550100` and `geo:37.78,-122.39` are
        // URIs of their schemes).
        let host_port = scheme.is_some()
            && value.split_once(':').is_some_and(|(_, rest)| {
                let port = rest.split(['/', '?', '#']).next().unwrap_or("");
                (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
            });
        let candidate = match scheme {
            Some(scheme) if !host_port => {
                if REFUSED_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                    return true;
                }
                value.to_owned()
            }
            _ => {
                if value.contains(char::is_whitespace) {
                    return false;
                }
                format!("http://{value}")
            }
        };
        match Url::parse(&candidate) {
            Ok(url) => self.internal_url(&url) || self.authority_internal(&candidate),
            Err(_) => whole,
        }
    }

    /// The host an RFC 3986 parser would read in `text` (the authority ends at the first `/`,
    /// `?` or `#`, the host follows the last `@`; a backslash is an ordinary character), when
    /// it is inside.
    fn authority_internal(&self, text: &str) -> bool {
        let Some((scheme, rest)) = text.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.split('\\').next().unwrap_or("");
        if host.is_empty() {
            return false;
        }
        // A bucket or app name of a namespace scheme is no host name: only an address or a
        // name internal by itself counts there.
        if NAMESPACE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
            && !host.contains(['.', ':', '['])
            && !INTERNAL_NAMES.contains(&host.to_ascii_lowercase().as_str())
        {
            return false;
        }
        Url::parse(&format!("http://{host}/")).is_ok_and(|url| self.internal_url(&url))
    }

    fn internal_url(&self, url: &Url) -> bool {
        if REFUSED_SCHEMES.contains(&url.scheme()) {
            return true;
        }
        match url.host() {
            Some(Host::Ipv4(ip)) => (self.classify)(IpAddr::V4(ip)).is_some(),
            Some(Host::Ipv6(ip)) => (self.classify)(IpAddr::V6(ip)).is_some(),
            Some(Host::Domain(name)) => {
                // A non-special scheme keeps its host opaque: an address written there is
                // still an address, read the way an HTTP client would read it.
                if !url.is_special()
                    && let Ok(reread) = Url::parse(&format!("http://{name}/"))
                    && matches!(reread.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
                {
                    return self.internal_url(&reread);
                }
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                INTERNAL_NAMES.contains(&name.as_str())
                    || INTERNAL_SUFFIXES.iter().any(|s| name.ends_with(s))
                    // A single-label name only resolves through a local search domain; the
                    // schemes whose authority names a bucket or an app are not resolved.
                    || (!NAMESPACE_SCHEMES.contains(&url.scheme()) && !name.contains('.'))
            }
            None => false,
        }
    }
}

/// The absolute system paths of `path_traversal.sensitive_file` (`/etc/passwd`, `/proc/self/`,
/// `/root/` ...).
const SYSTEM_PATHS: &[&str] = &[
    "/etc/(?:passwd|",
    "/proc/(?:self|",
    "/proc/(?:version|",
    "/var/run/secrets/",
    "/root/",
    "/inetpub/",
    r"[\\/]inetpub[\\/]",
];

/// The sensitive-file pattern as it applies to an `http(s)` URL: the path of such a URL is a
/// name on the web server it addresses, rooted in that server's document tree, so an absolute
/// system path counts only as a value (`?file=/etc/passwd`, `?u=file:///etc/passwd`, after `=`,
/// `:`, `?`, `&`, `#`, `;` or `,`), not as the URL's own path
/// (`https://docs.example/etc/passwd-format`). File names a web server itself holds (`.git/`,
/// `.htaccess`, `web.config`, `WEB-INF/`) count anywhere. `None` when a path is not found.
fn sensitive_in_url(pattern: &str) -> Option<String> {
    let mut out = pattern.to_owned();
    for path in SYSTEM_PATHS {
        if !out.contains(path) {
            return None;
        }
        out = out.replace(path, &format!("[=:?&#;,]/*{path}"));
    }
    Some(out)
}

/// Whether `text` climbs two or more directories in a row (`../../`): nothing a link needs,
/// even where the URL parser would resolve it.
fn climbs(text: &str) -> bool {
    text.contains("../..") || text.contains("..\\..") || text.contains("..%2f..")
}

/// The host of a bare `host[:port][/path]`.
fn bare_host(value: &str) -> &str {
    let head = value.split(['/', '?', '#']).next().unwrap_or("");
    head.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(head, |(host, _)| host)
}

/// Schemes whose authority is a name in the scheme's own namespace, not a host name to
/// resolve (a storage bucket, an app id, a content address): a single label there is not an
/// internal host.
const NAMESPACE_SCHEMES: &[&str] = &[
    "mailto",
    "s3",
    "s3a",
    "s3n",
    "gs",
    "ipfs",
    "ipns",
    "market",
    "intent",
    "android-app",
    "itms-apps",
    "spotify",
];

/// Schemes no upstream should receive in a URL argument: local files and the protocols
/// classic request-forgery payloads use to reach internal services.
const REFUSED_SCHEMES: &[&str] = &[
    "file",
    "gopher",
    "dict",
    "ldap",
    "ldaps",
    "ldapi",
    "jar",
    "netdoc",
    "tftp",
    "php",
    "expect",
    "phar",
    "view-source",
    "glob",
    "zip",
    "compress.zlib",
    "compress.bzip2",
    "data",
    "smb",
    "nfs",
    "jdbc",
    "rmi",
    "iiop",
    "telnet",
    "ssh2.shell",
    "ssh2.exec",
    "ogg",
    "rar",
    "vbscript",
    "javascript",
];

fn push_segment(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

fn classify_field(schema: Option<&Value>, name: &str) -> FieldClass {
    let lower = name.to_ascii_lowercase();
    let format = schema
        .and_then(|s| s.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if schema.is_some_and(|s| s.get("enum").is_some() || s.get("const").is_some()) {
        return FieldClass::Enum;
    }
    if matches!(
        format,
        "uri"
            | "url"
            | "uri-reference"
            | "iri"
            | "iri-reference"
            | "hostname"
            | "idn-hostname"
            | "ipv4"
            | "ipv6"
    ) || [
        "url", "uri", "host", "hostname", "link", "endpoint", "webhook",
    ]
    .iter()
    .any(|suffix| lower == *suffix || lower.ends_with(&format!("_{suffix}")))
    {
        return FieldClass::Url;
    }
    if !format.is_empty() || schema.is_some_and(|s| s.get("pattern").is_some()) {
        return FieldClass::Identifier;
    }
    FieldClass::FreeText
}

/// Other readings of an argument that the pattern detectors also see: HTML entities decoded,
/// Unicode look-alikes and invisible characters folded, `+` read as a space, SQL comments read
/// as spaces, and quotes and backslashes inside shell words removed. Each is kept only when it
/// differs from the text.
fn readings(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |reading: String, out: &mut Vec<String>| {
        if reading != text && !out.contains(&reading) {
            out.push(reading);
        }
    };
    let mut base = text.to_owned();
    if base.contains('&') {
        base = html_entities(&base);
    }
    if !base.is_ascii() {
        base = crate::prompt::fold(&base);
    }
    push(base.clone(), &mut out);
    if base.contains('+') && !base.contains(' ') {
        push(base.replace('+', " "), &mut out);
    }
    if base.contains("/*!") {
        // MySQL versioned comments run their content: keep it, drop the markers.
        let mut kept = String::with_capacity(base.len());
        let mut rest = base.as_str();
        while let Some(at) = rest.find("/*!") {
            kept.push_str(rest.get(..at).unwrap_or(""));
            kept.push(' ');
            rest = rest
                .get(at + 3..)
                .unwrap_or("")
                .trim_start_matches(|c: char| c.is_ascii_digit());
        }
        kept.push_str(rest);
        push(kept.replace("*/", " "), &mut out);
    }
    if let Some(at) = base.find("0x")
        && let Some(hex) = base.get(at + 2..)
    {
        let digits: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
        if digits.len() >= 8 && digits.len().is_multiple_of(2) {
            let bytes: Option<Vec<u8>> = (0..digits.len())
                .step_by(2)
                .map(|i| {
                    digits
                        .get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect();
            if let Some(bytes) = bytes
                && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
                && let Ok(decoded) = String::from_utf8(bytes)
            {
                push(decoded, &mut out);
            }
        }
    }
    if base.contains("/*") {
        let mut stripped = String::with_capacity(base.len());
        let mut rest = base.as_str();
        while let Some(at) = rest.find("/*") {
            stripped.push_str(rest.get(..at).unwrap_or(""));
            stripped.push(' ');
            match rest
                .get(at + 2..)
                .and_then(|r| r.find("*/").map(|end| (r, end)))
            {
                Some((r, end)) => rest = r.get(end + 2..).unwrap_or(""),
                None => rest = "",
            }
        }
        stripped.push_str(rest);
        push(stripped, &mut out);
        // Comments inside a keyword (`UNI/**/ON SEL/**/ECT`) join its halves.
        let mut joined = String::with_capacity(base.len());
        let mut rest = base.as_str();
        while let Some(at) = rest.find("/*") {
            joined.push_str(rest.get(..at).unwrap_or(""));
            match rest
                .get(at + 2..)
                .and_then(|r| r.find("*/").map(|end| (r, end)))
            {
                Some((r, end)) => rest = r.get(end + 2..).unwrap_or(""),
                None => rest = "",
            }
        }
        joined.push_str(rest);
        push(joined, &mut out);
    }
    // `\u0027` and `%u0027` escapes.
    if base.contains("\\u") || base.contains("%u") || base.contains("%U") {
        push(unicode_escapes(&base), &mut out);
    }
    // Empty expansions inside a shell word (`who$@ami`, `c$()at`).
    if base.contains("$@") || base.contains("$()") || base.contains("${}") {
        push(
            base.replace("$@", "").replace("$()", "").replace("${}", ""),
            &mut out,
        );
    }
    if base.contains(['\'', '"', '\\']) && base.contains([';', '|', '&', '`', '$', '/', '\n']) {
        push(base.replace(['\'', '"', '\\'], ""), &mut out);
    }
    out
}

/// `\uXXXX` and `%uXXXX` escapes decoded.
fn unicode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['\\', '%']) {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at..).unwrap_or("");
        let decoded = tail
            .get(1..2)
            .filter(|u| u.eq_ignore_ascii_case("u"))
            .and_then(|_| tail.get(2..6))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail.get(6..).unwrap_or("");
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

/// Numeric (`&#39;`, `&#x27;`) and the common named HTML entities decoded.
pub(crate) fn html_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at + 1..).unwrap_or("");
        let end = tail.find(';').filter(|end| *end <= 10);
        let decoded = end.and_then(|end| {
            let name = tail.get(..end)?;
            let c = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            } else if let Some(dec) = name.strip_prefix('#') {
                char::from_u32(dec.parse().ok()?)?
            } else {
                match name.to_ascii_lowercase().as_str() {
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    "amp" => '&',
                    "colon" => ':',
                    "sol" => '/',
                    "bsol" => '\\',
                    "lpar" => '(',
                    "rpar" => ')',
                    "period" => '.',
                    "tab" => '\t',
                    "newline" => '\n',
                    "semi" => ';',
                    "equals" => '=',
                    "grave" => '`',
                    _ => return None,
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = tail.get(end + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` with `%XX` escapes decoded, or `None` when it has none (or decodes to non-UTF-8).
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
            && let Ok(byte) = u8::try_from(h * 16 + l)
        {
            out.push(byte);
            i += 3;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    if !changed {
        return None;
    }
    // Invalid UTF-8 (an overlong `%c0%ae`, a multibyte trick `%bf%27`) is read with
    // replacement characters, so the ASCII around it is still seen.
    Some(String::from_utf8_lossy(&out).into_owned())
}
