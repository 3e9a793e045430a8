//! Queries whose conditions a caller picks at run time (the lists' filters): the `WHERE` clause
//! and its values, bound in order, so every filter is a placeholder and never text in the SQL.

use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool};

use super::Result;

/// A value bound to a query built at run time.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

/// `AND`ed conditions with their values.
#[derive(Debug, Default, Clone)]
pub(super) struct Conditions {
    sql: String,
    values: Vec<Value>,
}

impl Conditions {
    /// `column operator value`, when there is a value.
    pub(super) fn compare(&mut self, column: &str, operator: &str, value: Option<Value>) -> &mut Self {
        if let Some(value) = value {
            self.values.push(value);
            let _ = write!(self.sql, " AND {column} {operator} ${}", self.values.len());
        }
        self
    }

    /// `template` with `{}` standing for the placeholders of `values` (`status IN ({})`), when
    /// there are any: an empty list filters nothing.
    pub(super) fn any_of(&mut self, template: &str, values: impl IntoIterator<Item = Value>) -> &mut Self {
        let first = self.values.len() + 1;
        self.values.extend(values);
        if self.values.len() >= first {
            let list = (first..=self.values.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let _ = write!(self.sql, " AND {}", template.replace("{}", &list));
        }
        self
    }

    /// A condition between two values: `(a < $x OR (a = $x AND b < $y))`, the rows after a
    /// cursor in `a, b` order (`operator` `<` or `>`).
    pub(super) fn after(&mut self, (a, b): (&str, &str), operator: &str, (x, y): (Value, Value)) -> &mut Self {
        self.values.push(x);
        let xi = self.values.len();
        self.values.push(y);
        let yi = xi + 1;
        let _ = write!(self.sql, " AND ({a} {operator} ${xi} OR ({a} = ${xi} AND {b} {operator} ${yi}))");
        self
    }

    /// The conditions, each starting with ` AND `.
    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    /// The next placeholder's number.
    pub(super) fn next(&self) -> usize {
        self.values.len() + 1
    }

    /// Binds the values to `sql` (written with `sql()` and numbers from `next()`), then `extra`.
    pub(super) fn bind<'q>(&self, sql: &'q str, extra: &[i64]) -> Query<'q, Any, AnyArguments<'q>> {
        let query = self.values.iter().fold(sqlx::query(sql), |query, value| match value {
            Value::Text(s) => query.bind(s.clone()),
            Value::Int(n) => query.bind(*n),
        });
        extra.iter().fold(query, |query, n| query.bind(*n))
    }

    pub(super) async fn fetch_all(&self, pool: &AnyPool, sql: &str, extra: &[i64]) -> Result<Vec<AnyRow>> {
        Ok(self.bind(sql, extra).fetch_all(pool).await?)
    }

    /// How many rows of `table` meet these conditions.
    pub(super) async fn count(&self, pool: &AnyPool, table: &str) -> Result<i64> {
        use sqlx::Row;
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE 1 = 1{}", self.sql);
        let row = self.bind(&sql, &[]).fetch_one(pool).await?;
        Ok(row.try_get("n")?)
    }
}
