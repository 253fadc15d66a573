//! The users store: the users in the service's table, over the kit's item-table port
//! (`kit::store::ItemTable`, DynamoDB or memory), as every service's `store` module is.
//!
//! Table layout (partition key `pk`), each item's attributes those of its record's serde form:
//! - `USER#<id>`: the [`User`] (`id`, `email`, `name`, `created_at`) plus `version`,
//!   `updated_at` and `region` (the last writer), like every item;
//! - `EMAIL#<email>`: the email's [`EmailOwner`] (`user_id`), which makes emails unique: it is
//!   put with `attribute_not_exists(pk)` in the same transaction as the user.
//!
//! Every rule is a write condition, never a read followed by a blind write: a create puts
//! both items only if neither exists; an update or delete applies only if the user's
//! `version` is the one read (so the email read with it is still current) and the old email
//! item still belongs to the user.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use kit::codec;
use kit::headers::Version;
use kit::store::{Condition, Item, ItemTable, StoreError, Write, get_record};
use kit::time::Timestamp;
use topology::Region;

use crate::domain::{Email, User, UserChange, UserId};

/// Why a store operation did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserStoreError {
    #[error("no user has id {0}")]
    NotFound(UserId),
    #[error("the email address is already registered")]
    EmailTaken,
    /// `If-Match` names another version than the stored one.
    #[error("the user is at version {current}, not {expected}")]
    VersionMismatch { expected: Version, current: Version },
    /// The user changed between the read and the conditional write; the client may retry.
    #[error("the user changed concurrently; retry")]
    Concurrent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of users and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The id to continue after, when more users may follow.
    pub next: Option<UserId>,
}

/// The record of an `EMAIL#` item: who has the address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailOwner {
    pub user_id: UserId,
    pub version: Version,
    pub updated_at: Timestamp,
    pub region: Region,
}

/// The attribute of [`EmailOwner`] that the ownership condition compares.
const OWNER: &str = "user_id";

/// The users in a table: how the handlers reach them.
#[derive(Clone)]
pub struct Store {
    table: Arc<dyn ItemTable>,
    /// Stamped on every user this instance changes.
    region: Region,
}

impl Store {
    /// The users stored in `table`, changed as `region`.
    pub fn new(table: Arc<dyn ItemTable>, region: Region) -> Self {
        Self { table, region }
    }

