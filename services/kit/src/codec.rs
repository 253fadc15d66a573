//! Records as items and back, by their serde derives: a service's record type (its domain
//! type, or a small struct for a secondary item) names each attribute once, as a field, and
//! every attribute that does not read back is [`StoreError::Corrupt`] naming its path
//! (`items[0].quantity`), never a panic. Values keep the serde form of their types, so every
//! timestamp is stored in the one format of [`crate::time::Timestamp`] and every id in its
//! one spelling.
//!
//! ```
//! use kit::codec::{from_item, to_item};
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Note { text: String, version: u64 }
//! let note = Note { text: "hi".into(), version: 1 };
//! let item = to_item("NOTE#1", &note).unwrap();
//! assert_eq!(item["pk"], "NOTE#1");
//! assert_eq!(from_item::<Note>(&item).unwrap(), note);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::Value;

use crate::store::{Item, PK, StoreError};

/// `record` as the item stored under `pk`: its fields are the item's attributes, with `pk`
/// added. A record must serialize as a JSON object without a `pk` of its own.
pub fn to_item(pk: impl Into<String>, record: &impl Serialize) -> Result<Item, StoreError> {
    match serde_json::to_value(record) {
        Ok(Value::Object(mut item)) => {
            item.insert(PK.to_owned(), Value::String(pk.into()));
            Ok(item)
        }
        Ok(other) => Err(StoreError::Other(format!(
            "a record must be an object, not {other}"
        ))),
        Err(e) => Err(StoreError::Other(format!(
            "a record did not serialize: {e}"
        ))),
    }
}

/// The record an item holds; attributes it does not name (`pk`, a computed total) are
/// ignored, and one that is missing or does not parse is [`StoreError::Corrupt`] naming it.
///
/// Every read takes this path, so it reads the item in place, and tracks the attribute's
/// path only to explain a failure: most of its time went to a copy of the item and to the
/// tracking.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    T::deserialize(attributes(item)).map_err(|_| {
        match serde_path_to_error::deserialize::<_, T>(attributes(item)) {
            Err(e) => StoreError::Corrupt(format!("`{}`: {}", e.path(), e.inner())),
            Ok(_) => StoreError::Corrupt("the item does not read back".into()),
        }
    })
}

/// `item` as a deserializer of a map, borrowing its attributes.
fn attributes(item: &Item) -> MapDeserializer<'_, Attributes<'_>, serde_json::Error> {
    MapDeserializer::new(item.iter().map(|(name, value)| (name.as_str(), value)))
}

type Attributes<'a> =
    std::iter::Map<serde_json::map::Iter<'a>, fn((&'a String, &'a Value)) -> (&'a str, &'a Value)>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    use crate::time::Timestamp;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Line {
        sku: String,
        quantity: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        region: topology::Region,
        at: Timestamp,
        lines: Vec<Line>,
    }

    fn record() -> Record {
        Record {
            region: "us-east-1".parse().unwrap(),
            at: "2026-12-01T09:10:01.000001Z".parse().unwrap(),
            lines: vec![Line {
                sku: "A".into(),
                quantity: 3,
            }],
        }
    }

    #[test]
    fn records_round_trip_under_their_key() {
        let item = to_item("REC#1", &record()).unwrap();
        assert_eq!(item["pk"], "REC#1");
        assert_eq!(item["at"], "2026-12-01T09:10:01.000001Z");
        assert_eq!(item["lines"], json!([{"sku": "A", "quantity": 3}]));
        assert_eq!(from_item::<Record>(&item).unwrap(), record());
        assert!(matches!(to_item("x", &3), Err(StoreError::Other(_))));
    }

    #[test]
    fn attributes_that_do_not_read_back_are_named() {
        let item = to_item("REC#1", &record()).unwrap();
        for (attr, value, named) in [
            ("region", json!("Mars"), "region"),
            ("at", json!("yesterday"), "at"),
            (
                "lines",
                json!([{"sku": "A", "quantity": -1}]),
                "lines[0].quantity",
            ),
        ] {
            let mut broken = item.clone();
            broken.insert(attr.into(), value);
            let err = from_item::<Record>(&broken).unwrap_err();
            assert!(
                matches!(&err, StoreError::Corrupt(m) if m.contains(&format!("`{named}`"))),
                "{err}"
            );
        }
        let mut missing = item;
        missing.remove("at");
        let err = from_item::<Record>(&missing).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("at")),
            "{err}"
        );
    }
}
