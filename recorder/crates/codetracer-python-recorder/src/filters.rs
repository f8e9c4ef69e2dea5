//! What is recorded, and which values are hidden: the trace filter.
//!
//! The schema is upstream's (`Trace-Filters.md` of the CodeTracer trace
//! format spec): ordered scope rules with `pkg:` / `file:` / `obj:`
//! selectors (glob, regex or literal) that decide `trace` or `skip`, each
//! with value patterns (`local:` / `global:` / `arg:` / `ret:` / `attr:`)
//! that decide `allow`, `redact` or `drop`. The Python façade
//! (`_filters.py`) reads the TOML files of the chain, adds the built-in
//! default and the command line's `--include` / `--exclude`, and hands the
//! flattened rules here, where they are compiled once.
//!
//! Decisions are made once per code object ([`Filter::classify`], from the
//! recorder's code table) and once per name ([`Decision::value_action`]),
//! never per event.

use globset::{GlobBuilder, GlobMatcher};
use recorder_errors::prelude::*;
use regex::Regex;

/// `pattern` compiled, once per process: the built-in default's secret
/// patterns come back for every value kind (`_filters.py`), and compiling
/// them is most of a first `start()`'s time in Rust (docs/recorder.md,
/// "Fixed costs"); a compiled `Regex` is shared by cloning.
fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    static SEEN: std::sync::Mutex<Vec<(String, Regex)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().ok();
    if let Some(r) = seen.as_ref().and_then(|v| v.iter().find(|(p, _)| p == pattern)) {
        return Ok(r.1.clone());
    }
    let r = Regex::new(pattern)?;
    if let Some(v) = seen.as_mut().filter(|v| v.len() < 64) {
        v.push((pattern.to_owned(), r.clone()));
    }
    Ok(r)
}

/// What a selector is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The module's dotted name (`__name__`); a pattern naming a package also
    /// covers its submodules.
    Pkg,
    /// The code's absolute file path.
    File,
    /// `module.qualname` of the code object.
    Obj,
    Local,
    Global,
    Arg,
    Ret,
    /// A field of a shown value: an attribute name or a dict's str key.
    Attr,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pkg" => Self::Pkg,
            "file" => Self::File,
            "obj" => Self::Obj,
            "local" => Self::Local,
            "global" => Self::Global,
            "arg" => Self::Arg,
            "ret" => Self::Ret,
            "attr" => Self::Attr,
            _ => return None,
        })
    }

    fn is_scope(self) -> bool {
        matches!(self, Self::Pkg | Self::File | Self::Obj)
    }
}

/// What happens to a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueAction {
    Allow,
    Redact,
    Drop,
}

impl ValueAction {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allow" => Self::Allow,
            "redact" => Self::Redact,
            "drop" => Self::Drop,
            _ => return None,
        })
    }
}

enum Matcher {
    Glob(GlobMatcher),
    Regex(Regex),
    Literal(String),
}

/// A compiled `<kind>:[<match>:]<pattern>` selector.
pub struct Selector {
    kind: Kind,
    matcher: Matcher,
}

impl Selector {
    /// Parses a selector; `source` names where it came from, for errors.
    pub fn parse(text: &str, source: &str) -> RecorderResult<Self> {
        let bad = |why: String| {
            usage!(ErrorCode::InvalidOption, "invalid trace filter selector {:?} in {}: {}", text, source, why)
                .with_context("selector", text)
                .with_context("source", source)
        };
        let (kind, rest) = text.split_once(':').ok_or_else(|| bad("expected <kind>:[glob|regex|literal:]<pattern>".into()))?;
        let kind = Kind::parse(kind).ok_or_else(|| bad(format!("unknown kind {kind:?} (pkg, file, obj, local, global, arg, ret, attr)")))?;
        let (how, pattern) = match rest.split_once(':') {
            Some((m @ ("glob" | "regex" | "literal"), p)) => (m, p),
            _ => ("glob", rest),
        };
        if pattern.is_empty() {
            return Err(bad("empty pattern".into()));
        }
        let matcher = match how {
            "regex" => Matcher::Regex(compiled(&format!("^(?:{pattern})$")).map_err(|e| bad(e.to_string()))?),
            "literal" => Matcher::Literal(pattern.to_string()),
            _ => {
                // Paths: `*` stays inside a folder, `**` crosses folders.
                // Dotted names: `*` matches any run of characters.
                let glob = GlobBuilder::new(pattern)
                    .literal_separator(kind == Kind::File)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                Matcher::Glob(glob.compile_matcher())
            }
        };
        Ok(Self { kind, matcher })
    }

    fn matches_text(&self, s: &str) -> bool {
        match &self.matcher {
            Matcher::Glob(g) => g.is_match(s),
            Matcher::Regex(r) => r.is_match(s),
            Matcher::Literal(l) => l == s,
        }
    }

