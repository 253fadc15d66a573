//! Request bodies for the services' property tests (feature `service`): any JSON, and
//! objects near a request's real shape, so that a property such as "no body makes the
//! service answer 5xx" explores both garbage and almost-valid requests.

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use serde_json::{Map, Value};

/// Any JSON value up to three levels deep: every kind of scalar (signed, unsigned and
/// fractional numbers, any string) plus the `extra` leaves a service cares about (a valid
/// id, a currency code), inside arrays and objects.
pub fn any_json(extra: Vec<BoxedStrategy<Value>>) -> BoxedStrategy<Value> {
    let mut leaves = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        any::<i64>().prop_map(Value::from).boxed(),
        any::<u64>().prop_map(Value::from).boxed(),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from)
            .boxed(),
        ".{0,40}".prop_map(Value::String).boxed(),
    ];
    leaves.extend(extra);
    Union::new(leaves)
        .prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// An object with each of `fields` (name, value strategy) present or missing, and
/// sometimes one extra member whose value comes from `any`.
pub fn object_like(
    fields: Vec<(&'static str, BoxedStrategy<Value>)>,
    any: BoxedStrategy<Value>,
) -> BoxedStrategy<Value> {
    let names: Vec<&'static str> = fields.iter().map(|(name, _)| *name).collect();
    let values: Vec<_> = fields
        .into_iter()
        .map(|(_, value)| prop::option::of(value))
        .collect();
    (values, prop::option::of((".{0,8}", any)))
        .prop_map(move |(values, extra)| {
            let mut body = Map::new();
            for (name, value) in names.iter().zip(values) {
                if let Some(value) = value {
                    body.insert((*name).to_owned(), value);
                }
            }
            if let Some((name, value)) = extra {
                body.insert(name, value);
            }
            Value::Object(body)
        })
        .boxed()
}

/// A request body: mostly `like` (near the real shape), sometimes any JSON, sometimes not
/// JSON at all.
pub fn any_body(like: BoxedStrategy<Value>, any: BoxedStrategy<Value>) -> BoxedStrategy<String> {
    prop_oneof![
        3 => like.prop_map(|v| v.to_string()),
        1 => any.prop_map(|v| v.to_string()),
        1 => ".{0,64}",
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::TestRunner;

    #[test]
    fn objects_like_a_request_use_its_keys() {
        let mut runner = TestRunner::deterministic();
        let like = object_like(
            vec![("a", Just(Value::from(1)).boxed())],
            Just(Value::Null).boxed(),
        );
        let mut saw_a = false;
        for _ in 0..64 {
            let value = like.new_tree(&mut runner).unwrap().current();
            let object = value.as_object().unwrap();
            assert!(object.len() <= 2, "{value}");
            saw_a |= object.get("a") == Some(&Value::from(1));
        }
        assert!(saw_a);
    }
}
