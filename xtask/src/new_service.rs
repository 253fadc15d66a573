//! `cargo xtask new-service NAME`: a new service crate, wired into the topology, the gateway,
//! the local world's list of services and the contract test's configuration.
//!
//! Every check runs before the first write, and the writes are undone if one fails, so a
//! refused or failed scaffold changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use toml_edit::{DocumentMut, Item, Table, value};
use topology::{AppName, Topology};

use crate::write_atomically;

/// Names that would clash with a crate of this workspace or of the toolchain.
const RESERVED: &[&str] = &[
    "kit",
    "gateway",
    "bench",
    "topology",
    "failover",
    "loadtest",
    "infra",
    "testkit",
    "xtask",
    "local",
    "std",
    "core",
    "alloc",
    "test",
    "proc-macro",
    "self",
    "super",
    "crate",
];

/// The files a new service starts with, relative to `services/<name>/`: the layout of every
/// example service (`domain`, `store` over the kit's `ItemTable`, `api`, the descriptor in
/// `lib.rs`, a thin `main.rs`) and its test suite (http, and the schemathesis contract).
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../template/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../template/lib.rs.tmpl")),
    ("src/domain.rs", include_str!("../template/domain.rs.tmpl")),
    ("src/store.rs", include_str!("../template/store.rs.tmpl")),
    ("src/api.rs", include_str!("../template/api.rs.tmpl")),
    ("src/main.rs", include_str!("../template/main.rs.tmpl")),
    (
        "tests/suite/main.rs",
        include_str!("../template/tests/main.rs.tmpl"),
    ),
    (
        "tests/suite/http.rs",
        include_str!("../template/tests/http.rs.tmpl"),
    ),
    (
        "tests/suite/contract.rs",
        include_str!("../template/tests/contract.rs.tmpl"),
    ),
];

/// The new service's exceptions to the contract test's checks (its `PATCH` is conditional),
/// appended to [`CONTRACT_CONFIG`].
const CONTRACT_EXCEPTIONS: &str = include_str!("../template/schemathesis.toml.tmpl");

/// The files of the workspace that a scaffold edits, relative to its root.
const TOPOLOGY: &str = "topology.toml";
const LOCAL_MANIFEST: &str = "local/Cargo.toml";
const SERVICES_LIST: &str = "local/src/services.rs";
const CONTRACT_CONFIG: &str = "services/schemathesis.toml";

/// What a scaffold did, for people.
#[derive(Debug)]
pub struct Created {
    pub name: AppName,
    pub files: Vec<PathBuf>,
    pub edited: Vec<&'static str>,
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        writeln!(f, "created services/{name}:")?;
        for file in &self.files {
            writeln!(f, "  {}", file.display())?;
        }
        writeln!(f, "wired it into: {}", self.edited.join(", "))?;
        let tests = format!("cargo xtask test -p {name}");
        writeln!(f, "next:")?;
        for (command, what) in [
            (tests.as_str(), "its own tests, contract test included"),
            (
                "cargo run -p local-world -- demo --quick",
                "both Regions, DNS, failover",
            ),
            (
                "cargo run -p infra -- synth",
                "its AWS stacks (once [auth] names your issuers)",
            ),
        ] {
            writeln!(f, "  {command:<42} {what}")?;
        }
        write!(f, "then give it its domain in services/{name}/src/lib.rs")
    }
}

/// Creates `services/<name>` and wires it in, or changes nothing and says why.
pub fn run(root: &Path, name: &str) -> anyhow::Result<Created> {
    let name = parse_name(name)?;
    let service_dir = root.join("services").join(name.as_str());
    if service_dir.exists() {
        bail!(
            "{} exists already: choose another name",
            service_dir.display()
        );
    }
    let originals = [
        (TOPOLOGY, read(root, TOPOLOGY)?),
        (LOCAL_MANIFEST, read(root, LOCAL_MANIFEST)?),
        (SERVICES_LIST, read(root, SERVICES_LIST)?),
        (CONTRACT_CONFIG, read(root, CONTRACT_CONFIG)?),
    ];
    let edits = [
        (TOPOLOGY, add_to_topology(&originals[0].1, &name)?),
        (LOCAL_MANIFEST, add_dependency(&originals[1].1, &name)?),
        (SERVICES_LIST, add_to_list(&originals[2].1, &name)?),
        (CONTRACT_CONFIG, add_project(&originals[3].1, &name)?),
    ];
    let files = write_crate(&service_dir, &name)?;
    for (path, text) in &edits {
        if let Err(err) = write_atomically(&root.join(path), text) {
            for (path, text) in &originals {
                let _ = write_atomically(&root.join(path), text);
            }
            let _ = std::fs::remove_dir_all(&service_dir);
            return Err(err.context("the scaffold was undone"));
        }
    }
    format_with_rustfmt(&root.join(SERVICES_LIST));
    // Line widths depend on the name, so the crate is laid out as `cargo fmt` would.
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        format_with_rustfmt(&root.join(file));
    }
    Ok(Created {
        name,
        files,
        edited: edits.iter().map(|(path, _)| *path).collect(),
    })
}

