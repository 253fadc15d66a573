//! The names every stack builder shares: the stack prefix, and the part a Region plays.

use std::fmt;
use std::str::FromStr;

use topology::{Region, Regions};

/// The prefix of every stack and ARC resource name (`multi-region-api-orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPrefix(String);

impl StackPrefix {
    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The IAM path of every role the stacks create (`/multi-region-api/`). CloudFormation
    /// names a role after its stack but shortens long names, so only the path reliably tells
    /// this deployment's roles apart: the pipeline's execution role may manage roles under it
    /// and no others.
    pub fn iam_path(&self) -> String {
        format!("/{}/", self.0)
    }
}

impl Default for StackPrefix {
    fn default() -> Self {
        Self("multi-region-api".into())
    }
}

impl FromStr for StackPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let valid = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.ends_with('-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a stack prefix: use 1 to 40 lowercase letters, digits and hyphens, starting with a letter"
            ))
        }
    }
}

impl fmt::Display for StackPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The part a Region plays for an app: its failover record is PRIMARY or SECONDARY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RegionRole {
    Primary,
    Secondary,
}

impl RegionRole {
    /// Both roles, primary first.
    pub const BOTH: [RegionRole; 2] = [RegionRole::Primary, RegionRole::Secondary];

    /// The Region that plays this role.
    pub fn of(self, regions: &Regions) -> &Region {
        match self {
            RegionRole::Primary => &regions.primary,
            RegionRole::Secondary => &regions.secondary,
        }
    }

    /// `Primary` or `Secondary`, for logical ids and output keys.
    pub fn pascal(self) -> &'static str {
        match self {
            RegionRole::Primary => "Primary",
            RegionRole::Secondary => "Secondary",
        }
    }

    /// The Route 53 failover record type.
    pub fn failover(self) -> &'static str {
        match self {
            RegionRole::Primary => "PRIMARY",
            RegionRole::Secondary => "SECONDARY",
        }
    }
}
