//! The contract test every service runs: requests generated from the service's own
//! `/openapi.json`, sent to the running app, and every answer checked against the same
//! document.
//!
//! Each case is a valid request (every required part, values drawn from each schema's
//! pattern, format, length, bounds and enums) or one that breaks exactly one documented
//! constraint (a missing required property, parameter or header; an unknown property where
//! `additionalProperties` is false; a value of the wrong type, outside its bounds or
//! lengths, off its pattern or enum; a body that is not JSON, or not sent as JSON). The checks:
//! no 5xx; every status is one the operation documents; a valid request is never refused for
//! its shape (400, 413, 415, or a 422 other than the service's declared semantic ones); an
//! invalid one gets a documented 4xx (400 for a body that is not JSON, 415 for one not sent as
//! JSON); problem bodies carry `type`, `title` and the status; success bodies have the
//! documented required properties with the documented JSON types.
//!
//! Cases are drawn from a seeded generator: the seed is printed, and `CONTRACT_SEED=<n>`
//! replays a run. Ids the service hands out (an `id` in a 2xx body) are reused in later
//! paths, with their `version` in `If-Match`, so that operations on existing resources run
//! too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use proptest::strategy::{Strategy, ValueTree};
use proptest::string::RegexGeneratorStrategy;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::service::TestApp;

/// A refusal a valid-looking request may get for a rule no schema can state, such as an
/// order total over the largest amount: the status and the field its problem names.
pub type Semantic = (u16, &'static str);

/// What a contract run did.
#[derive(Debug, Default)]
pub struct ContractReport {
    /// Requests sent.
    pub requests: usize,
    /// Every broken expectation, with the request that showed it.
    pub failures: Vec<String>,
    /// How many answers each operation got, by status: `"PATCH /users/{id} 412" => 31`.
    pub statuses: BTreeMap<String, usize>,
}

/// Runs `cases` generated cases per operation of `app`'s document and panics listing every
/// failure (with the seed to replay them). Returns how many requests were sent.
pub async fn check_contract(app: &TestApp, cases: usize, semantic: &[Semantic]) -> usize {
    let seed = std::env::var("CONTRACT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    println!("contract seed: {seed} (replay with CONTRACT_SEED={seed})");
    let report = run_contract(app, seed, cases, semantic).await;
    for (answer, count) in &report.statuses {
        println!("  {answer}: {count}");
    }
    assert!(
        report.failures.is_empty(),
        "{} of {} requests broke the contract (CONTRACT_SEED={seed}):\n{}",
        report.failures.len(),
        report.requests,
        report.failures.join("\n")
    );
    report.requests
}

/// Like [`check_contract`] with a given seed, returning the report instead of panicking.
pub async fn run_contract(
    app: &TestApp,
    seed: u64,
    cases: usize,
    semantic: &[Semantic],
) -> ContractReport {
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json")
        .json()
        .await
        .expect("the document is JSON");
    let operations = operations(&doc);
    assert!(!operations.is_empty(), "the document lists no operation");
    let mut run = Run {
        app,
        generator: Gen::new(&doc, seed),
        pools: BTreeMap::new(),
        idempotency_keys: BTreeSet::new(),
        semantic,
        report: ContractReport::default(),
    };
    for _ in 0..cases {
        for op in &operations {
            run.case(op).await;
        }
    }
    run.report
}

/// One operation of the document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    path: String,
    op: Value,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                op: op.clone(),
            });
        }
    }
    out
}

/// A request to send, and what it must get.
#[derive(Debug, Default)]
struct Case {
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
    /// `None` for a valid request; else what is broken and, when one status is right, that.
    broken: Option<(String, Option<u16>)>,
}

struct Run<'a> {
    app: &'a TestApp,
    generator: Gen,
    /// Ids handed out, by collection path (`/users`), with their last version.
    pools: BTreeMap<String, BTreeMap<String, Option<u64>>>,
    /// Every `Idempotency-Key` sent: a valid request needs a fresh one, since a key reused
    /// with another request is rightly refused (422).
    idempotency_keys: BTreeSet<String>,
    semantic: &'a [Semantic],
    report: ContractReport,
}

