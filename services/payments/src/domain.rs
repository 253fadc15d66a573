//! The payments domain: values parsed once at the edge and valid by construction, the
//! payment and its state machine, and idempotency keys with the fingerprint of the request
//! they were first used for. Nothing here knows about HTTP or the store.
//!
//! `Currency` and `Money` mirror the orders service's on purpose: services share no domain
//! crate, so each can be renamed, changed and deployed on its own.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use topology::Region;
use uuid::Uuid;

/// Why a value was rejected; the message is shown to the client next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must be an order id (a UUID such as `0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e`)")]
    OrderId,
    #[error("must be a payment id (a UUIDv7)")]
    PaymentId,
    #[error("must be an ISO 4217 code: three uppercase letters such as `EUR`")]
    Currency,
    #[error("must be an integer from 1 to {max} (minor units, e.g. cents)", max = Money::MAX)]
    Amount,
    #[error(
        "must be 1 to {max} printable ASCII characters (a UUID is a good choice)",
        max = IdempotencyKey::MAX_LEN
    )]
    IdempotencyKey,
}

/// Parses the 36-character hyphenated form of a UUID only (either case).
fn parse_canonical_uuid(s: &str) -> Option<Uuid> {
    (s.len() == 36).then(|| Uuid::try_parse(s).ok()).flatten()
}

/// A payment's id: a UUIDv7, time-ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentId(Uuid);

impl PaymentId {
    /// A new id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for PaymentId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for PaymentId {
    type Err = DomainError;

    /// Only a version 7 UUID in its hyphenated form: every id this service hands out has
    /// that form, so anything else names no payment.
    fn from_str(s: &str) -> Result<Self, DomainError> {
        match parse_canonical_uuid(s) {
            Some(uuid) if uuid.get_version_num() == 7 => Ok(Self(uuid)),
            _ => Err(DomainError::PaymentId),
        }
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The order a payment pays for, as the orders service names it (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderId(Uuid);

impl FromStr for OrderId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        parse_canonical_uuid(s)
            .map(Self)
            .ok_or(DomainError::OrderId)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// An ISO 4217 currency code: three uppercase ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        // Valid by construction: three ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        match <[u8; 3]>::try_from(s.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Self(code)),
            _ => Err(DomainError::Currency),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment's amount in integer minor units (cents): at least 1, at most [`Money::MAX`],
/// the largest integer a JSON number carries exactly in every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(u64);

impl Money {
    /// 2^53 − 1 minor units.
    pub const MAX: u64 = (1 << 53) - 1;

    /// An amount in minor units; zero, negative or oversized amounts are refused.
    pub fn from_minor(units: i128) -> Result<Self, DomainError> {
        match u64::try_from(units) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(DomainError::Amount),
        }
    }

    /// The amount in minor units.
    pub fn minor(self) -> u64 {
        self.0
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub amount: Money,
    pub currency: Currency,
    pub status: PaymentStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The Region that last wrote the payment.
    pub region: Region,
}

impl Payment {
    /// A new captured payment, made at `now` in `region`.
    pub fn capture(new: NewPayment, now: DateTime<Utc>, region: Region) -> Self {
        let now = stored_precision(now);
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
    pub fn refunded(&self, now: DateTime<Utc>, region: Region) -> Result<Payment, TransitionError> {
        Ok(Payment {
            status: self.status.refund()?,
            version: self.version + 1,
            updated_at: stored_precision(now),
            region,
            ..self.clone()
        })
    }
}

/// Times are kept to the microsecond, the precision they are stored with.
fn stored_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// The `Idempotency-Key` a client sends so that retrying a request cannot apply it twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = DomainError;

    /// Visible ASCII only (no spaces or control characters), so a key is the same bytes
    /// in a header, a log line and a store key.
    fn from_str(s: &str) -> Result<Self, DomainError> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::IdempotencyKey)
        }
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A digest of what a request asked for (the operation and its parsed content), stored
/// with its idempotency key: a retry with the same key must carry the same fingerprint.
/// Built from the parsed request, not the raw bytes, so whitespace or key order in the
/// JSON do not make a faithful retry look like a different request.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// A stored fingerprint, as read back.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the first request with an idempotency key got, to replay to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    /// The response status, e.g. 201.
    pub status: u16,
    /// The response body, byte for byte.
    pub body: String,
    pub created_at: DateTime<Utc>,
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
            amount: Money::from_minor(cents).unwrap(),
            currency: "EUR".parse().unwrap(),
        }
    }

    fn region(s: &str) -> Region {
        s.parse().unwrap()
    }

    #[test]
    fn payment_ids_are_uuid_v7() {
        let a = PaymentId::new();
        assert!(a < PaymentId::new());
        assert_eq!(a.to_string().parse::<PaymentId>().unwrap(), a);
        for bad in [
            "",
            ORDER.replace('7', "4").as_str(),
            "6f1c1f4e-3b1a-4b8e-9a8e-2f0c1d2e3f4a",
            &a.to_string()[1..],
        ] {
            assert_eq!(
                bad.parse::<PaymentId>(),
                Err(DomainError::PaymentId),
                "{bad}"
            );
        }
    }

    #[test]
    fn order_ids_are_canonical_uuids() {
        let id: OrderId = ORDER.to_uppercase().parse().unwrap();
        assert_eq!(id.to_string(), ORDER);
        for bad in [
            "",
            "order-1",
            &ORDER.replace('-', ""),
            &format!("{{{ORDER}}}"),
        ] {
            assert_eq!(bad.parse::<OrderId>(), Err(DomainError::OrderId), "{bad}");
        }
    }

    #[test]
    fn currencies() {
        assert_eq!("JPY".parse::<Currency>().unwrap().as_str(), "JPY");
        for bad in ["", "usd", "US", "USDX", "U$D"] {
            assert_eq!(bad.parse::<Currency>(), Err(DomainError::Currency), "{bad}");
        }
    }

    #[test]
    fn amounts_are_positive_and_bounded() {
        assert_eq!(Money::from_minor(1).unwrap().minor(), 1);
        assert_eq!(
            Money::from_minor(Money::MAX.into()).unwrap().minor(),
            Money::MAX
        );
        for bad in [0, -1, i128::from(Money::MAX) + 1, i128::MAX, i128::MIN] {
            assert_eq!(Money::from_minor(bad), Err(DomainError::Amount), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys() {
        for good in [
            "a",
            "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
            &"k".repeat(IdempotencyKey::MAX_LEN),
            "~!#",
        ] {
            assert_eq!(good.parse::<IdempotencyKey>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "has space",
            "tab\t",
            "é",
            &"k".repeat(IdempotencyKey::MAX_LEN + 1),
        ] {
            assert_eq!(
                bad.parse::<IdempotencyKey>(),
                Err(DomainError::IdempotencyKey),
                "{bad:?}"
            );
        }
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
        let p = Payment::capture(new_payment(4200), Utc::now(), region("us-east-1"));
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
        assert!(r.refunded(Utc::now(), region("us-east-1")).is_err());
    }
}
