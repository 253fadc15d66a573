//! Turning a raw request DTO into domain types, collecting every field error into one 422.
//!
//! ```
//! use kit::validate::Fields;
//! # fn parse_email(s: &str) -> Result<String, &'static str> { if s.contains('@') { Ok(s.into()) } else { Err("not an email") } }
//! # fn parse_name(s: &str) -> Result<String, &'static str> { if s.is_empty() { Err("empty") } else { Ok(s.into()) } }
//! let mut fields = Fields::new();
//! let email = fields.check("email", parse_email("nope"));
//! let name = fields.check("name", parse_name(""));
//! let problem = fields.finish(email.zip(name)).unwrap_err();
//! assert_eq!(problem.errors.len(), 2);
//! ```

use std::fmt::Display;

use crate::problem::{FieldError, Problem};

/// A collector of field errors.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of `result`, or records its error against `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.to_string());
                None
            }
        }
    }

    /// Like [`Fields::check`] for an optional input: `None` stays `None` without an error.
    pub fn check_optional<T, E: Display>(
        &mut self,
        field: &str,
        result: Option<Result<T, E>>,
    ) -> Option<Option<T>> {
        match result {
            None => Some(None),
            Some(r) => self.check(field, r).map(Some),
        }
    }

    /// Records an error.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The parsed value when every check passed, else one 422 listing every error.
    /// Combine several values with `Option::zip`.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Problem> {
        self.finish_as(value, Problem::validation)
    }

    /// Like [`Fields::finish`] for query parameters and headers: one 400 listing every
    /// error. A parameter that does not parse makes the request unreadable, as a malformed
    /// body does; 422 is for a readable body whose fields break the domain's rules.
    pub fn finish_query<T>(self, value: Option<T>) -> Result<T, Problem> {
        self.finish_as(value, Problem::invalid_parameters)
    }

    fn finish_as<T>(
        self,
        value: Option<T>,
        problem: fn(Vec<FieldError>) -> Problem,
    ) -> Result<T, Problem> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            None if self.errors.is_empty() => Err(Problem::internal(
                "a field check returned None without recording an error",
            )),
            _ => Err(problem(self.errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_values_through_when_all_checks_pass() {
        let mut f = Fields::new();
        let a = f.check("a", Ok::<_, String>(1));
        let b = f.check_optional("b", None::<Result<u8, String>>);
        assert_eq!(f.finish(a.zip(b)).unwrap(), (1, None));
    }

    #[test]
    fn collects_every_error() {
        let mut f = Fields::new();
        let a = f.check("a", Err::<u8, _>("bad a"));
        let b = f.check("b", Ok::<_, String>(2));
        let c = f.check_optional("c", Some(Err::<u8, _>("bad c")));
        let problem = f.finish(a.zip(b).zip(c)).unwrap_err();
        assert_eq!(problem.status.as_u16(), 422);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
    }

    #[test]
    fn query_errors_are_400s_listing_every_parameter() {
        let mut f = Fields::new();
        let a = f.check("limit", Err::<u8, _>("bad limit"));
        let problem = f.finish_query(a).unwrap_err();
        assert_eq!(
            (problem.status.as_u16(), problem.kind),
            (400, "bad-request")
        );
        assert_eq!(problem.errors[0].field, "limit");
        assert_eq!(problem.detail, "`limit`: bad limit");
    }
}
