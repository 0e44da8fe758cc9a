//! [`PostgresStore`]: the store on a PostgreSQL database, shared by any number of replicas: the
//! [`Postgres`] engine of `sql.rs`'s seam, a small pool of connections, and the migrations of
//! `migrations/postgres/`, applied under an advisory lock so that replicas may start together.

use std::sync::{Condvar, Mutex};

use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, IsolationLevel, NoTls};

use super::StoreError;
use super::queries::SqlStore;
use super::sql::{Conn, Dialect, Engine, Row, Tx, Value};

/// The [`super::Store`] on PostgreSQL.
pub type PostgresStore = SqlStore<Postgres>;

/// The migrations, in order, applied by `queries::migrate` (its write lock is a
/// transaction-scoped advisory lock here, so replicas may start together). Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_job_leases.sql"),
    ),
];

/// A PostgreSQL database: a pool of at most `size` connections, opened as they are needed.
pub struct Postgres {
    config: postgres::Config,
    idle: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    clients: Vec<Client>,
    /// Connections open, idle or in use.
    open: usize,
    size: usize,
}

impl SqlStore<Postgres> {
    /// Connects to the database `url` names (`postgres://user:password@host:port/database`; no
    /// TLS) with a pool of at most `pool_size` connections, and brings its schema up to date.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("the database URL: {e}")))?;
        let engine = Postgres {
            config,
            idle: Mutex::new(Pool {
                clients: Vec::new(),
                open: 0,
                size: pool_size.max(1),
            }),
            returned: Condvar::new(),
        };
        super::queries::migrate(&engine, MIGRATIONS)?;
        Ok(SqlStore::new(engine))
    }

    /// A new, empty schema for one test's store, named `test_…`.
    #[cfg(test)]
    pub(crate) fn test_schema(url: &str) -> Result<String, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        let schema = format!("test_{}", super::rows::new_id());
        client.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
        Ok(schema)
    }

    /// Drops a schema [`PostgresStore::test_schema`] made, and all in it (best effort: a test
    /// cluster is thrown away anyway).
    #[cfg(test)]
    pub(crate) fn drop_test_schema(url: &str, schema: &str) {
        if let Ok(mut client) = Client::connect(url, NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }

    /// [`PostgresStore::connect`], every connection working in `schema`.
    #[cfg(test)]
    pub(crate) fn connect_in_schema(
        url: &str,
        schema: &str,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let separator = if url.contains('?') { '&' } else { '?' };
        Self::connect(
            &format!("{url}{separator}options=-c%20search_path%3D{schema}"),
            pool_size,
        )
    }
}

impl Postgres {
    /// A connection from the pool (a new one while fewer than `size` are open), waiting for one
    /// to come back when all are in use.
    fn take(&self) -> Result<Client, StoreError> {
        let mut pool = self.idle.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            if let Some(client) = pool.clients.pop() {
                if client.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                return Ok(client);
            }
            if pool.open < pool.size {
                pool.open += 1;
                drop(pool);
                return self.config.connect(NoTls).map_err(|e| {
                    if let Ok(mut pool) = self.idle.lock() {
                        pool.open -= 1;
                    }
                    StoreError::from(e)
                });
            }
            pool = self.returned.wait(pool).map_err(|_| StoreError::Poisoned)?;
        }
    }

    /// Puts a connection back (or forgets a closed one).
    fn give_back(&self, client: Client) {
        if let Ok(mut pool) = self.idle.lock() {
            if client.is_closed() {
                pool.open -= 1;
            } else {
                pool.clients.push(client);
            }
        }
        self.returned.notify_one();
    }

    /// Runs `work` on a connection of the pool, then gives it back.
    fn with_client<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.take()?;
        let answer = work(&mut client);
        self.give_back(client);
        answer
    }
}

impl Engine for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn transaction<T>(
        &self,
        tx: Tx<'_>,
        work: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_client(|client| {
            let mut transaction = match tx {
                Tx::Single => return work(&mut PgConn(client)),
                // A page and its total from one snapshot.
                Tx::Read => client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?,
                // What SQLite's BEGIN IMMEDIATE gives, for one lock name: whoever holds it is the
                // only writer of that name until the transaction ends, on any replica.
                Tx::Write(lock) => {
                    let mut transaction = client.transaction()?;
                    transaction.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        &[&lock],
                    )?;
                    transaction
                }
            };
            let answer = work(&mut PgConn(&mut transaction))?;
            transaction.commit()?;
            Ok(answer)
        })
    }
}

