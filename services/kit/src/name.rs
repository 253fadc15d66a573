//! Display names, the same in every service (a user's name, an item's name): at most
//! [`Name::MAX_CHARS`] characters as sent, not only whitespace, no control character between
//! the first and last visible ones; surrounding whitespace is removed. The OpenAPI schema
//! ([`schema`]) states exactly that, so a generator that follows it draws only names the
//! service accepts, and the service refuses every other string.
//!
//! ```
//! use kit::name::Name;
//! assert_eq!(Name::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
//! assert!(Name::parse("   ").is_err());
//! assert!(Name::parse("line\nbreak").is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// A string that is not a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {max} characters, not only spaces, without control characters", max = Name::MAX_CHARS)]
pub struct NameError;

/// A display name, trimmed; valid by construction. Its serde form is the string, checked
/// when read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Unicode's White_Space, what `str::trim` removes, as a regex class body.
macro_rules! white_space {
    () => {
        "\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000"
    };
}

/// White_Space and control characters (Unicode category Cc) together.
macro_rules! space_or_control {
    () => {
        "\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000"
    };
}

impl Name {
    /// The longest name as sent, in characters (Unicode scalar values, as JSON Schema
    /// counts `maxLength`), surrounding whitespace included.
    pub const MAX_CHARS: usize = 100;

    /// The pattern of a name, for OpenAPI documents: whitespace, a character that is neither
    /// whitespace nor a control character, then optionally any characters but control ones
    /// ending in another such character, then whitespace. Written with explicit `\uXXXX`
    /// classes rather than `\s` and `\p{Cc}`, so that every regex dialect (ECMA-262
    /// generators, Python's, Rust's) reads the same language.
    pub const PATTERN: &'static str = concat!(
        "^[",
        white_space!(),
        "]*[^",
        space_or_control!(),
        "]([^\\u0000-\\u001F\\u007F-\\u009F]*[^",
        space_or_control!(),
        "])?[",
        white_space!(),
        "]*$",
    );

    /// Parses a name as sent.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        let ok = raw.chars().count() <= Self::MAX_CHARS
            && !trimmed.is_empty()
            && !trimmed.chars().any(char::is_control);
        if ok {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(NameError)
        }
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

/// The OpenAPI schema of a name field: [`Name::PATTERN`] and the length as sent
/// (`#[schema(schema_with = kit::name::schema)]`).
pub fn schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "1 to 100 characters, not only whitespace, no control characters; surrounding \
             whitespace is removed",
        ))
        .min_length(Some(1))
        .max_length(Some(Name::MAX_CHARS))
        .pattern(Some(Name::PATTERN))
        .examples(["Ada Lovelace"])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_as_sent() {
        assert_eq!(Name::parse("  first ").unwrap().as_str(), "first");
        assert!(
            Name::parse(&"é".repeat(100)).is_ok(),
            "the limit counts characters"
        );
        for bad in [
            "",
            "   ",
            "a\u{0}b",
            "a\u{7}b",
            "line\nbreak",
            &"x".repeat(101),
        ] {
            assert_eq!(Name::parse(bad), Err(NameError), "{bad:?}");
        }
        // `maxLength` counts what is sent, surrounding whitespace included.
        assert_eq!(
            Name::parse(&format!(" {} ", "x".repeat(99))),
            Err(NameError)
        );
        assert!(Name::parse(&format!("\t{}", "x".repeat(99))).is_ok());
        let read: Name = serde_json::from_value(serde_json::json!(" x ")).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), "x");
        assert!(serde_json::from_value::<Name>(serde_json::json!("\n")).is_err());
    }

    /// Characters where regex dialects and Rust's `trim` could disagree: each kind of
    /// whitespace (some are also control characters), control characters, format characters.
    const TRICKY: &[char] = &[
        'a', 'é', ' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1c}', '\u{1f}', '\u{0}', '\u{7f}',
        '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{200b}', '\u{2028}', '\u{202f}',
        '\u{205f}', '\u{3000}', '\u{feff}', '😀',
    ];

    proptest::proptest! {
        /// The schema (pattern and length bounds) accepts exactly the names `parse` does,
        /// and the portable pattern is the language the Rust-only one (`\s`, `\p{Cc}`) was.
        #[test]
        fn the_schema_is_the_parser(
            chars in proptest::collection::vec(proptest::sample::select(TRICKY), 0..6),
            long in 95usize..105,
        ) {
            let pattern = regex::Regex::new(Name::PATTERN).unwrap();
            let before = regex::Regex::new(r"^\s*[^\s\p{Cc}]([^\p{Cc}]*[^\s\p{Cc}])?\s*$").unwrap();
            let short: String = chars.iter().collect();
            let padded = format!("{short}{}{short}", "x".repeat(long));
            for name in [short, padded] {
                let length = name.chars().count();
                let by_schema = pattern.is_match(&name) && (1..=Name::MAX_CHARS).contains(&length);
                proptest::prop_assert_eq!(by_schema, Name::parse(&name).is_ok(), "{:?}", name);
                proptest::prop_assert_eq!(pattern.is_match(&name), before.is_match(&name), "{:?}", name);
            }
        }
    }
}
