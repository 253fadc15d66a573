//! Judging a DNS answer: whose address is it? Each Region's instance of an app is known by
//! its DNS target (on AWS, the Regional API's domain) or, failing that, its Regional URL's host.

use std::collections::BTreeSet;
use std::net::IpAddr;

use topology::Region;
use topology::manifest::{AppEntry, Manifest};

use super::lookup::Lookup;

/// The addresses each Region's instance of an app answers on, to judge a DNS answer.
pub(super) struct Expected {
    /// (Region, the name or address that stands for it: DNS target, else the Regional URL's host)
    regions: Vec<(Region, Option<String>)>,
    /// How to resolve those names: what the zone says now.
    lookup: Lookup,
}

impl Expected {
    pub(super) fn new(
        manifest: &Manifest,
        entry: &AppEntry,
        target: &Region,
    ) -> Result<Self, String> {
        let name = |region: &Region| {
            entry.dns_target(region).map(str::to_owned).or_else(|| {
                let url = reqwest::Url::parse(entry.regional_url(region)?).ok()?;
                Some(url.host_str()?.trim_matches(['[', ']']).to_owned())
            })
        };
        let mut regions = vec![(target.clone(), name(target))];
        if let Some(other) = manifest.regions.other(target) {
            regions.push((other.clone(), name(other)));
        }
        Ok(Self {
            regions,
            lookup: Lookup::regional(manifest)?,
        })
    }

    /// The addresses of `region`'s instance now (empty when unknown).
    async fn of(&self, region: &Region) -> BTreeSet<IpAddr> {
        let Some((_, Some(name))) = self.regions.iter().find(|(r, _)| r == region) else {
            return BTreeSet::new();
        };
        self.lookup
            .resolve(name)
            .await
            .map(BTreeSet::from_iter)
            .unwrap_or_default()
    }

    /// `Ok` when `ips` include the target's address; else says whose addresses they are.
    pub(super) async fn judge(
        &self,
        ips: &[IpAddr],
        target: &Region,
        from: &str,
    ) -> Result<String, String> {
        let shown = listed(ips);
        let wanted = self.of(target).await;
        if wanted.is_empty() {
            return Ok(format!(
                "{shown} from {from} (not checked: no Regional address for {target} in the manifest)"
            ));
        }
        if ips.iter().any(|ip| wanted.contains(ip)) {
            return Ok(format!("{shown} ({target}) from {from}"));
        }
        for (region, _) in &self.regions {
            let theirs = self.of(region).await;
            if region != target && ips.iter().any(|ip| theirs.contains(ip)) {
                return Err(format!("{from} still answers {shown} ({region})"));
            }
        }
        let wanted: Vec<IpAddr> = wanted.into_iter().collect();
        Err(format!(
            "{from} answers {shown}, not {target}'s address ({})",
            listed(&wanted)
        ))
    }
}

fn listed(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
