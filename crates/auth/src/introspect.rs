//! Token introspection (RFC 7662): the request we send and the compact result we cache and decide on.

use base64::Engine as _;
use gateway_config::plugins::openid_connect::OidcConfig;
use http::HeaderValue;
use serde_json::{Map, Value};

use crate::cache::{Expiring, TtlPolicy};
use crate::claims::{claim_at, claim_set, ClaimSet, Requirement};
use crate::http_client::{arg_pairs, header_pairs, ClientAuth, FormRequest};

/// What to keep from an introspection result (compiled from the config).
#[derive(Debug, Clone, Default)]
pub struct ClaimPlan {
    /// Require `active: true`.
    pub check_active: bool,
    /// Path of the scopes claim, when `scopes_required` is set.
    pub scopes_claim: Option<Vec<String>>,
    /// Path of the audience claim, when `audience_required` is set.
    pub audience_claim: Option<Vec<String>>,
    /// Top-level claims copied to upstream headers (in `upstream_headers_claims` order).
    pub header_claims: Vec<String>,
    /// Keep base64(JSON) of the whole result (`upstream_introspection_header`).
    pub keep_raw: bool,
    /// Keep the signed answer JWT (`upstream_introspection_jwt_header`).
    pub keep_jwt: bool,
    /// Claim paths kept for identity, after the `header_claims` in `Introspected::claim_headers` (so the
    /// caches and the cluster codec carry them unchanged): `consumer_claim` when set, then
    /// `credential_claim` when not empty, then `authenticated_groups_claim` when set (see [`IdentitySlots`]).
    pub identity_claims: Vec<Vec<String>>,
    /// The last of `identity_claims` is the groups claim (kept packed as [`crate::Groups`]).
    pub groups_claim: bool,
    /// `consumer_claim` is set (its value is needed even for a granted token).
    pub maps_consumer: bool,
    /// Path of the `groups_claim`, when `groups_required` is set.
    pub required_groups_claim: Option<Vec<String>>,
    /// Path of the `roles_claim`, when `roles_required` is set.
    pub roles_claim: Option<Vec<String>>,
    /// `claims_forbidden`: top-level claims whose presence refuses the token.
    pub forbidden_claims: Vec<String>,
    /// Proof of possession is on: keep the token's `cnf.jkt` and `cnf.x5t#S256`.
    pub keep_cnf: bool,
}

/// Where the identity claims sit in `Introspected::claim_headers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentitySlots {
    /// Index of the `consumer_claim` value.
    pub consumer: Option<usize>,
    /// Index of the `credential_claim` value.
    pub credential: Option<usize>,
    /// Index of the `authenticated_groups_claim` groups.
    pub groups: Option<usize>,
}

impl IdentitySlots {
    /// The slots of a config's identity claims (the layout [`ClaimPlan::new`] keeps).
    pub fn new(cfg: &OidcConfig) -> Self {
        let base = cfg.upstream_headers_claims.as_ref().map_or(0, Vec::len);
        let consumer = cfg.consumer_claim.is_some().then_some(base);
        let next = base + usize::from(consumer.is_some());
        let credential = (!cfg.credential_claim.is_empty()).then_some(next);
        let next = next + usize::from(credential.is_some());
        let groups = groups_path(cfg).is_some().then_some(next);
        IdentitySlots {
            consumer,
            credential,
            groups,
        }
    }
}

impl ClaimPlan {
    /// Compiles the plan: scope and audience claims are kept only when they are required.
    pub fn new(cfg: &OidcConfig) -> Self {
        let required = |r: &Option<Vec<String>>| Requirement::parse(r.as_deref()).is_some();
        ClaimPlan {
            check_active: cfg.introspection_check_active,
            scopes_claim: required(&cfg.scopes_required).then(|| cfg.scopes_claim.clone()),
            audience_claim: required(&cfg.audience_required).then(|| cfg.audience_claim.clone()),
            header_claims: cfg.upstream_headers_claims.clone().unwrap_or_default(),
            keep_raw: cfg.upstream_introspection_header.is_some(),
            keep_jwt: cfg.upstream_introspection_jwt_header.is_some(),
            identity_claims: cfg
                .consumer_claim
                .iter()
                .cloned()
                .chain((!cfg.credential_claim.is_empty()).then(|| cfg.credential_claim.clone()))
                .chain(groups_path(cfg).cloned())
                .collect(),
            groups_claim: groups_path(cfg).is_some(),
            maps_consumer: cfg.consumer_claim.is_some(),
            required_groups_claim: required(&cfg.groups_required).then(|| cfg.groups_claim.clone()),
            roles_claim: required(&cfg.roles_required).then(|| cfg.roles_claim.clone()),
            forbidden_claims: cfg.claims_forbidden.clone().unwrap_or_default(),
            keep_cnf: cfg.proof_of_possession_dpop.on() || cfg.proof_of_possession_mtls.on(),
        }
    }

