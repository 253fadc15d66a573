//! A JSON Schema validator for the subset `report.schema.json` uses: `type` (one or a list),
//! `enum`, `minimum`, `properties`, `required`, `additionalProperties` (bool or schema),
//! `items` and local `$ref`s (`#/$defs/...`). Any other keyword fails loudly, so the schema
//! cannot silently outgrow what this checks.

use serde_json::Value;

const KNOWN: [&str; 12] = [
    "$schema",
    "$id",
    "title",
    "type",
    "enum",
    "minimum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "$ref",
    "$defs",
];

pub fn validate(root: &Value, instance: &Value) -> Result<(), String> {
    check(root, root, instance, "$")
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = schema
        .as_object()
        .ok_or(format!("{at}: schema is not an object"))?;
    if let Some(unknown) = schema.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "{at}: schema keyword `{unknown}` is not supported by the test validator"
        ));
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/$defs/")
            .ok_or(format!("{at}: unsupported $ref {reference}"))?;
        let target = root["$defs"]
            .get(name)
            .ok_or(format!("{at}: $ref to a missing definition {name}"))?;
        return check(root, target, value, at);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad `type`")),
        };
        if !types.iter().any(|t| has_type(value, t)) {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < min
    {
        return Err(format!("{at}: {n} is below the minimum {min}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required `{name}`"));
            }
        }
        for (key, member) in object {
            let path = format!("{at}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => check(root, sub, member, &path)?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{path}: not allowed by the schema"));
                }
                (None, Some(sub @ Value::Object(_))) => check(root, sub, member, &path)?,
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        _ => false,
    }
}

#[test]
fn the_validator_rejects_what_it_should() {
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["n"],
        "properties": {"n": {"$ref": "#/$defs/count"}, "s": {"type": ["string", "null"], "enum": ["a", null]}},
        "$defs": {"count": {"type": "integer", "minimum": 0}}
    });
    assert!(validate(&schema, &serde_json::json!({"n": 1, "s": "a"})).is_ok());
    assert!(validate(&schema, &serde_json::json!({"n": -1})).is_err());
    assert!(validate(&schema, &serde_json::json!({"n": 1.5})).is_err());
    assert!(validate(&schema, &serde_json::json!({})).is_err());
    assert!(validate(&schema, &serde_json::json!({"n": 1, "x": 2})).is_err());
    assert!(validate(&schema, &serde_json::json!({"n": 1, "s": "b"})).is_err());
}
