//! Items as DynamoDB attribute maps and back: JSON values map onto attribute values one to
//! one (numbers as `N`, objects as `M`, arrays as `L`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Number, Value};

use crate::store::{Item, PK, StoreError};

/// A JSON value as a DynamoDB attribute value.
pub fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => AttributeValue::M(to_item(o)),
    }
}

/// An item as a DynamoDB attribute map.
pub fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()
}

/// A DynamoDB attribute value as JSON; sets become arrays, binary is refused.
pub fn from_attr(attr: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::Object(from_item(m)?),
        AttributeValue::Ss(ss) => Value::Array(ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| number(n).map(Value::Number))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unsupported attribute type: {other:?}"
            )));
        }
    })
}

fn number(n: &str) -> Result<Number, StoreError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| StoreError::Corrupt(format!("`{n}` is not a number")))
}

/// A DynamoDB attribute map as an item.
pub fn from_item(map: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), from_attr(v)?)))
        .collect()
}

/// The key of the item under `pk`.
pub(super) fn pk_key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk.to_owned()))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_round_trip() {
        let item = json!({
            "pk": "USER#1", "version": 3, "big": u64::MAX, "neg": -5, "ratio": 0.5,
            "ok": true, "none": null, "tags": ["a", 1], "nested": {"x": "y"}
        });
        let item = item.as_object().unwrap();
        assert_eq!(&from_item(&to_item(item)).unwrap(), item);
    }
}
