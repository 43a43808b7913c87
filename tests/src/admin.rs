//! Admin API calls for the end-to-end tests: each returns `(status, JSON body or Null when empty)`.

use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::Value;

use crate::http;

/// Sends a request; panics when the body is neither empty nor JSON.
pub fn send(req: RequestBuilder) -> (u16, Value) {
    let resp = req.send().expect("admin request");
    let status = resp.status().as_u16();
    let text = resp.text().expect("admin response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

/// A form-encoded request.
pub fn form(method: Method, url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    send(http::client().request(method, url).form(fields))
}

/// A JSON request.
pub fn json_req(method: Method, url: &str, body: Value) -> (u16, Value) {
    send(http::client().request(method, url).json(&body))
}

/// A request without a body.
pub fn call(method: Method, url: &str) -> (u16, Value) {
    send(http::client().request(method, url))
}

/// `GET url`.
pub fn get(url: &str) -> (u16, Value) {
    call(Method::GET, url)
}
