//! A write to the store: the statements of one transaction, kept as data (SQL and the values of
//! its `$n` placeholders) so that one description runs on either database. PostgreSQL runs it
//! statement by statement in a transaction of the pool (here); SQLite hands the whole of it to
//! its writing thread (`sqlite_writer`) in one hop, where the statements run back to back.
//!
//! A write may depend on a compare-and-set: a statement added with [`Write::only_if`] must
//! change exactly one row, or the write stops there, is undone, and reports that it did not
//! apply.

use std::borrow::Cow;
use std::ops::Range;

use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool};

use super::Result;

/// What a statement's texts start in: a payment attempt's row, routing decision and all, the
/// largest a payment writes, fits without growing it.
const TEXT_CAPACITY: usize = 1024;

/// A placeholder's value as a database takes it: a text is borrowed from its statement. A null
/// keeps its type: PostgreSQL refuses a text null for a number column.
#[derive(Debug, PartialEq)]
pub(super) enum Bound<'s> {
    Text(Option<&'s str>),
    Int(Option<i64>),
}

/// A value as a statement keeps it: a text is a span of the statement's one buffer, so that
/// binding it allocates nothing, and the writing thread frees one buffer, not one string each.
#[derive(Debug)]
pub(super) enum Value {
    Text(Option<Range<usize>>),
    Int(Option<i64>),
}

/// What a placeholder can be given.
pub(super) trait Bind {
    /// The null of this type: a `None` binds it.
    const NULL: Value;
    /// The value, with its text written at the end of `text`.
    fn bind(self, text: &mut String) -> Value;
}

/// The value of a text that `write` adds at the end of `text`.
fn text_by(text: &mut String, write: impl FnOnce(&mut String)) -> Value {
    let start = text.len();
    write(text);
    Value::Text(Some(start..text.len()))
}

impl Bind for &str {
    const NULL: Value = Value::Text(None);
    fn bind(self, text: &mut String) -> Value {
        text_by(text, |text| text.push_str(self))
    }
}

impl Bind for &String {
    const NULL: Value = Value::Text(None);
    fn bind(self, text: &mut String) -> Value {
        self.as_str().bind(text)
    }
}

impl Bind for &Option<String> {
    const NULL: Value = Value::Text(None);
    fn bind(self, text: &mut String) -> Value {
        self.as_deref().bind(text)
    }
}

impl Bind for i64 {
    const NULL: Value = Value::Int(None);
    fn bind(self, _: &mut String) -> Value {
        Value::Int(Some(self))
    }
}

impl<B: Bind> Bind for Option<B> {
    const NULL: Value = B::NULL;
    fn bind(self, text: &mut String) -> Value {
        self.map_or(B::NULL, |value| value.bind(text))
    }
}

/// A document, stored as its JSON text, written straight into the statement's buffer.
pub(super) struct Json<'a, T>(pub(super) &'a T);

impl<T: Serialize> Bind for Json<'_, T> {
    const NULL: Value = Value::Text(None);
    fn bind(self, text: &mut String) -> Value {
        text_by(text, |text| {
            // SAFETY: serde_json writes nothing but UTF-8 (its own `to_string` rests on this), so
            // the buffer stays a string.
            let bytes = unsafe { text.as_mut_vec() };
            serde_json::to_writer(bytes, self.0).expect("stored documents are plain data and always serialize");
        })
    }
}

/// One statement of a write, with the values of its placeholders in order (`$1` first).
#[derive(Debug)]
pub(super) struct Statement {
    /// Most statements' text is fixed, and made once.
    pub(super) sql: Cow<'static, str>,
    values: Vec<Value>,
    /// The texts of `values`, back to back.
    text: String,
    /// Must change exactly one row for the write to go on.
    pub(super) guard: bool,
}

impl Statement {
    pub(super) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        let sql = sql.into();
        // Summed in 32 bits: the compiler's vector loop then takes twice the bytes a step that
        // `count`'s 64-bit sums do.
        let placeholders = sql.bytes().fold(0u32, |n, b| n + u32::from(b == b'$')) as usize;
        Self { values: Vec::with_capacity(placeholders), text: String::with_capacity(TEXT_CAPACITY), sql, guard: false }
    }

    /// Gives the next placeholder its value.
    pub(super) fn bind(mut self, value: impl Bind) -> Self {
        let value = value.bind(&mut self.text);
        self.values.push(value);
        self
    }

    /// How many values are bound.
    pub(super) fn len(&self) -> usize {
        self.values.len()
    }

    /// The value of placeholder `$n` is `value(n - 1)`.
    pub(super) fn value(&self, index: usize) -> Option<Bound<'_>> {
        self.values.get(index).map(|value| self.bound(value))
    }

    fn bound(&self, value: &Value) -> Bound<'_> {
        match value {
            Value::Text(span) => Bound::Text(span.clone().map(|span| &self.text[span])),
            Value::Int(n) => Bound::Int(*n),
        }
    }

    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.values.iter().fold(sqlx::query(&self.sql), |query, value| match self.bound(value) {
            Bound::Text(text) => query.bind(text),
            Bound::Int(n) => query.bind(n),
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
        let mut write = Self::new();
        write.then(statement);
        write
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_reads_back_as_bound_from_the_one_buffer() {
        let document = serde_json::json!({"name": "Zoë \"Z\" Ünal", "lines": ["a\nb", "\u{1F4B3}"]});
        let absent: Option<String> = None;
        let statement = Statement::new("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind("pay_1")
            .bind(Json(&document))
            .bind(&absent)
            .bind(None::<i64>)
            .bind(6540)
            .bind(Some(Json(&[1, 2])))
            .bind(&"€".to_string());
        let text = serde_json::to_string(&document).unwrap();
        assert_eq!(
            (0..=statement.len()).map(|i| statement.value(i)).collect::<Vec<_>>(),
            [
                Some(Bound::Text(Some("pay_1"))),
                Some(Bound::Text(Some(text.as_str()))),
                Some(Bound::Text(None)),
                Some(Bound::Int(None)),
                Some(Bound::Int(Some(6540))),
                Some(Bound::Text(Some("[1,2]"))),
                Some(Bound::Text(Some("€"))),
                None,
            ]
        );
    }
}
