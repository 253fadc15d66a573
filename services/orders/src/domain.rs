//! The orders domain: values parsed once at the edge and valid by construction, the order
//! itself, and its state machine. Nothing here knows about HTTP or the store; the serde
//! derives are the order's record (what `store` keeps), and reading one back checks every
//! value as parsing a request does.

use std::fmt;
use std::str::FromStr;

use kit::id::{Id, Noun};
use kit::money::{Currency, Money};
use kit::time::Timestamp;
use serde::{Deserialize, Serialize};
use topology::Region;

/// Why a value was rejected; the message is shown to the client next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must be 1 to {max} characters: letters, digits, `-`, `_` or `.`, starting with a letter or digit", max = Sku::MAX_LEN)]
    Sku,
    #[error("must be an integer from 1 to {max}", max = Quantity::MAX)]
    Quantity,
    #[error("the order total is over {max} minor units", max = Money::MAX)]
    TotalTooLarge,
    #[error("must hold 1 to {max} items", max = Order::MAX_ITEMS)]
    ItemCount,
}

/// An order's id: a UUIDv7, so ids sort by creation time (the `by-user` index's sort key).
pub type OrderId = Id<Order>;

impl Noun for Order {
    const NOUN: &'static str = "order";
}

/// The user who places orders, as the users service names them.
pub enum User {}

impl Noun for User {
    const NOUN: &'static str = "user";
}

/// The user who placed an order: an id as the users service hands out, in its one spelling,
/// since it is the `by-user` index's partition key and must compare byte for byte.
pub type UserId = Id<User>;

/// A stock-keeping unit: what the customer orders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Sku(String);

impl Sku {
    /// The longest SKU accepted.
    pub const MAX_LEN: usize = 64;

    /// The SKU as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl TryFrom<String> for Sku {
    type Error = DomainError;

    fn try_from(s: String) -> Result<Self, DomainError> {
        s.parse()
    }
}

impl FromStr for Sku {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes().all(allowed);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::Sku)
        }
    }
}

/// How many units of a SKU: at least one, at most [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub struct Quantity(u32);

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = DomainError;

    fn try_from(units: u32) -> Result<Self, DomainError> {
        Self::new(units.into())
    }
}

impl Quantity {
    /// The largest quantity of one line.
    pub const MAX: u32 = 10_000;

    /// A quantity from a number of units.
    pub fn new(units: i128) -> Result<Self, DomainError> {
        match u32::try_from(units) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(DomainError::Quantity),
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: Quantity,
    #[serde(rename = "unit_price_cents")]
    pub unit_price: Money,
}

impl LineItem {
    /// `quantity × unit_price`, or `None` when it is over [`Money::MAX`].
    pub fn total(&self) -> Option<Money> {
        self.unit_price.checked_times(self.quantity.get())
    }
}

/// The lines of an order: 1 to [`Order::MAX_ITEMS`], with their total, which fits in
/// [`Money`]. Building one is the only way to get a total; its serde form is the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<LineItem>", try_from = "Vec<LineItem>")]
pub struct Lines {
    items: Vec<LineItem>,
    total: Money,
}

impl Lines {
    /// Checks the count and computes the total with overflow checks.
    pub fn new(items: Vec<LineItem>) -> Result<Self, DomainError> {
        if items.is_empty() || items.len() > Order::MAX_ITEMS {
            return Err(DomainError::ItemCount);
        }
        let total = items.iter().try_fold(Money::ZERO, |sum, line| {
            line.total()
                .and_then(|t| sum.checked_add(t))
                .ok_or(DomainError::TotalTooLarge)
        })?;
        Ok(Self { items, total })
    }

    /// The lines, in the order the client sent them.
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }

    /// The sum of every line's total.
    pub fn total(&self) -> Money {
        self.total
    }
}

impl From<Lines> for Vec<LineItem> {
    fn from(lines: Lines) -> Self {
        lines.items
    }
}

impl TryFrom<Vec<LineItem>> for Lines {
    type Error = DomainError;

    fn try_from(items: Vec<LineItem>) -> Result<Self, DomainError> {
        Self::new(items)
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Placed, not yet cancelled: the state every order starts in.
    Pending,
    /// Cancelled by the customer: final.
    Cancelled,
}

/// A transition that the order's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: OrderStatus,
    pub action: &'static str,
}

impl OrderStatus {
    /// The status after a cancellation: only a pending order can be cancelled.
    pub fn cancel(self) -> Result<OrderStatus, TransitionError> {
        match self {
            OrderStatus::Pending => Ok(OrderStatus::Cancelled),
            OrderStatus::Cancelled => Err(TransitionError {
                from: self,
                action: "cancelled",
            }),
        }
    }

    /// The name stored and shown (`pending`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(OrderStatus::Pending),
            "cancelled" => Ok(OrderStatus::Cancelled),
            other => Err(format!("`{other}` is not an order status")),
        }
    }
}

/// What a client asks for when placing an order, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub user_id: UserId,
    pub currency: Currency,
    pub lines: Lines,
}

