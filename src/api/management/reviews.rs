//! The review queue in the management API: `GET reviews` (oldest first,
//! by page) and `POST reviews/{userId}/{actionCode}/{idempotencyKey}`, a
//! reviewer's decision.

use actiongate_core::error::parse_json;
use actiongate_core::ids::{check_action_code, check_user_id};
use serde::Deserialize;
use worker::{Env, Request, Response};

use crate::http::{ApiError, read_json_body};
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

/// `GET /v1/management/reviews?actionCode=&limit=&cursor=`.
pub(super) async fn list(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let mut action_code = None;
    let mut limit = crate::review_queue::MAX_PAGE;
    let mut after = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "actionCode" => {
                check_action_code(&v, "actionCode")?;
                action_code = Some(v.into_owned());
            }
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=crate::review_queue::MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit: a number from 1 to {}",
                            crate::review_queue::MAX_PAGE
                        ))
                    })?;
            }
            "cursor" => after = Some(crate::review_queue::Cursor::decode(&v)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other}: unknown query parameter (actionCode, limit, cursor)"
                )));
            }
        }
    }
    crate::review_queue::call(
        env,
        &crate::review_queue::QueueCommand::List {
            action_code,
            limit,
            after,
        },
    )
    .await
}

/// A reviewer's decision on an action in review.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReviewDecision {
    decision: Decision,
    reviewer: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Decision {
    Approve,
    Reject,
}

/// Longest reviewer name and note accepted.
const MAX_REVIEWER_LEN: usize = 200;
const MAX_NOTE_LEN: usize = 2_000;

/// `POST /v1/management/reviews/{userId}/{actionCode}/{idempotencyKey}`
/// `{decision: "APPROVE" | "REJECT", reviewer, note?}`: the action becomes
/// `REVIEW_SUCCEEDED` or `REVIEW_FAILED`, with who, when and why in its
/// audit trail.
pub(super) async fn decide(
    req: &mut Request,
    env: &Env,
    user_id: &str,
    code: &str,
    key: &str,
) -> Result<Response, ApiError> {
    check_user_id(user_id)?;
    check_action_code(code, "actionCode")?;
    actiongate_core::ids::check_idempotency_key(key)?;
    let body = read_json_body(req).await?;
    let d: ReviewDecision = parse_json(&body)?;
    let reviewer = d.reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > MAX_REVIEWER_LEN {
        return Err(ApiError::bad_request(format!(
            "reviewer: who decides, 1 to {MAX_REVIEWER_LEN} bytes"
        )));
    }
    if d.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_LEN) {
        return Err(ApiError::bad_request(format!(
            "note: at most {MAX_NOTE_LEN} bytes"
        )));
    }
    let cmd = UserCommand::Review {
        action_code: code.to_owned(),
        idempotency_key: key.to_owned(),
        approve: d.decision == Decision::Approve,
        reviewer: reviewer.to_owned(),
        note: d.note.filter(|n| !n.trim().is_empty()),
    };
    call_user(env, user_id, &cmd).await
}
