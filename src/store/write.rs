//! A write to the store: the statements of one transaction, kept as data (SQL and the values of
//! its `$n` placeholders) so that one description runs on either database. PostgreSQL runs it
//! statement by statement in a transaction of the pool (here); SQLite hands the whole of it to
//! its writing thread (`sqlite_writer`) in one hop, where the statements run back to back.
//!
//! A write may depend on a compare-and-set: a statement added with [`Write::only_if`] must
//! change exactly one row, or the write stops there, is undone, and reports that it did not
//! apply.

use std::borrow::Cow;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool};

use super::Result;

/// A value for one placeholder. A null keeps its type: PostgreSQL refuses a text null for a
/// number column.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(Some(s.to_string()))
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(Some(s.clone()))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(Some(s))
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::Text(s)
    }
}

impl From<&Option<String>> for Value {
    fn from(s: &Option<String>) -> Self {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(Some(n))
    }
}

impl From<Option<i64>> for Value {
    fn from(n: Option<i64>) -> Self {
        Value::Int(n)
    }
}

/// One statement of a write, with the values of its placeholders in order (`$1` first).
#[derive(Debug)]
pub(super) struct Statement {
    /// Most statements' text is fixed, and made once.
    pub(super) sql: Cow<'static, str>,
    pub(super) values: Vec<Value>,
    /// Must change exactly one row for the write to go on.
    pub(super) guard: bool,
}

impl Statement {
    pub(super) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self { sql: sql.into(), values: Vec::new(), guard: false }
    }

    /// Gives the next placeholder its value.
    pub(super) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.values.iter().fold(sqlx::query(&self.sql), |query, value| match value {
            Value::Text(text) => query.bind(text.as_deref()),
            Value::Int(n) => query.bind(*n),
        })
    }
}

/// The statements of one transaction, in order.
#[derive(Debug, Default)]
pub(super) struct Write {
    pub(super) statements: Vec<Statement>,
}

impl Write {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A write of `statement` alone.
    pub(super) fn of(statement: Statement) -> Self {
        Self { statements: vec![statement] }
    }

    /// A write that applies only if `statement` changes exactly one row.
    pub(super) fn only(statement: Statement) -> Self {
        let mut write = Self::new();
        write.only_if(statement);
        write
    }

    pub(super) fn then(&mut self, statement: Statement) -> &mut Self {
        self.statements.push(statement);
        self
    }

    /// Adds `statement` as a condition: unless it changes exactly one row, nothing of the write
    /// is kept and it reports that it did not apply.
    pub(super) fn only_if(&mut self, statement: Statement) -> &mut Self {
        self.statements.push(Statement { guard: true, ..statement });
        self
    }

    /// Runs the write in a transaction of `pool`; false when a condition stopped it.
    pub(super) async fn run_in(&self, pool: &AnyPool) -> Result<bool> {
        let mut tx = pool.begin().await?;
        for statement in &self.statements {
            let changed = statement.query().execute(&mut *tx).await?.rows_affected();
            if statement.guard && changed != 1 {
                // Dropping the transaction rolls it back.
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}