/// An order, as stored and as returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub currency: Currency,
    #[serde(rename = "items")]
    pub lines: Lines,
    pub status: OrderStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the order.
    pub region: Region,
}

impl Order {
    /// The most lines one order may have (keeps an item far below DynamoDB's 400 KB).
    pub const MAX_ITEMS: usize = 100;

    /// A new pending order placed at `now` in `region`.
    pub fn place(new: NewOrder, now: Timestamp, region: Region) -> Self {
        Self {
            id: OrderId::new(),
            user_id: new.user_id,
            currency: new.currency,
            lines: new.lines,
            status: OrderStatus::Pending,
            version: 1,
            created_at: now,
            updated_at: now,
            region,
        }
    }

    /// This order, cancelled at `now` in `region`, one version later.
    pub fn cancelled(&self, now: Timestamp, region: Region) -> Result<Order, TransitionError> {
        Ok(Order {
            status: self.status.cancel()?,
            version: self.version + 1,
            updated_at: now,
            region,
            ..self.clone()
        })
    }

    /// The order's total: the sum of its lines.
    pub fn total(&self) -> Money {
        self.lines.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i128, cents: i128) -> LineItem {
        LineItem {
            sku: sku.parse().unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            unit_price: Money::from_minor(cents).unwrap(),
        }
    }

    fn order() -> Order {
        let new = NewOrder {
            user_id: "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e".parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            lines: Lines::new(vec![line("SKU-1", 2, 1250)]).unwrap(),
        };
        Order::place(new, Timestamp::now(), "us-east-1".parse().unwrap())
    }

    #[test]
    fn skus() {
        for good in ["A", "sku-1", "ABC_123.x", &"a".repeat(Sku::MAX_LEN)] {
            assert_eq!(good.parse::<Sku>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-lead",
            "with space",
            "é",
            "a/b",
            &"a".repeat(Sku::MAX_LEN + 1),
        ] {
            assert_eq!(bad.parse::<Sku>(), Err(DomainError::Sku), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(
            Quantity::new(Quantity::MAX.into()).unwrap().get(),
            Quantity::MAX
        );
        for bad in [0, -1, i128::from(Quantity::MAX) + 1, i128::MAX] {
            assert_eq!(Quantity::new(bad), Err(DomainError::Quantity), "{bad}");
        }
    }

    #[test]
    fn lines_total_their_items() {
        let lines = Lines::new(vec![line("A", 2, 1250), line("B", 1, 99)]).unwrap();
        assert_eq!(lines.total().minor(), 2599);
        assert_eq!(lines.items().len(), 2);
        let free = Lines::new(vec![line("A", 5, 0)]).unwrap();
        assert_eq!(free.total(), Money::ZERO);
    }

    #[test]
    fn lines_refuse_bad_counts_and_overflowing_totals() {
        assert_eq!(Lines::new(vec![]), Err(DomainError::ItemCount));
        let many = vec![line("A", 1, 1); Order::MAX_ITEMS + 1];
        assert_eq!(Lines::new(many), Err(DomainError::ItemCount));
        // One line over the limit, and two lines each under it whose sum is over.
        let big = Money::MAX as i128 / 2 + 1;
        assert_eq!(
            Lines::new(vec![line("A", 2, big)]),
            Err(DomainError::TotalTooLarge)
        );
        assert_eq!(
            Lines::new(vec![line("A", 1, big), line("B", 1, big)]),
            Err(DomainError::TotalTooLarge)
        );
        let exact = Lines::new(vec![line("A", 1, big - 1), line("B", 1, big)]).unwrap();
        assert_eq!(exact.total().minor(), Money::MAX);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [OrderStatus::Pending, OrderStatus::Cancelled] {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("paid".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn only_pending_orders_can_be_cancelled() {
        assert_eq!(OrderStatus::Pending.cancel(), Ok(OrderStatus::Cancelled));
        let err = OrderStatus::Cancelled.cancel().unwrap_err();
        assert_eq!(err.from, OrderStatus::Cancelled);
        assert_eq!(
            err.to_string(),
            "an order that is cancelled cannot be cancelled"
        );
    }

    #[test]
    fn placing_starts_pending_at_version_one() {
        let o = order();
        assert_eq!(o.status, OrderStatus::Pending);
        assert_eq!(o.version, 1);
        assert_eq!(o.created_at, o.updated_at);
        assert_eq!(o.total().minor(), 2500);
    }

    #[test]
    fn cancelling_bumps_version_and_records_who_wrote() {
        let o = order();
        let later = o.updated_at + chrono::TimeDelta::microseconds(5_000_001);
        let west: Region = "us-west-2".parse().unwrap();
        let c = o.cancelled(later, west.clone()).unwrap();
        assert_eq!(
            (c.status, c.version, c.updated_at),
            (OrderStatus::Cancelled, 2, later)
        );
        assert_eq!((&c.region, c.created_at, c.id), (&west, o.created_at, o.id));
        assert!(
            c.cancelled(later, west).is_err(),
            "a cancelled order stays cancelled"
        );
    }
}
