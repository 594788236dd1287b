//! What can go wrong in the store.

use std::path::PathBuf;

/// Why the store could not do what was asked.
///
/// A failed [`Store::commit`](crate::Store::commit) changed nothing: its
/// transaction was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite (through sqlx) reported an error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was written by a newer ChatBell. It was opened read-only to
    /// find out, and left exactly as it was.
    #[error(
        "this database was written by a newer ChatBell (schema {found}; this one knows up to \
         {supported}): update ChatBell, or point CHATBELL_DATA_DIR elsewhere"
    )]
    TooNew {
        /// The newest schema version the file carries.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The file is not a usable ChatBell database: not SQLite at all, damaged,
    /// another program's, or failing `PRAGMA quick_check` / `integrity_check`.
    #[error("the database is damaged ({what}): {detail}")]
    Corrupt { what: String, detail: String },
    /// The disk (or the quota) is full: nothing was written.
    #[error("the disk is full ({what}): {detail}")]
    Full { what: String, detail: String },
    /// A stored value could not be read back into the core's type.
    #[error("cannot read {what} {key:?} from the database: {source}")]
    Decode {
        /// Which kind of value (a table or a column).
        what: &'static str,
        /// Which one (its key in that table).
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store was closed ([`Store::close`](crate::Store::close) on a clone).
    #[error("the store is closed")]
    Closed,
    /// A core value could not be turned into JSON.
    #[error("cannot encode {what} for the database: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// SQLite's primary result code of a database error.
fn primary_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

impl StoreError {
    /// Turns "not a database" and "database disk image is malformed" into
    /// [`StoreError::Corrupt`], "database or disk is full" into
    /// [`StoreError::Full`]; every other error stays a [`StoreError::Sqlx`].
    pub(crate) fn classify(e: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            let detail = db.message().to_string();
            match primary_code(&e) {
                // SQLITE_CORRUPT (11), SQLITE_NOTADB (26).
                Some(11 | 26) => {
                    return StoreError::Corrupt {
                        what: what.to_string(),
                        detail,
                    }
                }
                // SQLITE_FULL (13).
                Some(13) => {
                    return StoreError::Full {
                        what: what.to_string(),
                        detail,
                    }
                }
                _ => {}
            }
        }
        StoreError::Sqlx(e)
    }

    /// [`StoreError::classify`] for an error already wrapped.
    pub(crate) fn reclassify(self, what: &str) -> StoreError {
        match self {
            StoreError::Sqlx(e) => StoreError::classify(e, what),
            other => other,
        }
    }

    /// The file is no usable ChatBell cache: it should be moved aside and the
    /// cache rebuilt from Dynamics.
    pub fn is_damaged(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }

    /// Nothing can be written for now (a full disk, a file or folder that cannot
    /// be written or is gone): the same write may work later.
    pub fn cannot_write(&self) -> bool {
        match self {
            StoreError::Full { .. } | StoreError::Io { .. } => true,
            // SQLITE_READONLY (8), SQLITE_IOERR (10), SQLITE_CANTOPEN (14).
            StoreError::Sqlx(e) => {
                matches!(primary_code(e), Some(8 | 10 | 14)) || matches!(e, sqlx::Error::Io(_))
            }
            _ => false,
        }
    }
}
