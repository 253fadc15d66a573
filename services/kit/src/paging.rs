//! Listings, a page at a time, the same in every service: `limit` is 1 to [`MAX_LIMIT`]
//! (default [`DEFAULT_LIMIT`]); `cursor` is the `next_cursor` of the previous page, opaque to
//! clients (base64url of where the listing stopped), and an empty `cursor` is the same as none:
//! the first page (the documents say `cursor` is any string, so `cursor=` must be answered). A
//! bad `limit` or `cursor` is a 400 naming it, like any query parameter that does not parse
//! (see [`Fields::finish_query`]).
//!
//! ```
//! use kit::paging::{self, PageQuery};
//! let query = PageQuery { limit: Some("5".into()), cursor: Some(paging::encode(&"USER#7")) };
//! let (limit, after) = query.parse::<String>().unwrap();
//! assert_eq!((limit.get(), after.as_deref()), (5, Some("USER#7")));
//! let bad = PageQuery { limit: Some("0".into()), cursor: Some("nope".into()) };
//! assert_eq!(bad.parse::<String>().unwrap_err().status.as_u16(), 400);
//! ```

use std::fmt::Display;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::ApiResult;
use crate::validate::Fields;

/// The page size when the client names none.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page size.
pub const MAX_LIMIT: usize = 100;

/// A `limit` that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an integer from 1 to {MAX_LIMIT}")]
pub struct LimitError;

/// A `cursor` that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by this listing")]
pub struct CursorError;

/// A page size: 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    /// The `limit` parameter, [`DEFAULT_LIMIT`] when absent.
    pub fn parse(raw: Option<&str>) -> Result<Self, LimitError> {
        match raw.map(str::parse::<usize>) {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            Some(_) => Err(LimitError),
        }
    }

    /// The number of items.
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// The opaque cursor of a listing that stopped at `position`.
pub fn encode(position: &impl Display) -> String {
    URL_SAFE_NO_PAD.encode(position.to_string())
}

/// Where a listing continues, from the cursor [`encode`] made.
pub fn decode<T: FromStr>(raw: &str) -> Result<T, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| CursorError)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| CursorError)?;
    text.parse().map_err(|_| CursorError)
}

/// The query of a listing with nothing but paging, e.g. `GET /users?limit=10&cursor=…`.
/// Values are strings here and parsed by [`PageQuery::parse`], so that a bad one is a
/// problem naming it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(pattern = "^[1-9][0-9]?$|^100$", example = "20")]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque); empty or absent for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size and where to continue (a `T` parsed from the cursor), or one 400 naming
    /// each bad parameter.
    pub fn parse<T: FromStr>(&self) -> ApiResult<(Limit, Option<T>)> {
        let mut fields = Fields::new();
        let page = self.check(&mut fields);
        fields.finish_query(page)
    }

    /// Like [`PageQuery::parse`], recording errors in `fields` with the listing's other
    /// parameters.
    pub fn check<T: FromStr>(&self, fields: &mut Fields) -> Option<(Limit, Option<T>)> {
        let limit = fields.check("limit", Limit::parse(self.limit.as_deref()));
        let cursor = self.cursor.as_deref().filter(|c| !c.is_empty());
        let after = fields.check_optional("cursor", cursor.map(decode::<T>));
        limit.zip(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(Limit::parse(None).unwrap().get(), DEFAULT_LIMIT);
        assert_eq!(Limit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("100")).unwrap().get(), 100);
        for bad in ["0", "101", "-1", "many", "", "1.5"] {
            assert_eq!(Limit::parse(Some(bad)), Err(LimitError), "{bad}");
        }
    }

    #[test]
    fn cursors_are_opaque_and_round_trip() {
        let cursor = encode(&"USER#0190b7a4");
        assert!(!cursor.contains("USER"));
        assert_eq!(decode::<String>(&cursor).unwrap(), "USER#0190b7a4");
        assert_eq!(decode::<u32>(&encode(&"x")), Err(CursorError));
        for bad in ["!!!", "a", "/w"] {
            assert_eq!(decode::<String>(bad), Err(CursorError), "{bad}");
        }
    }

    #[test]
    fn bad_parameters_are_one_400_naming_each() {
        let query = PageQuery {
            limit: Some("101".into()),
            cursor: Some("!!!".into()),
        };
        let problem = query.parse::<String>().unwrap_err();
        assert_eq!(problem.status.as_u16(), 400);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor"]);
        let (limit, after) = PageQuery::default().parse::<String>().unwrap();
        assert_eq!((limit.get(), after), (DEFAULT_LIMIT, None));
        let empty = PageQuery {
            limit: None,
            cursor: Some(String::new()),
        };
        assert_eq!(
            empty.parse::<String>().unwrap().1,
            None,
            "`cursor=` is the first page"
        );
    }
}
