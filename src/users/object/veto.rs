//! The app's `action.verify` webhook: asked before a challenge succeeds,
//! able to refuse it.

use super::*;

impl UserObject {
    /// What every verification does first: ask whether the app vetoes
    /// (before anything is checked: see [`Self::veto_wanted`]), open the
    /// store, and note where the verifying client is (a proof from another
    /// device or country makes nothing known there).
    pub(super) async fn verifying(
        &self,
        action_code: &str,
        key: &str,
        verifier: &Verifier,
    ) -> std::result::Result<(bool, Cached<'_, SqlUserStore>), ApiError> {
        let veto = self.veto_wanted(action_code).await?;
        let store = self.store()?;
        service::note_verifier(
            &store,
            action_code,
            key,
            verifier.device_id.as_deref(),
            verifier.country.as_deref(),
        )?;
        Ok((veto, store))
    }

    /// Whether the action asks the app before a challenge succeeds
    /// (`actionVerifyWebhook`). Read before the challenge is checked: once
    /// it is, nothing may be awaited until the app has answered.
    pub(super) async fn veto_wanted(
        &self,
        action_code: &str,
    ) -> std::result::Result<bool, ApiError> {
        Ok(config_store::load(&self.env, action_code)
            .await?
            .is_some_and(|p| p.config.input.action_verify_webhook))
    }

    /// The answer to a code that verified but was vetoed, if it was.
    pub(super) async fn vetoed_check(
        &self,
        store: &Cached<'_, SqlUserStore>,
        user_id: &str,
        check: &service::CodeCheck,
        wanted: bool,
    ) -> std::result::Result<Option<Response>, ApiError> {
        let service::CodeCheck::Verified { record, .. } = check else {
            return Ok(None);
        };
        match self.veto(store, user_id, record, wanted).await? {
            None => Ok(None),
            Some(v) => {
                let mut body = serde_json::json!({"isVerified": false, "failureReason": "VETOED"});
                if let (Some(reason), Some(o)) = (vetoed_reason(&v), body.as_object_mut()) {
                    o.insert("reason".into(), serde_json::json!(reason));
                }
                json_response(200, &body).map(Some)
            }
        }
    }

    /// The synchronous `action.verify` webhook: a challenge of an action
    /// that asks for it has just succeeded; the app says whether it stands.
    /// While the app is asked, the object takes no other request, so
    /// nothing (no retry with the token, no validate) sees the action
    /// succeeded before the answer. No answer (down, slow, not 2xx, no
    /// `ACTION_VERIFY_WEBHOOK_URL`) counts as a veto: it fails closed.
    /// Returns the action after a veto (`CHALLENGE_FAILED`), or `None`.
    pub(super) async fn veto(
        &self,
        store: &Cached<'_, SqlUserStore>,
        user_id: &str,
        record: &ActionRecord,
        wanted: bool,
    ) -> std::result::Result<Option<ActionRecord>, ApiError> {
        if !wanted || record.state != ActionState::ChallengeSucceeded {
            return Ok(None);
        }
        let url = settings::var(&self.env, "ACTION_VERIFY_WEBHOOK_URL")
            .trim()
            .to_owned();
        let verdict: std::result::Result<Verdict, String> = if url.is_empty() {
            Err("ACTION_VERIFY_WEBHOOK_URL is not set".to_owned())
        } else {
            let secret = settings::secret(&self.env, "API_SECRET_KEY")?;
            // Authsignal's fields (`action`, `verifiedAt`, `state`), and
            // ActionGate's (`actionCode`, `ruleIds`, `custom`) beside them.
            let data = serde_json::json!({
                "userId": user_id,
                "action": record.action_code,
                "idempotencyKey": record.idempotency_key,
                "verifiedAt": actiongate_core::time::to_rfc3339(record.state_updated_at),
                "state": record.state,
                "verificationMethod": record.verification_method,
                "actionCode": record.action_code,
                "ruleIds": record.rule_ids,
                "custom": record.request.custom,
            });
            let body = crate::delivery::webhook_envelope(
                &self.env,
                "action.verify",
                &uuid::Uuid::new_v4().to_string(),
                data,
            )
            .to_string();
            // The gate closes with this call, before anything else runs.
            self.state
                .block_concurrency_while(async move { Ok(ask_app(&url, &body, &secret).await) })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let reason = match verdict {
            Ok(v) if v.is_verified => return Ok(None),
            Ok(v) => v.reason,
            Err(e) => {
                worker::console_error!("action.verify: {e}");
                Some("the app could not confirm this request".to_owned())
            }
        };
        let vetoed = service::update_state(
            store,
            &record.action_code,
            &record.idempotency_key,
            ActionState::ChallengeFailed,
            actiongate_core::actions::model::Cause::Vetoed { reason },
            now_ms(),
        )?;
        Ok(Some(vetoed))
    }
}

/// The app's reason for a veto, from the action's audit trail.
pub(super) fn vetoed_reason(record: &ActionRecord) -> Option<String> {
    match record.history.last().map(|h| &h.cause) {
        Some(actiongate_core::actions::model::Cause::Vetoed { reason }) => reason.clone(),
        _ => None,
    }
}

/// The error a passkey route answers when the app vetoed the sign-in.
pub(super) fn vetoed_error(record: &ActionRecord) -> ApiError {
    ApiError::new(
        403,
        "challenge_vetoed",
        match vetoed_reason(record) {
            Some(r) => format!("The app refused this request: {r}"),
            None => "The app refused this request.".to_owned(),
        },
    )
}

/// The app's answer to `action.verify`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Whether the completed challenge stands.
    pub is_verified: bool,
    /// Why not, shown to the user and kept in the audit trail.
    #[serde(default)]
    pub reason: Option<String>,
}

