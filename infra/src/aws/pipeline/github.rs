//! Who may assume the pipeline's roles: GitHub's OIDC provider, a repository, and the branch or
//! GitHub environment whose workflow runs it (the token's `sub` claim).

use std::fmt;
use std::str::FromStr;

/// The issuer of GitHub Actions' OIDC tokens, as IAM's identity provider knows it.
pub const OIDC_URL: &str = "https://token.actions.githubusercontent.com";
/// The token's audience that `aws-actions/configure-aws-credentials` asks for.
pub const OIDC_AUDIENCE: &str = "sts.amazonaws.com";
/// The condition-key prefix IAM gives the provider's claims.
pub const OIDC_CLAIM_PREFIX: &str = "token.actions.githubusercontent.com";

/// A GitHub repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRepo {
    owner: String,
    name: String,
}

/// Why a value is not a repository, or not a branch or environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GithubNameError {
    #[error(
        "`{0}` is not a GitHub repository: use owner/name (letters, digits, `-`, `_`, `.`), e.g. octo-org/shop-api"
    )]
    Repo(String),
    #[error(
        "`{0}` is not a usable {1} name: use letters, digits, `-`, `_`, `.` and `/`, without `*`, `:` or spaces (the role's trust policy compares it exactly)"
    )]
    Name(String, &'static str),
}

impl FromStr for GithubRepo {
    type Err = GithubNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let segment = |part: &str| {
            !part.is_empty()
                && part.len() <= 100
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match s.split_once('/') {
            Some((owner, name)) if segment(owner) && segment(name) && !owner.starts_with('.') => {
                Ok(Self {
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(GithubNameError::Repo(s.to_owned())),
        }
    }
}

impl fmt::Display for GithubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A branch or GitHub environment name, checked so that it cannot widen the trust policy
/// (`*` and `?` would be wildcards to `StringLike`; IAM compares it with `StringEquals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefName(String);

impl RefName {
    fn parse(s: &str, what: &'static str) -> Result<Self, GithubNameError> {
        let valid = !s.is_empty()
            && s.len() <= 255
            && !s.starts_with('/')
            && !s.ends_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(GithubNameError::Name(s.to_owned(), what))
        }
    }

    /// A branch name (`main`).
    pub fn branch(s: &str) -> Result<Self, GithubNameError> {
        Self::parse(s, "branch")
    }

    /// A GitHub environment name (`production`).
    pub fn environment(s: &str) -> Result<Self, GithubNameError> {
        Self::parse(s, "environment")
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which workflow runs of the repository may assume the roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// Jobs that deploy to this GitHub environment (`environment:` in the workflow); which
    /// branches may do so is the environment's deployment-branch rule, set in GitHub.
    Environment(RefName),
    /// Jobs of pushes to this branch that name no environment.
    Branch(RefName),
}

impl Trusted {
    /// The token's `sub` claim for such a job of `repo`, as GitHub writes it by default.
    pub fn subject(&self, repo: &GithubRepo) -> String {
        match self {
            Trusted::Environment(env) => format!("repo:{repo}:environment:{env}"),
            Trusted::Branch(branch) => format!("repo:{repo}:ref:refs/heads/{branch}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        let repo: GithubRepo = "octo-org/shop.api_2".parse().unwrap();
        assert_eq!(repo.to_string(), "octo-org/shop.api_2");
        for bad in [
            "",
            "octo",
            "octo/",
            "/shop",
            "octo/shop/x",
            "octo/*",
            "o o/shop",
        ] {
            let err = bad.parse::<GithubRepo>().unwrap_err();
            assert!(err.to_string().contains("owner/name"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_subject_pins_the_repository_and_the_environment_or_branch() {
        let repo: GithubRepo = "octo-org/shop".parse().unwrap();
        let env = Trusted::Environment(RefName::environment("production").unwrap());
        assert_eq!(
            env.subject(&repo),
            "repo:octo-org/shop:environment:production"
        );
        let branch = Trusted::Branch(RefName::branch("release/v2").unwrap());
        assert_eq!(
            branch.subject(&repo),
            "repo:octo-org/shop:ref:refs/heads/release/v2"
        );
    }

    #[test]
    fn names_that_would_widen_the_trust_are_refused() {
        for bad in ["", "*", "prod*", "a:b", "two words", "/main", "main/"] {
            assert!(RefName::environment(bad).is_err(), "{bad}");
            assert!(RefName::branch(bad).is_err(), "{bad}");
        }
    }
}
