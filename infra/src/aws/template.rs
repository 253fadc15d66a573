//! A CloudFormation template as typed Rust: sections, intrinsic functions, logical ids.
//!
//! Templates are built as `serde_json::Value`s through these helpers so that every builder
//! reads like the template it produces, and the JSON that `infra synth` writes is stable
//! (object keys sorted), which keeps the snapshot diffs reviewable.

use serde_json::{Map, Value, json};

/// The template format version CloudFormation expects.
const FORMAT_VERSION: &str = "2010-09-09";

/// One CloudFormation template under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    description: String,
    parameters: Map<String, Value>,
    conditions: Map<String, Value>,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
}

impl Template {
    /// An empty template with its description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            parameters: Map::new(),
            conditions: Map::new(),
            resources: Map::new(),
            outputs: Map::new(),
        }
    }

    /// Declares a `String` parameter.
    pub fn parameter(&mut self, id: &str, description: &str, default: Option<&str>) {
        self.typed_parameter(id, "String", description, default);
    }

    /// Declares a parameter of an AWS-specific type (such as `AWS::Route53::HostedZone::Id`),
    /// which CloudFormation checks against the account before it creates anything.
    pub fn typed_parameter(
        &mut self,
        id: &str,
        kind: &str,
        description: &str,
        default: Option<&str>,
    ) {
        let mut p = json!({ "Type": kind, "Description": description });
        if let Some(default) = default {
            p["Default"] = default.into();
        }
        self.parameters.insert(id.to_owned(), p);
    }

    /// Adds an `AllowedPattern` to parameter `id`, with the message CloudFormation shows when a
    /// value does not match.
    pub fn constrain(&mut self, id: &str, pattern: &str, description: &str) {
        if let Some(p) = self.parameters.get_mut(id) {
            p["AllowedPattern"] = pattern.into();
            p["ConstraintDescription"] = format!("must be {description}").into();
        }
    }

    /// Declares a condition.
    pub fn condition(&mut self, id: &str, body: Value) {
        self.conditions.insert(id.to_owned(), body);
    }

    /// Adds a resource with its properties.
    pub fn resource(&mut self, id: &str, kind: &str, properties: Value) -> &mut Map<String, Value> {
        let body = json!({ "Type": kind, "Properties": properties });
        self.resources.insert(id.to_owned(), body);
        self.resources
            .get_mut(id)
            .and_then(Value::as_object_mut)
            .expect("just inserted an object")
    }

    /// Adds an output.
    pub fn output(&mut self, id: &str, description: &str, value: Value) {
        self.outputs.insert(
            id.to_owned(),
            json!({ "Description": description, "Value": value }),
        );
    }

    /// The resource `id`, to change, if declared.
    pub fn get_resource_mut(&mut self, id: &str) -> Option<&mut Map<String, Value>> {
        self.resources.get_mut(id).and_then(Value::as_object_mut)
    }

    /// The resource `id`, if declared.
    pub fn get_resource(&self, id: &str) -> Option<&Value> {
        self.resources.get(id)
    }

    /// The template document.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("AWSTemplateFormatVersion".into(), FORMAT_VERSION.into());
        doc.insert("Description".into(), self.description.clone().into());
        for (key, section) in [
            ("Parameters", &self.parameters),
            ("Conditions", &self.conditions),
            ("Resources", &self.resources),
            ("Outputs", &self.outputs),
        ] {
            if !section.is_empty() {
                doc.insert(key.into(), Value::Object(section.clone()));
            }
        }
        Value::Object(doc)
    }

    /// The template as the pretty JSON `infra synth` writes for review.
    pub fn to_pretty_string(&self) -> String {
        serde_json::to_string_pretty(&self.to_json()).expect("a JSON value always serializes")
    }

    /// The template as the deploy sends it: compact JSON, at most [`MAX_BODY_BYTES`].
    pub fn to_body(&self) -> String {
        self.to_json().to_string()
    }
}

/// Records, in the resource's `Metadata`, checkov checks that do not apply to it and why
/// (checkov's own suppression format), so that the suite's checkov run fails only on what
/// nobody has decided about.
pub fn skip_checks(resource: &mut Map<String, Value>, checks: &[(&str, &str)]) {
    let metadata = resource
        .entry("Metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("Metadata is an object");
    let skip = metadata
        .entry("checkov")
        .or_insert_with(|| json!({ "skip": [] }))["skip"]
        .as_array_mut()
        .expect("checkov.skip is a list");
    for (id, comment) in checks {
        skip.push(json!({ "id": id, "comment": comment }));
    }
}

/// CloudFormation's limit on a template sent inline (`TemplateBody`).
pub const MAX_BODY_BYTES: usize = 51_200;

/// `{"Ref": id}`
pub fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Fn::Sub": text}`
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::If": [condition, then, otherwise]}`
pub fn if_(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({ "Fn::If": [condition, then, otherwise] })
}

/// A logical id (or output key) fragment from a name such as `my-app` or `us-east-1`:
/// `MyApp`, `UsEast1`. CloudFormation logical ids are alphanumeric only.
pub fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_makes_alphanumeric_ids() {
        assert_eq!(pascal("orders"), "Orders");
        assert_eq!(pascal("my-app"), "MyApp");
        assert_eq!(pascal("us-east-1"), "UsEast1");
        assert_eq!(pascal("/orders/{proxy+}"), "OrdersProxy");
    }

    #[test]
    fn skipped_checks_accumulate_in_the_metadata() {
        let mut t = Template::new("d");
        let r = t.resource("B", "AWS::S3::Bucket", json!({}));
        skip_checks(r, &[("CKV_AWS_18", "why")]);
        skip_checks(r, &[("CKV_AWS_21", "why not")]);
        let skip = &t.to_json()["Resources"]["B"]["Metadata"]["checkov"]["skip"];
        assert_eq!(skip[0], json!({ "id": "CKV_AWS_18", "comment": "why" }));
        assert_eq!(skip[1]["id"], "CKV_AWS_21");
    }

    #[test]
    fn empty_sections_are_left_out() {
        let mut t = Template::new("d");
        t.resource("B", "AWS::S3::Bucket", json!({}));
        let doc = t.to_json();
        assert!(doc.get("Parameters").is_none());
        assert_eq!(doc["Resources"]["B"]["Type"], "AWS::S3::Bucket");
        assert_eq!(doc["AWSTemplateFormatVersion"], FORMAT_VERSION);
    }
}
