//! The payments domain: values parsed once at the edge and valid by construction, the
//! payment and its state machine, and idempotency keys with the fingerprint of the request
//! they were first used for. Nothing here knows about HTTP or the store; the serde derives
//! are the records `store` keeps, and reading one back checks every value as parsing a
//! request does.

use std::fmt;
use std::str::FromStr;

use kit::headers::IdempotencyKey;
use kit::id::{Id, Noun};
use kit::money::{Currency, Money};
use kit::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use topology::Region;

/// A payment's id: a UUIDv7, time-ordered.
pub type PaymentId = Id<Payment>;

impl Noun for Payment {
    const NOUN: &'static str = "payment";
}

/// The order a payment pays for, as the orders service names it.
pub enum Order {}

impl Noun for Order {
    const NOUN: &'static str = "order";
}

/// The id of the order a payment pays for.
pub type OrderId = Id<Order>;

/// The smallest amount a payment takes, in minor units.
pub const MIN_AMOUNT: u64 = 1;

/// Where a payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// The money was taken: the state every payment starts in.
    Captured,
    /// The money was given back: final.
    Refunded,
}

/// A transition that the payment's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a payment that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: PaymentStatus,
    pub action: &'static str,
}

impl PaymentStatus {
    /// The status after a refund: only a captured payment can be refunded.
    pub fn refund(self) -> Result<PaymentStatus, TransitionError> {
        match self {
            PaymentStatus::Captured => Ok(PaymentStatus::Refunded),
            PaymentStatus::Refunded => Err(TransitionError {
                from: self,
                action: "refunded",
            }),
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Captured => "captured",
            PaymentStatus::Refunded => "refunded",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "captured" => Ok(PaymentStatus::Captured),
            "refunded" => Ok(PaymentStatus::Refunded),
            other => Err(format!("`{other}` is not a payment status")),
        }
    }
}

/// What a client asks for when paying, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub order_id: OrderId,
    pub amount: Money,
    pub currency: Currency,
}

/// A payment, as stored and as returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    #[serde(rename = "amount_cents", deserialize_with = "amount")]
    pub amount: Money,
    pub currency: Currency,
    pub status: PaymentStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the payment.
    pub region: Region,
}

/// A payment's amount as read back: at least [`MIN_AMOUNT`], as when it was taken.
fn amount<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
    let money = Money::deserialize(d)?;
    Money::at_least(MIN_AMOUNT, money.minor().into()).map_err(serde::de::Error::custom)
}

impl Payment {
    /// A new captured payment, made at `now` in `region`.
    pub fn capture(new: NewPayment, now: Timestamp, region: Region) -> Self {
        Self {
            id: PaymentId::new(),
            order_id: new.order_id,
            amount: new.amount,
            currency: new.currency,
            status: PaymentStatus::Captured,
            version: 1,
            created_at: now,
            updated_at: now,
            region,
        }
    }

    /// This payment, refunded at `now` in `region`, one version later.
    pub fn refunded(&self, now: Timestamp, region: Region) -> Result<Payment, TransitionError> {
        Ok(Payment {
            status: self.status.refund()?,
            version: self.version + 1,
            updated_at: now,
            region,
            ..self.clone()
        })
    }
}

/// A digest of what a request asked for (the operation and its parsed content), stored
/// with its idempotency key: a retry with the same key must carry the same fingerprint.
/// Built from the parsed request, not the raw bytes, so whitespace or key order in the
/// JSON do not make a faithful retry look like a different request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `operation` (e.g. `POST /payments`) with its parts.
    pub fn of(operation: &str, parts: &[&str]) -> Self {
        let mut hash = Sha256::new();
        for part in std::iter::once(operation).chain(parts.iter().copied()) {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        Self(hex::encode(hash.finalize()))
    }

    /// The fingerprint of creating `new`.
    pub fn of_capture(new: &NewPayment) -> Self {
        Self::of(
            "POST /payments",
            &[
                &new.order_id.to_string(),
                &new.amount.minor().to_string(),
                new.currency.as_str(),
            ],
        )
    }

    /// The fingerprint of refunding payment `id`.
    pub fn of_refund(id: &PaymentId) -> Self {
        Self::of("POST /payments/{id}/refund", &[&id.to_string()])
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the first request with an idempotency key got, to replay to its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    /// The response status, e.g. 201.
    pub status: u16,
    /// The response body, byte for byte.
    pub body: String,
    pub created_at: Timestamp,
    /// The Region that answered first.
    pub region: Region,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

    fn new_payment(cents: i128) -> NewPayment {
        NewPayment {
            order_id: ORDER.parse().unwrap(),
            amount: Money::at_least(MIN_AMOUNT, cents).unwrap(),
            currency: "EUR".parse().unwrap(),
        }
    }

    fn region(s: &str) -> Region {
        s.parse().unwrap()
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = Fingerprint::of_capture(&new_payment(100));
        assert_eq!(a, Fingerprint::of_capture(&new_payment(100)));
        assert_ne!(a, Fingerprint::of_capture(&new_payment(101)));
        let mut other_currency = new_payment(100);
        other_currency.currency = "USD".parse().unwrap();
        assert_ne!(a, Fingerprint::of_capture(&other_currency));
        let id = PaymentId::new();
        assert_eq!(Fingerprint::of_refund(&id), Fingerprint::of_refund(&id));
        assert_ne!(
            Fingerprint::of_refund(&id),
            Fingerprint::of_refund(&PaymentId::new())
        );
        assert_ne!(
            Fingerprint::of("x", &["ab", "c"]),
            Fingerprint::of("x", &["a", "bc"])
        );
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [PaymentStatus::Captured, PaymentStatus::Refunded] {
            assert_eq!(s.as_str().parse::<PaymentStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("pending".parse::<PaymentStatus>().is_err());
    }

    #[test]
    fn only_captured_payments_can_be_refunded() {
        assert_eq!(
            PaymentStatus::Captured.refund(),
            Ok(PaymentStatus::Refunded)
        );
        let err = PaymentStatus::Refunded.refund().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a payment that is refunded cannot be refunded"
        );
    }

    #[test]
    fn capture_then_refund() {
        let p = Payment::capture(new_payment(4200), Timestamp::now(), region("us-east-1"));
        assert_eq!(
            (p.status, p.version, p.amount.minor()),
            (PaymentStatus::Captured, 1, 4200)
        );
        assert_eq!(p.created_at, p.updated_at);
        let r = p
            .refunded(
                p.updated_at + chrono::TimeDelta::seconds(1),
                region("us-west-2"),
            )
            .unwrap();
        assert_eq!(
            (r.status, r.version, r.id),
            (PaymentStatus::Refunded, 2, p.id)
        );
        assert_eq!(
            (r.region.as_str(), r.created_at),
            ("us-west-2", p.created_at)
        );
        assert!(r.refunded(Timestamp::now(), region("us-east-1")).is_err());
    }
}
