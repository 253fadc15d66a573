//! Stage 4's look: `GET /` at the address the recursive resolver gave, and the Region that
//! answered (its `x-region` header, else the body's `region`).

use std::net::SocketAddr;

use topology::Region;

/// The header that names the Region that answered.
pub(super) const X_REGION: &str = "x-region";

/// `GET url` at `addr`, and the Region that answered.
pub(super) async fn get_region(
    url: &reqwest::Url,
    host: &str,
    addr: SocketAddr,
) -> Result<Region, String> {
    // Connect to the address the resolver returned: no other cache may hide the move.
    let client = reqwest::Client::builder()
        .resolve(host, addr)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("GET {url} via {addr}: {e}"))?;
    let header = response
        .headers()
        .get(X_REGION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let region = match header {
        Some(r) => r,
        None => {
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("GET {url}: no {X_REGION} header and no JSON body: {e}"))?;
            body.get("region")
                .and_then(|r| r.as_str())
                .ok_or_else(|| {
                    format!("GET {url}: no {X_REGION} header and no `region` in the body")
                })?
                .to_owned()
        }
    };
    region.parse().map_err(|e| format!("GET {url}: {e}"))
}