    /// Whether any claim is needed, so that a token obtained by a grant must be introspected too.
    pub fn needs_claims(&self) -> bool {
        self.scopes_claim.is_some()
            || self.audience_claim.is_some()
            || !self.header_claims.is_empty()
            || self.keep_raw
            || self.keep_jwt
            // A consumer mapping needs the claim; `credential_claim` alone (default `sub`) is read when
            // the result is there anyway, without an extra introspection of granted tokens.
            || self.maps_consumer
            || self.groups_claim
            || self.required_groups_claim.is_some()
            || self.roles_claim.is_some()
            || !self.forbidden_claims.is_empty()
    }
}

/// The `authenticated_groups_claim` path, when set and not empty.
fn groups_path(cfg: &OidcConfig) -> Option<&Vec<String>> {
    cfg.authenticated_groups_claim
        .as_ref()
        .filter(|p| !p.is_empty())
}

/// Claim values kept with a result (upstream header claims, then identity claims; see
/// [`ClaimPlan::identity_claims`]), packed into one allocation, or none when there is no value.
///
/// Layout: `n` as u16, then `n` u16 slots (`0`: absent, else length + 1), then the values' bytes.
/// Trailing absent slots are not stored, so equal values have one encoding. A value longer than
/// 65,534 bytes is kept as absent (no upstream header carries that much).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClaimValues(Option<Box<[u8]>>);

impl ClaimValues {
    /// Packs `values` (each a valid header value, or `None`).
    pub fn new<'a>(values: impl IntoIterator<Item = Option<&'a [u8]>>) -> Self {
        let mut values: Vec<Option<&[u8]>> = values
            .into_iter()
            .map(|v| v.filter(|v| v.len() < usize::from(u16::MAX)))
            .collect();
        while values.last().is_some_and(Option::is_none) {
            values.pop();
        }
        if values.is_empty() {
            return ClaimValues(None);
        }
        let data: usize = values.iter().flatten().map(|v| v.len()).sum();
        let mut buf = Vec::with_capacity(2 + 2 * values.len() + data);
        buf.extend_from_slice(&(values.len() as u16).to_le_bytes());
        for v in &values {
            let slot = v.map_or(0, |v| v.len() as u16 + 1);
            buf.extend_from_slice(&slot.to_le_bytes());
        }
        for v in values.iter().flatten() {
            buf.extend_from_slice(v);
        }
        ClaimValues(Some(buf.into_boxed_slice()))
    }

    /// Packs header values.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a Option<HeaderValue>>) -> Self {
        ClaimValues::new(
            values
                .into_iter()
                .map(|v| v.as_ref().map(HeaderValue::as_bytes)),
        )
    }

    /// Number of stored slots (trailing absent ones are not counted).
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, |b| usize::from(u16_at(b, 0)))
    }

    /// Whether no value is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every slot in order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> + '_ {
        let b = self.0.as_deref().unwrap_or(&[]);
        let n = self.len();
        let mut at = 2 + 2 * n;
        (0..n).map(move |i| match u16_at(b, 2 + 2 * i) {
            0 => None,
            slot => {
                let len = usize::from(slot - 1);
                at += len;
                Some(&b[at - len..at])
            }
        })
    }

    /// The value in slot `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i).flatten()
    }

    /// The value in slot `i` as a header value (a copy: the cached entry stays one allocation).
    pub fn header(&self, i: usize) -> Option<HeaderValue> {
        self.get(i).and_then(|v| HeaderValue::from_bytes(v).ok())
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

impl std::fmt::Debug for ClaimValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|v| v.map(String::from_utf8_lossy)))
            .finish()
    }
}

