//! What the gateway reads in a token before and after its signature is checked: the bearer
//! token of the request, the header's `alg` and `kid`, and the claims it judges (audience,
//! scopes, times). And the identity headers it sends on, written as API Gateway writes
//! claims into parameter mappings.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// The token of an `Authorization` header value: `Bearer <token>` or, as API Gateway also
/// accepts, the bare token. `None` when there is nothing to read.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if value.eq_ignore_ascii_case("bearer") => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// The fields of a token's header the gateway decides on before it trusts anything.
#[derive(Debug, Deserialize)]
pub(crate) struct UnverifiedHeader {
    /// Read as text, so that `none`, `HS256` or a made-up name is refused by name.
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
}

/// The header of `token` and its claims' `iss`, unverified: enough to pick the issuer's key.
pub(crate) fn peek(token: &str) -> Result<(UnverifiedHeader, Option<String>), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a JWS in compact form (three dot-separated parts)".into());
    };
    let header: UnverifiedHeader = decode_part(header, "header")?;
    #[derive(Deserialize)]
    struct Iss {
        #[serde(default)]
        iss: Option<Value>,
    }
    let iss: Iss = decode_part(claims, "claims")?;
    Ok((header, iss.iss.and_then(|v| v.as_str().map(str::to_owned))))
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| format!("the token's {what} is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| format!("the token's {what} is not a JSON object"))
}

/// The verified claims the gateway judges and passes on; the rest are kept as they are.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    pub(crate) aud: Option<Value>,
    #[serde(default)]
    pub(crate) client_id: Option<Value>,
    #[serde(default)]
    pub(crate) iat: Option<Value>,
    #[serde(default)]
    pub(crate) scope: Option<Value>,
    #[serde(default)]
    pub(crate) scp: Option<Value>,
    #[serde(default)]
    pub(crate) sub: Option<Value>,
    #[serde(default)]
    pub(crate) iss: Option<Value>,
}

impl Claims {
    /// Whether the token is for one of `audiences`: its `aud` (a string or a list) when it
    /// has one, else its `client_id`, as API Gateway decides.
    pub(crate) fn has_audience(&self, audiences: &[String]) -> bool {
        let accepted = |v: &Value| v.as_str().is_some_and(|a| audiences.iter().any(|x| x == a));
        match (&self.aud, &self.client_id) {
            (Some(Value::Array(list)), _) => list.iter().any(accepted),
            (Some(aud), _) => accepted(aud),
            (None, Some(client_id)) => accepted(client_id),
            (None, None) => false,
        }
    }

    /// The scopes the token carries: its `scope` (space-separated), else its `scp` (a
    /// space-separated string or a list).
    pub(crate) fn scopes(&self) -> Vec<&str> {
        match self.scope.as_ref().or(self.scp.as_ref()) {
            Some(Value::String(s)) => s.split(' ').filter(|s| !s.is_empty()).collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `iat`, when it is a number.
    pub(crate) fn issued_at(&self) -> Option<f64> {
        self.iat.as_ref().and_then(Value::as_f64)
    }
}

/// `value` as JSON text with every non-ASCII character escaped (`é` → `\u00E9`): what API
/// Gateway maps into a header from `context.authorizer.claims.<claim>`, and a valid header
/// value (serde_json already escapes control characters).
pub(crate) fn json_text(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn bearer_tokens_with_or_without_the_scheme() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc"), Some("abc"));
        assert_eq!(bearer_token("abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("Basic dXNlcjpwdw=="), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("  "), None);
    }

    #[test]
    fn peeking_reads_alg_kid_and_iss_and_refuses_what_is_not_a_jws() {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.sig",
            part(json!({"alg": "none", "kid": "k1"})),
            part(json!({"iss": "https://idp", "sub": "u"}))
        );
        let (header, iss) = peek(&token).unwrap();
        assert_eq!(header.alg, "none");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(iss.as_deref(), Some("https://idp"));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.x",
            &format!("{}.bm90IGpzb24.x", part(json!({"alg": "RS256"}))),
        ] {
            assert!(peek(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_audience_is_aud_else_client_id() {
        let ok = ["api".to_owned(), "client-1".to_owned()];
        assert!(claims(json!({"aud": "api"})).has_audience(&ok));
        assert!(claims(json!({"aud": ["other", "api"]})).has_audience(&ok));
        assert!(claims(json!({"client_id": "client-1"})).has_audience(&ok));
        // With both, `aud` decides.
        assert!(!claims(json!({"aud": "other", "client_id": "client-1"})).has_audience(&ok));
        assert!(!claims(json!({"aud": 7})).has_audience(&ok));
        assert!(!claims(json!({})).has_audience(&ok));
    }

    #[test]
    fn scopes_come_from_scope_else_scp() {
        assert_eq!(claims(json!({"scope": "a b  c"})).scopes(), ["a", "b", "c"]);
        assert_eq!(claims(json!({"scp": ["a", "b"]})).scopes(), ["a", "b"]);
        assert_eq!(claims(json!({"scp": "a b"})).scopes(), ["a", "b"]);
        assert_eq!(claims(json!({"scope": "a", "scp": "b"})).scopes(), ["a"]);
        assert!(claims(json!({})).scopes().is_empty());
    }

    #[test]
    fn claims_become_json_text_in_ascii() {
        assert_eq!(json_text(&json!("alice")), "\"alice\"");
        assert_eq!(json_text(&json!("Doe, \"Jane\"")), r#""Doe, \"Jane\"""#);
        assert_eq!(json_text(&json!("é")), r#""\u00E9""#);
        assert_eq!(json_text(&json!("😀")), r#""\uD83D\uDE00""#);
        assert_eq!(json_text(&json!(42)), "42");
        assert_eq!(json_text(&json!("a\nb")), r#""a\nb""#);
    }
}