/// `sql` with SQLite's numbered placeholders `?N` spelled as PostgreSQL's `$N`. The store's
/// statements hold no `?` elsewhere (no string literal of theirs contains one).
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The idle connections are closed on a thread of their own: the synchronous client blocks on a
/// runtime of its own to close, which panics on a thread that drives tasks, where the last
/// handle of a store may well be dropped (a server's shutdown).
impl Drop for Postgres {
    fn drop(&mut self) {
        let clients = match self.idle.get_mut() {
            Ok(pool) => std::mem::take(&mut pool.clients),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().clients),
        };
        if !clients.is_empty() {
            let _ = std::thread::spawn(move || drop(clients)).join();
        }
    }
}

/// A PostgreSQL connection (or transaction) seen through [`Conn`].
struct PgConn<'a, C>(&'a mut C);

/// NULL, as a text parameter (the only kind of column the store sets to NULL).
static NULL: Option<String> = None;

fn bind(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| -> &(dyn ToSql + Sync) {
            match value {
                Value::Null => &NULL,
                Value::Int(n) => n,
                Value::Real(x) => x,
                Value::Text(text) => text,
            }
        })
        .collect()
}

fn read(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?
                .map(|n| Value::Int(n.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?
                .map(|b| Value::Int(b.into()))
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        } else {
            return Err(StoreError::Corrupt(format!(
                "column {}: type {ty} is not one the store reads",
                column.name()
            )));
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl<C: GenericClient> Conn for PgConn<'_, C> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.0
            .query(&dollar_placeholders(sql), &bind(params))?
            .iter()
            .map(read)
            .collect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        Ok(self.0.execute(&dollar_placeholders(sql), &bind(params))?)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.0.batch_execute(sql)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_only_where_numbered() {
        assert_eq!(
            dollar_placeholders("a = ?1 AND b IN (?2, ?10) AND c = '?' AND d = ?"),
            "a = $1 AND b IN ($2, $10) AND c = '?' AND d = ?"
        );
    }

    /// The cluster's URL, or `None` outside CI when none is configured (the store's suite says
    /// so once, in `testing::every_engine`).
    fn url() -> Option<String> {
        let url = std::env::var("ROMA_ASSETS_TEST_DATABASE_URL").ok();
        assert!(
            url.is_some() || std::env::var_os("CI").is_none(),
            "CI must set ROMA_ASSETS_TEST_DATABASE_URL"
        );
        url
    }

    #[test]
    fn replicas_starting_together_migrate_once() {
        let Some(url) = url() else { return };
        let schema = PostgresStore::test_schema(&url).unwrap();
        let replicas: Vec<_> = (0..6)
            .map(|_| {
                let (url, schema) = (url.clone(), schema.clone());
                std::thread::spawn(move || PostgresStore::connect_in_schema(&url, &schema, 1))
            })
            .collect();
        for replica in replicas {
            replica.join().unwrap().expect("every replica starts");
        }
        let store = PostgresStore::connect_in_schema(&url, &schema, 1).unwrap();
        let versions: Vec<i64> = store
            .engine
            .with_client(|c| {
                Ok(c.query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect())
            })
            .unwrap();
        let known: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, known);
        PostgresStore::drop_test_schema(&url, &schema);
    }

    #[test]
    fn a_database_from_a_newer_program_is_refused() {
        let Some(url) = url() else { return };
        let schema = PostgresStore::test_schema(&url).unwrap();
        let store = PostgresStore::connect_in_schema(&url, &schema, 1).unwrap();
        store
            .engine
            .with_client(|c| {
                c.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')",
                    &[],
                )?;
                Ok(())
            })
            .unwrap();
        let err = PostgresStore::connect_in_schema(&url, &schema, 1).expect_err("refused");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        PostgresStore::drop_test_schema(&url, &schema);
    }

    #[test]
    fn a_bad_url_is_a_clear_error() {
        let err = PostgresStore::connect("mysql://nope", 1).expect_err("refused");
        assert!(err.to_string().starts_with("the database URL"), "{err}");
    }
}