    /// Whether this scope selector matches the code `(file, module, qualname)`.
    fn matches_scope(&self, file: &str, module: &str, qualname: &str) -> bool {
        match self.kind {
            Kind::File => self.matches_text(file),
            Kind::Obj => !module.is_empty() && self.matches_text(&format!("{module}.{qualname}")),
            Kind::Pkg => {
                // `json` covers `json` and `json.decoder`.
                let mut name = module;
                loop {
                    if !name.is_empty() && self.matches_text(name) {
                        return true;
                    }
                    match name.rfind('.') {
                        Some(i) => name = &name[..i],
                        None => return false,
                    }
                }
            }
            _ => false,
        }
    }
}

/// One value pattern of a scope rule.
pub struct ValuePattern {
    selector: Selector,
    action: ValueAction,
}

/// One `[[scope.rules]]` entry.
pub struct ScopeRule {
    selector: Selector,
    /// `trace` (true) or `skip` (false); None: the rule only sets values.
    exec: Option<bool>,
    value_default: Option<ValueAction>,
    patterns: Vec<ValuePattern>,
}

/// The rules as the façade hands them over.
#[derive(Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub selector: String,
    pub exec: Option<String>,
    pub value_default: Option<String>,
    pub patterns: Vec<(String, String)>,
    pub source: String,
}

/// The whole filter chain, compiled.
pub struct Filter {
    default_trace: bool,
    default_value: ValueAction,
    rules: Vec<ScopeRule>,
    /// `attr:` patterns of every rule, later rules first: fields of shown
    /// values are judged the same wherever the value is shown.
    attr: Vec<ValuePattern>,
}

/// What the filter decided for one code object.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    pub skip: bool,
    default_value: Option<ValueAction>,
    /// Indices of the matching rules, the later first: their value patterns
    /// are tried in that order, the first match wins.
    rules: Vec<u32>,
}

fn parse_action(s: &str, source: &str, what: &str) -> RecorderResult<ValueAction> {
    ValueAction::parse(s).ok_or_else(|| {
        usage!(ErrorCode::InvalidOption, "invalid {} {:?} in {}: expected allow, redact or drop", what, s, source).with_context("source", source)
    })
}

fn parse_exec(s: &str, source: &str) -> RecorderResult<bool> {
    match s {
        "trace" => Ok(true),
        "skip" => Ok(false),
        _ => Err(usage!(ErrorCode::InvalidOption, "invalid exec {:?} in {}: expected trace or skip", s, source).with_context("source", source)),
    }
}

impl Filter {
    /// Compiles the flattened chain. `default_exec` / `default_value` are the
    /// `[scope]` defaults in force (the last file that set them).
    pub fn compile(default_exec: &str, default_value: &str, specs: Vec<RuleSpec>) -> RecorderResult<Self> {
        let default_trace = parse_exec(default_exec, "the trace filter's [scope] default_exec")?;
        let default_value = parse_action(default_value, "the trace filter's [scope]", "default_value_action")?;
        let mut rules = Vec::with_capacity(specs.len());
        let mut attr = Vec::new();
        for spec in specs {
            let selector = Selector::parse(&spec.selector, &spec.source)?;
            if !selector.kind.is_scope() {
                return Err(usage!(
                    ErrorCode::InvalidOption,
                    "selector {:?} in {} is a value selector: scope rules take pkg:, file: or obj:",
                    spec.selector,
                    spec.source
                )
                .with_context("selector", &spec.selector));
            }
            let exec = spec.exec.as_deref().map(|e| parse_exec(e, &spec.source)).transpose()?;
            let value_default = spec.value_default.as_deref().map(|v| parse_action(v, &spec.source, "value_default")).transpose()?;
            let mut patterns = Vec::with_capacity(spec.patterns.len());
            for (sel, action) in &spec.patterns {
                let selector = Selector::parse(sel, &spec.source)?;
                if selector.kind.is_scope() {
                    return Err(usage!(
                        ErrorCode::InvalidOption,
                        "selector {:?} in {} is a scope selector: value patterns take local:, global:, arg:, ret: or attr:",
                        sel,
                        spec.source
                    )
                    .with_context("selector", sel.as_str()));
                }
                let action = parse_action(action, &spec.source, "action")?;
                patterns.push(ValuePattern { selector, action });
            }
            rules.push(ScopeRule { selector, exec, value_default, patterns });
        }
        for rule in rules.iter().rev() {
            for p in &rule.patterns {
                if p.selector.kind == Kind::Attr {
                    attr.push(ValuePattern { selector: Selector { kind: Kind::Attr, matcher: clone_matcher(&p.selector.matcher) }, action: p.action });
                }
            }
        }
        Ok(Self { default_trace, default_value, rules, attr })
    }

    /// Everything recorded, nothing redacted (`--record-all --no-redact`).
    pub fn everything() -> Self {
        Self { default_trace: true, default_value: ValueAction::Allow, rules: Vec::new(), attr: Vec::new() }
    }

