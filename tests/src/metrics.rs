//! Prometheus metrics read from a gateway's admin listener: `GET <admin>/metrics` and counter sums.

use crate::http::client;

/// `GET <admin>/metrics` (Prometheus text); panics on a transport error or a status other than 200.
pub fn metrics_text(admin_url: &str) -> String {
    let url = format!("{admin_url}/metrics");
    let resp = client()
        .get(&url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    assert_eq!(status, 200, "GET {url}: {body}");
    body
}

/// The sum of every sample of counter `name` in `text` whose labels include all of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// [`metric_sum`] over a fresh [`metrics_text`] of the gateway whose admin listener is `admin_url`.
pub fn scrape_sum(admin_url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_sum(&metrics_text(admin_url), name, labels)
}

/// Requests the gateway made to IdP `endpoint` (`introspection`, `token`, ...) so far, every result.
pub fn idp_requests(admin_url: &str, endpoint: &str) -> u64 {
    scrape_sum(
        admin_url,
        "gateway_idp_requests_total",
        &[("endpoint", endpoint)],
    ) as u64
}

/// Introspection requests the gateway made so far (every result).
pub fn introspection_calls(admin_url: &str) -> u64 {
    idp_requests(admin_url, "introspection")
}

/// Introspection-cache lookups answered from a fresh entry so far.
pub fn introspection_cache_hits(admin_url: &str) -> u64 {
    scrape_sum(
        admin_url,
        "gateway_auth_cache_total",
        &[("cache", "introspection"), ("result", "hit")],
    ) as u64
}
