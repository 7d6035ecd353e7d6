//! Rows of a Durable Object's SQL, read by position.
//!
//! The runtime hands a statement's rows over as arrays (`raw()`), and each
//! row type reads its columns in the order its `SELECT` names them. This
//! replaces `to_array::<T>()`, which turned every row into a JavaScript
//! object and deserialised it with `serde_wasm_bindgen`: one property
//! lookup across the JS–wasm boundary per column, and one more
//! deserializer per row type in the upload.

use worker::{SqlCursor, SqlStorage, SqlStorageValue};

/// One row's values, taken in order.
pub(crate) struct Row {
    values: std::vec::IntoIter<SqlStorageValue>,
    column: usize,
}

/// A column that is not what the row type reads there.
fn mismatch(column: usize, want: &str) -> worker::Error {
    worker::Error::RustError(format!("column {column} is not {want}"))
}

impl Row {
    fn take(&mut self) -> (usize, Option<SqlStorageValue>) {
        self.column += 1;
        (self.column, self.values.next())
    }

    /// The next column as text.
    ///
    /// # Errors
    /// When it is anything else (or missing).
    pub(crate) fn text(&mut self) -> worker::Result<String> {
        match self.take() {
            (_, Some(SqlStorageValue::String(s))) => Ok(s),
            (c, _) => Err(mismatch(c, "text")),
        }
    }

    /// The next column as text or NULL.
    ///
    /// # Errors
    /// When it is anything else (or missing).
    pub(crate) fn opt_text(&mut self) -> worker::Result<Option<String>> {
        match self.take() {
            (_, Some(SqlStorageValue::String(s))) => Ok(Some(s)),
            (_, Some(SqlStorageValue::Null)) => Ok(None),
            (c, _) => Err(mismatch(c, "text or NULL")),
        }
    }

    /// The next column as a number (SQLite's integers and reals alike).
    ///
    /// # Errors
    /// When it is anything else (or missing).
    pub(crate) fn number(&mut self) -> worker::Result<f64> {
        match self.opt_number()? {
            Some(n) => Ok(n),
            None => Err(mismatch(self.column, "a number")),
        }
    }

    /// The next column as a number or NULL.
    ///
    /// # Errors
    /// When it is anything else (or missing).
    pub(crate) fn opt_number(&mut self) -> worker::Result<Option<f64>> {
        match self.take() {
            // Integers beyond 2^53 come as floats already; none are stored.
            #[allow(clippy::cast_precision_loss)]
            (_, Some(SqlStorageValue::Integer(i))) => Ok(Some(i as f64)),
            (_, Some(SqlStorageValue::Float(f))) => Ok(Some(f)),
            (_, Some(SqlStorageValue::Null)) => Ok(None),
            (c, _) => Err(mismatch(c, "a number or NULL")),
        }
    }
}

/// A type a row reads into.
pub(crate) trait FromRow: Sized {
    /// Read the columns in the order the statement selects them.
    ///
    /// # Errors
    /// When a column is not what is read there.
    fn from_row(row: &mut Row) -> worker::Result<Self>;
}

/// Every remaining row of a cursor.
///
/// # Errors
/// When the runtime refuses, or a row is not a `T`.
pub(crate) fn rows<T: FromRow>(cursor: &SqlCursor) -> worker::Result<Vec<T>> {
    cursor
        .raw()
        .map(|values| {
            T::from_row(&mut Row {
                values: values?.into_iter(),
                column: 0,
            })
        })
        .collect()
}

/// A statement's rows, read as `T`: `exec` and [`rows`] in one call.
pub(crate) trait Select {
    /// Run `query` with `bindings` and read every row it returns.
    ///
    /// # Errors
    /// When the runtime refuses the statement, or a row is not a `T`.
    fn select<T: FromRow>(
        &self,
        query: &str,
        bindings: impl Into<Option<Vec<SqlStorageValue>>>,
    ) -> worker::Result<Vec<T>>;
}

impl Select for SqlStorage {
    fn select<T: FromRow>(
        &self,
        query: &str,
        bindings: impl Into<Option<Vec<SqlStorageValue>>>,
    ) -> worker::Result<Vec<T>> {
        rows(&self.exec(query, bindings)?)
    }
}

/// A row of one text column (`data`, a JSON document).
pub(crate) struct Text(pub String);

impl FromRow for Text {
    fn from_row(row: &mut Row) -> worker::Result<Self> {
        row.text().map(Text)
    }
}

/// A row of one number or NULL.
pub(crate) struct Number(pub Option<f64>);

impl FromRow for Number {
    fn from_row(row: &mut Row) -> worker::Result<Self> {
        row.opt_number().map(Number)
    }
}
