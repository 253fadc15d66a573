//! Reading and writing items: the helpers every service's item mapping uses, so that a
//! missing or malformed attribute is always [`StoreError::Corrupt`] naming the attribute,
//! never a panic, and every timestamp is stored in the one format of [`Timestamp`].

use std::fmt::Display;
use std::str::FromStr;

use serde_json::Value;

use crate::store::{Item, StoreError};
use crate::time::Timestamp;

/// An item from a `json!({...})` object literal; anything else is an empty item.
pub fn item(value: Value) -> Item {
    match value {
        Value::Object(item) => item,
        _ => Item::new(),
    }
}

/// A stored attribute that does not read back: [`StoreError::Corrupt`] naming it.
pub fn corrupt(attr: &str, why: impl Display) -> StoreError {
    StoreError::Corrupt(format!("`{attr}`: {why}"))
}

/// Reads a string attribute of an item, or says which one is missing.
pub fn attr_str<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt(name, "missing or not a string"))
}

/// Reads an unsigned number attribute of an item, or says which one is missing.
pub fn attr_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt(name, "missing or not a number"))
}

/// Reads a string attribute as a domain type (an id, a status, a Region).
pub fn attr_parse<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError>
where
    T::Err: Display,
{
    attr_str(item, name)?.parse().map_err(|e| corrupt(name, e))
}

/// Reads a timestamp attribute.
pub fn attr_time(item: &Item, name: &str) -> Result<Timestamp, StoreError> {
    attr_parse(item, name)
}

/// Reads a sub-object attribute (e.g. one line of an order).
pub fn attr_object<'a>(value: &'a Value, name: &str) -> Result<&'a Item, StoreError> {
    value
        .as_object()
        .ok_or_else(|| corrupt(name, "not an object"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_read_or_name_what_is_wrong() {
        let i =
            item(json!({"s": "x", "n": 3, "t": "2026-12-01T09:10:01.000001Z", "r": "us-east-1"}));
        assert_eq!(attr_str(&i, "s").unwrap(), "x");
        assert_eq!(attr_u64(&i, "n").unwrap(), 3);
        assert_eq!(
            attr_time(&i, "t").unwrap().to_string(),
            "2026-12-01T09:10:01.000001Z"
        );
        let region: topology::Region = attr_parse(&i, "r").unwrap();
        assert_eq!(region.as_str(), "us-east-1");
        for (name, err) in [
            ("missing", attr_str(&i, "missing").unwrap_err()),
            ("s", attr_u64(&i, "s").unwrap_err()),
            ("s", attr_time(&i, "s").unwrap_err()),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt(m) if m.contains(name)),
                "{err}"
            );
        }
        assert!(item(json!([1])).is_empty());
    }
}