impl Run<'_> {
    async fn case(&mut self, op: &Operation) {
        let valid = self.generator.chance(50);
        let case = self.build(op, valid);
        let shown = describe(op, &case);
        let mut request = self.app.client.request(
            op.method.parse().expect("a method"),
            self.app.url(&target(&case)),
        );
        for (name, value) in &case.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = &case.body {
            request = request
                .header("content-type", content_type)
                .body(bytes.clone());
        }
        self.report.requests += 1;
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return self.fail(&shown, format!("no answer: {e}")),
        };
        let status = response.status().as_u16();
        let answer = format!("{} {} {status}", op.method, op.path);
        *self.report.statuses.entry(answer).or_default() += 1;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let bytes = response.bytes().await.unwrap_or_default();
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        let shown = format!("{shown} -> {status} {}", String::from_utf8_lossy(&bytes));
        for problem in self.judge(op, &case, status, &content_type, &bytes, body.as_ref()) {
            self.fail(&shown, problem);
        }
        if (200..300).contains(&status) {
            self.remember(op, &case, status, body.as_ref());
        }
    }

    fn fail(&mut self, shown: &str, why: String) {
        if self.report.failures.len() < 50 {
            self.report.failures.push(format!("- {why}\n    {shown}"));
        }
    }

    /// Everything wrong with one answer.
    fn judge(
        &self,
        op: &Operation,
        case: &Case,
        status: u16,
        content_type: &str,
        bytes: &[u8],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut wrong = Vec::new();
        if status >= 500 {
            wrong.push(format!("a {status}"));
        }
        let Some(documented) = op.op["responses"].get(status.to_string()) else {
            wrong.push(format!(
                "{status} is not documented for {} {}",
                op.method, op.path
            ));
            return wrong;
        };
        match &case.broken {
            None if refused_for_shape(status, body, self.semantic) => {
                wrong.push(format!("a valid request was refused with {status}"));
            }
            Some((what, expected)) => {
                if !(400..500).contains(&status) {
                    wrong.push(format!("an invalid request ({what}) got {status}"));
                } else if expected.is_some_and(|e| e != status) {
                    wrong.push(format!(
                        "an invalid request ({what}) got {status}, not {}",
                        expected.unwrap_or_default()
                    ));
                }
            }
            None => {}
        }
        let content = documented["content"].as_object().filter(|c| !c.is_empty());
        let Some(content) = content else {
            if !bytes.is_empty() {
                wrong.push(format!("{status} documents no body but has one"));
            }
            return wrong;
        };
        let Some(media) = content.get(content_type) else {
            wrong.push(format!(
                "content-type `{content_type}` is not documented for {status}"
            ));
            return wrong;
        };
        let Some(body) = body else {
            wrong.push(format!("the {status} body is not JSON"));
            return wrong;
        };
        if content_type == "application/problem+json" {
            wrong.extend(problem_errors(body, status));
        }
        conforms(&self.generator.doc, &media["schema"], body, "$", &mut wrong);
        wrong
    }

    /// Keeps the ids (and versions) a 2xx hands out, and forgets deleted ones.
    fn remember(&mut self, op: &Operation, case: &Case, status: u16, body: Option<&Value>) {
        let collection = collection(&op.path);
        let pool = self.pools.entry(collection).or_default();
        if status == 204 && op.method == "DELETE" {
            if let Some(id) = case.path.rsplit('/').next() {
                pool.remove(id);
            }
            return;
        }
        if let Some(id) = body.and_then(|b| b["id"].as_str()) {
            pool.insert(id.to_owned(), body.and_then(|b| b["version"].as_u64()));
        }
    }

    /// A valid request for `op`, or one with one constraint broken.
    fn build(&mut self, op: &Operation, valid: bool) -> Case {
        let mut case = Case::default();
        let params: Vec<Value> = op.op["parameters"].as_array().cloned().unwrap_or_default();
        let body_schema = op.op["requestBody"]["content"]["application/json"]["schema"].clone();
        let has_body = !body_schema.is_null();
        // What to break: a parameter (by index) or the body.
        let target = if valid {
            None
        } else {
            let choices = params.len() + usize::from(has_body);
            Some(self.generator.below(choices as u64) as usize)
        };
        // Path ids come from what the service handed out, most of the time.
        let pooled = self.pick_pooled(&op.path);
        let mut path = op.path.clone();
        for (i, param) in params.iter().enumerate() {
            let name = param["name"].as_str().unwrap_or_default().to_owned();
            let place = param["in"].as_str().unwrap_or_default();
            let required = param["required"].as_bool().unwrap_or(false);
            let schema = &param["schema"];
            let value = if target == Some(i) {
                match self.generator.break_param(schema, required, place) {
                    Some((what, value)) => {
                        case.broken = Some((format!("{place} `{name}`: {what}"), None));
                        value
                    }
                    None => self.valid_param(schema, place, &name, &pooled),
                }
            } else if required || self.generator.chance(50) {
                self.valid_param(schema, place, &name, &pooled)
            } else {
                None
            };
            let Some(value) = value else { continue };
            match place {
                "path" => path = path.replace(&format!("{{{name}}}"), &encode_path(&value)),
                "query" => case.query.push((name, value)),
                "header" => case.headers.push((name, value)),
                _ => {}
            }
        }
        case.path = path;
        if has_body {
            if target == Some(params.len()) {
                let (what, expected, content_type, bytes) = self.generator.break_body(&body_schema);
                case.broken = Some((format!("body: {what}"), expected));
                case.body = Some((content_type, bytes));
            } else {
                let body = self.generator.valid(&body_schema, 0);
                case.body = Some(("application/json".into(), body.to_string().into_bytes()));
            }
        }
        case
    }

    /// A valid value for a parameter: a pooled id for the path's `{id}`, its version for
    /// `If-Match` (sometimes), else one drawn from the schema. Opaque strings (no pattern,
    /// format or length: a cursor) are left out, as a client only echoes them.
    fn valid_param(
        &mut self,
        schema: &Value,
        place: &str,
        name: &str,
        pooled: &Option<(String, Option<u64>)>,
    ) -> Option<String> {
        if let Some((id, version)) = pooled {
            if place == "path" {
                return Some(id.clone());
            }
            if name.eq_ignore_ascii_case("if-match")
                && let Some(v) = version
                && self.generator.chance(60)
            {
                return Some(format!("\"{v}\""));
            }
        }
        let schema = self.generator.resolve(schema).clone();
        let opaque = schema["type"] == "string"
            && ["pattern", "format", "minLength", "maxLength", "enum"]
                .iter()
                .all(|k| schema.get(k).is_none());
        if opaque {
            return None;
        }
        if name.eq_ignore_ascii_case("idempotency-key") {
            return Some(self.fresh_idempotency_key(&schema));
        }
        Some(self.generator.valid_text(&schema))
    }

    /// A key the schema allows and this run has not sent yet, when the schema leaves room.
    fn fresh_idempotency_key(&mut self, schema: &Value) -> String {
        let mut key = String::new();
        for _ in 0..100 {
            key = self.generator.valid_text(schema);
            if !self.idempotency_keys.contains(&key) {
                break;
            }
        }
        self.idempotency_keys.insert(key.clone());
        key
    }

    fn pick_pooled(&mut self, path: &str) -> Option<(String, Option<u64>)> {
        if !path.contains('{') || !self.generator.chance(70) {
            return None;
        }
        let pool = self.pools.get(&collection(path))?;
        if pool.is_empty() {
            return None;
        }
        let i = self.generator.below(pool.len() as u64) as usize;
        pool.iter().nth(i).map(|(k, v)| (k.clone(), *v))
    }
}

