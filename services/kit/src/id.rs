//! Resource ids: UUIDv7 (so ids sort by creation time, which DynamoDB sort keys and cursors
//! rely on), with one spelling: lowercase and hyphenated, as every id is handed out. An id in
//! any other spelling (uppercase, braced, URN, without hyphens) or of another UUID version
//! names nothing, so it is refused rather than normalised.
//!
//! ```
//! use kit::id::{Id, Noun};
//! enum Note {}
//! impl Noun for Note { const NOUN: &'static str = "note"; }
//! type NoteId = Id<Note>;
//! let id = NoteId::new();
//! assert_eq!(id.to_string().parse::<NoteId>().unwrap(), id);
//! assert!(id.to_string().to_uppercase().parse::<NoteId>().is_err());
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use uuid::{Uuid, Variant};

/// What kind of thing an id names, for messages: `order` in "no order with id …".
pub trait Noun {
    /// The singular noun, lowercase.
    const NOUN: &'static str;
}

/// An id that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be {noun} id: a UUIDv7, lowercase and hyphenated, such as `{EXAMPLE}`", noun = with_article(self.noun))]
pub struct IdError {
    /// The noun of the id expected.
    pub noun: &'static str,
}

/// An example of the spelling ids have, for messages and documentation.
pub const EXAMPLE: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

/// The length of an id's spelling.
pub const LEN: usize = 36;

/// The pattern of an id's spelling, for OpenAPI documents.
pub const PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";

fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// The id of a `K` (a marker type implementing [`Noun`]; usually the domain type itself).
pub struct Id<K> {
    uuid: Uuid,
    kind: PhantomData<fn() -> K>,
}

impl<K> Id<K> {
    /// A new id, ordered after every id made earlier by this process.
    pub fn new() -> Self {
        Self::from_uuid(Uuid::now_v7())
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self {
            uuid,
            kind: PhantomData,
        }
    }

    /// The UUID.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The id's one spelling, written into `buffer` rather than through a formatter: keys
    /// and bodies carry ids on every request.
    pub fn encode<'b>(&self, buffer: &'b mut [u8; LEN]) -> &'b str {
        self.uuid.hyphenated().encode_lower(buffer)
    }
}

impl<K: Noun> Id<K> {
    /// Parses the one spelling ids have.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let error = IdError { noun: K::NOUN };
        // `try_parse` below checks the hex digits and the hyphens' places; what it would also
        // accept (uppercase, other lengths: braced, URN, simple) is refused here.
        let bytes = s.as_bytes();
        let lowercase_hyphenated = bytes.len() == LEN
            && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-')
            && !bytes.iter().any(u8::is_ascii_uppercase);
        if !lowercase_hyphenated {
            return Err(error);
        }
        match Uuid::try_parse(s) {
            Ok(uuid) if uuid.get_version_num() == 7 && uuid.get_variant() == Variant::RFC4122 => {
                Ok(Self::from_uuid(uuid))
            }
            _ => Err(error),
        }
    }
}

impl<K> Default for Id<K> {
    fn default() -> Self {
        Self::new()
    }
}

// Written out rather than derived: a derive would require the marker `K` to implement them.
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Id<K> {}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}

impl<K> Eq for Id<K> {}

impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.uuid.cmp(&other.uuid)
    }
}

impl<K> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.uuid.hash(state);
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.uuid.hyphenated())
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.hyphenated().fmt(f)
    }
}

impl<K: Noun> FromStr for Id<K> {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl<K> serde::Serialize for Id<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.encode(&mut [0; LEN]))
    }
}

impl<'de, K: Noun> serde::Deserialize<'de> for Id<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The 404 for an id that names no `K` (unknown, or not an id at all).
pub fn not_found<K: Noun>(id: &impl fmt::Display) -> crate::Problem {
    crate::Problem::not_found(format!("no {} with id `{id}`", K::NOUN))
}

/// The OpenAPI schema of an id: a string of exactly the one spelling.
pub fn schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .min_length(Some(LEN))
        .max_length(Some(LEN))
        .pattern(Some(PATTERN))
        .examples([EXAMPLE])
        .build()
}

impl<K> utoipa::PartialSchema for Id<K> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema().into()
    }
}

impl<K> utoipa::ToSchema for Id<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    enum Order {}
    impl Noun for Order {
        const NOUN: &'static str = "order";
    }
    type OrderId = Id<Order>;

    #[test]
    fn ids_are_uuid_v7_and_time_ordered() {
        let a = OrderId::new();
        let b = OrderId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<OrderId>().unwrap(), a);
        assert!(a.to_string().len() == LEN && a.to_string() == a.to_string().to_lowercase());
        assert_eq!(EXAMPLE.parse::<OrderId>().unwrap().to_string(), EXAMPLE);
    }

    #[test]
    fn one_spelling_only() {
        let id = OrderId::new().to_string();
        let v4 = "6f1c1f4e-3b1a-4b8e-9a8e-2f0c1d2e3f4a";
        for bad in [
            v4,
            "",
            "42",
            &id[..35],
            &format!("{{{id}}}"),
            &format!("urn:uuid:{id}"),
            &id.replace('-', ""),
            &id.to_uppercase(),
            &format!("{id} "),
            // The variant nibble is not RFC 4122's.
            "0190b7a4-5f7e-7c3a-1d2e-3f4a5b6c7d8e",
        ] {
            assert_eq!(
                bad.parse::<OrderId>(),
                Err(IdError { noun: "order" }),
                "{bad}"
            );
        }
        let message = IdError { noun: "order" }.to_string();
        assert!(message.starts_with("must be an order id"), "{message}");
    }

    #[test]
    fn ids_are_json_strings() {
        let id = OrderId::new();
        let json = serde_json::to_value(id).unwrap();
        assert_eq!(json, id.to_string());
        assert_eq!(serde_json::from_value::<OrderId>(json).unwrap(), id);
        assert!(serde_json::from_value::<OrderId>(serde_json::json!("x")).is_err());
    }
}
