//! [`SqliteStore`]: the store on one SQLite file in WAL mode, with its embedded migrations: the
//! [`Sqlite`] engine of `sql.rs`'s seam.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use super::queries::SqlStore;
use super::sql::{Conn, Dialect, Engine, Row, Tx, Value};

/// The database file [`SqliteStore::open`] creates inside its data directory.
pub const DB_FILE_NAME: &str = "roma-assets.sqlite3";

/// How long (ms) a connection waits for another connection's write lock before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The embedded migrations, in order, applied by `queries::migrate`. Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_asset_family.sql")),
    (3, include_str!("../../../migrations/0003_job_leases.sql")),
];

/// The [`super::Store`] on one SQLite database file, in WAL mode.
pub type SqliteStore = SqlStore<Sqlite>;

/// One SQLite database file, in WAL mode.
///
/// One connection behind a mutex: simple and correct, since SQLite has one writer at a time
/// anyway. Reads could later use a small pool of extra connections, which WAL lets run beside
/// the writer. Several stores (or processes) may open the same directory: every write that must
/// be atomic is one statement or one `BEGIN IMMEDIATE` transaction, and waits up to five seconds
/// for the lock.
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl SqlStore<Sqlite> {
    /// Creates `data_dir` if needed, opens (or creates) `<data_dir>/`[`DB_FILE_NAME`] and brings
    /// its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(data_dir.join(DB_FILE_NAME))?;
        // Pragmas as SQL rather than `Connection::busy_timeout`: that method needs
        // `sqlite3_set_clientdata` (SQLite 3.44+), which the system SQLite of Debian 12 (3.40)
        // lacks, and would not link. The timeout comes first, so the pragmas below wait for a
        // concurrent opener instead of failing. `journal_mode` answers with the mode now in
        // force; a file system without WAL keeps "delete", slower but still correct, so the
        // answer is not checked.
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;"
        ))?;
        let engine = Sqlite {
            conn: Mutex::new(conn),
        };
        super::queries::migrate(&engine, MIGRATIONS)?;
        Ok(SqlStore::new(engine))
    }
}

impl Sqlite {
    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

impl Engine for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn transaction<T>(
        &self,
        tx: Tx<'_>,
        work: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock()?;
        let behavior = match tx {
            // One statement is atomic on its own.
            Tx::Single => return work(&mut SqliteConn(&conn)),
            Tx::Read => TransactionBehavior::Deferred,
            // The whole file's write lock, taken now: the name of the lock does not matter.
            Tx::Write(_) => TransactionBehavior::Immediate,
        };
        let transaction = conn.transaction_with_behavior(behavior)?;
        let answer = work(&mut SqliteConn(&transaction))?;
        transaction.commit()?;
        Ok(answer)
    }
}

/// A SQLite connection (or transaction) seen through [`Conn`].
struct SqliteConn<'a>(&'a Connection);

fn bind(params: &[Value]) -> impl Iterator<Item = Sql> + '_ {
    params.iter().map(|value| match value {
        Value::Null => Sql::Null,
        Value::Int(n) => Sql::Integer(*n),
        Value::Real(x) => Sql::Real(*x),
        Value::Text(text) => Sql::Text(text.clone()),
    })
}

impl Conn for SqliteConn<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.0.prepare(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(bind(params)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                values.push(match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(text) => Value::Text(
                        std::str::from_utf8(text)
                            .map_err(|_| StoreError::Corrupt(format!("column {index}: not UTF-8")))?
                            .to_string(),
                    ),
                    ValueRef::Blob(_) => {
                        return Err(StoreError::Corrupt(format!("column {index}: a blob")));
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let changed = self
            .0
            .prepare(sql)?
            .execute(rusqlite::params_from_iter(bind(params)))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::service::demo::DEMO_APP_IDS;

    #[test]
    fn reopening_keeps_data_and_applies_each_migration_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = scope("p", "i");
        {
            let store = SqliteStore::open(dir.path()).expect("first open");
            seed(&store, &s).expect("seed");
        }
        let store = SqliteStore::open(dir.path()).expect("second open");
        assert_eq!(all_apps(&store, &s).len(), DEMO_APP_IDS.len());
        let conn = store.engine.lock().expect("lock");
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let expected: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_database_from_a_newer_program_is_refused() {
        let (dir, store) = open();
        store
            .engine
            .lock()
            .expect("lock")
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')",
                [],
            )
            .expect("insert");
        drop(store);
        let err = SqliteStore::open(dir.path()).expect_err("newer schema must be refused");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn the_database_enforces_foreign_keys_in_wal_mode() {
        let (_dir, store) = open();
        let conn = store.engine.lock().expect("lock");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let orphan = conn.execute(
            "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source, target,
                                created_at, updated_at)
             VALUES ('p', 'i', 't', 'n', 'no-such-app', '{}', '{}', 'x', 'x')",
            [],
        );
        assert!(orphan.is_err(), "a task of an unknown app was stored");
    }
}