    /// Decides for the code of `file` in `module` named `qualname`: the last
    /// matching rule with an `exec` decides whether it is recorded.
    pub fn classify(&self, file: &str, module: &str, qualname: &str) -> Decision {
        // Globs are written with `/` (the façade turns Windows folders into that form too).
        let slashed;
        let file = if cfg!(windows) {
            slashed = file.replace('\\', "/");
            slashed.as_str()
        } else {
            file
        };
        let mut trace = self.default_trace;
        let mut d = Decision::default();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.selector.matches_scope(file, module, qualname) {
                if let Some(e) = rule.exec {
                    trace = e;
                }
                if rule.value_default.is_some() {
                    d.default_value = rule.value_default;
                }
                if !rule.patterns.is_empty() {
                    d.rules.push(i as u32);
                }
            }
        }
        d.rules.reverse();
        d.skip = !trace;
        d
    }

    /// What becomes of the value named `name` of kind `kind` (local, global,
    /// arg, ret) in code the decision `d` covers.
    pub fn value_action(&self, d: &Decision, kind: Kind, name: &str) -> ValueAction {
        for &i in &d.rules {
            for p in &self.rules[i as usize].patterns {
                if p.selector.kind == kind && p.selector.matches_text(name) {
                    return p.action;
                }
            }
        }
        d.default_value.unwrap_or(self.default_value)
    }

    /// What becomes of a field (attribute or dict key) named `name`.
    pub fn attr_action(&self, name: &str) -> ValueAction {
        for p in &self.attr {
            if p.selector.matches_text(name) {
                return p.action;
            }
        }
        ValueAction::Allow
    }

    /// Whether any field could be hidden (so the encoder checks names at all).
    pub fn has_attr_rules(&self) -> bool {
        self.attr.iter().any(|p| p.action != ValueAction::Allow)
    }
}

fn clone_matcher(m: &Matcher) -> Matcher {
    match m {
        Matcher::Glob(g) => Matcher::Glob(g.clone()),
        Matcher::Regex(r) => Matcher::Regex(r.clone()),
        Matcher::Literal(l) => Matcher::Literal(l.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sel: &str, exec: Option<&str>, patterns: &[(&str, &str)]) -> RuleSpec {
        RuleSpec {
            selector: sel.into(),
            exec: exec.map(Into::into),
            value_default: None,
            patterns: patterns.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect(),
            source: "test".into(),
        }
    }

    #[test]
    fn later_rules_decide_and_packages_cover_submodules() {
        let f = Filter::compile(
            "trace",
            "allow",
            vec![
                rule("file:/usr/lib/python3.12/**", Some("skip"), &[]),
                rule("pkg:json", Some("trace"), &[]),
                rule("file:regex:.*/app/skip_me\\.py", Some("skip"), &[]),
            ],
        ).unwrap();
        assert!(f.classify("/usr/lib/python3.12/re/_parser.py", "re._parser", "parse").skip);
        assert!(!f.classify("/usr/lib/python3.12/json/decoder.py", "json.decoder", "JSONDecoder.decode").skip);
        assert!(f.classify("/usr/lib/python3.12/jsonx.py", "jsonx", "f").skip);
        assert!(f.classify("/home/u/app/skip_me.py", "skip_me", "f").skip);
        assert!(!f.classify("/home/u/app/main.py", "__main__", "f").skip);
    }

    #[test]
    fn globs_keep_stars_inside_folders() {
        let f = Filter::compile("trace", "allow", vec![rule("file:/a/*.py", Some("skip"), &[])]).unwrap();
        assert!(f.classify("/a/x.py", "x", "f").skip);
        assert!(!f.classify("/a/b/x.py", "b.x", "f").skip);
    }

    #[test]
    fn value_patterns_first_match_wins_later_rules_first() {
        let f = Filter::compile(
            "trace",
            "allow",
            vec![
                rule("file:**", None, &[("local:regex:(?i).*password.*", "redact"), ("attr:literal:token", "redact")]),
                rule("pkg:app", None, &[("local:literal:password_hint", "allow"), ("arg:glob:key*", "drop")]),
            ],
        ).unwrap();
        let d = f.classify("/x/app/m.py", "app.m", "f");
        assert_eq!(f.value_action(&d, Kind::Local, "db_password"), ValueAction::Redact);
        assert_eq!(f.value_action(&d, Kind::Local, "password_hint"), ValueAction::Allow);
        assert_eq!(f.value_action(&d, Kind::Arg, "key_id"), ValueAction::Drop);
        assert_eq!(f.value_action(&d, Kind::Local, "key_id"), ValueAction::Allow);
        let other = f.classify("/x/lib/m.py", "lib.m", "f");
        assert_eq!(f.value_action(&other, Kind::Local, "password_hint"), ValueAction::Redact);
        assert_eq!(f.attr_action("token"), ValueAction::Redact);
        assert_eq!(f.attr_action("tokens"), ValueAction::Allow);
    }

    #[test]
    fn bad_selectors_are_usage_errors_naming_their_source() {
        for bad in ["nokind", "bogus:x", "file:regex:(", "local:x", "file:"] {
            match Filter::compile("trace", "allow", vec![rule(bad, Some("skip"), &[])]) {
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Usage, "{bad}");
                    assert!(e.to_string().contains("test"), "{e}");
                }
                Ok(_) => unreachable!("{bad} compiled"),
            }
        }
    }
}
