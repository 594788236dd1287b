//! Typed identifiers. Dataverse rows are keyed by GUIDs; each table gets its own
//! newtype so that a session id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id (for rows this desktop creates, and for tests).
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// An id built from a number: handy for deterministic tests and benches.
            pub const fn from_u128(n: u128) -> Self {
                Self(Uuid::from_u128(n))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A Dynamics user (`systemuser`): an agent.
    UserId
);
id_type!(
    /// A Dynamics team (`team`).
    TeamId
);
id_type!(
    /// A channel configuration (`cb_configuration`).
    ConfigId
);
id_type!(
    /// A conversation (`cb_chatsession`).
    SessionId
);
id_type!(
    /// A message (`cb_chatmessage`).
    MessageId
);
id_type!(
    /// An Assign or Discuss request (`cb_chatrequest`).
    RequestId
);
id_type!(
    /// A blocked customer number (`cb_blockednumber`).
    BlockedId
);
id_type!(
    /// A write-back command queued in the outbox.
    CommandId
);