/// The parts of a result that only some configs need, boxed so that the common entry stays small.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// Scopes claim as a set (kept only when scopes are required).
    pub scopes: Option<ClaimSet>,
    /// Audience claim as a set (kept only when audiences are required).
    pub audience: Option<ClaimSet>,
    /// base64(JSON) of the result, for `upstream_introspection_header`.
    pub raw_header: Option<HeaderValue>,
    /// The verified RFC 9701 answer JWT as received, for `upstream_introspection_jwt_header`.
    pub jwt_header: Option<HeaderValue>,
    /// Groups claim as a set (kept only when groups are required).
    pub groups: Option<ClaimSet>,
    /// Roles claim as a set (kept only when roles are required).
    pub roles: Option<ClaimSet>,
    /// One of `claims_forbidden` is in the result.
    pub forbidden: bool,
    /// `cnf.jkt`: the thumbprint of the DPoP key the token is bound to (kept with proof of possession on).
    pub cnf_jkt: Option<Box<str>>,
    /// `cnf.x5t#S256`: the thumbprint of the certificate the token is bound to (same).
    pub cnf_x5t: Option<Box<str>>,
}

impl Extras {
    /// `None` when nothing is set.
    pub fn boxed(self) -> Option<Box<Extras>> {
        (self != Extras::default()).then(|| Box::new(self))
    }
}

/// The part of an introspection result the gateway needs; this is what the cache holds.
///
/// Kept small because a cache holds up to a million of them: 56 bytes, plus one allocation for the
/// claim values when there are any and one for the [`Extras`] when a config needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspected {
    /// Cache deadline (ms since epoch).
    pub valid_until_ms: u64,
    /// `exp` (seconds since epoch), when given.
    pub exp: Option<i64>,
    /// Allowed clock skew (ms) when checking `exp`.
    pub leeway_ms: u32,
    /// Whether the token counts as active.
    pub active: bool,
    /// Values for `upstream_headers_claims`, then the identity claims.
    pub claims: ClaimValues,
    /// Scopes, audience, and the whole-result headers, when the config keeps them.
    pub extras: Option<Box<Extras>>,
}

impl Expiring for Introspected {
    fn fresh_at(&self, now_ms: u64) -> bool {
        now_ms < self.valid_until_ms && !self.expired_at(now_ms)
    }
}

impl Introspected {
    /// An inactive, already expired result standing for a purged token.
    pub fn purged() -> Introspected {
        Introspected {
            valid_until_ms: 0,
            exp: None,
            leeway_ms: 0,
            active: false,
            claims: ClaimValues::default(),
            extras: None,
        }
    }

    /// Scopes claim as a set (kept only when scopes are required).
    pub fn scopes(&self) -> Option<&[Box<str>]> {
        self.extras.as_ref()?.scopes.as_deref()
    }

    /// Audience claim as a set (kept only when audiences are required).
    pub fn audience(&self) -> Option<&[Box<str>]> {
        self.extras.as_ref()?.audience.as_deref()
    }

    /// Groups claim as a set (kept only when groups are required).
    pub fn groups(&self) -> Option<&[Box<str>]> {
        self.extras.as_ref()?.groups.as_deref()
    }

    /// Roles claim as a set (kept only when roles are required).
    pub fn roles(&self) -> Option<&[Box<str>]> {
        self.extras.as_ref()?.roles.as_deref()
    }

