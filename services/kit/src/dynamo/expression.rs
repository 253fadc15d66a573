//! Write conditions as DynamoDB condition expressions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::convert::to_attr;
use crate::store::{Condition, PK, VERSION};

/// A condition as a DynamoDB condition expression with its placeholders.
#[derive(Debug, Default, PartialEq)]
pub struct Expression {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttributeValue>>,
}

impl Expression {
    /// The condition expression of `condition` (`None` for [`Condition::Always`]).
    pub fn of(condition: &Condition) -> Self {
        let pk = || Some(HashMap::from([("#pk".to_owned(), PK.to_owned())]));
        match condition {
            Condition::Always => Self::default(),
            Condition::NotExists => Self {
                condition: Some("attribute_not_exists(#pk)".into()),
                names: pk(),
                values: None,
            },
            Condition::Exists => Self {
                condition: Some("attribute_exists(#pk)".into()),
                names: pk(),
                values: None,
            },
            Condition::VersionIs(v) => Self::equals(VERSION, AttributeValue::N(v.to_string())),
            Condition::AttrEquals(name, value) => Self::equals(name, to_attr(value)),
        }
    }

    fn equals(name: &str, value: AttributeValue) -> Self {
        Self {
            condition: Some("#a = :a".into()),
            names: Some(HashMap::from([("#a".to_owned(), name.to_owned())])),
            values: Some(HashMap::from([(":a".to_owned(), value)])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_become_expressions() {
        assert_eq!(Expression::of(&Condition::Always), Expression::default());
        let e = Expression::of(&Condition::NotExists);
        assert_eq!(e.condition.as_deref(), Some("attribute_not_exists(#pk)"));
        let e = Expression::of(&Condition::VersionIs(4));
        assert_eq!(e.names.unwrap()["#a"], "version");
        assert_eq!(e.values.unwrap()[":a"], AttributeValue::N("4".into()));
    }
}
