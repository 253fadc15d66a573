//! Auth on the `api` app's REST API: one native JWT authorizer with the topology's issuers,
//! audiences and algorithms on every method but `/` and `/health`, reads (`GET`, `HEAD`)
//! asking for the route's read scopes and every other method for its write scopes, the
//! verified subject and issuer mapped into the identity headers; cfn-lint and checkov clean.
//! With auth off, no authorizer; with auth on and no issuer, synth refuses, saying what to set.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use infra::aws::plan::{StackKind, StackPrefix};
use infra::aws::synth;
use serde_json::{Value, json};
use topology::Topology;

use super::aws_synth::{checkov, lint, resources_of_type, text_with_two_more_apps};

/// The suite's topology with two more apps, `/payments` writing with a scope of its own and
/// `/users` reading with none.
fn topology() -> Topology {
    let text = text_with_two_more_apps().replacen(
        "[[auth.issuers]]\n",
        "[auth.routes.\"/payments\"]\nwrite_scopes = [\"payments/write\", \"payments:write\"]\n[auth.routes.\"/users\"]\nread_scopes = []\n\n[[auth.issuers]]\n",
        1,
    );
    Topology::parse(&text).unwrap()
}

/// The `api` app's templates, by Region.
fn api_templates(topology: &Topology) -> BTreeMap<String, Value> {
    synth::plan(topology, &StackPrefix::default())
        .stacks()
        .filter(|s| matches!(&s.kind, StackKind::App(app, _) if app.as_str() == "api"))
        .map(|s| (s.id.region.to_string(), s.template.to_json()))
        .collect()
}

