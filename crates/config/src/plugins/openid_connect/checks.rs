//! The openid-connect config's cross-field rules, and the refusal of what Kong has and this gateway does not
//! implement yet ("not supported yet": never accepted and ignored).

use super::{err, AuthMethod, OidcConfig, ParamType};
use crate::error::FieldError;

impl OidcConfig {
    /// Cross-field rules: paired arrays, cookie name, positive timeout, ttl bounds.
    pub(super) fn check_relations(&self, errors: &mut Vec<FieldError>) {
        type Pair<'c> = (
            &'c str,
            &'c Option<Vec<String>>,
            &'c str,
            &'c Option<Vec<String>>,
        );
        let pairs: [Pair<'_>; 5] = [
            (
                "introspection_headers_names",
                &self.introspection_headers_names,
                "introspection_headers_values",
                &self.introspection_headers_values,
            ),
            (
                "introspection_post_args_names",
                &self.introspection_post_args_names,
                "introspection_post_args_values",
                &self.introspection_post_args_values,
            ),
            (
                "token_post_args_names",
                &self.token_post_args_names,
                "token_post_args_values",
                &self.token_post_args_values,
            ),
            (
                "token_headers_names",
                &self.token_headers_names,
                "token_headers_values",
                &self.token_headers_values,
            ),
            (
                "upstream_headers_claims",
                &self.upstream_headers_claims,
                "upstream_headers_names",
                &self.upstream_headers_names,
            ),
        ];
        for (a_name, a, b_name, b) in pairs {
            let la = a.as_ref().map_or(0, Vec::len);
            let lb = b.as_ref().map_or(0, Vec::len);
            if la != lb {
                errors.push(err(
                    b_name,
                    &format!("must have the same number of elements as {a_name} ({lb} != {la})"),
                ));
            }
        }
        if self.bearer_token_param_type.contains(&ParamType::Cookie)
            && self
                .bearer_token_cookie_name
                .as_deref()
                .is_none_or(str::is_empty)
        {
            errors.push(err(
                "bearer_token_cookie_name",
                "required field missing (bearer_token_param_type contains cookie)",
            ));
        }
        if self.timeout <= 0.0 {
            errors.push(err("timeout", "value must be greater than 0"));
        }
        self.check_supported(errors);
        for (name, v) in [
            ("idp_concurrency_limit", self.idp_concurrency_limit),
            (
                "idp_circuit_breaker_failures",
                self.idp_circuit_breaker_failures,
            ),
        ] {
            if v.fract() != 0.0 {
                errors.push(err(name, "expected an integer"));
            }
        }
        if self.idp_outage_status != 401.0 && self.idp_outage_status != 503.0 {
            errors.push(err("idp_outage_status", "expected one of: 401, 503"));
        }
        if self.idp_concurrency_limit < 1.0 {
            errors.push(err("idp_concurrency_limit", "value must be at least 1"));
        }
        if self.idp_circuit_breaker_failures > 0.0 && self.idp_circuit_breaker_cooldown <= 0.0 {
            errors.push(err(
                "idp_circuit_breaker_cooldown",
                "value must be greater than 0 (idp_circuit_breaker_failures is set)",
            ));
        }
        if self.consumer_claim.as_ref().is_some_and(Vec::is_empty) {
            errors.push(err("consumer_claim", "length must be at least 1"));
        }
        if self.consumer_claim.is_some() && self.consumer_by.is_empty() {
            errors.push(err("consumer_by", "length must be at least 1"));
        }
        self.check_extra_issuers(errors);
        self.check_pop(errors);
        if let (Some(min), Some(max)) = (self.cache_ttl_min, self.cache_ttl_max) {
            if min > max {
                errors.push(err(
                    "cache_ttl_min",
                    "value must be less than or equal to cache_ttl_max",
                ));
            }
        }
    }

    /// `extra_issuers`: not empty, used by an enabled method, and only where "active" is what decides
    /// (without `introspection_check_active` the first issuer's answer would always win).
    fn check_extra_issuers(&self, errors: &mut Vec<FieldError>) {
        let Some(extra) = &self.extra_issuers else {
            return;
        };
        if extra.is_empty() {
            errors.push(err("extra_issuers", "length must be at least 1"));
        }
        if !self.method_enabled(AuthMethod::Introspection)
            && !self.method_enabled(AuthMethod::Bearer)
        {
            errors.push(err(
                "extra_issuers",
                "needs bearer or introspection in auth_methods",
            ));
        }
        if !self.introspection_check_active {
            errors.push(err(
                "extra_issuers",
                "needs introspection_check_active (the issuers are asked until one says active)",
            ));
        }
        for (i, e) in extra.iter().enumerate() {
            if e.client_secret.is_some() && e.client_id.is_none() {
                errors.push(err(
                    &format!("extra_issuers[{i}].client_id"),
                    "required field missing (client_secret is set)",
                ));
            }
            if let Some(m) = e.introspection_endpoint_auth_method {
                if !m.secret_only() {
                    errors.push(err(
                        &format!("extra_issuers[{i}].introspection_endpoint_auth_method"),
                        &format!(
                            "{} is not supported in extra_issuers (supported: client_secret_basic, client_secret_post, none)",
                            m.name()
                        ),
                    ));
                }
            }
        }
    }

    /// Values Kong has and this gateway does not implement yet are refused, never accepted and ignored.
    fn check_supported(&self, errors: &mut Vec<FieldError>) {
        let supported = AuthMethod::SUPPORTED
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ");
        for (i, m) in self.auth_methods.iter().enumerate() {
            if !AuthMethod::SUPPORTED.contains(m) {
                errors.push(err(
                    &format!("auth_methods[{i}]"),
                    &format!("{} is not supported yet (supported: {supported})", m.name()),
                ));
            }
        }
        if self.introspection_accept == "application/jwt" {
            errors.push(err(
                "introspection_accept",
                &format!(
                    "{} is not supported yet (supported: application/json, application/token-introspection+jwt)",
                    self.introspection_accept
                ),
            ));
        }
        if self.upstream_introspection_jwt_header.is_some()
            && self.introspection_accept != "application/token-introspection+jwt"
        {
            errors.push(err(
                "upstream_introspection_jwt_header",
                "needs introspection_accept: application/token-introspection+jwt (the only signed answers this gateway verifies)",
            ));
        }
        self.check_client_auth(errors);
    }
}
