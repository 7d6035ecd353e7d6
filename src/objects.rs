//! What the worker's own single-purpose Durable Objects (the review queue,
//! the analytics shards, the configuration history) share: a JSON command
//! sent to the object of a name, and the object answering one.

use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Request, Response};

use crate::http::ApiError;
use crate::sql_rows::FromRow;

/// Send `cmd` (JSON) to the object named `name` of the namespace `binding`.
///
/// # Errors
/// 503 when the object cannot be reached.
pub async fn send<C: Serialize>(
    env: &Env,
    binding: &str,
    name: &str,
    cmd: &C,
) -> Result<Response, ApiError> {
    let body = serde_json::to_string(cmd).map_err(ApiError::internal)?;
    let ns = env.durable_object(binding).map_err(ApiError::unavailable)?;
    let stub = ns
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(ApiError::unavailable)?;
    let request =
        crate::http::outgoing_request("https://object/", "POST", None, false, Some(&body.into()))
            .map_err(ApiError::internal)?;
    stub.fetch_with_request(request)
        .await
        .map_err(ApiError::unavailable)
}

/// An object's answer to a request carrying a JSON command: `handle`'s
/// response, or its error as the API's error body (`what` names the kind
/// of command in the log of one that cannot be read).
///
/// # Errors
/// Only if the runtime cannot build a response.
pub async fn answer<C: DeserializeOwned>(
    mut req: Request,
    what: &str,
    handle: impl FnOnce(C) -> Result<Response, ApiError>,
) -> worker::Result<Response> {
    let result = match req.bytes().await {
        Ok(body) => match serde_json::from_slice::<C>(&body) {
            Ok(cmd) => handle(cmd),
            Err(e) => Err(ApiError::internal(format!("bad {what} command: {e}"))),
        },
        Err(e) => Err(ApiError::internal(format!("reading a {what} command: {e}"))),
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => e.into_response(),
    }
}

/// An object's SQLite, with its tables made once per instance.
pub struct Tables<'a> {
    /// The object's state.
    pub state: &'a worker::State,
    /// Whether this instance made its tables already.
    pub ready: &'a std::cell::Cell<bool>,
    /// Its `CREATE … IF NOT EXISTS` statements.
    pub schema: &'static str,
}

impl Tables<'_> {
    /// Run a statement that answers no rows; the number of rows it wrote.
    ///
    /// # Errors
    /// 503 when SQLite refuses.
    pub fn run(&self, q: &str, b: Vec<worker::SqlStorageValue>) -> Result<usize, ApiError> {
        crate::http::create_tables_once(self.state, self.ready, self.schema)?;
        let cursor = self
            .state
            .storage()
            .sql()
            .exec(q, b)
            .map_err(ApiError::unavailable)?;
        let _ = cursor.raw().count();
        Ok(cursor.rows_written())
    }

    /// The rows a query answers.
    ///
    /// # Errors
    /// 503 when SQLite refuses or a row is not a `T`.
    pub fn rows<T: FromRow>(
        &self,
        q: &str,
        b: Vec<worker::SqlStorageValue>,
    ) -> Result<Vec<T>, ApiError> {
        crate::http::create_tables_once(self.state, self.ready, self.schema)?;
        self.state
            .storage()
            .sql()
            .exec(q, b)
            .and_then(|c| crate::sql_rows::rows(&c))
            .map_err(ApiError::unavailable)
    }
}