    /// Stores a new user; fails with [`UserStoreError::EmailTaken`] when the email is used.
    pub async fn create(&self, user: &User) -> Result<(), UserStoreError> {
        let writes = vec![
            Write::Put {
                item: to_item(user)?,
                condition: Condition::NotExists,
            },
            Write::Put {
                item: email_item(user)?,
                condition: Condition::NotExists,
            },
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&1) => {
                Err(UserStoreError::EmailTaken)
            }
            // A UUIDv7 collision: not a client's fault, and vanishingly rare.
            Err(e) => Err(e.into()),
        }
    }

    /// The user with this id.
    pub async fn get(&self, id: UserId) -> Result<Option<User>, UserStoreError> {
        Ok(get_record(&*self.table, &user_pk(id), from_item).await?)
    }

    /// Up to `limit` users after the user `after`.
    pub async fn list(
        &self,
        limit: usize,
        after: Option<UserId>,
    ) -> Result<UserPage, UserStoreError> {
        let after = after.map(user_pk);
        let page = self
            .table
            .scan(USER_PREFIX, limit, after.as_deref())
            .await?;
        let users = page
            .items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (&page.next, users.last()) {
            (Some(_), Some(last)) => Some(last.id),
            _ => None,
        };
        Ok(UserPage { users, next })
    }

    /// Applies `change` if the user is at version `expected`; returns the new user.
    pub async fn update(
        &self,
        id: UserId,
        expected: Version,
        change: UserChange,
    ) -> Result<User, UserStoreError> {
        let current = self.current(id).await?;
        if current.version != expected {
            return Err(UserStoreError::VersionMismatch {
                expected,
                current: current.version,
            });
        }
        let updated = current.changed(change, self.region.clone(), Timestamp::now());
        let mut writes = vec![Write::Put {
            item: to_item(&updated)?,
            condition: Condition::VersionIs(expected.get()),
        }];
        let email_changed = updated.email != current.email;
        if email_changed {
            writes.push(Write::Delete {
                pk: email_pk(&current.email),
                condition: owned_by(id),
            });
            writes.push(Write::Put {
                item: email_item(&updated)?,
                condition: Condition::NotExists,
            });
        } else {
            writes.push(Write::Put {
                item: email_item(&updated)?,
                condition: owned_by(id),
            });
        }
        match self.table.transact(writes).await {
            Ok(()) => Ok(updated),
            Err(StoreError::ConditionFailed { failed }) => Err(if failed.contains(&0) {
                self.explain_failure(id).await
            } else if email_changed && failed.contains(&2) {
                UserStoreError::EmailTaken
            } else {
                UserStoreError::Concurrent
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the user (if at version `expected`, when given) and frees its email.
    pub async fn delete(
        &self,
        id: UserId,
        expected: Option<Version>,
    ) -> Result<(), UserStoreError> {
        let current = self.current(id).await?;
        if let Some(expected) = expected
            && current.version != expected
        {
            return Err(UserStoreError::VersionMismatch {
                expected,
                current: current.version,
            });
        }
        let writes = vec![
            Write::Delete {
                pk: user_pk(id),
                condition: Condition::VersionIs(current.version.get()),
            },
            Write::Delete {
                pk: email_pk(&current.email),
                condition: owned_by(id),
            },
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&0) => {
                Err(self.explain_failure(id).await)
            }
            Err(StoreError::ConditionFailed { .. }) => Err(UserStoreError::Concurrent),
            Err(e) => Err(e.into()),
        }
    }

    async fn current(&self, id: UserId) -> Result<User, UserStoreError> {
        self.get(id).await?.ok_or(UserStoreError::NotFound(id))
    }

    /// After a failed condition on the user item: gone (404) or changed (retry).
    async fn explain_failure(&self, id: UserId) -> UserStoreError {
        match self.table.get(&user_pk(id)).await {
            Ok(None) => UserStoreError::NotFound(id),
            Ok(Some(_)) => UserStoreError::Concurrent,
            Err(e) => e.into(),
        }
    }
}

/// The prefix of every user's `pk`: what a listing scans.
const USER_PREFIX: &str = "USER#";

fn user_pk(id: UserId) -> String {
    format!("{USER_PREFIX}{id}")
}

fn email_pk(email: &Email) -> String {
    format!("EMAIL#{email}")
}

/// A user as a stored item.
fn to_item(user: &User) -> Result<Item, StoreError> {
    codec::to_item(user_pk(user.id), user)
}

/// The `EMAIL#` item of a user's address.
fn email_item(user: &User) -> Result<Item, StoreError> {
    let owner = EmailOwner {
        user_id: user.id,
        version: user.version,
        updated_at: user.updated_at,
        region: user.region.clone(),
    };
    codec::to_item(email_pk(&user.email), &owner)
}

/// A stored item as a user; anything that does not parse is [`StoreError::Corrupt`].
fn from_item(item: &Item) -> Result<User, StoreError> {
    codec::from_item(item)
}

/// The condition that the email item still belongs to `id`.
fn owned_by(id: UserId) -> Condition {
    Condition::AttrEquals(OWNER.into(), json!(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserName;
    use kit::memory::MemoryTable;

    fn region() -> Region {
        "us-east-1".parse().unwrap()
    }

    fn store() -> (Store, Arc<MemoryTable>) {
        let table = MemoryTable::new("users", region());
        (Store::new(table.clone(), region()), table)
    }

    fn user(email: &str) -> User {
        User::new(
            Email::parse(email).unwrap(),
            UserName::parse("Ada").unwrap(),
            region(),
            Timestamp::now(),
        )
    }

    #[test]
    fn items_round_trip() {
        let u = user("ada@example.com");
        let back = from_item(&to_item(&u).unwrap()).unwrap();
        // Timestamps are kept and stored to the microsecond, so the round trip is exact.
        assert_eq!(back, u);
        let mut broken = to_item(&u).unwrap();
        broken.insert("email".into(), json!("not an email"));
        assert!(matches!(from_item(&broken), Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn emails_are_unique_and_freed_on_delete() {
        let (s, table) = store();
        let ada = user("ada@example.com");
        s.create(&ada).await.unwrap();
        assert_eq!(
            s.create(&user("ADA@example.com")).await,
            Err(UserStoreError::EmailTaken)
        );
        assert_eq!(table.len(), 2);
        s.delete(ada.id, None).await.unwrap();
        assert!(table.is_empty());
        s.create(&user("ada@example.com")).await.unwrap();
    }

    #[tokio::test]
    async fn updates_move_the_email_and_check_the_version() {
        let (s, _) = store();
        let ada = user("ada@example.com");
        let bob = user("bob@example.com");
        s.create(&ada).await.unwrap();
        s.create(&bob).await.unwrap();
        let to_bob = UserChange {
            email: Some(bob.email.clone()),
            name: None,
        };
        assert_eq!(
            s.update(ada.id, Version::FIRST, to_bob).await,
            Err(UserStoreError::EmailTaken)
        );
        let change = UserChange {
            email: Some(Email::parse("lovelace@example.com").unwrap()),
            name: None,
        };
        let updated = s
            .update(ada.id, Version::FIRST, change.clone())
            .await
            .unwrap();
        assert_eq!(updated.version.get(), 2);
        assert!(matches!(
            s.update(ada.id, Version::FIRST, change).await,
            Err(UserStoreError::VersionMismatch { .. })
        ));
        // The old email is free again, the new one taken.
        s.create(&user("ada@example.com")).await.unwrap();
        assert_eq!(
            s.create(&user("lovelace@example.com")).await,
            Err(UserStoreError::EmailTaken)
        );
        let missing = UserId::new();
        assert_eq!(
            s.delete(missing, None).await,
            Err(UserStoreError::NotFound(missing))
        );
    }

    #[tokio::test]
    async fn lists_page_through_users_only() {
        let (s, _) = store();
        for i in 0..5 {
            s.create(&user(&format!("u{i}@example.com"))).await.unwrap();
        }
        let first = s.list(3, None).await.unwrap();
        assert_eq!(first.users.len(), 3);
        let rest = s.list(3, first.next).await.unwrap();
        assert_eq!(rest.users.len(), 2);
        assert_eq!(rest.next, None);
    }
}
