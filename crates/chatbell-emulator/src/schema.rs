//! The reference schema: ChatBell's tables as the emulator knows them.
//!
//! Each table has an entity set name, a primary key, a primary name column and
//! typed columns. Lookups are stored and read as `_NAME_value` and written with
//! `NAME@odata.bind`. Every table also has the system columns `createdon`,
//! `modifiedon`, `versionnumber`, `_createdby_value` and `_modifiedby_value`; the
//! add-on's tables (`cb_*`) are user-or-team owned and so have `_ownerid_value`.

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// The table's primary key (`Edm.Guid`).
    Key,
    /// `Edm.String`, with a maximum length.
    Str(usize),
    /// `Edm.Int32`; `Some(values)` for a choice (option set) column.
    Int(Option<&'static [(i64, &'static str)]>),
    /// `Edm.Boolean`.
    Bool,
    /// `Edm.DateTimeOffset`, stored to the second.
    DateTime,
    /// `Edm.Int64` version number (read-only).
    Version,
    /// A lookup to one of the given tables (logical names).
    Lookup(&'static [&'static str]),
}

impl ColType {
    /// The EDM type name, for error messages.
    pub fn edm(&self) -> &'static str {
        match self {
            ColType::Key | ColType::Lookup(_) => "Edm.Guid",
            ColType::Str(_) => "Edm.String",
            ColType::Int(_) => "Edm.Int32",
            ColType::Bool => "Edm.Boolean",
            ColType::DateTime => "Edm.DateTimeOffset",
            ColType::Version => "Edm.Int64",
        }
    }
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The name as read: `cb_name`, or `_cb_chatsession_value` for a lookup.
    pub name: &'static str,
    /// Its type.
    pub ty: ColType,
    /// Whether a client may write it.
    pub writable: bool,
}

impl Column {
    /// For a lookup, the navigation property used with `@odata.bind`
    /// (`_cb_chatsession_value` -> `cb_chatsession`).
    pub fn nav_name(&self) -> Option<&'static str> {
        match self.ty {
            ColType::Lookup(_) => self
                .name
                .strip_prefix('_')
                .and_then(|s| s.strip_suffix("_value")),
            _ => None,
        }
    }
}

/// One table.
#[derive(Debug)]
pub struct Table {
    /// Logical name, e.g. `cb_chatsession`.
    pub logical: &'static str,
    /// Entity set name, e.g. `cb_chatsessions`.
    pub set: &'static str,
    /// Primary key column, e.g. `cb_chatsessionid`.
    pub key: &'static str,
    /// Primary name column (the lookup's formatted value), e.g. `cb_name`.
    pub primary_name: &'static str,
    /// All columns, key first.
    pub columns: Vec<Column>,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// The lookup column whose navigation property is `nav`.
    pub fn lookup_by_nav(&self, nav: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.nav_name() == Some(nav))
    }
}

const CHANNEL: &[(i64, &str)] = &[(1, "WhatsApp"), (2, "SMS")];
const STATE: &[(i64, &str)] = &[(0, "Active"), (1, "Inactive")];
const STATUS_GENERIC: &[(i64, &str)] = &[(1, "Active"), (2, "Inactive")];
const STATUS_SESSION: &[(i64, &str)] = &[(1, "Open"), (2, "Closed"), (3, "Blocked")];
const STATUS_REQUEST: &[(i64, &str)] = &[
    (1, "Pending"),
    (2, "Accepted"),
    (3, "Rejected"),
    (4, "Withdrawn"),
    (5, "Expired"),
];
const DIRECTION: &[(i64, &str)] = &[(1, "From customer"), (2, "From agent")];
const KIND: &[(i64, &str)] = &[(1, "Assign"), (2, "Discuss")];
const CALLSTATE: &[(i64, &str)] = &[(0, "None"), (1, "Ringing"), (2, "In call")];
const TEAMTYPE: &[(i64, &str)] = &[(0, "Owner"), (1, "Access")];

fn col(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        writable: true,
    }
}
fn ro(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        writable: false,
    }
}

fn system_columns(owned: bool, status: &'static [(i64, &'static str)]) -> Vec<Column> {
    let mut v = vec![
        ro("createdon", ColType::DateTime),
        ro("modifiedon", ColType::DateTime),
        ro("versionnumber", ColType::Version),
        ro("_createdby_value", ColType::Lookup(&["systemuser"])),
        ro("_modifiedby_value", ColType::Lookup(&["systemuser"])),
    ];
    if owned {
        v.push(col(
            "_ownerid_value",
            ColType::Lookup(&["systemuser", "team"]),
        ));
        v.push(col("statecode", ColType::Int(Some(STATE))));
        v.push(col("statuscode", ColType::Int(Some(status))));
    }
    v
}