    /// Whether one of `claims_forbidden` is in the token.
    pub fn has_forbidden_claim(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.forbidden)
    }

    /// The token's `cnf.jkt` (DPoP key thumbprint), when kept.
    pub fn cnf_jkt(&self) -> Option<&str> {
        self.extras.as_ref()?.cnf_jkt.as_deref()
    }

    /// The token's `cnf.x5t#S256` (certificate thumbprint), when kept.
    pub fn cnf_x5t(&self) -> Option<&str> {
        self.extras.as_ref()?.cnf_x5t.as_deref()
    }

    /// base64(JSON) of the result, for `upstream_introspection_header`.
    pub fn raw_header(&self) -> Option<&HeaderValue> {
        self.extras.as_ref()?.raw_header.as_ref()
    }

    /// The verified RFC 9701 answer JWT, for `upstream_introspection_jwt_header`.
    pub fn jwt_header(&self) -> Option<&HeaderValue> {
        self.extras.as_ref()?.jwt_header.as_ref()
    }

    /// Changes the extras in place (boxing them only when something is set).
    pub fn update_extras(&mut self, f: impl FnOnce(&mut Extras)) {
        let mut extras = self.extras.take().map(|b| *b).unwrap_or_default();
        f(&mut extras);
        self.extras = extras.boxed();
    }

    /// Whether `exp + leeway` has passed at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        match self.exp {
            Some(exp) if exp != 0 => {
                let exp_ms = u64::try_from(exp).unwrap_or(0).saturating_mul(1000);
                exp_ms.saturating_add(u64::from(self.leeway_ms)) <= now_ms
            }
            _ => false,
        }
    }

    /// Compacts an introspection response, with its cache deadline.
    pub fn from_response(
        obj: &Map<String, Value>,
        plan: &ClaimPlan,
        ttl: &TtlPolicy,
        now_ms: u64,
    ) -> Introspected {
        let active = !plan.check_active || obj.get("active") == Some(&Value::Bool(true));
        let exp = obj.get("exp").and_then(number_as_i64);
        let leeway_ms = u32::try_from(ttl.leeway).unwrap_or(u32::MAX);
        if !active {
            return Introspected {
                valid_until_ms: ttl.negative_until(now_ms),
                exp,
                leeway_ms,
                active,
                claims: ClaimValues::default(),
                extras: None,
            };
        }
        let set = |path: &Option<Vec<String>>| {
            path.as_ref()
                .and_then(|p| claim_at(obj, p))
                .and_then(claim_set)
        };
        let values: Vec<Option<HeaderValue>> = plan
            .header_claims
            .iter()
            .map(|c| obj.get(c).and_then(claim_header_value))
            .chain((plan.identity_claims.iter()).enumerate().map(|(i, path)| {
                let claim = claim_at(obj, path);
                if plan.groups_claim && i + 1 == plan.identity_claims.len() {
                    claim
                        .and_then(crate::Groups::from_claim)
                        .map(|g| g.packed().clone())
                } else {
                    claim.and_then(claim_header_value)
                }
            }))
            .collect();
        let extras = Extras {
            scopes: set(&plan.scopes_claim),
            audience: set(&plan.audience_claim),
            groups: set(&plan.required_groups_claim),
            roles: set(&plan.roles_claim),
            forbidden: plan.forbidden_claims.iter().any(|c| obj.contains_key(c)),
            cnf_jkt: plan.keep_cnf.then(|| cnf(obj, "jkt")).flatten(),
            cnf_x5t: plan.keep_cnf.then(|| cnf(obj, "x5t#S256")).flatten(),
            raw_header: plan
                .keep_raw
                .then(|| {
                    let json = Value::Object(obj.clone()).to_string();
                    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
                    HeaderValue::from_str(&b64).ok()
                })
                .flatten(),
            jwt_header: None,
        };
        Introspected {
            valid_until_ms: ttl.positive_until(now_ms, exp),
            exp,
            leeway_ms,
            active,
            claims: ClaimValues::from_headers(&values),
            extras: extras.boxed(),
        }
    }
}

/// A string member of the `cnf` (confirmation, RFC 7800) claim.
fn cnf(obj: &Map<String, Value>, member: &str) -> Option<Box<str>> {
    obj.get("cnf")?.get(member)?.as_str().map(Box::from)
}

/// `exp` as an integer (floats truncated); other JSON gives `None`.
fn number_as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// A claim as an upstream header value: strings as-is, numbers/bools as text, arrays and objects
/// as base64(JSON); `null` and values invalid in a header give `None`.
pub fn claim_header_value(v: &Value) -> Option<HeaderValue> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => {
            base64::engine::general_purpose::STANDARD.encode(v.to_string())
        }
    };
    HeaderValue::from_str(&text).ok()
}

/// Static parts of the introspection request (compiled from the config).
#[derive(Debug, Clone, Default)]
pub struct IntrospectionRequest {
    /// `token_type_hint` (empty: not sent).
    pub hint: String,
    /// `introspection_post_args_*`.
    pub extra_args: Vec<(String, String)>,
    /// `introspection_headers_*`.
    pub extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Client authentication.
    pub auth: ClientAuth,
}

