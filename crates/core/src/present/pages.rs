//! The words of the worker's own pages for customers (the edge proxy's
//! outcome and refusal pages, the magic link's page), in each language the
//! hosted challenge page speaks (`www/__actiongate/i18n.js`): English, and
//! German as the proof that a language is a table, not code.

/// A language of the worker's own pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// The language of a locale tag (`de`, `de-AT`, `de_DE`), if there is
    /// a page in it.
    pub fn of_locale(tag: &str) -> Option<Lang> {
        let base = tag.trim().split(['-', '_']).next().unwrap_or("");
        if base.eq_ignore_ascii_case("de") {
            Some(Lang::De)
        } else if base.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The page's language: the action's locale when it is one we have
    /// (the app said which language the customer uses), else the first
    /// of the browser's `Accept-Language` we have, by preference, else
    /// English.
    pub fn choose(action_locale: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = action_locale.and_then(Lang::of_locale) {
            return lang;
        }
        let mut offered: Vec<(f32, Lang)> = accept_language
            .unwrap_or("")
            .split(',')
            .filter_map(|part| {
                let mut bits = part.split(';');
                let lang = Lang::of_locale(bits.next()?)?;
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        // Stable: among equal weights the browser's order stands.
        offered.sort_by(|a, b| b.0.total_cmp(&a.0));
        offered.first().map_or(Lang::En, |(_, l)| *l)
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// "Back to the app".
    pub fn back(self) -> &'static str {
        match self {
            Lang::En => "Back to the app",
            Lang::De => "Zurück zur App",
        }
    }

    /// "Reference:", before a request's short reference.
    pub fn reference(self) -> &'static str {
        match self {
            Lang::En => "Reference:",
            Lang::De => "Referenz:",
        }
    }
}

/// What a customer reads when the edge proxy refuses a browser's request
/// (never the developer text of the API error): a title and a sentence, by
/// the error's code. Every page also links back to the app.
pub fn refusal_words(code: &str, lang: Lang) -> (&'static str, &'static str) {
    match (code, lang) {
        ("token_already_used", Lang::En) => (
            "Already done",
            "This request was already completed. Go back to the app to see where things stand.",
        ),
        ("token_already_used", Lang::De) => (
            "Bereits erledigt",
            "Dieser Vorgang wurde bereits abgeschlossen. Kehren Sie zur App zurück, um den aktuellen Stand zu sehen.",
        ),
        ("challenge_not_completed", Lang::En) => (
            "Not verified yet",
            "This request has not been verified yet. Go back to the app and try again.",
        ),
        ("challenge_not_completed", Lang::De) => (
            "Noch nicht bestätigt",
            "Dieser Vorgang wurde noch nicht bestätigt. Kehren Sie zur App zurück und versuchen Sie es erneut.",
        ),
        ("invalid_token" | "expired_token" | "request_mismatch", Lang::En) => (
            "This link no longer works",
            "The link has expired or belongs to another request. Go back to the app and start again.",
        ),
        ("invalid_token" | "expired_token" | "request_mismatch", Lang::De) => (
            "Dieser Link funktioniert nicht mehr",
            "Der Link ist abgelaufen oder gehört zu einem anderen Vorgang. Kehren Sie zur App zurück und beginnen Sie von vorn.",
        ),
        ("unauthenticated", Lang::En) => (
            "Please sign in",
            "Your session has ended. Sign in to the app again, then repeat what you were doing.",
        ),
        ("unauthenticated", Lang::De) => (
            "Bitte melden Sie sich an",
            "Ihre Sitzung ist abgelaufen. Melden Sie sich erneut in der App an und wiederholen Sie dann den Vorgang.",
        ),
        ("service_unavailable" | "origin_unreachable", Lang::En) => (
            "Please try again shortly",
            "We could not complete this request just now, and nothing was carried out. Try again in a few minutes.",
        ),
        ("service_unavailable" | "origin_unreachable", Lang::De) => (
            "Bitte versuchen Sie es gleich noch einmal",
            "Wir konnten diesen Vorgang gerade nicht abschließen, und es wurde nichts ausgeführt. Versuchen Sie es in ein paar Minuten erneut.",
        ),
        ("action_blocked", Lang::En) => (
            "Not allowed",
            "This request is not allowed, and nothing was carried out.",
        ),
        ("action_blocked", Lang::De) => (
            "Nicht erlaubt",
            "Dieser Vorgang ist nicht erlaubt, und es wurde nichts ausgeführt.",
        ),
        ("payload_too_large", Lang::En) => (
            "Request too large",
            "This request is larger than we accept. Go back to the app and try again with less.",
        ),
        ("payload_too_large", Lang::De) => (
            "Anfrage zu groß",
            "Diese Anfrage ist größer, als wir annehmen. Kehren Sie zur App zurück und versuchen Sie es mit weniger Daten.",
        ),
        (_, Lang::En) => (
            "Request not accepted",
            "We could not accept this request as it was sent, and nothing was carried out. Go back to the app and try again.",
        ),
        (_, Lang::De) => (
            "Anfrage nicht angenommen",
            "Wir konnten diese Anfrage so nicht annehmen, und es wurde nichts ausgeführt. Kehren Sie zur App zurück und versuchen Sie es erneut.",
        ),
    }
}

/// Where a request the edge proxy answered with a page stands, by its
/// action's state: a title and a sentence. `replay`: an approval carries
/// the held request out by itself.
pub fn outcome_words(state: &str, replay: bool, lang: Lang) -> (&'static str, &'static str) {
    match (state, lang) {
        ("REVIEW_REQUIRED", Lang::En) if replay => (
            "Under review",
            "This request is held for a check. If it is approved, it will be carried out without anything more from you.",
        ),
        ("REVIEW_REQUIRED", Lang::De) if replay => (
            "Wird geprüft",
            "Dieser Vorgang wird zur Prüfung zurückgehalten. Wird er freigegeben, wird er ohne weiteres Zutun von Ihnen ausgeführt.",
        ),
        ("REVIEW_REQUIRED", Lang::En) => (
            "Under review",
            "This request is held for a check. You will hear from us once it has been looked at.",
        ),
        ("REVIEW_REQUIRED", Lang::De) => (
            "Wird geprüft",
            "Dieser Vorgang wird zur Prüfung zurückgehalten. Sie hören von uns, sobald er geprüft wurde.",
        ),
        ("REVIEW_SUCCEEDED", Lang::En) => ("Approved", "This request was checked and approved."),
        ("REVIEW_SUCCEEDED", Lang::De) => (
            "Freigegeben",
            "Dieser Vorgang wurde geprüft und freigegeben.",
        ),
        ("CHALLENGE_FAILED", Lang::En) => (
            "Not completed",
            "This request was cancelled or could not be verified, so nothing was carried out. Go back to the app to try again.",
        ),
        ("CHALLENGE_FAILED", Lang::De) => (
            "Nicht abgeschlossen",
            "Dieser Vorgang wurde abgebrochen oder konnte nicht bestätigt werden, daher wurde nichts ausgeführt. Kehren Sie zur App zurück, um es erneut zu versuchen.",
        ),
        ("REVIEW_FAILED", Lang::En) => (
            "Not approved",
            "This request was checked and not approved. Nothing was carried out.",
        ),
        ("REVIEW_FAILED", Lang::De) => (
            "Nicht freigegeben",
            "Dieser Vorgang wurde geprüft und nicht freigegeben. Es wurde nichts ausgeführt.",
        ),
        ("BLOCK", Lang::En) => (
            "Not allowed",
            "This request is not allowed, and nothing was carried out. If you think this is wrong, contact us and quote the reference below.",
        ),
        ("BLOCK", Lang::De) => (
            "Nicht erlaubt",
            "Dieser Vorgang ist nicht erlaubt, und es wurde nichts ausgeführt. Wenn Sie das für einen Fehler halten, wenden Sie sich an uns und nennen Sie die unten stehende Referenz.",
        ),
        (_, Lang::En) => (
            "Request received",
            "Go back to the app to see where this request stands.",
        ),
        (_, Lang::De) => (
            "Anfrage erhalten",
            "Kehren Sie zur App zurück, um zu sehen, wie es um diesen Vorgang steht.",
        ),
    }
}

/// A moment of the magic link's page (the link in the email).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPage {
    /// Opened (GET): a button confirms, so that mail scanners that fetch
    /// links complete nothing.
    Confirm,
    /// The link lacks its token or secret, or the confirmation was unreadable.
    Incomplete,
    /// Not valid or expired before confirming.
    Invalid,
    /// Confirmed: the challenge is complete.
    Verified,
    /// Not valid, already used or expired, at confirming.
    Refused,
}

