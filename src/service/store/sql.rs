//! The seam between the store's queries and a database engine: an [`Engine`] runs work in a
//! transaction of some [`Tx`] kind, a [`Conn`] runs one statement with bound [`Value`]s and
//! reads [`Row`]s back, a [`Dialect`] spells what the engines spell differently.
//!
//! Statements are written once, with numbered placeholders `?1`, `?2`, … (SQLite's spelling;
//! the PostgreSQL connection turns them into `$1`, `$2`, …, see `postgres.rs`). Both schemas use the same column
//! types, text, 64-bit integers and doubles, so a row reads back alike from either engine.

use super::StoreError;

/// A value bound to a statement or read from a row: the kinds the schemas use.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// What a statement's placeholder can be bound to.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The values of a statement's placeholders, in order: `values![a, b]` (each borrowed).
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        &[$($crate::service::store::sql::ToValue::to_value(&$value)),*]
            as &[$crate::service::store::sql::Value]
    };
}
pub(crate) use values;

/// One row read back. Reading never panics: a missing column or a value of another kind is
/// [`StoreError::Corrupt`] naming the column's index and the statement's purpose.
#[derive(Debug, Clone)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn value(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in a row")))
    }

    fn kind_error(&self, index: usize, wanted: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "column {index}: {wanted} wanted, found {:?}",
            self.0.get(index)
        ))
    }

    /// The text at `index`.
    pub(crate) fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.value(index)? {
            Value::Text(text) => Ok(text.clone()),
            _ => Err(self.kind_error(index, "text")),
        }
    }

    /// The text at `index`, or `None` for NULL.
    pub(crate) fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    /// The integer at `index`.
    pub(crate) fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.value(index)? {
            Value::Int(n) => Ok(*n),
            _ => Err(self.kind_error(index, "an integer")),
        }
    }

    /// The integer at `index`, or `None` for NULL.
    pub(crate) fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    /// The number at `index` (an integer reads as a number too: SQLite stores `1.0` as `1`
    /// in a REAL column of a table that is not STRICT).
    pub(crate) fn real(&self, index: usize) -> Result<f64, StoreError> {
        match self.value(index)? {
            Value::Real(x) => Ok(*x),
            #[allow(clippy::cast_precision_loss)] // a progress of 0 or 1
            Value::Int(n) => Ok(*n as f64),
            _ => Err(self.kind_error(index, "a number")),
        }
    }
}

/// A connection, inside a transaction or not.
pub trait Conn {
    /// Runs a statement that answers rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;

    /// Runs several statements without parameters (a migration file).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// The first row a statement answers, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a statement answers (`count(*)`, …).
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or_else(|| {
            StoreError::Corrupt("a statement that answers a row answered none".into())
        })
    }
}

/// The kind of a transaction.
#[derive(Debug, Clone, Copy)]
pub enum Tx<'a> {
    /// Reads that must agree with one another (a page and its total): one snapshot.
    Read,
    /// Checks then writes that must see the same data: the write lock on `lock` (a name, e.g.
    /// an instance's) is taken before the first statement. SQLite has one write lock for the
    /// whole file and ignores the name; PostgreSQL takes a transaction-scoped advisory lock.
    Write(&'a str),
    /// One statement, atomic on its own: no explicit transaction.
    Single,
}

/// A database engine: where the connections come from and how a transaction begins.
pub trait Engine: Send + Sync + 'static {
    /// How this engine spells what differs.
    const DIALECT: Dialect;

    /// Runs `work` on one connection in a transaction of kind `tx`: committed when `work`
    /// returns `Ok`, rolled back otherwise.
    fn transaction<T>(
        &self,
        tx: Tx<'_>,
        work: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

/// The spellings that differ between the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A condition: `column` contains the placeholder's text, case-sensitively, with no
    /// wildcard characters (`%` and `_` are plain).
    pub(crate) fn contains(self, column: &str, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({column}, {placeholder}) > 0"),
            Dialect::Postgres => format!("strpos({column}, {placeholder}) > 0"),
        }
    }

    /// The table that records which migrations were applied, created if missing.
    pub(crate) fn migrations_table(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    INTEGER PRIMARY KEY NOT NULL,
                     applied_at TEXT NOT NULL
                 ) STRICT"
            }
            Dialect::Postgres => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    BIGINT PRIMARY KEY,
                     applied_at TEXT NOT NULL
                 )"
            }
        }
    }

    /// What follows a `SELECT` of rows about to be updated so that concurrent transactions
    /// each take different rows: PostgreSQL's `FOR UPDATE SKIP LOCKED`; nothing for SQLite,
    /// whose writers take turns on the whole file.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The text of the top-level `field` of the JSON text in `column` (NULL if absent).
    pub(crate) fn json_field(self, column: &str, field: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{field}')"),
            Dialect::Postgres => format!("({column}::jsonb ->> '{field}')"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_the_wrong_kind_is_corrupt_data_not_a_panic() {
        let row = Row(vec![Value::Text("x".into()), Value::Null, Value::Int(1)]);
        assert_eq!(row.text(0).unwrap(), "x");
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert_eq!(row.real(2).unwrap(), 1.0);
        assert!(matches!(row.int(0), Err(StoreError::Corrupt(_))));
        assert!(matches!(row.text(7), Err(StoreError::Corrupt(_))));
    }
}
