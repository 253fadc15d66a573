//! The services the local world runs, each described by its own crate. Adding a service is
//! its crate in this crate's `Cargo.toml` and one line in [`SERVICES`]
//! (`cargo xtask new-service NAME` does both).

use anyhow::bail;
use kit::Service;
use topology::ServiceApp;

/// Every service this build can run.
pub const SERVICES: &[&Service] = &[&orders::SERVICE, &payments::SERVICE, &users::SERVICE];

/// The service that implements `app`, checked against the table the topology gives it: every
/// index the service queries must be declared there, as it is on AWS.
pub fn implementing(app: &ServiceApp) -> anyhow::Result<&'static Service> {
    let wanted = app.service();
    let Some(service) = SERVICES.iter().find(|s| s.name == wanted.as_str()) else {
        let known: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        bail!(
            "topology.toml lists service `{wanted}`{}, but this build has no service of that name (it has: {}); \
             create it with `cargo xtask new-service {wanted}`, or list its crate in local/src/services.rs",
            if wanted == app.name() {
                String::new()
            } else {
                format!(" (for app `{}`)", app.name())
            },
            known.join(", "),
        );
    };
    for index in service.indexes {
        let declared = app.table().indexes.iter().any(|i| {
            i.name == index.name
                && i.partition_key == index.partition_key
                && i.sort_key.as_deref() == index.sort_key
        });
        if !declared {
            bail!(
                "service `{}` queries the index `{}` (partition key `{}`{}), but its [apps.table] in topology.toml does not declare it; add: \
                 indexes = [{{ name = \"{}\", partition_key = \"{}\"{} }}]",
                app.name(),
                index.name,
                index.partition_key,
                index
                    .sort_key
                    .map(|k| format!(", sort key `{k}`"))
                    .unwrap_or_default(),
                index.name,
                index.partition_key,
                index
                    .sort_key
                    .map(|k| format!(", sort_key = \"{k}\""))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_its_own_name() {
        let mut names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERVICES.len());
        for name in names {
            assert!(name.parse::<topology::AppName>().is_ok(), "{name}");
        }
    }
}