/// A valid app name that is free to be a crate's name too.
fn parse_name(name: &str) -> anyhow::Result<AppName> {
    let parsed: AppName = name.parse().map_err(|e| {
        anyhow::anyhow!("`{name}` is not a valid app name ({e}): use a lowercase DNS label of up to 32 characters, starting with a letter, e.g. `inventory`")
    })?;
    if RESERVED.contains(&name) || name.starts_with("local-") {
        bail!("`{name}` is the name of a crate this workspace or Rust already has: choose another");
    }
    Ok(parsed)
}

fn read(root: &Path, path: &str) -> anyhow::Result<String> {
    let full = root.join(path);
    std::fs::read_to_string(&full).with_context(|| format!("cannot read {}", full.display()))
}

/// `topology.toml` with the new service (and its table) and a route `/<name>` on the first
/// gateway, comments and layout kept.
fn add_to_topology(text: &str, name: &AppName) -> anyhow::Result<String> {
    let topology = Topology::parse(text).context("topology.toml is not valid; fix it first")?;
    if topology.app(name).is_some() {
        bail!("topology.toml has an app `{name}` already: choose another name");
    }
    let mut doc: DocumentMut = text.parse().context("cannot parse topology.toml")?;
    let apps = doc["apps"]
        .as_array_of_tables_mut()
        .context("topology.toml has no [[apps]]")?;
    if let Some(gateway) = apps
        .iter_mut()
        .find(|app| app.get("kind").and_then(Item::as_str) == Some("gateway"))
    {
        let prefix = format!("/{name}");
        let routes = gateway
            .entry("routes")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .context("the gateway's routes are not a table")?;
        if routes.contains_key(&prefix) {
            bail!("the gateway routes `{prefix}` already: choose another name");
        }
        routes.insert(&prefix, value(name.as_str()));
    }
    let mut app = Table::new();
    app.insert("name", value(name.as_str()));
    app.insert("kind", value("service"));
    let mut table = Table::new();
    table.insert("name", value(name.as_str()));
    app.insert("table", Item::Table(table));
    apps.push(app);
    let edited = doc.to_string();
    Topology::parse(&edited).context("the edited topology.toml would not be valid")?;
    Ok(edited)
}

/// `local/Cargo.toml` with a path dependency on the new crate, after the other services.
fn add_dependency(text: &str, name: &AppName) -> anyhow::Result<String> {
    let line = format!("{name} = {{ path = \"../services/{name}\" }}");
    let mut lines: Vec<&str> = text.lines().collect();
    let Some(last) = lines
        .iter()
        .rposition(|l| l.contains("{ path = \"../services/"))
    else {
        bail!("{LOCAL_MANIFEST} lists no service (`NAME = {{ path = \"../services/NAME\" }}`)");
    };
    if lines.iter().any(|l| l.starts_with(&format!("{name} "))) {
        bail!("{LOCAL_MANIFEST} has a dependency `{name}` already");
    }
    lines.insert(last + 1, &line);
    Ok(lines.join("\n") + "\n")
}

/// `local/src/services.rs` with the new descriptor at the end of `SERVICES`.
fn add_to_list(text: &str, name: &AppName) -> anyhow::Result<String> {
    let start = text
        .find("pub const SERVICES")
        .with_context(|| format!("{SERVICES_LIST} has no `pub const SERVICES`"))?;
    let open = start
        + text[start..]
            .find("&[&")
            .with_context(|| format!("{SERVICES_LIST}: SERVICES is not a list"))?;
    let close = open
        + text[open..]
            .find("];")
            .with_context(|| format!("{SERVICES_LIST}: SERVICES has no end"))?;
    let items: Vec<&str> = text[open + 2..close]
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    let new = format!("&{}::SERVICE", crate_ident(name));
    if items.contains(&new.as_str()) {
        bail!("{SERVICES_LIST} lists `{new}` already");
    }
    let mut list = items.join(", ");
    list.push_str(", ");
    list.push_str(&new);
    Ok(format!("{}&[{list}]{}", &text[..open], &text[close + 1..]))
}