impl IntrospectionRequest {
    /// Compiles the fixed parts from the config.
    pub fn new(cfg: &OidcConfig) -> Self {
        IntrospectionRequest {
            hint: cfg.introspection_hint.clone(),
            extra_args: arg_pairs(
                cfg.introspection_post_args_names.as_deref(),
                cfg.introspection_post_args_values.as_deref(),
            ),
            extra_headers: header_pairs(
                cfg.introspection_headers_names.as_deref(),
                cfg.introspection_headers_values.as_deref(),
            ),
            auth: ClientAuth::for_endpoint(cfg, cfg.introspection_endpoint_auth_method),
        }
    }

    /// The request for one token: `token=..&token_type_hint=..` + extras + client auth.
    pub fn build(&self, token: &str) -> FormRequest {
        let mut form = Vec::with_capacity(4 + self.extra_args.len());
        form.push(("token".to_owned(), token.to_owned()));
        if !self.hint.is_empty() {
            form.push(("token_type_hint".to_owned(), self.hint.clone()));
        }
        form.extend(self.extra_args.iter().cloned());
        self.auth.request(form, self.extra_headers.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000_000;

    fn plan() -> ClaimPlan {
        ClaimPlan {
            check_active: true,
            scopes_claim: Some(vec!["scope".into()]),
            audience_claim: Some(vec!["aud".into()]),
            header_claims: vec![
                "username".into(),
                "exp".into(),
                "roles".into(),
                "missing".into(),
            ],
            keep_raw: true,
            keep_jwt: false,
            ..ClaimPlan::default()
        }
    }

    #[test]
    fn identity_claims_follow_the_header_claims() {
        let mut cfg = OidcConfig::with_issuer("http://127.0.0.1:1/");
        cfg.upstream_headers_claims = Some(vec!["username".into()]);
        cfg.upstream_headers_names = Some(vec!["x-user".into()]);
        cfg.consumer_claim = Some(vec!["realm".into(), "user".into()]);
        let plan = ClaimPlan::new(&cfg);
        assert!(plan.needs_claims());
        let slots = IdentitySlots::new(&cfg);
        assert_eq!((slots.consumer, slots.credential), (Some(1), Some(2)));
        let r =
            json!({"active": true, "username": "john", "sub": "s-1", "realm": {"user": "alice"}});
        let i = Introspected::from_response(r.as_object().unwrap(), &plan, &ttl(), NOW);
        assert_eq!(i.claims.len(), 3);
        assert_eq!(i.claims.get(1), Some(&b"alice"[..]));
        assert_eq!(i.claims.header(2).unwrap(), "s-1");
        // Without consumer_claim only the credential claim is kept, and a grant needs no introspection.
        cfg.consumer_claim = None;
        cfg.upstream_headers_claims = None;
        cfg.upstream_headers_names = None;
        let slots = IdentitySlots::new(&cfg);
        assert_eq!((slots.consumer, slots.credential), (None, Some(0)));
        assert!(!ClaimPlan::new(&cfg).needs_claims());
    }

    fn ttl() -> TtlPolicy {
        TtlPolicy::from_secs(3600.0, None, None, 10.0, 0.0)
    }

    #[test]
    fn active_result() {
        let exp = NOW / 1000 + 60;
        let r = json!({"active": true, "username": "john", "scope": "openid read", "aud": "openid read",
                       "exp": exp, "roles": ["a"]});
        let i = Introspected::from_response(r.as_object().unwrap(), &plan(), &ttl(), NOW);
        assert!(i.active);
        assert_eq!(i.valid_until_ms, NOW + 60_000);
        assert_eq!(i.scopes().unwrap().len(), 2);
        assert_eq!(i.claims.header(0).unwrap(), "john");
        assert_eq!(i.claims.header(1).unwrap(), exp.to_string().as_str());
        assert_eq!(i.claims.header(2).unwrap(), "WyJhIl0=");
        assert_eq!(i.claims.header(3), None);
        // the trailing absent claim takes no slot
        assert_eq!(i.claims.len(), 3);
        let raw = i.raw_header().unwrap().to_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap(), r);
        assert!(i.fresh_at(NOW));
        assert!(!i.expired_at(NOW + 59_999));
        assert!(i.expired_at(NOW + 60_000));
    }

    #[test]
    fn inactive_result() {
        for r in [
            json!({"active": false}),
            json!({}),
            json!({"active": "true"}),
        ] {
            let i = Introspected::from_response(r.as_object().unwrap(), &plan(), &ttl(), NOW);
            assert!(!i.active);
            assert_eq!(i.valid_until_ms, NOW + 10_000);
            assert!(i.raw_header().is_none());
            assert!(i.extras.is_none() && i.claims.is_empty());
        }
        let mut p = plan();
        p.check_active = false;
        let i = Introspected::from_response(json!({}).as_object().unwrap(), &p, &ttl(), NOW);
        assert!(i.active);
    }

    #[test]
    fn leeway_extends_exp() {
        let exp = NOW / 1000;
        let t = TtlPolicy::from_secs(3600.0, None, None, 10.0, 5.0);
        let r = json!({"active": true, "exp": exp});
        let i = Introspected::from_response(r.as_object().unwrap(), &plan(), &t, NOW);
        assert!(!i.expired_at(NOW + 4_999));
        assert!(i.expired_at(NOW + 5_000));
    }

    #[test]
    fn claim_values_pack_into_one_buffer() {
        let empty = ClaimValues::new([None, None]);
        assert!(empty.is_empty());
        assert_eq!((empty.len(), empty.get(0)), (0, None));
        assert_eq!(empty, ClaimValues::default());
        let v = ClaimValues::new([
            None,
            Some(&b"s-1"[..]),
            Some(&b""[..]),
            Some(&b"x"[..]),
            None,
        ]);
        assert_eq!(v.len(), 4);
        let all: Vec<_> = v.iter().collect();
        assert_eq!(
            all,
            [None, Some(&b"s-1"[..]), Some(&b""[..]), Some(&b"x"[..])]
        );
        assert_eq!((v.get(0), v.get(4), v.get(9)), (None, None, None));
        assert_eq!(v.header(1).unwrap(), "s-1");
        // trailing absent values do not change the encoding
        assert_eq!(v, ClaimValues::new(all.iter().copied()));
        assert_eq!(
            format!("{v:?}"),
            r#"[None, Some("s-1"), Some(""), Some("x")]"#
        );
        // a value too long for a slot is kept as absent
        let long = vec![b'a'; 70_000];
        let v = ClaimValues::new([Some(&long[..]), Some(&b"y"[..])]);
        assert_eq!((v.get(0), v.get(1)), (None, Some(&b"y"[..])));
        // one claim is one small buffer: 2 + 2 + its length
        let v = ClaimValues::new([Some(&b"bench-subject"[..])]);
        assert_eq!(v.0.as_ref().unwrap().len(), 4 + 13);
    }

    #[test]
    fn an_entry_stays_small() {
        assert_eq!(std::mem::size_of::<Introspected>(), 56);
    }

    #[test]
    fn claim_values() {
        assert_eq!(claim_header_value(&json!(true)).unwrap(), "true");
        assert_eq!(claim_header_value(&json!(1.5)).unwrap(), "1.5");
        assert_eq!(claim_header_value(&json!({"a":1})).unwrap(), "eyJhIjoxfQ==");
        assert_eq!(claim_header_value(&json!(null)), None);
        assert_eq!(claim_header_value(&json!("a\nb")), None);
    }

    #[test]
    fn request_form() {
        let r = IntrospectionRequest {
            hint: "access_token".into(),
            extra_args: vec![("x".into(), "1".into())],
            extra_headers: vec![(
                http::HeaderName::from_static("x-h"),
                HeaderValue::from_static("v"),
            )],
            auth: ClientAuth::Basic {
                id: "kong".into(),
                secret: "kong-secret".into(),
            },
        };
        let f = r.build("tok en");
        assert_eq!(
            f.encoded_body(),
            "token=tok+en&token_type_hint=access_token&x=1"
        );
        assert_eq!(f.headers.len(), 2);
        assert_eq!(f.headers[1].1, "Basic a29uZzprb25nLXNlY3JldA==");
    }
}
