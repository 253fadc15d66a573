//! JSON written straight into a response's buffer, for the bodies that every request of a
//! service returns. serde_json escapes every key and string byte by byte through its
//! serializer; here a key is a literal, and the kit's values whose spelling cannot need
//! escaping (ids, timestamps, currency codes, numbers) are copied as they are. Strings
//! that come from outside (names, SKUs, Regions) are checked, and escaped by serde_json
//! when they need it, so any input still gives valid JSON. The bytes are serde_json's
//! compact form of the same value, which a service checks against its serde body type.
//!
//! ```
//! use kit::json::{Object, WriteJson};
//! struct Note<'a> { text: &'a str, version: u64 }
//! impl WriteJson for Note<'_> {
//!     fn write_json(&self, out: &mut Vec<u8>) {
//!         Object::new(out).field("text", self.text).field("version", &self.version).end();
//!     }
//! }
//! let mut out = Vec::new();
//! Note { text: "a \"b\"", version: 2 }.write_json(&mut out);
//! assert_eq!(out, br#"{"text":"a \"b\"","version":2}"#);
//! ```

use axum::body::Body as AxumBody;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::id::Id;
use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// A value that writes itself as compact JSON, byte for byte what serde_json writes for it.
pub trait WriteJson {
    /// Appends the value's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A JSON object being written: `{`, then each field, then `}` on [`Object::end`].
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes `"key":value`. Keys are the program's own literals and must need no escaping.
    // Inlined, so that a literal key's length is known and its copy needs no `memcpy` call.
    #[inline]
    pub fn field(&mut self, key: &'static str, value: impl WriteJson) -> &mut Self {
        debug_assert!(is_plain(key), "a JSON key that needs escaping: {key:?}");
        let opening: &[u8] = if self.first { b"\"" } else { b",\"" };
        self.first = false;
        self.out.extend_from_slice(opening);
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        value.write_json(self.out);
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// A JSON array of what `items` yields (cloned, so a borrowed iterator can be written).
pub struct Array<I>(pub I);

impl<I> WriteJson for Array<I>
where
    I: Iterator + Clone,
    I::Item: WriteJson,
{
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.0.clone().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.push(b']');
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        if is_plain(self) {
            quoted(out, self.as_bytes());
        } else {
            // Rare (a quote, a backslash or a control character): serde_json's escaping.
            serde_json::to_writer(out, self).expect("a string serializes");
        }
    }
}

impl WriteJson for u64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        // itoa: what serde_json itself writes integers with.
        out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
    }
}

impl WriteJson for u32 {
    fn write_json(&self, out: &mut Vec<u8>) {
        u64::from(*self).write_json(out);
    }
}

impl WriteJson for Money {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.minor().write_json(out);
    }
}

impl<K> WriteJson for Id<K> {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Lowercase hex digits and hyphens only.
        quoted(out, self.encode(&mut [0; crate::id::LEN]).as_bytes());
    }
}

impl WriteJson for Timestamp {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Digits and `-`, `:`, `.`, `T`, `Z` only, on either of its spelling's paths.
        let mut spelt = [0; crate::time::LEN];
        if self.spell_ascii(&mut spelt) {
            quoted(out, &spelt);
        } else {
            quoted(out, self.to_string().as_bytes());
        }
    }
}

impl WriteJson for Currency {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Three uppercase ASCII letters by construction.
        quoted(out, self.as_str().as_bytes());
    }
}

/// Whether `text` goes into a JSON string as it is: no quote, backslash or control
/// character (every other byte, UTF-8 included, serde_json copies unchanged).
fn is_plain(text: &str) -> bool {
    // A fold rather than `all`: no early exit, so the compiler can check many bytes at once.
    !text.bytes().fold(false, |special, b| {
        special | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[inline]
fn quoted(out: &mut Vec<u8>, plain: &[u8]) {
    out.reserve(plain.len() + 2);
    out.push(b'"');
    out.extend_from_slice(plain);
    out.push(b'"');
}

/// The first buffer of a JSON response: a resource of the example services fits.
const RESPONSE_CAPACITY: usize = 1024;

/// A `200`'s JSON body written by [`WriteJson`]: what [`crate::extract::Json`] answers with
/// for a serde value, without serde's per-byte work.
pub struct Body<T>(pub T);

impl<T: WriteJson> IntoResponse for Body<T> {
    fn into_response(self) -> Response {
        let mut buffer = Vec::with_capacity(RESPONSE_CAPACITY);
        self.0.write_json(&mut buffer);
        let mut response = Response::new(AxumBody::from(Bytes::from(buffer)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(value: impl WriteJson) -> String {
        let mut out = Vec::new();
        value.write_json(&mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    fn serde(value: impl serde::Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn kit_values_are_written_as_serde_json_writes_them() {
        enum Note {}
        let id = Id::<Note>::new();
        assert_eq!(written(id), serde(id));
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
        let leap = chrono::NaiveTime::from_hms_micro_opt(23, 59, 59, 1_500_000).unwrap();
        for at in [
            "2026-12-01T09:10:01.000001Z".parse().unwrap(),
            "1970-01-01T00:00:00Z".parse().unwrap(),
            // What chrono spells: a year past 9999, a leap second.
            Timestamp::from(far.and_hms_opt(0, 0, 0).unwrap().and_utc()),
            Timestamp::from(far.pred_opt().unwrap().and_time(leap).and_utc()),
        ] {
            assert_eq!(written(at), serde(at), "{at}");
        }
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(written(eur), serde(eur));
        for n in [0, 7, 10, 1250, Money::MAX, u64::MAX] {
            assert_eq!(written(n), serde(n));
        }
        assert_eq!(written(Money::from_minor(1250).unwrap()), "1250");
        assert_eq!(written(Array([1u32, 2, 3].iter())), "[1,2,3]");
        assert_eq!(written(Array(std::iter::empty::<u32>())), "[]");
    }

    #[test]
    fn objects_separate_their_fields() {
        let mut out = Vec::new();
        Object::new(&mut out).end();
        assert_eq!(out, b"{}");
        out.clear();
        Object::new(&mut out)
            .field("a", 1u32)
            .field("b", "x")
            .field("c", Array(["y", "z"].iter()))
            .end();
        assert_eq!(out, br#"{"a":1,"b":"x","c":["y","z"]}"#);
    }

    proptest! {
        /// Any text, however hostile, is valid JSON and serde_json's bytes.
        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(text in any::<String>()) {
            let json = written(text.as_str());
            prop_assert_eq!(&json, &serde(&text));
            prop_assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
        }
    }

    #[test]
    fn special_characters_are_escaped() {
        for text in ["\"", "\\", "\n", "\u{1}", "é\u{7f}", "a\"b\\c\td"] {
            assert_eq!(written(text), serde(text), "{text:?}");
        }
    }
}
