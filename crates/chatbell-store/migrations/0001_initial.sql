-- ChatBell's local cache, schema 1.
--
-- Every migration ends by setting `PRAGMA user_version` to its own version, so
-- that an older ChatBell can tell a newer database apart without writing to it
-- (see `Store::open`).

-- Synced rows other than messages: agents, teams, configurations, sessions,
-- requests, blocked numbers and "my teams", as serde_json of the core type.
CREATE TABLE rows (
    entity      TEXT    NOT NULL,   -- Dataverse table: systemuser, team, cb_chatsession, ...
    id          TEXT    NOT NULL,   -- the row's GUID ("me" for teammembership)
    etag        TEXT,               -- @odata.etag, where the core type has one
    modified_on INTEGER,            -- ms since the epoch, where the core type has one
    body        TEXT    NOT NULL,   -- JSON
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;

-- Messages, typed: the engine's per-session message stats are computed from them.
CREATE TABLE messages (
    id          TEXT    NOT NULL PRIMARY KEY,
    session     TEXT    NOT NULL,
    direction   INTEGER NOT NULL CHECK (direction IN (1, 2)), -- 1 customer, 2 agent
    created_on  INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_by  TEXT
);
CREATE INDEX messages_session_created ON messages (session, created_on);

-- Notifications and their life (Effect::Show / Update / Close / HideToast).
CREATE TABLE notifications (
    key         TEXT    NOT NULL PRIMARY KEY, -- NotificationKey as text: chat:<uuid>, catchup, ...
    kind        TEXT    NOT NULL,
    session     TEXT,
    state       TEXT    NOT NULL,             -- Lifecycle tag: live, updated, withdrawn, ...
    live        INTEGER NOT NULL CHECK (live IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    body        TEXT    NOT NULL              -- JSON of the whole Notification
);
CREATE INDEX notifications_live_updated ON notifications (live, updated_at);
CREATE INDEX notifications_created ON notifications (created_at);

-- Sessions I dismissed on this desktop (R9).
CREATE TABLE dismissed (
    session     TEXT    NOT NULL PRIMARY KEY
);

-- Sync watermarks, per entity set.
CREATE TABLE watermarks (
    entity      TEXT    NOT NULL PRIMARY KEY,
    modified_on INTEGER NOT NULL,
    token       TEXT
);

-- Write-back commands: pending until their outcome is recorded.
CREATE TABLE outbox (
    seq         INTEGER NOT NULL PRIMARY KEY, -- insertion order
    id          TEXT    NOT NULL UNIQUE,
    issued_at   INTEGER NOT NULL,
    body        TEXT    NOT NULL,             -- JSON of the Command
    outcome     TEXT                          -- JSON of the WriteBackOutcome; NULL while pending
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE outcome IS NULL;

-- Armed deadlines (Effect::ArmTimer / DisarmTimer).
CREATE TABLE timers (
    key         TEXT    NOT NULL PRIMARY KEY, -- JSON of the TimerKey
    at          INTEGER NOT NULL
);

-- Small settings: me, muted, unread.
CREATE TABLE meta (
    key         TEXT    NOT NULL PRIMARY KEY,
    value       TEXT    NOT NULL
);

PRAGMA user_version = 1;