fn pascal(prefix: &str) -> String {
    prefix
        .split(['/', '-'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn every_api_method_but_the_probes_is_behind_the_jwt_authorizer_with_its_routes_scopes() {
    let topology = topology();
    let templates = api_templates(&topology);
    assert_eq!(templates.len(), 2, "one api stack per Region");
    let gateway = topology.gateways().next().unwrap();
    for (region, doc) in &templates {
        let authorizers = resources_of_type(doc, "AWS::ApiGateway::Authorizer");
        assert_eq!(authorizers.len(), 1, "{region}");
        let (id, authorizer) = authorizers[0];
        let p = &authorizer["Properties"];
        assert_eq!(p["Type"], "JWT");
        assert_eq!(p["IdentitySource"], "method.request.header.Authorization");
        assert_eq!(p["RestApiId"], json!({ "Ref": "Api" }));
        assert_eq!(
            p["JwtConfiguration"],
            json!({
                "DefaultAlgorithms": ["RS256", "ES256"],
                "Issuers": [
                    { "Issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE1", "Audiences": ["client-east"] },
                    { "Issuer": "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE2", "Audiences": ["client-west"] }
                ]
            }),
            "both Regions trust both pools: {region}"
        );

        let mut expected: BTreeMap<String, (&str, Vec<&str>)> = BTreeMap::new();
        for prefix in gateway.routes().keys() {
            let scopes = |access: &str| -> Vec<&str> {
                match (prefix.as_str(), access) {
                    ("/payments", "write") => vec!["payments/write", "payments:write"],
                    ("/users", "read") => vec![],
                    (_, "read") => vec!["api/read"],
                    _ => vec!["api/write"],
                }
            };
            for stem in [
                format!("Route{}", pascal(prefix)),
                format!("Route{}Proxy", pascal(prefix)),
            ] {
                expected.insert(format!("{stem}GetMethod"), ("GET", scopes("read")));
                expected.insert(format!("{stem}HeadMethod"), ("HEAD", scopes("read")));
                expected.insert(format!("{stem}Method"), ("ANY", scopes("write")));
            }
        }
        let methods = resources_of_type(doc, "AWS::ApiGateway::Method");
        assert_eq!(
            methods.len(),
            expected.len() + 2,
            "{region}: the routes' and the two probes"
        );
        for (method_id, method) in methods {
            let p = &method["Properties"];
            if ["RootMethod", "HealthMethod"].contains(&method_id.as_str()) {
                assert_eq!(p["AuthorizationType"], "NONE", "{region} {method_id}");
                continue;
            }
            let (verb, scopes) = expected
                .get(method_id.as_str())
                .unwrap_or_else(|| panic!("{region}: unexpected method {method_id}"));
            assert_eq!(p["HttpMethod"], *verb, "{region} {method_id}");
            assert_eq!(p["AuthorizationType"], "JWT", "{region} {method_id}");
            assert_eq!(
                p["AuthorizerId"],
                json!({ "Ref": id }),
                "{region} {method_id}"
            );
            if scopes.is_empty() {
                assert!(
                    p.get("AuthorizationScopes").is_none(),
                    "{region} {method_id}"
                );
            } else {
                assert_eq!(
                    p["AuthorizationScopes"],
                    json!(scopes),
                    "{region} {method_id}"
                );
            }
            let mapped = &p["Integration"]["RequestParameters"];
            assert_eq!(
                mapped["integration.request.header.x-auth-subject"],
                "context.authorizer.claims.sub",
                "{region} {method_id}"
            );
            assert_eq!(
                mapped["integration.request.header.x-auth-issuer"], "context.authorizer.claims.iss",
                "{region} {method_id}"
            );
            assert!(
                method.get("Metadata").is_none(),
                "{region} {method_id}: no checkov exception needed"
            );
        }
    }
    // Services' stacks have no authorizer: they answer only the gateway's calls.
    for spec in synth::plan(&topology, &StackPrefix::default()).stacks() {
        if !matches!(&spec.kind, StackKind::App(app, _) if app.as_str() == "api") {
            assert!(
                resources_of_type(&spec.template.to_json(), "AWS::ApiGateway::Authorizer")
                    .is_empty(),
                "{}",
                spec.id.name
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    synth::write(&topology, &StackPrefix::default(), None, dir.path()).unwrap();
    lint(dir.path());
    checkov(dir.path());
}

#[test]
fn with_auth_off_the_routes_are_open_by_the_topologys_choice() {
    let text = testkit::FIXTURE_TOPOLOGY.replace("[auth]\n", "[auth]\nenabled = false\n");
    let topology = Topology::parse(&text).unwrap();
    for (region, doc) in api_templates(&topology) {
        assert!(resources_of_type(&doc, "AWS::ApiGateway::Authorizer").is_empty());
        for (id, method) in resources_of_type(&doc, "AWS::ApiGateway::Method") {
            let p = &method["Properties"];
            assert_eq!(p["AuthorizationType"], "NONE", "{region} {id}");
            assert!(
                ["ANY", "GET"].contains(&p["HttpMethod"].as_str().unwrap()),
                "{region} {id}: one method per resource"
            );
            assert!(
                p["Integration"]["RequestParameters"]
                    .get("integration.request.header.x-auth-subject")
                    .is_none()
            );
            let why = method["Metadata"]["checkov"]["skip"][0]["comment"]
                .as_str()
                .unwrap_or_default();
            if !["RootMethod", "HealthMethod"].contains(&id.as_str()) {
                assert!(why.contains("enabled = false"), "{region} {id}: {why}");
            }
        }
    }
}

/// The fixture without its issuers: auth on, nothing to trust.
fn without_issuers() -> String {
    let text = testkit::FIXTURE_TOPOLOGY;
    let start = text.find("[[auth.issuers]]").unwrap();
    let end = text.find("# The local world").unwrap();
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn synth_refuses_auth_without_an_issuer_saying_what_to_set() {
    let topology = Topology::parse(&without_issuers()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cfn");
    let err = synth::write(&topology, &StackPrefix::default(), None, &out).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("[[auth.issuers]]") && text.contains("enabled = false"),
        "{text}"
    );
    assert!(!out.exists(), "nothing is written");

    let config = dir.path().join("topology.toml");
    std::fs::write(&config, without_issuers()).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["synth", "--config", config.to_str().unwrap(), "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .expect("infra runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("[[auth.issuers]]"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}
