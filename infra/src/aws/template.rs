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

    /// The template as the deploy sends it: compact JSON, inline up to [`MAX_BODY_BYTES`],
    /// through S3 beyond.
    pub fn to_body(&self) -> String {
        self.to_json().to_string()
    }

    /// How many resources it declares.
    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    /// How many parameters it declares.
    pub fn parameter_count(&self) -> usize {
        self.parameters.len()
    }

    /// How many outputs it declares.
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// The widgets of each of its dashboards, by logical id (a body that is not JSON counts as
    /// none: CloudWatch refuses it anyway).
    pub fn dashboard_widgets(&self) -> Vec<(String, usize)> {
        self.resources
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Dashboard")
            .map(|(id, r)| {
                let body = &r["Properties"]["DashboardBody"];
                let text = body["Fn::Sub"].as_str().or(body.as_str()).unwrap_or("{}");
                let widgets = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|b| b["widgets"].as_array().map(Vec::len))
                    .unwrap_or(0);
                (id.clone(), widgets)
            })
            .collect()
    }

    /// Refuses what CloudFormation (or CloudWatch) would refuse: a body over
    /// [`MAX_S3_BODY_BYTES`], more than [`MAX_RESOURCES`], [`MAX_PARAMETERS`] or
    /// [`MAX_OUTPUTS`], a dashboard over [`MAX_DASHBOARD_WIDGETS`]. Says which limit, and by
    /// how much.
    pub fn check_limits(&self) -> Result<(), String> {
        let bytes = self.to_body().len();
        let counts = [
            (bytes, MAX_S3_BODY_BYTES, "bytes of template (1 MB from S3)"),
            (self.resource_count(), MAX_RESOURCES, "resources"),
            (self.parameter_count(), MAX_PARAMETERS, "parameters"),
            (self.output_count(), MAX_OUTPUTS, "outputs"),
        ];
        for (count, limit, what) in counts {
            if count > limit {
                return Err(format!(
                    "{count} {what}, over CloudFormation's limit of {limit} per stack"
                ));
            }
        }
        for (id, widgets) in self.dashboard_widgets() {
            if widgets > MAX_DASHBOARD_WIDGETS {
                return Err(format!(
                    "dashboard {id} has {widgets} widgets, over CloudWatch's limit of \
                     {MAX_DASHBOARD_WIDGETS}"
                ));
            }
        }
        Ok(())
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

/// CloudFormation's limit on a template sent inline (`TemplateBody`); a larger one goes through
/// S3 (`TemplateURL`).
pub const MAX_BODY_BYTES: usize = 51_200;
/// CloudFormation's limit on a template read from S3: 1 MB, counted in decimal to stay clear of
/// it whichever way it is counted.
pub const MAX_S3_BODY_BYTES: usize = 1_000_000;
/// CloudFormation's limit on resources per stack.
pub const MAX_RESOURCES: usize = 500;
/// CloudFormation's limit on parameters per stack.
pub const MAX_PARAMETERS: usize = 200;
/// CloudFormation's limit on outputs per stack.
pub const MAX_OUTPUTS: usize = 200;
/// CloudWatch's limit on widgets per dashboard.
pub const MAX_DASHBOARD_WIDGETS: usize = 500;

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
    fn limits_are_counted_and_each_is_named_when_exceeded() {
        let mut t = Template::new("d");
        assert_eq!(t.check_limits(), Ok(()));
        for i in 0..=MAX_OUTPUTS {
            t.output(&format!("O{i}"), "o", json!("v"));
        }
        let err = t.check_limits().unwrap_err();
        assert!(
            err.contains("201 outputs, over CloudFormation's limit of 200"),
            "{err}"
        );

        let mut t = Template::new("d");
        for i in 0..=MAX_PARAMETERS {
            t.parameter(&format!("P{i}"), "p", None);
        }
        assert!(t.check_limits().unwrap_err().contains("201 parameters"));

        let mut t = Template::new("d");
        for i in 0..=MAX_RESOURCES {
            t.resource(&format!("R{i}"), "AWS::SNS::Topic", json!({}));
        }
        assert!(t.check_limits().unwrap_err().contains("501 resources"));

        let mut t = Template::new("x".repeat(MAX_S3_BODY_BYTES));
        assert!(t.check_limits().unwrap_err().contains("1 MB from S3"));
        t = Template::new("d");
        let widgets: Vec<Value> = (0..=MAX_DASHBOARD_WIDGETS).map(|_| json!({})).collect();
        let body = json!({ "widgets": widgets }).to_string();
        t.resource(
            "Dashboard",
            "AWS::CloudWatch::Dashboard",
            json!({ "DashboardBody": { "Fn::Sub": body } }),
        );
        assert_eq!(t.dashboard_widgets(), [("Dashboard".to_owned(), 501)]);
        assert!(t.check_limits().unwrap_err().contains("501 widgets"));
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
