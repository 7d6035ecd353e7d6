//! A rule as written: the body of the management API's rule routes, the
//! data points its conditions may read and the bounds it is held to.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::state::Outcome;
use crate::auth::methods::VerificationMethod;
use crate::error::{CoreError, parse_json_all};
use crate::policy::lists::ItemType;

/// Most rules one action configuration may hold.
pub const MAX_RULES: usize = 200;
/// Deepest nesting of a condition.
pub const MAX_DEPTH: usize = 32;

/// Data points with a fixed name. Anything below `action.custom.` and
/// `user.custom.` is allowed as well.
pub const FIXED_VARIABLES: &[&str] = &[
    "action.code",
    "user.email",
    "user.emailVerified",
    "user.phoneNumber",
    "user.phoneNumberVerified",
    "user.username",
    "user.displayName",
    "user.locale",
    "user.isEnrolled",
    "device.id",
    "device.isNew",
    "device.isSeen",
    "device.firstSeenAt",
    "device.count",
    "ip.address",
    "ip.countryCode",
    "ip.asn",
    "ip.isNewCountry",
    "ip.isSeenCountry",
    "ip.impossibleTravel",
    "request.userAgent",
    "ua.isBot",
    "velocity.actionsLastHour",
    "velocity.actionsLastDay",
    "now",
];

/// Prefixes under which any variable name is allowed.
pub const OPEN_PREFIXES: &[&str] = &["action.custom", "user.custom"];

/// The body of `PUT|POST .../rules[/{ruleId}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleInput {
    /// Short name, shown in get action and the portal. Required.
    pub name: String,
    /// Longer explanation. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the rule is evaluated. Default: true.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// 0 runs first and wins over higher numbers. Required.
    pub priority: u32,
    /// The outcome when the rule decides. Required.
    #[serde(rename = "type")]
    pub outcome: Outcome,
    /// A JSON Logic expression. Required.
    pub conditions: Value,
    /// Methods allowed when this rule decides a challenge; empty keeps the
    /// action's. Default: empty.
    #[serde(default)]
    pub verification_methods: Vec<VerificationMethod>,
    /// Method preselected when this rule decides. Default: the action's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// Methods to offer enrolling after the challenge. Default: the action's.
    #[serde(default)]
    pub prompt_to_enroll_verification_methods: Vec<VerificationMethod>,
    /// For a CHALLENGE rule: after the challenge succeeds the action goes to
    /// manual review (`REVIEW_REQUIRED`) instead of `CHALLENGE_SUCCEEDED`.
    /// Default: false.
    #[serde(default)]
    pub review_after_challenge: bool,
    /// For a CHALLENGE or REVIEW rule: why the customer is asked, in their
    /// words, by locale (`{"en": "…", "de": "…"}`): shown on the hosted
    /// page when this rule decided, rendered as message templates are
    /// (`{{action.custom.amount | currency: "NZD"}}`, values escaped).
    /// Never the rule's name or conditions. Default: none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub customer_reason: std::collections::BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// What the validator needs to know about value lists: the item type of
/// each alias that exists.
pub type ListTypes = HashMap<String, ItemType>;

impl RuleInput {
    /// Parse a rule body (types only; see [`validate_rule`]).
    ///
    /// # Errors
    /// [`CoreError::InvalidBody`] naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, CoreError> {
        parse_json_all(body)
    }
}
