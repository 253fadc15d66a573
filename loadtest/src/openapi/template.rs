//! Values for a schema: built once from the document, then instantiated for every request, so
//! that each write gets fresh ids and unique addresses where a service might require them.

use rand::Rng;
use serde_json::{Map, Value};

use super::document::{Document, MAX_DEPTH};

/// How to make a value of one schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// The same value every time: an `example`, an `enum`'s first value, a `const`.
    Fixed(Value),
    /// A fresh UUIDv7 (`format: uuid`): ids of other services' items are any valid id, since
    /// services do not check references.
    Uuid,
    /// A unique address each time, built on `example` when there is one.
    Email {
        example: Option<String>,
    },
    /// The current time, RFC 3339 (`format: date-time`).
    DateTime,
    /// A plain string of an allowed length.
    Text {
        min: usize,
        max: usize,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Number {
        min: f64,
        max: f64,
    },
    Bool,
    Array {
        item: Box<Template>,
        len: usize,
    },
    /// The properties to send, in the document's order.
    Object(Vec<(String, Template)>),
}

/// Why no value can be built for a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unbuildable(pub String);

/// The widest range a generated integer spans when the schema bounds it loosely: small,
/// positive numbers are valid for quantities, amounts and counts alike.
const SPAN: i64 = 99;

impl Template {
    /// The template of `schema`; `example` (the media type's, if any) wins over the schema.
    pub(crate) fn of(
        doc: &Document,
        schema: &Value,
        example: Option<&Value>,
    ) -> Result<Self, Unbuildable> {
        if let Some(example) = example {
            return Ok(fixed_or_fresh(example.clone(), None));
        }
        build(doc, schema, 0)
    }