/// How long the app has to answer `action.verify`.
const ASK_TIMEOUT_MS: u64 = 5_000;

/// POST the signed `action.verify` event and read the app's verdict. As
/// Authsignal's contract has it, a 2xx answer lets the challenge stand and
/// anything else blocks it; a 2xx answer whose JSON says `isVerified` and
/// anything but `true` blocks it too (ActionGate's way to give a reason).
/// Stricter, for safety: a redirect, or a 2xx whose body is neither empty
/// nor JSON (a login page, a catch-all route), is no answer and blocks.
///
/// # Errors
/// Why there is no verdict (unreachable, slow, not 2xx).
pub async fn ask_app(url: &str, body: &str, secret: &str) -> Result<Verdict, String> {
    use futures_util::future::{Either, select};
    let headers = worker::Headers::new();
    let signed = actiongate_core::webhook::signature_header(body, secret, crate::clock::now_secs());
    for (k, v) in [
        ("Content-Type", "application/json"),
        ("X-Signature-V2", signed.as_str()),
    ] {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    // A redirect is no answer (an endpoint behind a login page would
    // otherwise answer with the login page's 200).
    let request =
        crate::http::outgoing_request(url, "POST", Some(&headers), true, Some(&body.into()))
            .map_err(|e| e.to_string())?;
    let fetch = worker::Fetch::Request(request);
    let send = Box::pin(fetch.send());
    let timeout = Box::pin(worker::Delay::from(std::time::Duration::from_millis(
        ASK_TIMEOUT_MS,
    )));
    let mut resp = match select(send, timeout).await {
        Either::Left((r, _)) => r.map_err(|e| e.to_string())?,
        Either::Right(_) => return Err(format!("no answer within {ASK_TIMEOUT_MS} ms")),
    };
    if !(200..300).contains(&resp.status_code()) {
        return Err(format!("the app answered {}", resp.status_code()));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    // Nothing, or JSON: the app answered. Anything else (an HTML page, a
    // catch-all route's text) is not an answer to this: fail closed.
    let answer: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        actiongate_core::encoding::from_json(&text)
            .map_err(|_| "the app answered 2xx with something that is not JSON".to_owned())?
    };
    Ok(match answer.get("isVerified") {
        None => Verdict {
            is_verified: true,
            reason: None,
        },
        Some(v) => Verdict {
            is_verified: v == &serde_json::Value::Bool(true),
            reason: answer
                .get("reason")
                .and_then(serde_json::Value::as_str)
                .map(|r| r.chars().take(500).collect()),
        },
    })
}