fn table(
    logical: &'static str,
    set: &'static str,
    key: &'static str,
    primary_name: &'static str,
    mut own: Vec<Column>,
    system: Vec<Column>,
) -> Table {
    let mut columns = vec![ro(key, ColType::Key)];
    columns.append(&mut own);
    columns.extend(system);
    Table {
        logical,
        set,
        key,
        primary_name,
        columns,
    }
}

/// The whole reference schema.
#[derive(Debug)]
pub struct Schema {
    tables: Vec<Table>,
}

impl Schema {
    /// ChatBell's reference schema.
    pub fn reference() -> Self {
        use ColType::*;
        let tables = vec![
            table(
                "systemuser",
                "systemusers",
                "systemuserid",
                "fullname",
                vec![
                    col("fullname", Str(200)),
                    col("internalemailaddress", Str(100)),
                    col("domainname", Str(1024)),
                    col("isdisabled", Bool),
                ],
                system_columns(false, STATUS_GENERIC),
            ),
            table(
                "team",
                "teams",
                "teamid",
                "name",
                vec![col("name", Str(160)), col("teamtype", Int(Some(TEAMTYPE)))],
                system_columns(false, STATUS_GENERIC),
            ),
            table(
                "cb_configuration",
                "cb_configurations",
                "cb_configurationid",
                "cb_name",
                vec![
                    col("cb_name", Str(100)),
                    col("cb_channel", Int(Some(CHANNEL))),
                    col("_cb_defaultteam_value", Lookup(&["team"])),
                    col("_cb_assignedteam_value", Lookup(&["team"])),
                    col("cb_idletimeoutminutes", Int(None)),
                    col("cb_requesttimeoutminutes", Int(None)),
                    col("cb_enablesystemnotification", Bool),
                ],
                system_columns(true, STATUS_GENERIC),
            ),
            table(
                "cb_chatsession",
                "cb_chatsessions",
                "cb_chatsessionid",
                "cb_name",
                vec![
                    col("cb_name", Str(200)),
                    col("cb_customernumber", Str(32)),
                    col("cb_channel", Int(Some(CHANNEL))),
                    col("_cb_configuration_value", Lookup(&["cb_configuration"])),
                    col("cb_acceptedon", DateTime),
                    col("cb_firstcontact", Bool),
                    col("cb_lastcustomermessageon", DateTime),
                    col("cb_lastagentmessageon", DateTime),
                    col("cb_lastmessagepreview", Str(200)),
                    col("cb_unreadcount", Int(None)),
                    col("cb_callstate", Int(Some(CALLSTATE))),
                    col("cb_callstartedon", DateTime),
                ],
                system_columns(true, STATUS_SESSION),
            ),
            table(
                "cb_chatmessage",
                "cb_chatmessages",
                "cb_chatmessageid",
                "cb_body",
                vec![
                    col("_cb_chatsession_value", Lookup(&["cb_chatsession"])),
                    col("cb_direction", Int(Some(DIRECTION))),
                    col("cb_body", Str(4000)),
                ],
                system_columns(true, STATUS_GENERIC),
            ),
            table(
                "cb_chatrequest",
                "cb_chatrequests",
                "cb_chatrequestid",
                "cb_reason",
                vec![
                    col("cb_kind", Int(Some(KIND))),
                    col("_cb_chatsession_value", Lookup(&["cb_chatsession"])),
                    col("_cb_requestedby_value", Lookup(&["systemuser"])),
                    col("_cb_requestedto_value", Lookup(&["systemuser"])),
                    col("cb_reason", Str(2000)),
                    col("cb_expireson", DateTime),
                ],
                system_columns(true, STATUS_REQUEST),
            ),
            table(
                "cb_blockednumber",
                "cb_blockednumbers",
                "cb_blockednumberid",
                "cb_number",
                vec![
                    col("cb_number", Str(32)),
                    col("cb_channel", Int(Some(CHANNEL))),
                ],
                system_columns(true, STATUS_GENERIC),
            ),
        ];
        Self { tables }
    }

    /// The table whose entity set is `set`.
    pub fn by_set(&self, set: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.set == set)
    }
    /// The table whose logical name is `logical`.
    pub fn by_logical(&self, logical: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.logical == logical)
    }
    /// All tables.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }
}

/// The label of a choice value, if the column is a choice.
pub fn choice_label(ty: ColType, v: i64) -> Option<&'static str> {
    match ty {
        ColType::Int(Some(values)) => values.iter().find(|(n, _)| *n == v).map(|(_, l)| *l),
        _ => None,
    }
}

/// The reference schema, built once.
pub fn schema() -> &'static Schema {
    static S: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    S.get_or_init(Schema::reference)
}