    /// A value for one request.
    pub(crate) fn instantiate(&self) -> Value {
        let mut rng = rand::rng();
        match self {
            Self::Fixed(v) => v.clone(),
            Self::Uuid => Value::String(uuid::Uuid::now_v7().to_string()),
            Self::Email { example } => Value::String(unique_email(example.as_deref())),
            Self::DateTime => Value::String(now_rfc3339()),
            Self::Text { min, max } => Value::String(text(*min, *max)),
            Self::Integer { min, max } => Value::from(rng.random_range(*min..=*max)),
            Self::Number { min, max } => {
                let n = if min < max {
                    rng.random_range(*min..*max)
                } else {
                    *min
                };
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
            Self::Bool => Value::Bool(true),
            Self::Array { item, len } => {
                Value::Array((0..*len).map(|_| item.instantiate()).collect())
            }
            Self::Object(props) => Value::Object(
                props
                    .iter()
                    .map(|(name, t)| (name.clone(), t.instantiate()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The properties of an object template (empty for anything else).
    pub(crate) fn properties(&self) -> &[(String, Template)] {
        match self {
            Self::Object(props) => props,
            _ => &[],
        }
    }

    /// This object template with each property that `richer` also has taken from `richer`:
    /// an update's schema often repeats the create's fields without their examples.
    pub(crate) fn informed_by(self, richer: &Template) -> Template {
        match self {
            Self::Object(props) => Self::Object(
                props
                    .into_iter()
                    .map(|(name, t)| {
                        let better = richer.properties().iter().find(|(n, _)| *n == name);
                        let t = better.map_or(t, |(_, b)| b.clone());
                        (name, t)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

/// An example value, except where a fixed value would collide or go stale: ids and addresses
/// stay fresh (unique constraints, spread partitions).
fn fixed_or_fresh(example: Value, format: Option<&str>) -> Template {
    match (&example, format) {
        (Value::String(_), Some("uuid")) => Template::Uuid,
        (Value::String(s), _) if s.contains('@') => Template::Email {
            example: Some(s.clone()),
        },
        (Value::String(_), Some("email")) => Template::Email { example: None },
        _ => Template::Fixed(example),
    }
}

fn build(doc: &Document, schema: &Value, depth: usize) -> Result<Template, Unbuildable> {
    if depth > MAX_DEPTH {
        return Err(Unbuildable(
            "the schema nests too deeply (recursive?)".into(),
        ));
    }
    let schema = doc
        .resolve(schema)
        .ok_or_else(|| Unbuildable(format!("a reference does not resolve: {schema}")))?;
    let format = schema.get("format").and_then(Value::as_str);
    if let Some(example) = schema
        .get("example")
        .or_else(|| schema.get("examples")?.as_array()?.first())
        .or_else(|| schema.get("const"))
        .or_else(|| schema.get("enum")?.as_array()?.first())
        .or_else(|| schema.get("default"))
    {
        return Ok(fixed_or_fresh(example.clone(), format));
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all_of(doc, all, depth);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            // The first alternative that is not `null` and can be built.
            return options
                .iter()
                .filter(|o| primary_type(o) != Some("null"))
                .find_map(|o| build(doc, o, depth + 1).ok())
                .ok_or_else(|| Unbuildable(format!("no alternative of `{key}` can be built")));
        }
    }
    let ty = primary_type(schema).or_else(|| {
        // Untyped, but with properties: an object.
        schema.get("properties").map(|_| "object")
    });
    match ty {
        Some("string") => Ok(string(schema, format)),
        Some("integer") => Ok(integer(schema)),
        Some("number") => {
            let (min, max) = bounds(schema);
            Ok(Template::Number {
                min: min.unwrap_or(1.0),
                max: max.unwrap_or(min.unwrap_or(1.0) + SPAN as f64),
            })
        }
        Some("boolean") => Ok(Template::Bool),
        Some("array") => {
            let items = schema
                .get("items")
                .ok_or_else(|| Unbuildable("an array has no `items` schema".into()))?;
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            Ok(Template::Array {
                item: Box::new(build(doc, items, depth + 1)?),
                // One item at least: an empty list is often refused, and says little.
                len: usize::try_from(min.max(1)).unwrap_or(1),
            })
        }
        Some("object") => object(doc, schema, depth),
        Some(other) => Err(Unbuildable(format!("type `{other}` has no value to send"))),
        None => Err(Unbuildable(format!("the schema has no type: {schema}"))),
    }
}

/// The schema's type: the first one other than `null` of a 3.1 type list.
fn primary_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

fn string(schema: &Value, format: Option<&str>) -> Template {
    match format {
        Some("uuid") => Template::Uuid,
        Some("email") => Template::Email { example: None },
        Some("date-time") => Template::DateTime,
        Some("date") => Template::Fixed(Value::String(now_rfc3339()[..10].to_owned())),
        Some("uri") | Some("url") => Template::Fixed(Value::String("https://example.test/".into())),
        _ => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(1);
            let max = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .unwrap_or(64);
            let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            Template::Text {
                min: to_usize(min),
                max: to_usize(max.max(min)),
            }
        }
    }
}

fn integer(schema: &Value) -> Template {
    let (min, max) = bounds(schema);
    let min = min.map_or(1, |m| m.ceil() as i64);
    let max = max.map_or(min.saturating_add(SPAN), |m| m.floor() as i64);
    Template::Integer {
        min,
        max: max.clamp(min, min.saturating_add(SPAN)),
    }
}

/// `minimum`/`maximum`, with 3.1's numeric `exclusiveMinimum`/`exclusiveMaximum` folded in.
fn bounds(schema: &Value) -> (Option<f64>, Option<f64>) {
    let get = |k: &str| schema.get(k).and_then(Value::as_f64);
    let min = get("minimum").or_else(|| get("exclusiveMinimum").map(|m| m + 1.0));
    let max = get("maximum").or_else(|| get("exclusiveMaximum").map(|m| m - 1.0));
    (min, max)
}

fn object(doc: &Document, schema: &Value, depth: usize) -> Result<Template, Unbuildable> {
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let read_only =
        |p: &Value| doc.resolve(p).and_then(|p| p.get("readOnly")) == Some(&true.into());
    let mut out = Vec::new();
    for (name, prop) in &props {
        // Required properties; when none is required (an update), every writable one.
        let wanted = if required.is_empty() {
            !read_only(prop)
        } else {
            required.contains(&name.as_str())
        };
        if wanted {
            let t = build(doc, prop, depth + 1)
                .map_err(|Unbuildable(why)| Unbuildable(format!("`{name}`: {why}")))?;
            out.push((name.clone(), t));
        }
    }
    if let Some(missing) = required.iter().find(|r| !props.contains_key(**r)) {
        return Err(Unbuildable(format!(
            "`{missing}` is required but has no schema"
        )));
    }
    Ok(Template::Object(out))
}

fn all_of(doc: &Document, parts: &[Value], depth: usize) -> Result<Template, Unbuildable> {
    let mut props = Vec::new();
    for part in parts {
        match build(doc, part, depth + 1)? {
            Template::Object(more) => props.extend(more),
            // `allOf` of one non-object schema: that schema.
            other if parts.len() == 1 => return Ok(other),
            _ => return Err(Unbuildable("`allOf` mixes objects and other types".into())),
        }
    }
    Ok(Template::Object(props))
}

/// A string of at least `min`, at most `max` characters.
fn text(min: usize, max: usize) -> String {
    let mut s = String::from("loadtest");
    while s.len() < min {
        s.push('x');
    }
    s.truncate(max.max(1));
    s
}

/// `local+lt<hex>@domain` from an example address, else `lt-<hex>@example.test`.
fn unique_email(example: Option<&str>) -> String {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    match example.and_then(|e| e.split_once('@')) {
        Some((local, domain)) => format!("{local}+lt{tag}@{domain}"),
        None => format!("lt-{tag}@example.test"),
    }
}

/// Now, as RFC 3339 in UTC to the second (`2026-12-01T09:30:00Z`).
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(components: Value) -> Document {
        let text = json!({"openapi": "3.1.0", "paths": {}, "components": {"schemas": components}});
        Document::parse(text.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn required_properties_from_types_formats_enums_and_bounds() {
        let d = doc(json!({
            "Line": {"type": "object", "required": ["qty"], "properties": {
                "qty": {"type": "integer", "minimum": 1, "maximum": 3}}},
            "New": {"type": "object", "required": ["ref", "state", "lines", "note"], "properties": {
                "ref": {"type": "string", "format": "uuid"},
                "state": {"type": "string", "enum": ["open", "closed"]},
                "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                "note": {"type": "string", "minLength": 10, "maxLength": 12},
                "optional": {"type": ["string", "null"]}
            }}
        }));
        let t = Template::of(&d, &json!({"$ref": "#/components/schemas/New"}), None).unwrap();
        let v = t.instantiate();
        assert!(
            uuid::Uuid::parse_str(v["ref"].as_str().unwrap()).is_ok(),
            "{v}"
        );
        assert_eq!(v["state"], "open");
        let qty = v["lines"][0]["qty"].as_i64().unwrap();
        assert!((1..=3).contains(&qty), "{v}");
        let note = v["note"].as_str().unwrap();
        assert!((10..=12).contains(&note.len()), "{note}");
        assert!(v.get("optional").is_none(), "only required properties: {v}");
        assert_ne!(t.instantiate()["ref"], v["ref"], "fresh ids per request");
    }

    #[test]
    fn examples_win_but_addresses_stay_unique() {
        let d = doc(
            json!({"New": {"type": "object", "required": ["email", "name"], "properties": {
            "email": {"type": "string", "example": "ada@example.com"},
            "name": {"type": "string", "example": "Ada"}}}}),
        );
        let t = Template::of(&d, &json!({"$ref": "#/components/schemas/New"}), None).unwrap();
        let (a, b) = (t.instantiate(), t.instantiate());
        assert_eq!(a["name"], "Ada");
        let email = a["email"].as_str().unwrap();
        assert!(
            email.starts_with("ada+lt") && email.ends_with("@example.com"),
            "{email}"
        );
        assert_ne!(a["email"], b["email"]);
        let whole = Template::of(&d, &json!({}), Some(&json!({"name": "x"}))).unwrap();
        assert_eq!(whole.instantiate(), json!({"name": "x"}));
    }

    #[test]
    fn an_update_without_required_fields_sends_every_writable_one_informed_by_the_create() {
        let d = doc(json!({
            "Patch": {"type": "object", "properties": {
                "email": {"type": ["string", "null"]},
                "id": {"type": "string", "readOnly": true}}},
        }));
        let create = Template::Object(vec![(
            "email".into(),
            Template::Email {
                example: Some("ada@example.com".into()),
            },
        )]);
        let t = Template::of(&d, &json!({"$ref": "#/components/schemas/Patch"}), None)
            .unwrap()
            .informed_by(&create);
        let v = t.instantiate();
        assert!(
            v["email"].as_str().unwrap().ends_with("@example.com"),
            "{v}"
        );
        assert!(v.get("id").is_none());
    }

    #[test]
    fn what_cannot_be_built_says_why() {
        let d = doc(
            json!({"Bad": {"type": "object", "required": ["blob"], "properties": {
            "blob": {"type": "array"}}}}),
        );
        let err = Template::of(&d, &json!({"$ref": "#/components/schemas/Bad"}), None).unwrap_err();
        assert!(
            err.0.contains("`blob`") && err.0.contains("items"),
            "{err:?}"
        );
        let err =
            Template::of(&d, &json!({"$ref": "#/components/schemas/Nope"}), None).unwrap_err();
        assert!(err.0.contains("does not resolve"), "{err:?}");
    }

    #[test]
    fn dates_are_rfc3339() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'), "{s}");
    }
}
