//! Reading a request's parameters from its JSON value, each error naming the parameter as
//! CloudWatch does (`MetricData.member.2.Dimensions.member.1.Value`).

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::CloudWatchError;
use crate::model::{Dimensions, Invalid, Timestamp};

/// The members of one structure of the request, and where it sits in the request.
#[derive(Debug, Clone)]
pub(crate) struct Params<'a> {
    fields: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Params<'a> {
    /// The request's top-level structure.
    pub(crate) fn root(value: &'a Value) -> Result<Self, CloudWatchError> {
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                prefix: String::new(),
            }),
            _ => Err(CloudWatchError::Serialization(
                "the request body must be a structure (a map)".into(),
            )),
        }
    }

    /// The full name of member `name`.
    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Member `name`; a null member is an absent one.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    /// Whether member `name` is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn wrong_type(&self, name: &str, value: &Value, expected: &str) -> CloudWatchError {
        CloudWatchError::invalid(&self.path(name), value, &format!("expected {expected}"))
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<&'a str>, CloudWatchError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(name, other, "a string")),
        }
    }

    pub(crate) fn required_string(&self, name: &str) -> Result<&'a str, CloudWatchError> {
        self.string(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    /// A string member parsed as `T`.
    pub(crate) fn parsed<T: FromStr<Err = Invalid>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, CloudWatchError> {
        self.string(name)?
            .map(|s| {
                s.parse()
                    .map_err(|e: Invalid| CloudWatchError::invalid(&self.path(name), s, &e.0))
            })
            .transpose()
    }

    pub(crate) fn required<T: FromStr<Err = Invalid>>(
        &self,
        name: &str,
    ) -> Result<T, CloudWatchError> {
        self.parsed(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    /// A double: a number, or AWS JSON's `"NaN"`, `"Infinity"`, `"-Infinity"`.
    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>, CloudWatchError> {
        self.get(name).map(|v| self.as_number(name, v)).transpose()
    }

    pub(crate) fn required_number(&self, name: &str) -> Result<f64, CloudWatchError> {
        self.number(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    fn as_number(&self, name: &str, v: &Value) -> Result<f64, CloudWatchError> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.wrong_type(name, v, "a number")),
            Value::String(s) if s == "NaN" => Ok(f64::NAN),
            Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
            Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(self.wrong_type(name, other, "a number")),
        }
    }

    /// An integer.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, CloudWatchError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong_type(name, v, "an integer")),
        }
    }

    pub(crate) fn required_integer(&self, name: &str) -> Result<i64, CloudWatchError> {
        self.integer(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, CloudWatchError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(name, other, "true or false")),
        }
    }

    /// A timestamp: epoch seconds.
    pub(crate) fn timestamp(&self, name: &str) -> Result<Option<Timestamp>, CloudWatchError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let seconds = self.as_number(name, v)?;
                Timestamp::from_epoch_seconds(seconds)
                    .map(Some)
                    .ok_or_else(|| self.wrong_type(name, v, "a time between 1970 and 9999"))
            }
        }
    }

    pub(crate) fn required_timestamp(&self, name: &str) -> Result<Timestamp, CloudWatchError> {
        self.timestamp(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    /// A nested structure.
    pub(crate) fn structure(&self, name: &str) -> Result<Option<Params<'a>>, CloudWatchError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Params {
                fields,
                prefix: format!("{}.", self.path(name)),
            })),
            Some(other) => Err(self.wrong_type(name, other, "a structure")),
        }
    }

    pub(crate) fn required_structure(&self, name: &str) -> Result<Params<'a>, CloudWatchError> {
        self.structure(name)?
            .ok_or_else(|| CloudWatchError::missing(&self.path(name)))
    }

    fn items(&self, name: &str) -> Result<&'a [Value], CloudWatchError> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong_type(name, other, "a list")),
        }
    }

    /// A list of structures, each named `Name.member.N.` (1-based) in errors.
    pub(crate) fn list(&self, name: &str) -> Result<Vec<Params<'a>>, CloudWatchError> {
        self.items(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let member = format!("{}.member.{}", self.path(name), i + 1);
                match v {
                    Value::Object(fields) => Ok(Params {
                        fields,
                        prefix: format!("{member}."),
                    }),
                    other => Err(CloudWatchError::invalid(
                        &member,
                        other,
                        "expected a structure",
                    )),
                }
            })
            .collect()
    }

    /// A list of strings.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<&'a str>, CloudWatchError> {
        self.items(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(CloudWatchError::invalid(
                    &format!("{}.member.{}", self.path(name), i + 1),
                    other,
                    "expected a string",
                )),
            })
            .collect()
    }

    /// A list of strings, each parsed as `T`.
    pub(crate) fn parsed_list<T: FromStr<Err = Invalid>>(
        &self,
        name: &str,
    ) -> Result<Vec<T>, CloudWatchError> {
        self.strings(name)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse().map_err(|e: Invalid| {
                    CloudWatchError::invalid(
                        &format!("{}.member.{}", self.path(name), i + 1),
                        s,
                        &e.0,
                    )
                })
            })
            .collect()
    }

    /// A list of doubles; `None` when absent.
    pub(crate) fn numbers(&self, name: &str) -> Result<Option<Vec<f64>>, CloudWatchError> {
        if !self.has(name) {
            return Ok(None);
        }
        self.items(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| self.as_number(&format!("{name}.member.{}", i + 1), v))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A list of `{Name, Value}` dimensions.
    pub(crate) fn dimensions(&self, name: &str) -> Result<Dimensions, CloudWatchError> {
        let pairs = self
            .list(name)?
            .iter()
            .map(|d| Ok((d.required_string("Name")?, d.required_string("Value")?)))
            .collect::<Result<Vec<_>, CloudWatchError>>()?;
        Dimensions::new(pairs).map_err(|e| {
            CloudWatchError::InvalidParameterValue(format!(
                "The parameter {} is invalid: {e}.",
                self.path(name)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_parameter_as_cloudwatch_does() {
        let body = json!({
            "MetricData": [
                {"MetricName": "ok", "Value": 1},
                {"MetricName": "x", "Value": "high", "Dimensions": [{"Name": "App"}]}
            ]
        });
        let root = Params::root(&body).unwrap();
        let data = root.list("MetricData").unwrap();
        assert_eq!(data[0].number("Value").unwrap(), Some(1.0));
        let err = data[1].number("Value").unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(err.message().contains("MetricData.member.2.Value"), "{err}");
        let err = data[1].dimensions("Dimensions").unwrap_err();
        assert_eq!(err.code(), "MissingParameter");
        assert_eq!(
            err.message(),
            "The parameter MetricData.member.2.Dimensions.member.1.Value is required."
        );
        assert_eq!(
            root.required_string("Namespace").unwrap_err().message(),
            "The parameter Namespace is required."
        );
    }

    #[test]
    fn special_numbers_nulls_and_timestamps() {
        let body = json!({"A": "NaN", "B": null, "T": 1_700_000_000.25, "Bad": -5});
        let p = Params::root(&body).unwrap();
        assert!(p.number("A").unwrap().unwrap().is_nan());
        assert_eq!(p.number("B").unwrap(), None, "null is absent");
        assert_eq!(
            p.timestamp("T").unwrap().unwrap().millis(),
            1_700_000_000_250
        );
        assert!(p.timestamp("Bad").is_err());
        assert!(Params::root(&json!([1])).is_err());
    }
}
