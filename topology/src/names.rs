//! Names of the domain: Regions, apps, DNS domains. Parsed once, valid by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` is not an AWS Region name (expected e.g. `us-east-1`)")]
    Region(String),
    #[error(
        "`{0}` is not an app name (expected a lowercase DNS label of at most 32 characters, starting with a letter, such as `orders`)"
    )]
    App(String),
    #[error("`{0}` is not a domain name (expected e.g. `example.com`)")]
    Domain(String),
    #[error(
        "`{0}` is not a control panel name (expected a lowercase DNS label such as `checkout`)"
    )]
    Panel(String),
}

macro_rules! string_newtype {
    ($name:ident, $parse:path) => {
        impl $name {
            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $parse(s).map(|()| Self(s.to_owned()))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Checked, then kept: one allocation, not a second copy made by `parse`.
                let s = String::deserialize(d)?;
                $parse(&s).map_err(serde::de::Error::custom)?;
                Ok(Self(s))
            }
        }
    };
}

/// An AWS Region name such as `us-east-1`: `<area>-<direction>-<number>`, or a partition-prefixed
/// one (`us-gov-west-1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);
string_newtype!(Region, check_region);

fn check_region(s: &str) -> Result<(), NameError> {
    // One pass, nothing collected: every stored item's Region is checked when it is read.
    let is_word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    let (mut count, mut words, mut last) = (1, true, first);
    for part in parts {
        words &= is_word(last);
        (count, last) = (count + 1, part);
    }
    let ok = (3..=4).contains(&count)
        && words
        && last.parse::<u8>().is_ok_and(|n| n > 0)
        && first.len() == 2
        || count >= 3 && s.starts_with("us-gov-");
    if ok && s.len() <= 25 {
        Ok(())
    } else {
        Err(NameError::Region(s.to_owned()))
    }
}

/// An app's name: one lowercase DNS label (`api`, `orders`), also its subdomain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(String);
string_newtype!(AppName, check_app);

fn check_app(s: &str) -> Result<(), NameError> {
    if is_dns_label(s) && s.as_bytes()[0].is_ascii_lowercase() && s.len() <= 32 {
        Ok(())
    } else {
        Err(NameError::App(s.to_owned()))
    }
}

/// The name of a control panel that several apps share (`control_panel = "checkout"`): one
/// lowercase DNS label of at most 32 characters, like an app's name, so that the ARC names made
/// from it fit ARC's limit as an app's do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PanelName(String);
string_newtype!(PanelName, check_panel);

fn check_panel(s: &str) -> Result<(), NameError> {
    check_app(s).map_err(|_| NameError::Panel(s.to_owned()))
}

/// A DNS domain such as `example.com`, lowercase, without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);
string_newtype!(DomainName, check_domain);

impl DomainName {
    /// The fully qualified name of a label in this domain: `orders` → `orders.example.com`.
    pub fn subdomain(&self, label: &str) -> String {
        format!("{label}.{}", self.0)
    }
}

fn check_domain(s: &str) -> Result<(), NameError> {
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() >= 2 && s.len() <= 200 && labels.iter().all(|l| is_dns_label(l)) {
        Ok(())
    } else {
        Err(NameError::Domain(s.to_owned()))
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse() {
        for ok in [
            "us-east-1",
            "us-west-2",
            "eu-west-1",
            "ap-southeast-2",
            "us-gov-west-1",
        ] {
            assert_eq!(ok.parse::<Region>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-0",
            "useast1",
            "us east-1",
            "x-east-1",
        ] {
            assert!(bad.parse::<Region>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn app_names_parse() {
        for ok in ["api", "orders", "a1", "my-app"] {
            assert!(ok.parse::<AppName>().is_ok(), "{ok} rejected");
        }
        for bad in ["", "Orders", "1app", "-x", "x-", "a.b", "a_b"] {
            assert!(bad.parse::<AppName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn panel_names_parse_like_app_names() {
        assert_eq!(
            "checkout".parse::<PanelName>().unwrap().as_str(),
            "checkout"
        );
        for bad in ["", "Checkout", "2cells", "a_b", &"x".repeat(33)] {
            let err = bad.parse::<PanelName>().unwrap_err();
            assert!(
                err.to_string().contains("control panel name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn domains_parse() {
        let d: DomainName = "example.test".parse().unwrap();
        assert_eq!(d.subdomain("orders"), "orders.example.test");
        for bad in ["example", "Example.com", "a..b", ".a.b", "a.b."] {
            assert!(bad.parse::<DomainName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn serde_rejects_bad_names() {
        assert!(serde_json::from_str::<Region>("\"nowhere\"").is_err());
        assert_eq!(
            serde_json::from_str::<Region>("\"eu-west-1\"")
                .unwrap()
                .as_str(),
            "eu-west-1"
        );
    }
}
