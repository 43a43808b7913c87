//! Where a written entity lands: Kong's uniqueness and references checked, the entity put in its container
//! (a route under its service, a plugin under its service, route or consumer, else top-level), and the
//! document read back through the loader.

use super::*;

/// Checks uniqueness and references, puts the entity where it belongs and reads the result back.
pub(super) fn place(
    config: &Config,
    kind: Kind,
    existing: Option<Entry>,
    mut fields: Map<String, Value>,
) -> Result<Written, KongError> {
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(Uuid::new_v4);
    if !matches!(kind, Kind::Target | Kind::Credential(_)) {
        unique(
            config,
            kind,
            id,
            kind.endpoint_key(),
            fields.get(kind.endpoint_key()),
        )?;
    }
    if kind == Kind::Consumer {
        consumer_unique(config, id, &fields)?;
    }
    let target = match kind {
        Kind::Service => Container::Services,
        Kind::Upstream => Container::Upstreams,
        Kind::Certificate => Container::Certificates,
        Kind::CaCertificate => Container::CaCertificates,
        Kind::Sni => {
            let certificate = resolve(
                config,
                Kind::Certificate,
                "certificate",
                fields.get("certificate"),
            )?
            .ok_or_else(|| KongError::field("certificate", crate::checks::REQUIRED))?;
            fields.remove("certificate");
            Container::CertificateSnis(certificate.loc.index)
        }
        Kind::Consumer => Container::Consumers,
        Kind::Credential(k) => credentials::place(config, k, id, &mut fields)?,
        Kind::Target => {
            let upstream = resolve(config, Kind::Upstream, "upstream", fields.get("upstream"))?
                .ok_or_else(|| KongError::field("upstream", crate::checks::REQUIRED))?;
            fields.remove("upstream");
            target_unique(config, id, &fields, upstream.id)?;
            Container::UpstreamTargets(upstream.loc.index)
        }
        Kind::Route => {
            let service = resolve(config, Kind::Service, "service", fields.get("service"))?;
            match (service, existing.as_ref().map(|e| e.loc.container)) {
                (Some(s), Some(Container::TopRoutes)) => {
                    fields.insert("service".into(), json!({ "id": s.id }));
                    Container::TopRoutes
                }
                (Some(s), _) => {
                    fields.remove("service");
                    Container::ServiceRoutes(s.loc.index)
                }
                (None, _) => {
                    fields.remove("service");
                    Container::TopRoutes
                }
            }
        }
        Kind::Plugin => {
            let consumer = resolve(config, Kind::Consumer, "consumer", fields.get("consumer"))?;
            fields.remove("consumer");
            let service = resolve(config, Kind::Service, "service", fields.get("service"))?;
            let route = resolve(config, Kind::Route, "route", fields.get("route"))?;
            plugin_unique(config, id, &fields, [&service, &route, &consumer])?;
            match (&service, &route) {
                // A consumer's plugin, also scoped to a route and/or a service when they are given
                // (Kong's consumer combinations, written in the consumer's `plugins` as decK does).
                _ if consumer.is_some() => {
                    fields.remove("service");
                    fields.remove("route");
                    if let Some(s) = &service {
                        fields.insert("service".into(), json!({ "id": s.id }));
                    }
                    if let Some(r) = &route {
                        fields.insert("route".into(), json!({ "id": r.id }));
                    }
                    let c = consumer.as_ref().map_or(0, |c| c.loc.index);
                    Container::ConsumerPlugins(c)
                }
                (Some(s), None) => {
                    fields.remove("service");
                    fields.remove("route");
                    Container::ServicePlugins(s.loc.index)
                }
                (None, Some(r)) => {
                    fields.remove("service");
                    fields.remove("route");
                    match r.loc.container {
                        Container::ServiceRoutes(s) => {
                            Container::NestedRoutePlugins(s, r.loc.index)
                        }
                        _ => Container::TopRoutePlugins(r.loc.index),
                    }
                }
                _ => {
                    fields.remove("service");
                    fields.remove("route");
                    if let Some(s) = &service {
                        fields.insert("service".into(), json!({ "id": s.id }));
                    }
                    if let Some(r) = &route {
                        fields.insert("route".into(), json!({ "id": r.id }));
                    }
                    Container::TopPlugins
                }
            }
        }
    };
    required_not_null(kind, &fields)?;
    fields.retain(|_, v| !v.is_null());

    let mut doc = to_doc(config);
    let mut loc = None;
    if let Some(e) = &existing {
        let children = container_mut(&mut doc, e.loc.container).and_then(|items| {
            if e.loc.index >= items.len() {
                return None;
            }
            let old = if e.loc.container == target {
                items[e.loc.index].take()
            } else {
                items.remove(e.loc.index)
            };
            Some(old)
        });
        if let Some(Value::Object(old)) = children {
            for child in ["routes", "plugins", "targets"] {
                if let Some(v) = old.get(child) {
                    fields.insert(child.into(), v.clone());
                }
            }
            // A certificate's SNIs are kept unless the write gives `snis` (which replaces them).
            if let (Some(v), false) = (old.get("snis"), fields.contains_key("snis")) {
                fields.insert("snis".into(), v.clone());
            }
        }
        if e.loc.container == target {
            loc = Some(e.loc);
        }
    }
    if kind == Kind::Credential(crate::credentials::CredKind::BasicAuth) {
        // Its password is hashed above, as every stored one is.
        doc["_transform"] = json!(false);
    }
    let items = container_mut(&mut doc, target).ok_or_else(|| {
        KongError::field(
            "",
            "the entity's parent could not be found in the configuration",
        )
    })?;
    let loc = match loc {
        Some(loc) => {
            items[loc.index] = Value::Object(fields);
            loc
        }
        None => {
            items.push(Value::Object(fields));
            Loc {
                container: target,
                index: items.len() - 1,
            }
        }
    };
    let config = from_doc(doc).map_err(|e| KongError::Schema(relative_errors(e, Some(loc))))?;
    Ok(Written { config, id })
}
