//! The two body formats: CBOR (Smithy RPC v2) and JSON (AWS JSON 1.0).
//!
//! Requests of both become one JSON value, so that one parser reads them: CBOR's timestamps
//! (tag 1) become their epoch seconds, as AWS JSON sends them, and CBOR's non-finite floats
//! become `"NaN"`, `"Infinity"` and `"-Infinity"`, as AWS JSON spells them. Responses are built
//! as a [`Doc`], which knows which numbers are timestamps, and written in either format.

use minicbor::data::{IanaTag, Type};
use serde_json::{Map, Number, Value};

use crate::model::Timestamp;

/// How deep a request may nest (CloudWatch's inputs nest four levels).
const MAX_DEPTH: usize = 32;

/// A response body, before it is written as CBOR or JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Time(Timestamp),
    List(Vec<Doc>),
    Map(Vec<(&'static str, Doc)>),
}

impl Doc {
    /// An empty structure.
    pub(crate) fn map() -> Self {
        Self::Map(Vec::new())
    }

    /// This structure with `name` set.
    pub(crate) fn with(mut self, name: &'static str, value: impl Into<Doc>) -> Self {
        if let Self::Map(fields) = &mut self {
            fields.push((name, value.into()));
        }
        self
    }

    /// This structure with `name` set when `value` is.
    pub(crate) fn with_some<T: Into<Doc>>(self, name: &'static str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.with(name, v),
            None => self,
        }
    }

    /// A list of `items`.
    pub(crate) fn list<T: Into<Doc>>(items: impl IntoIterator<Item = T>) -> Self {
        Self::List(items.into_iter().map(Into::into).collect())
    }

    /// Written as CBOR: definite lengths, floats as f64, timestamps as tag 1 over epoch
    /// seconds.
    pub(crate) fn to_cbor(&self) -> Vec<u8> {
        let mut encoder = minicbor::Encoder::new(Vec::new());
        self.encode(&mut encoder);
        encoder.into_writer()
    }

    fn encode(&self, e: &mut minicbor::Encoder<Vec<u8>>) {
        // Writing into a Vec cannot fail.
        let result = match self {
            Self::Bool(b) => e.bool(*b).map(|_| ()),
            Self::Int(i) => e.i64(*i).map(|_| ()),
            Self::Float(f) => e.f64(*f).map(|_| ()),
            Self::Str(s) => e.str(s).map(|_| ()),
            Self::Time(t) => e
                .tag(IanaTag::Timestamp)
                .and_then(|e| e.f64(t.epoch_seconds()))
                .map(|_| ()),
            Self::List(items) => {
                let result = e.array(items.len() as u64).map(|_| ());
                for item in items {
                    item.encode(e);
                }
                result
            }
            Self::Map(fields) => {
                let result = e.map(fields.len() as u64).map(|_| ());
                for (name, value) in fields {
                    let _ = e.str(name);
                    value.encode(e);
                }
                result
            }
        };
        debug_assert!(result.is_ok(), "writing CBOR into a Vec cannot fail");
    }

    /// Written as JSON: timestamps as epoch seconds, non-finite floats as strings.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Float(f) => float_json(*f),
            Self::Str(s) => Value::String(s.clone()),
            Self::Time(t) => float_json(t.epoch_seconds()),
            Self::List(items) => Value::Array(items.iter().map(Doc::to_json).collect()),
            Self::Map(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl From<bool> for Doc {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Doc {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<u32> for Doc {
    fn from(i: u32) -> Self {
        Self::Int(i64::from(i))
    }
}

impl From<f64> for Doc {
    fn from(f: f64) -> Self {
        Self::Float(f)
    }
}

impl From<String> for Doc {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<&str> for Doc {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<Timestamp> for Doc {
    fn from(t: Timestamp) -> Self {
        Self::Time(t)
    }
}

/// A float as AWS JSON writes it.
fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// A CBOR request body as the JSON value AWS JSON would have sent. An empty body is an empty
/// structure (RPC v2 CBOR allows it for operations without input).
pub(crate) fn cbor_to_json(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut decoder = minicbor::Decoder::new(bytes);
    let value = item(&mut decoder, 0)?;
    if decoder.position() != bytes.len() {
        return Err(format!(
            "{} bytes follow the CBOR value",
            bytes.len() - decoder.position()
        ));
    }
    Ok(value)
}

fn item(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the CBOR value nests deeper than {MAX_DEPTH} levels"
        ));
    }
    let at = d.position();
    let fail = |e: minicbor::decode::Error| format!("malformed CBOR at byte {at}: {e}");
    match d.datatype().map_err(fail)? {
        Type::Bool => d.bool().map(Value::Bool).map_err(fail),
        Type::Null | Type::Undefined => d.skip().map(|()| Value::Null).map_err(fail),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().map(Value::from).map_err(fail),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => d.i64().map(Value::from).map_err(fail),
        Type::Int => {
            let n = i128::from(d.int().map_err(fail)?);
            i64::try_from(n)
                .map(Value::from)
                .map_err(|_| format!("the integer at byte {at} is out of range"))
        }
        Type::F16 | Type::F32 | Type::F64 => d.f64().map(float_json).map_err(fail),
        Type::String | Type::StringIndef => {
            let mut s = String::new();
            for chunk in d.str_iter().map_err(fail)? {
                s.push_str(chunk.map_err(fail)?);
            }
            Ok(Value::String(s))
        }
        Type::Array | Type::ArrayIndef => array(d, depth),
        Type::Map | Type::MapIndef => map(d, depth),
        // Tag 1 (timestamp) and any other tag: the tagged value itself.
        Type::Tag => {
            d.tag().map_err(fail)?;
            item(d, depth + 1)
        }
        other => Err(format!("unexpected CBOR {other} at byte {at}")),
    }
}

/// Whether an indefinite-length item ends here; consumes the break.
fn at_break(d: &mut minicbor::Decoder<'_>) -> Result<bool, String> {
    match d.datatype() {
        Ok(Type::Break) => {
            d.set_position(d.position() + 1);
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) => Err(format!("malformed CBOR at byte {}: {e}", d.position())),
    }
}

fn array(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Value, String> {
    let len = d
        .array()
        .map_err(|e| format!("malformed CBOR array: {e}"))?;
    let mut items = Vec::new();
    match len {
        Some(n) => {
            for _ in 0..n {
                items.push(item(d, depth + 1)?);
            }
        }
        None => {
            while !at_break(d)? {
                items.push(item(d, depth + 1)?);
            }
        }
    }
    Ok(Value::Array(items))
}

fn map(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Value, String> {
    let len = d.map().map_err(|e| format!("malformed CBOR map: {e}"))?;
    let mut fields = Map::new();
    let mut entry = |d: &mut minicbor::Decoder<'_>| -> Result<(), String> {
        let key = match item(d, depth + 1)? {
            Value::String(k) => k,
            other => return Err(format!("a CBOR map key is {other}, not a string")),
        };
        let value = item(d, depth + 1)?;
        fields.insert(key, value);
        Ok(())
    };
    match len {
        Some(n) => {
            for _ in 0..n {
                entry(d)?;
            }
        }
        None => {
            while !at_break(d)? {
                entry(d)?;
            }
        }
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_doc_round_trips_through_cbor() {
        let t = Timestamp::from_millis(1_700_000_000_500);
        let doc = Doc::map()
            .with("Id", "flag")
            .with("Values", Doc::list([1.0, 0.5]))
            .with("Timestamps", Doc::list([t]))
            .with("Period", 10_u32)
            .with("Ok", true)
            .with("Odd", f64::NAN);
        let back = cbor_to_json(&doc.to_cbor()).unwrap();
        assert_eq!(
            back,
            json!({
                "Id": "flag", "Values": [1.0, 0.5], "Timestamps": [1_700_000_000.5],
                "Period": 10, "Ok": true, "Odd": "NaN"
            })
        );
        assert_eq!(back, doc.to_json());
    }

    #[test]
    fn indefinite_lengths_as_the_sdk_writes_them() {
        // {_ "Namespace": "N", "MetricData": [_ {_ "Value": 1.5}]} with a chunked string.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.begin_map().unwrap();
        e.str("Namespace").unwrap();
        e.begin_str()
            .unwrap()
            .str("N")
            .unwrap()
            .str("s")
            .unwrap()
            .end()
            .unwrap();
        e.str("MetricData").unwrap().begin_array().unwrap();
        e.begin_map()
            .unwrap()
            .str("Value")
            .unwrap()
            .f32(1.5)
            .unwrap();
        e.str("Timestamp")
            .unwrap()
            .tag(IanaTag::Timestamp)
            .unwrap()
            .i64(1_700_000_000)
            .unwrap();
        e.end().unwrap().end().unwrap().end().unwrap();
        let value = cbor_to_json(&e.into_writer()).unwrap();
        assert_eq!(
            value,
            json!({"Namespace": "Ns", "MetricData": [{"Value": 1.5, "Timestamp": 1_700_000_000}]})
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(cbor_to_json(&[0xff]).is_err());
        assert!(
            cbor_to_json(&[0xa1, 0x01, 0x02])
                .unwrap_err()
                .contains("key")
        );
        assert!(cbor_to_json(&[0x9f, 0x01]).is_err(), "unterminated");
        assert!(cbor_to_json(&[0x01, 0x02]).unwrap_err().contains("follow"));
        let deep: Vec<u8> = std::iter::repeat_n(0x81, 100).chain([0x01]).collect();
        assert!(cbor_to_json(&deep).unwrap_err().contains("deeper"));
        assert_eq!(cbor_to_json(&[]).unwrap(), json!({}));
    }
}
