//! The compact value stored in Redis for one introspection result: only what the gateway decides on.
//!
//! Compact JSON with one-letter keys (empty parts left out), versioned so that a node running a
//! different build ignores values it does not understand (a miss, never an error).

use std::sync::Arc;

use http::HeaderValue;
use serde_json::{json, Map, Value};

use crate::introspect::{ClaimValues, Extras, Introspected};

/// Format version written in every value.
const VERSION: u64 = 1;

/// Encodes a result (the same bytes on every node for the same result).
pub fn encode(info: &Introspected) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("v".into(), json!(VERSION));
    m.insert("a".into(), json!(info.active));
    if let Some(e) = info.exp {
        m.insert("e".into(), json!(e));
    }
    m.insert("u".into(), json!(info.valid_until_ms));
    if info.leeway_ms != 0 {
        m.insert("l".into(), json!(info.leeway_ms));
    }
    if let Some(s) = info.scopes() {
        m.insert("s".into(), json!(s));
    }
    if let Some(d) = info.audience() {
        m.insert("d".into(), json!(d));
    }
    if let Some(g) = info.groups() {
        m.insert("g".into(), json!(g));
    }
    if let Some(o) = info.roles() {
        m.insert("o".into(), json!(o));
    }
    if info.has_forbidden_claim() {
        m.insert("f".into(), json!(true));
    }
    if let Some(k) = info.cnf_jkt() {
        m.insert("k".into(), json!(k));
    }
    if let Some(x) = info.cnf_x5t() {
        m.insert("x".into(), json!(x));
    }
    if !info.claims.is_empty() {
        let h: Vec<Value> = info
            .claims
            .iter()
            .map(|h| h.map_or(Value::Null, header_text))
            .collect();
        m.insert("h".into(), Value::Array(h));
    }
    if let Some(r) = info.raw_header() {
        m.insert("r".into(), header_text(r.as_bytes()));
    }
    if let Some(j) = info.jwt_header() {
        m.insert("j".into(), header_text(j.as_bytes()));
    }
    Value::Object(m).to_string().into_bytes()
}

fn header_text(h: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(h).into_owned())
}

/// Decodes a value; `None` when it is not one this build wrote.
pub fn decode(bytes: &[u8]) -> Option<Arc<Introspected>> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let m = v.as_object()?;
    if m.get("v")?.as_u64()? != VERSION {
        return None;
    }
    let set = |k: &str| -> Option<Option<Box<[Box<str>]>>> {
        match m.get(k) {
            None => Some(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(Box::from))
                .collect::<Option<Vec<_>>>()
                .map(|v| Some(v.into_boxed_slice())),
            Some(_) => None,
        }
    };
    let header = |v: &Value| -> Option<Option<HeaderValue>> {
        match v {
            Value::Null => Some(None),
            Value::String(s) => HeaderValue::from_str(s).ok().map(Some),
            _ => None,
        }
    };
    let claim_headers = match m.get("h") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(header).collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    let raw_header = match m.get("r") {
        None => None,
        Some(v) => header(v)?,
    };
    let jwt_header = match m.get("j") {
        None => None,
        Some(v) => header(v)?,
    };
    Some(Arc::new(Introspected {
        active: m.get("a")?.as_bool()?,
        exp: match m.get("e") {
            None => None,
            Some(e) => Some(e.as_i64()?),
        },
        valid_until_ms: m.get("u")?.as_u64()?,
        leeway_ms: match m.get("l") {
            None => 0,
            Some(l) => u32::try_from(l.as_u64()?).ok()?,
        },
        claims: ClaimValues::from_headers(&claim_headers),
        extras: Extras {
            scopes: set("s")?,
            audience: set("d")?,
            groups: set("g")?,
            roles: set("o")?,
            forbidden: m.get("f").is_some_and(|f| f == &Value::Bool(true)),
            cnf_jkt: m.get("k").and_then(Value::as_str).map(Box::from),
            cnf_x5t: m.get("x").and_then(Value::as_str).map(Box::from),
            raw_header,
            jwt_header,
        }
        .boxed(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::TtlPolicy;
    use crate::introspect::ClaimPlan;

    #[test]
    fn round_trip_keeps_only_what_is_needed() {
        let plan = ClaimPlan {
            check_active: true,
            scopes_claim: Some(vec!["scope".into()]),
            audience_claim: None,
            header_claims: vec!["username".into(), "missing".into()],
            keep_raw: true,
            keep_jwt: false,
            ..ClaimPlan::default()
        };
        let ttl = TtlPolicy::from_secs(3600.0, None, None, 10.0, 2.0);
        let obj = json!({"active": true, "exp": 1_800_000_000i64, "scope": "openid read",
                         "username": "john", "secret_claim": "do-not-keep-unless-raw"});
        let info =
            Introspected::from_response(obj.as_object().unwrap(), &plan, &ttl, 1_700_000_000_000);
        let bytes = encode(&info);
        assert_eq!(*decode(&bytes).unwrap(), info);
        // the signed answer JWT (upstream_introspection_jwt_header) survives the round trip
        let mut signed = info.clone();
        signed.update_extras(|e| e.jwt_header = Some(HeaderValue::from_static("eyJh.eyJi.c2ln")));
        assert_eq!(*decode(&encode(&signed)).unwrap(), signed);
        // the DPoP binding (cnf.jkt) survives it too: a node must never read a bound token as unbound
        let bound = Introspected::from_response(
            json!({"active": true, "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
                "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})
            .as_object()
            .unwrap(),
            &ClaimPlan {
                keep_cnf: true,
                ..ClaimPlan::default()
            },
            &ttl,
            1_700_000_000_000,
        );
        assert!(bound.cnf_jkt().is_some() && bound.cnf_x5t().is_some());
        assert_eq!(*decode(&encode(&bound)).unwrap(), bound);
        // without keep_raw nothing but the needed claims is written
        let plan = ClaimPlan {
            keep_raw: false,
            keep_jwt: false,
            ..plan
        };
        let info =
            Introspected::from_response(obj.as_object().unwrap(), &plan, &ttl, 1_700_000_000_000);
        let text = String::from_utf8(encode(&info)).unwrap();
        assert!(!text.contains("do-not-keep"), "{text}");
        assert!(text.len() < 120, "{text}");
        assert_eq!(*decode(text.as_bytes()).unwrap(), info);
    }

    #[test]
    fn inactive_and_garbage() {
        let ttl = TtlPolicy::from_secs(3600.0, None, None, 10.0, 0.0);
        let plan = ClaimPlan {
            check_active: true,
            ..ClaimPlan::default()
        };
        let info = Introspected::from_response(
            json!({"active": false}).as_object().unwrap(),
            &plan,
            &ttl,
            5,
        );
        assert_eq!(
            String::from_utf8(encode(&info)).unwrap(),
            r#"{"v":1,"a":false,"u":10005}"#
        );
        assert_eq!(*decode(&encode(&info)).unwrap(), info);
        for bad in [
            &b"nope"[..],
            b"{}",
            br#"{"v":2,"a":true,"u":1}"#,
            br#"{"v":1,"a":1,"u":1}"#,
            br#"{"v":1,"a":true,"u":1,"s":[1]}"#,
            br#"{"v":1,"a":true,"u":1,"h":["a\nb"]}"#,
        ] {
            assert!(decode(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
