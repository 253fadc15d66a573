//! An OpenAPI 3 document as the traffic derivation reads it: its paths and operations, and
//! schemas with local `$ref`s resolved on demand. Everything else in the document is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A parsed OpenAPI 3.x document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Path template (`/orders/{id}`) → its operations by lowercase method.
    pub(crate) paths: BTreeMap<String, BTreeMap<String, Operation>>,
    /// The whole document, for resolving `#/...` references.
    root: Value,
}

/// One operation of a path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Operation {
    #[serde(default)]
    pub parameters: Vec<Value>,
    pub request_body: Option<Value>,
}

/// A parameter, with any `$ref` resolved.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Parameter {
    pub name: String,
    #[serde(rename = "in")]
    pub location: String,
    #[serde(default)]
    pub required: bool,
    pub schema: Option<Value>,
    pub example: Option<Value>,
}

/// The methods the document may use on a path, as OpenAPI spells them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// How deep `$ref`s may chain before a schema is taken to be recursive.
pub(crate) const MAX_DEPTH: usize = 16;

impl Document {
    /// Parses a document, refusing anything that is not OpenAPI 3 with a `paths` object.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("it is not JSON: {e}"))?;
        match root.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.") => {}
            Some(v) => return Err(format!("it is OpenAPI {v}, not 3.x")),
            None => return Err("it has no `openapi` version".into()),
        }
        let raw_paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("it has no `paths` object")?;
        let mut paths = BTreeMap::new();
        for (path, item) in raw_paths {
            let item = resolve_value(&root, item, 0).unwrap_or(item);
            let Some(item) = item.as_object() else {
                continue;
            };
            // Parameters declared on the path apply to each of its operations.
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut operations = BTreeMap::new();
            for method in METHODS {
                let Some(raw) = item.get(method) else {
                    continue;
                };
                let mut op: Operation = serde_json::from_value(raw.clone())
                    .map_err(|e| format!("`{method} {path}` is malformed: {e}"))?;
                op.parameters.extend(shared.iter().cloned());
                operations.insert(method.to_owned(), op);
            }
            paths.insert(path.clone(), operations);
        }
        Ok(Self { paths, root })
    }

    /// `value` with a top-level `$ref` followed (repeatedly); `None` for a dangling one.
    pub(crate) fn resolve<'a>(&'a self, value: &'a Value) -> Option<&'a Value> {
        resolve_value(&self.root, value, 0)
    }

    /// The operation's parameters, references resolved; malformed ones are left out.
    pub(crate) fn parameters(&self, op: &Operation) -> Vec<Parameter> {
        op.parameters
            .iter()
            .filter_map(|p| self.resolve(p))
            .filter_map(|p| serde_json::from_value(p.clone()).ok())
            .collect()
    }

    /// The JSON media type of an operation's request body: its schema and its `example`,
    /// and whether a body is required.
    pub(crate) fn json_body<'a>(&'a self, op: &'a Operation) -> Option<JsonBody<'a>> {
        let body = self.resolve(op.request_body.as_ref()?)?;
        let content = body.get("content")?.as_object()?;
        let media = content
            .iter()
            .find(|(ty, _)| ty.starts_with("application/json") || ty.ends_with("+json"))
            .map(|(_, m)| m)?;
        Some(JsonBody {
            schema: media.get("schema"),
            example: media
                .get("example")
                .or_else(|| first_example(media.get("examples")?)),
            required: body.get("required").and_then(Value::as_bool) == Some(true),
        })
    }
}

/// A request body's JSON media type.
pub(crate) struct JsonBody<'a> {
    pub schema: Option<&'a Value>,
    pub example: Option<&'a Value>,
    pub required: bool,
}

/// The first of a media type's named `examples` (`{"name": {"value": …}}`).
fn first_example(examples: &Value) -> Option<&Value> {
    examples.as_object()?.values().next()?.get("value")
}

fn resolve_value<'a>(root: &'a Value, value: &'a Value, depth: usize) -> Option<&'a Value> {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return Some(value);
    };
    if depth >= MAX_DEPTH {
        return None;
    }
    // Only local references (`#/components/schemas/Order`): a service's document is whole.
    let pointer = reference.strip_prefix('#')?;
    let target = root.pointer(pointer)?;
    resolve_value(root, target, depth + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_openapi_3() {
        assert!(Document::parse(b"not json").is_err());
        assert!(Document::parse(br#"{"swagger": "2.0", "paths": {}}"#).is_err());
        let err = Document::parse(br#"{"openapi": "3.1.0"}"#).unwrap_err();
        assert!(err.contains("paths"), "{err}");
    }

    #[test]
    fn path_parameters_apply_to_every_operation_and_refs_resolve() {
        let doc = Document::parse(
            br##"{"openapi": "3.1.0", "paths": {"/things/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {}, "delete": {}
            }}, "components": {"parameters": {"Id": {"name": "id", "in": "path", "required": true}}}}"##,
        )
        .unwrap();
        let ops = &doc.paths["/things/{id}"];
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["delete", "get"]);
        let params = doc.parameters(&ops["get"]);
        assert_eq!((params[0].name.as_str(), params[0].required), ("id", true));
    }

    #[test]
    fn a_reference_cycle_is_not_followed_forever() {
        let root: Value = serde_json::json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}});
        assert!(resolve_value(&root, &root["a"], 0).is_none());
    }
}
