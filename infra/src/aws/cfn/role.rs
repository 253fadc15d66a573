//! The ARN of an IAM role CloudFormation acts as (a stack's service role), parsed once at the
//! edge so that a typo fails before any stack is touched rather than in CreateChangeSet.

use std::fmt;
use std::str::FromStr;

/// An IAM role's ARN: `arn:<partition>:iam::<account>:role/<path/>name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn(String);

/// Why a value is not an IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME, as the \
     pipeline stack's outputs give it)"
)]
pub struct RoleArnError(String);

impl FromStr for RoleArn {
    type Err = RoleArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = s.splitn(6, ':').collect();
        let valid = match fields[..] {
            ["arn", partition, "iam", "", account, resource] => {
                partition.starts_with("aws")
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource
                        .strip_prefix("role/")
                        .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
            }
            _ => false,
        };
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(RoleArnError(s.to_owned()))
        }
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_parsed_and_anything_else_is_refused_with_the_expected_shape() {
        for good in [
            "arn:aws:iam::123456789012:role/deploy",
            "arn:aws-us-gov:iam::123456789012:role/pipeline/cfn-exec",
        ] {
            assert_eq!(good.parse::<RoleArn>().unwrap().to_string(), good);
        }
        for bad in [
            "",
            "deploy",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345:role/deploy",
            "arn:aws:iam:us-east-1:123456789012:role/deploy",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
        ] {
            let err = bad.parse::<RoleArn>().unwrap_err();
            assert!(err.to_string().contains("role/NAME"), "{bad}: {err}");
        }
    }
}
