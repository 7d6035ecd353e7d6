//! Passkey providers' names and icons by AAGUID, as Authsignal returns them
//! in a credential's `aaguidMapping` (and its `name`).
//!
//! The list is the community-maintained `aaguid.json` of
//! passkeydeveloper/passkey-authenticator-aaguids, shipped as a static asset
//! (`www/__actiongate/aaguid.json`, updated by `scripts/update-aaguids.sh`)
//! so that it costs the worker's upload nothing. The worker reads it through
//! the `ASSETS` binding the first time an isolate lists a passkey, and keeps
//! it for the isolate's life. Without it (a missing binding, a bad file),
//! credentials are listed without a mapping, never refused, and the list is
//! not asked for again in that isolate.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value};
use worker::Env;

/// Where the list is among the static assets.
const PATH: &str = "/__actiongate/aaguid.json";

thread_local! {
    static LIST: RefCell<Option<Rc<Map<String, Value>>>> = const { RefCell::new(None) };
}

async fn list(env: &Env) -> Option<Rc<Map<String, Value>>> {
    if let Some(l) = LIST.with_borrow(Clone::clone) {
        return Some(l);
    }
    let assets = env.assets("ASSETS").ok()?;
    let request = crate::http::outgoing_request(
        &format!("https://assets.invalid{PATH}"),
        "GET",
        None,
        false,
        None,
    )
    .ok()?;
    let mut resp = assets.fetch_request(request).await.ok()?;
    // A missing or bad list stays so for the isolate's life: remember it
    // as empty rather than fetch it again for every listing.
    let map = if resp.status_code() == 200 {
        let text = resp.text().await.ok()?;
        match actiongate_core::encoding::from_json::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            _ => {
                worker::console_warn!("the AAGUID list is not a JSON object");
                Map::new()
            }
        }
    } else {
        worker::console_warn!(
            "the AAGUID list is not among the assets ({})",
            resp.status_code()
        );
        Map::new()
    };
    let list = Rc::new(map);
    LIST.with_borrow_mut(|l| *l = Some(list.clone()));
    Some(list)
}

/// Name the passkeys of a list of authenticators (`getAuthenticators`'s
/// answer): each credential whose AAGUID is known gets `aaguidMapping`
/// (`name`, `svgIconLight`, `svgIconDark`) and the provider's name as its
/// `name`.
pub async fn name_credentials(env: &Env, authenticators: &mut Value) {
    let Some(items) = authenticators.as_array_mut() else {
        return;
    };
    let mut known = None;
    for item in items {
        let Some(cred) = item
            .get_mut("webauthnCredential")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let Some(aaguid) = cred.get("aaguid").and_then(Value::as_str) else {
            continue;
        };
        if known.is_none() {
            known = Some(list(env).await);
        }
        let Some(entry) = known
            .as_ref()
            .and_then(Option::as_ref)
            .and_then(|l| l.get(&aaguid.to_ascii_lowercase()))
        else {
            continue;
        };
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            continue;
        };
        let name = name.to_owned();
        let icon = |key: &str| entry.get(key).cloned().unwrap_or(Value::Null);
        let mapping = serde_json::json!({
            "name": name,
            "svgIconLight": icon("icon_light"),
            "svgIconDark": icon("icon_dark"),
        });
        cred.insert("name".into(), name.into());
        cred.insert("aaguidMapping".into(), mapping);
    }
}
