//! Pages and refusals on app routes: plain words for browsers, JSON
//! for API clients; storage failures fail closed.

use actiongate_core::present::Lang;
use actiongate_core::proxy::{IdentityError, ProxyConfig};
use worker::{Headers, Request, Response};

use crate::http::{ApiError, html_response};
use crate::request::browser;

/// A page for a browser on an app route, in its language: what happened,
/// in plain words, and a way back to the app.
pub(crate) fn page(lang: Lang, status: u16, title: &str, text: &str) -> Result<Response, ApiError> {
    let esc = actiongate_core::present::escape;
    html_response(
        status,
        format!(
            "<!doctype html><html lang=\"{l}\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><link rel=\"stylesheet\" href=\"/__actiongate/challenge.css\"><body><main><h1>{t}</h1><p>{x}</p><p><a href=\"/\">{b}</a></p></main></body></html>",
            l = lang.tag(),
            t = esc(title),
            x = esc(text),
            b = esc(lang.back()),
        ),
    )
}

/// Storage or configuration could not be reached on an app route: refuse
/// (fail closed), as a page or JSON, saying nothing of the cause (logged).
/// Errors other than 503 pass unchanged.
///
/// # Errors
/// The 503 for API clients, or `e` itself.
pub fn fail_closed(html: Option<Lang>, e: ApiError) -> Result<Response, ApiError> {
    if e.status != 503 {
        return Err(e);
    }
    worker::console_error!(
        "app request refused, storage unavailable: {}",
        e.description
    );
    refuse(
        html,
        ApiError::new(
            503,
            "service_unavailable",
            "The request could not be checked; nothing was forwarded. Retry later.",
        ),
    )
}

/// An error as a page for browsers (in the customer's words, by its code:
/// [`actiongate_core::present::refusal_words`]), JSON otherwise.
pub(super) fn refuse(html: Option<Lang>, e: ApiError) -> Result<Response, ApiError> {
    if let Some(lang) = html {
        if e.status >= 500 {
            worker::console_error!("app request refused: {} {}", e.code, e.description);
        }
        let (title, text) = actiongate_core::present::refusal_words(e.code, lang);
        page(lang, e.status, title, text)
    } else {
        Err(e)
    }
}

pub(super) fn unauthenticated(
    req: &Request,
    cfg: &ProxyConfig,
    why: IdentityError,
) -> Result<Response, ApiError> {
    let reason = match why {
        IdentityError::Ambiguous(r) => {
            return refuse(
                browser(req),
                ApiError::new(
                    400,
                    "ambiguous_request",
                    format!("The request carries more than one session ({r}); send one."),
                ),
            );
        }
        IdentityError::Missing => "Sign in first.".to_owned(),
        IdentityError::Invalid(r) => format!("Sign in again: {r}."),
    };
    if browser(req).is_some()
        && let Some(login) = &cfg.identity.login_url
    {
        let headers = Headers::new();
        headers.set("Location", login).map_err(ApiError::internal)?;
        return Ok(Response::empty()
            .map_err(ApiError::internal)?
            .with_status(303)
            .with_headers(headers));
    }
    let mut e = ApiError::new(401, "unauthenticated", reason);
    e.headers.push(("WWW-Authenticate", "Bearer".to_owned()));
    refuse(browser(req), e)
}

/// A 303 to `location` (a browser then GETs it), never cached.
pub(super) fn see_other(location: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("Location", location)
        .map_err(ApiError::internal)?;
    headers
        .set("Cache-Control", "no-store")
        .map_err(ApiError::internal)?;
    Ok(Response::empty()
        .map_err(ApiError::internal)?
        .with_status(303)
        .with_headers(headers))
}