/// The magic link's page: a title, a sentence and (for
/// [`LinkPage::Confirm`]) the button's label.
pub fn link_words(page: LinkPage, lang: Lang) -> (&'static str, &'static str, &'static str) {
    match (page, lang) {
        (LinkPage::Confirm, Lang::En) => (
            "Confirm it's you",
            "Continue to confirm the request you made.",
            "Confirm",
        ),
        (LinkPage::Confirm, Lang::De) => (
            "Bestätigen Sie, dass Sie es sind",
            "Fahren Sie fort, um den Vorgang zu bestätigen, den Sie angefordert haben.",
            "Bestätigen",
        ),
        (LinkPage::Incomplete, Lang::En) => ("Link not valid", "This link is incomplete.", ""),
        (LinkPage::Incomplete, Lang::De) => ("Link ungültig", "Dieser Link ist unvollständig.", ""),
        (LinkPage::Invalid, Lang::En) => (
            "Link not valid",
            "This link is not valid or has expired. Ask for a new one.",
            "",
        ),
        (LinkPage::Invalid, Lang::De) => (
            "Link ungültig",
            "Dieser Link ist ungültig oder abgelaufen. Fordern Sie einen neuen an.",
            "",
        ),
        (LinkPage::Verified, Lang::En) => (
            "Verified",
            "Thanks, you are verified. Go back to the page where you asked for the link.",
            "",
        ),
        (LinkPage::Verified, Lang::De) => (
            "Bestätigt",
            "Danke, Sie sind bestätigt. Kehren Sie zu der Seite zurück, auf der Sie den Link angefordert haben.",
            "",
        ),
        (LinkPage::Refused, Lang::En) => (
            "Link not valid",
            "This link is not valid, was already used, or has expired. Ask for a new one.",
            "",
        ),
        (LinkPage::Refused, Lang::De) => (
            "Link ungültig",
            "Dieser Link ist ungültig, wurde bereits verwendet oder ist abgelaufen. Fordern Sie einen neuen an.",
            "",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_action_locale_first_then_the_browser_then_english() {
        assert_eq!(Lang::choose(Some("de-AT"), Some("en")), Lang::De);
        assert_eq!(
            Lang::choose(Some("fr"), Some("de-DE,de;q=0.9,en;q=0.8")),
            Lang::De
        );
        assert_eq!(
            Lang::choose(None, Some("fr-FR, en;q=0.5, de;q=0.7")),
            Lang::De
        );
        assert_eq!(Lang::choose(None, Some("de;q=0, en")), Lang::En);
        assert_eq!(Lang::choose(None, Some("fr, it")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de;q=abc")), Lang::En);
        assert_eq!(Lang::choose(None, None), Lang::En);
        assert_eq!(Lang::choose(Some("en-NZ"), Some("de")), Lang::En);
    }

    /// Every code a refusal page is drawn for, and one it does not know.
    const CODES: [&str; 13] = [
        "token_already_used",
        "challenge_not_completed",
        "invalid_token",
        "expired_token",
        "request_mismatch",
        "unauthenticated",
        "service_unavailable",
        "origin_unreachable",
        "payload_too_large",
        "action_blocked",
        "ambiguous_request",
        "method_not_allowed",
        "something_new",
    ];

    #[test]
    fn refusals_speak_to_customers() {
        for code in CODES {
            for lang in [Lang::En, Lang::De] {
                let (title, text) = refusal_words(code, lang);
                assert!(!title.is_empty() && text.ends_with('.'), "{code}");
                // No developer words: codes, headers, tokens.
                for word in ["_", "X-ActionGate", "header", "JSON"] {
                    assert!(
                        !text.contains(word) && !title.contains(word),
                        "{code}: {word}"
                    );
                }
            }
        }
        assert_eq!(
            refusal_words("token_already_used", Lang::En).0,
            "Already done"
        );
    }

    #[test]
    fn every_page_has_its_words_in_every_language() {
        let codes = CODES;
        let states = [
            "REVIEW_REQUIRED",
            "REVIEW_SUCCEEDED",
            "CHALLENGE_FAILED",
            "REVIEW_FAILED",
            "BLOCK",
            "ALLOW",
        ];
        for code in codes {
            let (en, de) = (refusal_words(code, Lang::En), refusal_words(code, Lang::De));
            assert_ne!(en.0, de.0, "{code}");
            assert_ne!(en.1, de.1, "{code}");
        }
        for state in states {
            for replay in [false, true] {
                let en = outcome_words(state, replay, Lang::En);
                let de = outcome_words(state, replay, Lang::De);
                assert_ne!(en.0, de.0, "{state}");
                assert_ne!(en.1, de.1, "{state}");
            }
        }
        for page in [
            LinkPage::Confirm,
            LinkPage::Incomplete,
            LinkPage::Invalid,
            LinkPage::Verified,
            LinkPage::Refused,
        ] {
            let (en, de) = (link_words(page, Lang::En), link_words(page, Lang::De));
            assert_ne!(en.1, de.1, "{page:?}");
        }
        assert_ne!(Lang::En.back(), Lang::De.back());
        assert_ne!(Lang::En.reference(), Lang::De.reference());
    }
}
