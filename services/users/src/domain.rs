//! The users domain: parsed once at the edge, valid by construction afterwards. The serde
//! derives are the user's record (what `store` keeps), and reading one back checks every
//! value as parsing a request does.

use std::fmt;

use kit::headers::Version;
use kit::id::{Id, Noun};
use kit::name::Name;
use kit::time::Timestamp;
use serde::{Deserialize, Serialize};

use topology::Region;

/// Why an input is not a valid domain value. Messages are for API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must be an email address like `ada@example.com` (at most 254 characters)")]
    Email,
    #[error("must be 1 to {max} characters, not only spaces, without control characters", max = UserName::MAX_CHARS)]
    UserName,
}

/// A user's id: a UUIDv7, so ids sort by creation time.
pub type UserId = Id<User>;

impl Noun for User {
    const NOUN: &'static str = "user";
}

/// An email address as the users schema describes it (`format: email` and [`Email::PATTERN`]):
/// a dot-atom local part of at most 64 characters (no leading, trailing or doubled dot, no
/// quoted form), `@`, and a domain of two or more DNS labels; at most 254 characters in all.
/// Stored lowercased, so uniqueness ignores case. Nothing is trimmed: an address with
/// surrounding spaces is not one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The pattern of an address, for OpenAPI documents (with `format: email`, which bounds
    /// the local part to 64 characters).
    pub const PATTERN: &'static str = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

    /// The longest address.
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let (local, domain) = s.split_once('@').ok_or(DomainError::Email)?;
        let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
        let local_ok = local.len() <= 64
            && local
                .split('.')
                .all(|atom| !atom.is_empty() && atom.bytes().all(atext));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if local_ok && domain_ok && s.len() <= Self::MAX_LEN {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(DomainError::Email)
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Email {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A user's display name: a [`kit::name::Name`] (at most 100 characters as sent, not only
/// whitespace, no control characters; trimmed), exactly what the schema's
/// [`UserName::PATTERN`] and length bounds accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(Name);

impl UserName {
    /// The longest name, in characters as sent.
    pub const MAX_CHARS: usize = Name::MAX_CHARS;

    /// The pattern of a name, for OpenAPI documents.
    pub const PATTERN: &'static str = Name::PATTERN;

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Name::parse(s).map(Self).map_err(|_| DomainError::UserName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::str::FromStr for UserName {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for UserName {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0.into()
    }
}

/// A user, as stored and as returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub version: Version,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the user.
    pub region: Region,
}

/// A change to a user: the fields a `PATCH` sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub email: Option<Email>,
    pub name: Option<UserName>,
}

impl UserChange {
    /// Whether the change sets nothing.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.name.is_none()
    }
}

impl User {
    /// A new user, version 1, written now in `region`.
    pub fn new(email: Email, name: UserName, region: Region, now: Timestamp) -> Self {
        Self {
            id: UserId::new(),
            email,
            name,
            version: Version::FIRST,
            created_at: now,
            updated_at: now,
            region,
        }
    }

    /// The user after `change`, written now in `region`: the next version.
    pub fn changed(&self, change: UserChange, region: Region, now: Timestamp) -> Self {
        Self {
            id: self.id,
            email: change.email.unwrap_or_else(|| self.email.clone()),
            name: change.name.unwrap_or_else(|| self.name.clone()),
            version: self.version.next(),
            created_at: self.created_at,
            updated_at: now,
            region,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("Ada@Example.COM").unwrap().as_str(),
            "ada@example.com"
        );
        assert!(Email::parse("a.b+tag@mail.example.co.uk").is_ok());
        assert!(Email::parse("o'brien!#$%&*/=?^_`{|}~-@1.2").is_ok());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
    }

    #[test]
    fn bad_emails_are_rejected() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(250));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a b@example.com",
            "ada@exa mple.com",
            "ada@-example.com",
            "ada@example..com",
            "ada@example.com.",
            "<ada>@example.com",
            "ada@exam_ple.com",
            // `format: email` is RFC 5321's dot-atom: no dot at either end, no two in a row,
            // no quoted local part, no spaces around.
            "A.@n5VOlHKSzEaBH7.Kf.s.j",
            ".ada@example.com",
            "a..da@example.com",
            "\"ada\"@example.com",
            "ada@[127.0.0.1]",
            "  ada@example.com ",
            &long_local,
            &long,
        ] {
            assert_eq!(Email::parse(bad), Err(DomainError::Email), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            UserName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert!(
            UserName::parse(&"é".repeat(100)).is_ok(),
            "the limit counts characters"
        );
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", &"x".repeat(101)] {
            assert_eq!(UserName::parse(bad), Err(DomainError::UserName), "{bad:?}");
        }
        // `maxLength` counts what is sent, surrounding whitespace included.
        let padded = format!(" {} ", "x".repeat(99));
        assert_eq!(UserName::parse(&padded), Err(DomainError::UserName));
        assert!(UserName::parse(&format!("\t{}", "x".repeat(99))).is_ok());
    }

    #[test]
    fn the_email_pattern_refuses_what_the_parser_does() {
        let pattern = regex::Regex::new(Email::PATTERN).unwrap();
        for good in [
            "ada@example.com",
            "a.b+tag@mail.example.co.uk",
            "o'brien@1.2",
        ] {
            assert!(
                pattern.is_match(good) && Email::parse(good).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "A.@x.co",
            ".a@x.co",
            "a..b@x.co",
            " a@x.co",
            "a@x",
            "a@-x.co",
            "\"a\"@x.co",
        ] {
            assert!(
                !pattern.is_match(bad) && Email::parse(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn changes_bump_the_version_and_keep_the_rest() {
        let east: Region = "us-east-1".parse().unwrap();
        let west: Region = "us-west-2".parse().unwrap();
        let t0 = Timestamp::now();
        let user = User::new(
            Email::parse("ada@example.com").unwrap(),
            UserName::parse("Ada").unwrap(),
            east,
            t0,
        );
        assert_eq!(user.version, Version::FIRST);
        let t1 = t0 + chrono::TimeDelta::seconds(1);
        let change = UserChange {
            name: Some(UserName::parse("Ada L.").unwrap()),
            email: None,
        };
        let changed = user.changed(change, west.clone(), t1);
        assert_eq!(changed.version.get(), 2);
        assert_eq!(changed.email, user.email);
        assert_eq!(changed.name.as_str(), "Ada L.");
        assert_eq!((changed.created_at, changed.updated_at), (t0, t1));
        assert_eq!(changed.region, west);
        assert!(UserChange::default().is_empty());
    }
}
