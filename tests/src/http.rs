//! Small blocking HTTP helpers that also work when called from inside a Tokio runtime.

use std::time::Duration;

use reqwest::blocking::{Client, Response};

/// A blocking client for tests: no proxy (loopback only), no redirects, 10 s timeout.
///
/// A `reqwest::blocking::Client` must not be created, used or dropped inside an async context; in
/// `#[tokio::test]`s use [`off_runtime`] or `tokio::task::spawn_blocking`.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the reqwest blocking client")
}

/// Run `f` on a fresh OS thread and wait for it: blocking I/O there is fine even when the caller is a
/// Tokio task (the harness's own helpers go through this).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Owned form fields.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl From<&[(&str, &str)]> for Form {
    fn from(fields: &[(&str, &str)]) -> Form {
        Form(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

/// POST an `application/x-www-form-urlencoded` body, optionally with HTTP Basic auth; returns (status, body).
/// Panics on transport errors.
pub fn post_form(url: &str, basic: Option<(&str, &str)>, form: &Form) -> (u16, String) {
    let mut req = client().post(url).form(&form.0);
    if let Some((user, pass)) = basic {
        req = req.basic_auth(user, Some(pass));
    }
    let resp = req.send().unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .unwrap_or_else(|e| panic!("POST {url}: reading the body: {e}"));
    (status, body)
}

/// Status, content type (`""` when absent) and body of a response; panics when the body cannot be read.
pub fn parts(resp: Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.text().expect("read the response body");
    (status, content_type, body)
}