/// `services/schemathesis.toml` with a `[[project]]` for the new service at the end: the
/// exceptions its `PATCH` needs (428 without `If-Match`, 412 for a stale one).
fn add_project(text: &str, name: &AppName) -> anyhow::Result<String> {
    let doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{CONTRACT_CONFIG} is not valid TOML; fix it first"))?;
    let taken = doc
        .get("project")
        .and_then(Item::as_array_of_tables)
        .is_some_and(|projects| {
            projects
                .iter()
                .any(|p| p.get("title").and_then(Item::as_str) == Some(name.as_str()))
        });
    if taken {
        bail!("{CONTRACT_CONFIG} has a [[project]] `{name}` already");
    }
    let project = render(CONTRACT_EXCEPTIONS, name);
    Ok(format!("{}\n\n{project}", text.trim_end()))
}

/// The crate's Rust name: `inventory-svc` → `inventory_svc`.
fn crate_ident(name: &AppName) -> String {
    name.as_str().replace('-', "_")
}

/// `InventoryItem`-style type prefix: `inventory-svc` → `InventorySvc`.
fn pascal(name: &AppName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Writes the crate's files into a staging folder, then moves it into place in one rename.
fn write_crate(dir: &Path, name: &AppName) -> anyhow::Result<Vec<PathBuf>> {
    let staging = dir.with_file_name(format!(".{name}.xtask-new"));
    let _ = std::fs::remove_dir_all(&staging);
    let mut files = Vec::new();
    for (path, template) in TEMPLATE {
        let file = staging.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, render(template, name))
            .with_context(|| format!("cannot write {}", file.display()))?;
        files.push(Path::new("services").join(name.as_str()).join(path));
    }
    std::fs::rename(&staging, dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(files)
}

fn render(template: &str, name: &AppName) -> String {
    template
        .replace("{{name}}", name.as_str())
        .replace("{{crate}}", &crate_ident(name))
        .replace("{{Type}}", &pascal(name))
}

/// Lays a file out as `cargo fmt` would; without rustfmt it stays as written.
fn format_with_rustfmt(path: &Path) {
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(path)
        .status();
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid topology: the gateway `api` and one service, `orders`.
    pub(crate) const TOPOLOGY_TEXT: &str = r#"# a comment that stays
domain = "example.com"

[regions]
primary = "us-east-1"
secondary = "us-west-2"

[local]
domain = "example.test"
app_port = 8000
dns_listen = "127.0.0.1:8053"
ttl_seconds = 5
health_check_interval_ms = 1000
control_listen = "127.0.0.1:8080"
arc_first_port = 8091
replication_lag_ms = 250

[local.region_networks]
us-east-1 = "127.0.1"
us-west-2 = "127.0.2"

[[apps]]
name = "api"
kind = "gateway"
[apps.routes]
"/orders" = "orders"

[[apps]]
name = "orders"
kind = "service"
[apps.table]
name = "orders"
"#;

    const MANIFEST: &str = "[dependencies]\n# The services\norders = { path = \"../services/orders\" }\n\ntopology.workspace = true\n";
    const LIST: &str = "use kit::Service;\n\npub const SERVICES: &[&Service] = &[&orders::SERVICE];\n\nfn other() {}\n";
    const CONTRACT: &str =
        "# a comment that stays\ncache.enabled = false\n\n[[project]]\ntitle = \"orders\"\n";

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("local/src")).unwrap();
        std::fs::create_dir_all(dir.path().join("services/orders")).unwrap();
        std::fs::write(dir.path().join(TOPOLOGY), TOPOLOGY_TEXT).unwrap();
        std::fs::write(dir.path().join(LOCAL_MANIFEST), MANIFEST).unwrap();
        std::fs::write(dir.path().join(SERVICES_LIST), LIST).unwrap();
        std::fs::write(dir.path().join(CONTRACT_CONFIG), CONTRACT).unwrap();
        dir
    }

    fn snapshot(root: &Path) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files.push((path.clone(), String::new()));
                    stack.push(path);
                } else {
                    files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }

    #[test]
    fn a_new_service_is_one_crate_and_four_edits() {
        let ws = workspace();
        let created = run(ws.path(), "inventory").unwrap();
        assert_eq!(created.edited.len(), 4);
        let topology = Topology::load(ws.path().join(TOPOLOGY)).unwrap();
        let name: AppName = "inventory".parse().unwrap();
        assert_eq!(topology.service(&name).unwrap().table().name, "inventory");
        let gateway = topology.gateways().next().unwrap();
        assert_eq!(gateway.routes()["/inventory"], name);
        let text = std::fs::read_to_string(ws.path().join(TOPOLOGY)).unwrap();
        assert!(text.starts_with("# a comment that stays"), "{text}");
        let manifest = std::fs::read_to_string(ws.path().join(LOCAL_MANIFEST)).unwrap();
        assert!(
            manifest.contains(
                "orders = { path = \"../services/orders\" }\ninventory = { path = \"../services/inventory\" }\n"
            ),
            "{manifest}"
        );
        let list = std::fs::read_to_string(ws.path().join(SERVICES_LIST)).unwrap();
        assert!(
            list.contains("&orders::SERVICE, &inventory::SERVICE]"),
            "{list}"
        );
        assert!(list.ends_with("fn other() {}\n"), "{list}");
        let contract = std::fs::read_to_string(ws.path().join(CONTRACT_CONFIG)).unwrap();
        assert!(contract.starts_with(CONTRACT), "{contract}");
        let doc: DocumentMut = contract.parse().unwrap();
        let project = doc["project"].as_array_of_tables().unwrap().get(1).unwrap();
        assert_eq!(project["title"].as_str(), Some("inventory"));
        let operations = project["operations"].as_array_of_tables().unwrap();
        let operation = operations.get(0).unwrap();
        assert_eq!(
            operation["include-name"].as_str(),
            Some("PATCH /inventory/{id}")
        );
        let checks = operation["checks"].as_table_like().unwrap();
        assert!(checks.contains_key("missing_required_header"), "{contract}");
        assert!(!contract.contains("{{"), "{contract}");
        for (path, _) in TEMPLATE {
            let file = ws.path().join("services/inventory").join(path);
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                !text.contains("{{"),
                "{} keeps a placeholder",
                file.display()
            );
            if path.ends_with(".rs") {
                let formatted = std::process::Command::new("rustfmt")
                    .args(["--edition", "2024", "--check"])
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    formatted.status.success(),
                    "{path} is not as `cargo fmt` lays it out: {formatted:?}"
                );
            }
        }
    }

    #[test]
    fn refusals_change_nothing_and_say_why() {
        let ws = workspace();
        let before = snapshot(ws.path());
        for (name, why) in [
            ("orders", "exists already"),
            ("Inventory", "not a valid app name"),
            ("9lives", "not a valid app name"),
            ("kit", "crate"),
            ("api", "has an app `api` already"),
        ] {
            let err = run(ws.path(), name).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{name}: {err:#}");
            assert_eq!(snapshot(ws.path()), before, "{name} changed something");
        }
        let contract = format!("{CONTRACT}\n[[project]]\ntitle = \"inventory\"\n");
        std::fs::write(ws.path().join(CONTRACT_CONFIG), contract).unwrap();
        let before = snapshot(ws.path());
        let err = run(ws.path(), "inventory").unwrap_err();
        assert!(
            format!("{err:#}").contains("[[project]] `inventory`"),
            "{err:#}"
        );
        assert_eq!(snapshot(ws.path()), before);
        std::fs::write(ws.path().join(SERVICES_LIST), "no list here\n").unwrap();
        let before = snapshot(ws.path());
        let err = run(ws.path(), "inventory").unwrap_err();
        assert!(format!("{err:#}").contains("SERVICES"), "{err:#}");
        assert_eq!(snapshot(ws.path()), before);
    }

    #[test]
    fn names_become_crate_and_type_names() {
        let name: AppName = "stock-levels".parse().unwrap();
        assert_eq!(crate_ident(&name), "stock_levels");
        assert_eq!(pascal(&name), "StockLevels");
    }
}
