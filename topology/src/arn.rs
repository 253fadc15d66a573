//! ARNs of Route 53 ARC resources, checked for their resource type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an ARN was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{arn}` is not a {kind} ARN (expected `arn:aws:route53-recovery-control::<account>:{pattern}`)"
)]
pub struct ArnError {
    arn: String,
    kind: &'static str,
    pattern: &'static str,
}

macro_rules! arc_arn {
    ($name:ident, $kind:literal, $pattern:literal, $segments:expr) => {
        #[doc = concat!("The ARN of an ARC ", $kind, ": `arn:aws:route53-recovery-control::<account>:", $pattern, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The ARN as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $name {
            type Err = ArnError;
            fn from_str(s: &str) -> Result<Self, ArnError> {
                if resource_matches(s, $segments) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(ArnError { arn: s.to_owned(), kind: $kind, pattern: $pattern })
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

arc_arn!(ClusterArn, "cluster", "cluster/<id>", &["cluster"]);
arc_arn!(
    ControlPanelArn,
    "control panel",
    "controlpanel/<id>",
    &["controlpanel"]
);
arc_arn!(
    RoutingControlArn,
    "routing control",
    "controlpanel/<id>/routingcontrol/<id>",
    &["controlpanel", "routingcontrol"]
);
arc_arn!(
    SafetyRuleArn,
    "safety rule",
    "controlpanel/<id>/safetyrule/<id>",
    &["controlpanel", "safetyrule"]
);

impl RoutingControlArn {
    /// The control panel this routing control belongs to.
    pub fn control_panel(&self) -> ControlPanelArn {
        let cut = self.0.find("/routingcontrol/").expect("checked at parse");
        ControlPanelArn(self.0[..cut].to_owned())
    }
}

/// `arn:<partition>:route53-recovery-control::<account>:<kind>/<id>[/<kind>/<id>]`
fn resource_matches(arn: &str, kinds: &[&str]) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let path: Vec<&str> = resource.split('/').collect();
    prefix == "arn"
        && partition.starts_with("aws")
        && service == "route53-recovery-control"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && path.len() == kinds.len() * 2
        && path.chunks(2).zip(kinds).all(|(pair, kind)| {
            pair[0] == *kind
                && !pair[1].is_empty()
                && pair[1]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANEL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc123";

    #[test]
    fn arns_parse_by_type() {
        let rc: RoutingControlArn = format!("{PANEL}/routingcontrol/def456").parse().unwrap();
        assert_eq!(rc.control_panel().as_str(), PANEL);
        assert!(PANEL.parse::<ControlPanelArn>().is_ok());
        assert!(PANEL.parse::<RoutingControlArn>().is_err());
        assert!(
            format!("{PANEL}/safetyrule/x1")
                .parse::<SafetyRuleArn>()
                .is_ok()
        );
        assert!(
            format!("{PANEL}/safetyrule/x1")
                .parse::<RoutingControlArn>()
                .is_err()
        );
        assert!(
            "arn:aws:route53-recovery-control::123456789012:cluster/c-1"
                .parse::<ClusterArn>()
                .is_ok()
        );
    }

    #[test]
    fn malformed_arns_are_rejected() {
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:route53-recovery-control:us-east-1:123456789012:cluster/x",
            "arn:aws:route53-recovery-control::12345:cluster/x",
            "arn:aws:route53-recovery-control::123456789012:cluster/",
            "arn:aws:route53-recovery-control::123456789012:cluster/x/y",
        ] {
            let err = bad.parse::<ClusterArn>().unwrap_err();
            assert!(err.to_string().contains("cluster"), "{err}");
        }
    }
}