/// Whether a status refuses a valid request for its shape.
fn refused_for_shape(status: u16, body: Option<&Value>, semantic: &[Semantic]) -> bool {
    match status {
        400 | 413 | 415 | 428 => true,
        422 => {
            let fields: Vec<&str> = body
                .and_then(|b| b["errors"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|e| e["field"].as_str())
                .collect();
            let semantic_only = |f: &&str| semantic.iter().any(|(s, name)| *s == 422 && f == name);
            fields.is_empty() || !fields.iter().all(semantic_only)
        }
        _ => false,
    }
}

/// What is wrong with a problem+json body.
fn problem_errors(body: &Value, status: u16) -> Vec<String> {
    let mut wrong = Vec::new();
    for key in ["type", "title"] {
        if !body[key].is_string() {
            wrong.push(format!("the problem has no string `{key}`"));
        }
    }
    if body["status"].as_u64() != Some(u64::from(status)) {
        wrong.push(format!("the problem's `status` is not {status}"));
    }
    wrong
}

/// Checks `value` against `schema`: types, enums, required properties, recursively.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let types = types(schema);
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        errors.push(format!("{at} is {value}, not of type {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !value.is_null()
        && !allowed.contains(value)
    {
        errors.push(format!("{at} = {value} is not one of {allowed:?}"));
    }
    match value {
        Value::Object(map) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !map.contains_key(name) {
                    errors.push(format!("{at} lacks the required `{name}`"));
                }
            }
            for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
                if let Some(v) = map.get(name) {
                    conforms(doc, sub, v, &format!("{at}.{name}"), errors);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                conforms(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// A schema's `type`, as a list (`["string", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `/users` for `/users/{id}` and `/users/{id}/x`.
fn collection(path: &str) -> String {
    path.split("/{").next().unwrap_or(path).to_owned()
}

/// The case's path and query string, percent-encoded.
fn target(case: &Case) -> String {
    let query: Vec<String> = case
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_path(k), encode_path(v)))
        .collect();
    if query.is_empty() {
        case.path.clone()
    } else {
        format!("{}?{}", case.path, query.join("&"))
    }
}

fn encode_path(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn describe(op: &Operation, case: &Case) -> String {
    let mut s = format!("{} {}", op.method, case.path);
    if !case.query.is_empty() {
        let _ = write!(s, " query {:?}", case.query);
    }
    if !case.headers.is_empty() {
        let _ = write!(s, " headers {:?}", case.headers);
    }
    if let Some((content_type, bytes)) = &case.body {
        let text = String::from_utf8_lossy(bytes);
        let text: String = text.chars().take(300).collect();
        let _ = write!(s, " body ({content_type}) {text}");
    }
    if let Some((what, _)) = &case.broken {
        let _ = write!(s, " [broken: {what}]");
    }
    s
}

/// Values drawn from schemas, from one seeded random source.
struct Gen {
    doc: Value,
    runner: TestRunner,
    /// Each pattern compiled once, to match and to draw from: compiling is most of the
    /// generator's time in a debug build.
    patterns: BTreeMap<String, Compiled>,
}

/// A pattern as a regex, and as a strategy that draws strings from it (`None` where the regex
/// crate or proptest cannot take it).
type Compiled = (Option<Regex>, Option<RegexGeneratorStrategy<String>>);

/// `pattern`, compiled on first use.
fn compiled<'p>(patterns: &'p mut BTreeMap<String, Compiled>, pattern: &str) -> &'p Compiled {
    patterns.entry(pattern.to_owned()).or_insert_with(|| {
        (
            Regex::new(pattern).ok(),
            proptest::string::string_regex(&unanchor(pattern)).ok(),
        )
    })
}

/// Strings tried, in turn, as values off a pattern.
const OFF_PATTERN: &[&str] = &[
    "",
    " ",
    "x y",
    "A",
    "a",
    "0",
    "-",
    "@",
    "zz@@zz",
    "\"1",
    "W/",
    "é",
    "0190B7A4-5F7E-7C3A-9D2E-3F4A5B6C7D8E",
    "6f1c1f4e-3b1a-4b8e-9a8e-2f0c1d2e3f4a",
    "EURO",
    "eur",
    "sku with spaces",
    "0",
];

impl Gen {
    fn new(doc: &Value, seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        Self {
            doc: doc.clone(),
            runner: TestRunner::new_with_rng(Config::default(), rng),
            patterns: BTreeMap::new(),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        resolve(&self.doc, schema)
    }

    /// 0 to `n - 1` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        (0..n)
            .new_tree(&mut self.runner)
            .map(|t| t.current())
            .unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn int_between(&mut self, min: i64, max: i64) -> i64 {
        let width = (max as i128 - min as i128) as u64;
        min + self.below(width.saturating_add(1).max(1)) as i64
    }

    /// A string matching `pattern` and the length bounds, if one can be drawn.
    fn matching(&mut self, pattern: &str, min: usize, max: usize) -> Option<String> {
        let (Some(re), Some(strategy)) = compiled(&mut self.patterns, pattern) else {
            return None;
        };
        for _ in 0..50 {
            let s = strategy.new_tree(&mut self.runner).ok()?.current();
            let len = s.chars().count();
            if re.is_match(&s) && (min..=max).contains(&len) {
                return Some(s);
            }
        }
        None
    }

    /// A value `schema` accepts.
    fn valid(&mut self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema).clone();
        if let Some(options) = schema["enum"].as_array() {
            let i = self.below(options.len() as u64) as usize;
            return options[i].clone();
        }
        let types = types(&schema);
        if types.contains(&"null") && self.chance(15) {
            return Value::Null;
        }
        match types
            .iter()
            .find(|t| **t != "null")
            .copied()
            .unwrap_or("object")
        {
            "string" => Value::String(self.valid_string(&schema)),
            "integer" => {
                let min = schema["minimum"].as_i64().unwrap_or(-1000);
                let max = schema["maximum"].as_i64().unwrap_or(1000);
                let n = match self.below(10) {
                    0 => min,
                    1 => max,
                    2 => self.int_between(min, max),
                    _ => self.int_between(min, max.min(min.saturating_add(100))),
                };
                json!(n)
            }
            "number" => json!(self.below(1000) as f64 / 10.0),
            "boolean" => Value::Bool(self.chance(50)),
            "array" => {
                let min = schema["minItems"].as_u64().unwrap_or(0);
                let max = schema["maxItems"].as_u64().unwrap_or(5);
                let len = if self.chance(5) {
                    max
                } else {
                    min + self.below(max.min(min + 3) - min + 1)
                };
                let items = schema["items"].clone();
                Value::Array((0..len).map(|_| self.valid(&items, depth + 1)).collect())
            }
            _ => self.valid_object(&schema, depth),
        }
    }

    /// A valid value as a parameter's text: a string as it is, anything else as JSON.
    fn valid_text(&mut self, schema: &Value) -> String {
        match self.valid(schema, 0) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    fn valid_string(&mut self, schema: &Value) -> String {
        let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
        let max = schema["maxLength"].as_u64().unwrap_or(40) as usize;
        if let Some(pattern) = schema["pattern"].as_str() {
            if let Some(s) = self.matching(pattern, min, max) {
                return s;
            }
            return example(schema).unwrap_or_default();
        }
        match schema["format"].as_str() {
            Some("date-time") => return "2026-12-01T09:10:01.123456Z".into(),
            Some("uuid") => return self.matching(kit::id::PATTERN, 36, 36).unwrap_or_default(),
            _ => {}
        }
        let len = min + self.below((max.min(min + 20) - min + 1) as u64) as usize;
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    fn valid_object(&mut self, schema: &Value, depth: usize) -> Value {
        let mut map = Map::new();
        let required: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let min = schema["minProperties"].as_u64().unwrap_or(0) as usize;
        for (name, sub) in &properties {
            if required.contains(name) || self.chance(50) {
                map.insert(name.clone(), self.valid(sub, depth + 1));
            }
        }
        for (name, sub) in &properties {
            if map.len() >= min {
                break;
            }
            if !map.contains_key(name) {
                map.insert(name.clone(), self.valid(sub, depth + 1));
            }
        }
        Value::Object(map)
    }

    /// A value `schema` refuses, with what is wrong with it; `None` when nothing can be.
    fn invalid(&mut self, schema: &Value, depth: usize) -> Option<(String, Value)> {
        let schema = self.resolve(schema).clone();
        let types = types(&schema);
        let mut options: Vec<(String, Value)> = Vec::new();
        let main = types.iter().find(|t| **t != "null").copied().unwrap_or("");
        // A value of another type.
        let other = match main {
            "string" => json!(42),
            "integer" => json!("1"),
            "array" | "object" => json!("x"),
            _ => json!([]),
        };
        options.push((format!("{other} is not of type {main}"), other));
        if main == "integer" {
            options.push(("not an integer".into(), json!(1.5)));
        }
        if let Some(min) = schema["minimum"].as_i64() {
            options.push((format!("below the minimum {min}"), json!(min as i128 - 1)));
        }
        if let Some(max) = schema["maximum"].as_i64() {
            options.push((format!("above the maximum {max}"), json!(max as i128 + 1)));
        }
        if schema["enum"].is_array() {
            options.push(("not one of the enum".into(), json!("not-a-member")));
        }
        if main == "string" {
            options.extend(
                self.off_string(&schema)
                    .into_iter()
                    .map(|(w, s)| (w, Value::String(s))),
            );
        }
        if main == "array" {
            let items = schema["items"].clone();
            if let Some(min) = schema["minItems"].as_u64().filter(|m| *m > 0) {
                let v: Vec<Value> = (1..min).map(|_| self.valid(&items, depth + 1)).collect();
                options.push((format!("fewer than {min} items"), Value::Array(v)));
            }
            if let Some(max) = schema["maxItems"].as_u64() {
                let v: Vec<Value> = (0..=max).map(|_| self.valid(&items, depth + 1)).collect();
                options.push((format!("more than {max} items"), Value::Array(v)));
            }
            if let Some((what, bad)) = self.invalid(&items, depth + 1) {
                let mut v = vec![bad];
                v.push(self.valid(&items, depth + 1));
                options.push((format!("[0]: {what}"), Value::Array(v)));
            }
        }
        if main == "object" || (main.is_empty() && schema["properties"].is_object()) {
            options.extend(self.off_object(&schema, depth));
        }
        let i = self.below(options.len() as u64) as usize;
        options.into_iter().nth(i)
    }

    /// Strings off a string schema's lengths or pattern.
    fn off_string(&mut self, schema: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(min) = schema["minLength"].as_u64().filter(|m| *m > 0) {
            out.push((format!("shorter than {min}"), "a".repeat(min as usize - 1)));
        }
        if let Some(max) = schema["maxLength"].as_u64() {
            out.push((format!("longer than {max}"), "a".repeat(max as usize + 1)));
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && let (Some(re), _) = compiled(&mut self.patterns, pattern)
        {
            let off: Vec<&str> = OFF_PATTERN
                .iter()
                .copied()
                .filter(|s| !re.is_match(s))
                .collect();
            if !off.is_empty() {
                let s = off[self.below(off.len() as u64) as usize];
                out.push((format!("{s:?} is off the pattern"), s.to_owned()));
            }
        }
        out
    }

    /// Objects breaking one rule of an object schema.
    fn off_object(&mut self, schema: &Value, depth: usize) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let Value::Object(base) = self.valid_object(schema, depth) else {
            return out;
        };
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            let mut v = base.clone();
            v.remove(name);
            out.push((format!("no `{name}`"), Value::Object(v)));
        }
        if schema["additionalProperties"] == json!(false) {
            let mut v = base.clone();
            v.insert("unexpected".into(), json!(1));
            out.push(("an unknown property".into(), Value::Object(v)));
        }
        if schema["minProperties"].as_u64().is_some_and(|m| m > 0) {
            out.push(("no properties".into(), json!({})));
        }
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, sub) in properties {
            if let Some((what, bad)) = self.invalid(&sub, depth + 1) {
                let mut v = base.clone();
                v.insert(name.clone(), bad);
                out.push((format!("`{name}`: {what}"), Value::Object(v)));
            }
        }
        out
    }

    /// A body breaking the request body's schema, or not JSON at all: what, the one right
    /// status if only one is, the content type and the bytes.
    fn break_body(&mut self, schema: &Value) -> (String, Option<u16>, String, Vec<u8>) {
        let json = "application/json".to_owned();
        match self.below(10) {
            0 => ("not JSON".into(), Some(400), json, b"{\"x\":".to_vec()),
            1 => {
                let body = self.valid(schema, 0).to_string().into_bytes();
                (
                    "not sent as JSON".into(),
                    Some(415),
                    "text/plain".into(),
                    body,
                )
            }
            _ => match self.invalid(schema, 0) {
                Some((what, value)) => (what, None, json, value.to_string().into_bytes()),
                None => ("not JSON".into(), Some(400), json, b"{\"x\":".to_vec()),
            },
        }
    }

    /// A parameter value that breaks its schema (`None` for "left out"), with what is
    /// wrong; `None` when nothing about it can be broken.
    fn break_param(
        &mut self,
        schema: &Value,
        required: bool,
        place: &str,
    ) -> Option<(String, Option<String>)> {
        let schema = self.resolve(schema).clone();
        let mut options: Vec<(String, Option<String>)> = Vec::new();
        if required && place != "path" {
            options.push(("left out".into(), None));
        }
        for (what, s) in self.off_string(&schema) {
            let sendable = place != "header" || reqwest::header::HeaderValue::from_str(&s).is_ok();
            // An empty path segment is another route, not a bad id.
            if sendable && !(place == "path" && s.is_empty()) {
                options.push((what, Some(s)));
            }
        }
        if options.is_empty() {
            return None;
        }
        let i = self.below(options.len() as u64) as usize;
        options.into_iter().nth(i)
    }
}

fn example(schema: &Value) -> Option<String> {
    schema["example"]
        .as_str()
        .or_else(|| schema["examples"][0].as_str())
        .map(str::to_owned)
}

/// `pattern` without the `^` and `$` anchors of its top-level branches, which the generator
/// does not take (it makes whole strings anyway).
fn unanchor(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
    for (i, &c) in chars.iter().enumerate() {
        if escaped {
            escaped = false;
            out.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '^' if !in_class && depth == 0 && (i == 0 || chars[i - 1] == '|') => continue,
            '$' if !in_class && depth == 0 && (i + 1 == chars.len() || chars[i + 1] == '|') => {
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_come_off_top_level_branches_only() {
        assert_eq!(unanchor("^[1-9][0-9]?$|^100$"), "[1-9][0-9]?|100");
        assert_eq!(unanchor(r"^[^\s]a\$$"), r"[^\s]a\$");
        assert_eq!(
            unanchor(r#"^(W/)?("[1-9]"|[1-9])$"#),
            r#"(W/)?("[1-9]"|[1-9])"#
        );
    }

    #[test]
    fn generated_values_fit_their_schemas() {
        let doc = json!({"components": {"schemas": {}}});
        let mut generator = Gen::new(&doc, 1);
        let schema = json!({"type": "object", "additionalProperties": false,
            "required": ["id", "n"],
            "properties": {
                "id": {"type": "string", "pattern": kit::id::PATTERN},
                "n": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": {"type": "array", "minItems": 1, "maxItems": 3,
                    "items": {"type": "string", "pattern": "^[A-Z]{3}$"}}}});
        let id_pattern = Regex::new(kit::id::PATTERN).unwrap();
        for _ in 0..200 {
            let value = generator.valid(&schema, 0);
            let mut errors = Vec::new();
            conforms(&doc, &schema, &value, "$", &mut errors);
            assert!(errors.is_empty(), "{value}: {errors:?}");
            let n = value["n"].as_i64().unwrap();
            assert!((1..=10).contains(&n), "{value}");
            let id = value["id"].as_str().unwrap();
            assert!(id_pattern.is_match(id), "{id}");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_values() {
        let doc = json!({});
        let schema = json!({"type": "string", "pattern": "^[a-z]{5,9}$"});
        let a: Vec<Value> = {
            let mut g = Gen::new(&doc, 42);
            (0..10).map(|_| g.valid(&schema, 0)).collect()
        };
        let mut g = Gen::new(&doc, 42);
        let b: Vec<Value> = (0..10).map(|_| g.valid(&schema, 0)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_422_is_a_shape_refusal_unless_declared_semantic() {
        let total = json!({"errors": [{"field": "items", "message": "the total is over"}]});
        let email = json!({"errors": [{"field": "email", "message": "bad"}]});
        assert!(!refused_for_shape(422, Some(&total), &[(422, "items")]));
        assert!(refused_for_shape(422, Some(&email), &[(422, "items")]));
        assert!(refused_for_shape(400, None, &[]));
        assert!(!refused_for_shape(409, None, &[]));
    }
}
