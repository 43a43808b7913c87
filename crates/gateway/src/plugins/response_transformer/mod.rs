//! Kong's `response-transformer` plugin (priority 800, `kong/plugins/response-transformer/`): edits the headers
//! of every answer (header_filter: remove, rename, replace, add, append, presence judged on the headers as
//! they came, as Kong's `kong.response.get_headers()` table), and the top-level keys of a JSON body of an
//! upstream answer (body_filter): the body is buffered up to [`MAX_JSON_BODY`] (past it, it goes on unchanged
//! and a line is logged), edited, and sent chunked (Kong removes `Content-Length`).

mod json;

use bytes::{Bytes, BytesMut};
use gateway_config::plugins::request_transformer::split_pair;
use gateway_config::plugins::response_transformer::ResponseTransformerConfig;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue};

use super::{Exchange, Phases, Plugin, ResponseHead};
pub use json::JsonEdits;

/// The largest JSON body buffered for editing (Kong has no bound: nginx holds it all in memory).
pub const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// A header entry: the name and its value (`None`: the entry has no value).
type HeaderEntry = (HeaderName, Option<HeaderValue>);

/// One response-transformer config, running.
pub struct ResponseTransformer {
    remove: Vec<HeaderName>,
    rename: Vec<(HeaderName, HeaderName)>,
    replace: Vec<HeaderEntry>,
    add: Vec<HeaderEntry>,
    append: Vec<HeaderEntry>,
    json: Option<JsonEdits>,
}

/// An upstream JSON answer being buffered.
#[derive(Debug, Default)]
pub struct JsonBuffer {
    body: BytesMut,
    /// Past [`MAX_JSON_BODY`]: the rest streams through unchanged.
    passthrough: bool,
}

fn header_entries(list: &[String]) -> Vec<HeaderEntry> {
    list.iter()
        .filter_map(|e| {
            let (name, value) = split_pair(e)?;
            let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()?;
            let value = match value {
                "" => None,
                v => Some(HeaderValue::from_str(v).ok()?),
            };
            Some((name, value))
        })
        .collect()
}

/// Kong's `is_json_body`: one of the comma-separated media types is `application/json` or
/// `application/*+json`.
pub fn is_json_body(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    ct.split(',').any(|part| {
        let media = part.trim().split(';').next().unwrap_or("").trim();
        let Some((t, sub)) = media.split_once('/') else {
            return false;
        };
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        };
        let (t, sub) = (t.to_ascii_lowercase(), sub.to_ascii_lowercase());
        token(&t) && token(&sub) && t == "application" && (sub == "json" || sub.ends_with("+json"))
    })
}

impl ResponseTransformer {
    /// The plugin for `cfg` (checked at load).
    pub fn new(cfg: &ResponseTransformerConfig) -> Self {
        let names = |list: &[String]| {
            list.iter()
                .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
                .collect()
        };
        ResponseTransformer {
            remove: names(&cfg.remove.headers),
            rename: header_entries(&cfg.rename.headers)
                .into_iter()
                .filter_map(|(old, new)| {
                    let new = HeaderName::from_bytes(new?.as_bytes()).ok()?;
                    Some((old, new))
                })
                .collect(),
            replace: header_entries(&cfg.replace.headers),
            add: header_entries(&cfg.add.headers),
            append: header_entries(&cfg.append.headers),
            json: cfg.has_json_edits().then(|| JsonEdits::new(cfg)),
        }
    }
}

impl Plugin for ResponseTransformer {
    fn name(&self) -> &'static str {
        "response-transformer"
    }

    fn phases(&self) -> Phases {
        match self.json {
            Some(_) => Phases::HEADER.with(Phases::BODY),
            None => Phases::HEADER,
        }
    }

    fn header_filter(&self, resp: &mut dyn ResponseHead, ex: &mut Exchange) {
        // Kong judges presence on the headers table read before any edit.
        let renamed: Vec<Vec<HeaderValue>> = self
            .rename
            .iter()
            .map(|(old, _)| resp.get_all(old))
            .collect();
        let replace: Vec<bool> = self
            .replace
            .iter()
            .map(|(n, _)| resp.get(n).is_some())
            .collect();
        let add: Vec<bool> = self
            .add
            .iter()
            .map(|(n, _)| resp.get(n).is_none())
            .collect();
        let json = self.json.is_some() && is_json_body(resp.get(&CONTENT_TYPE));
        for name in &self.remove {
            resp.remove(name);
        }
        for ((old, new), values) in self.rename.iter().zip(renamed) {
            if values.is_empty() {
                continue;
            }
            resp.remove(new);
            for v in values {
                resp.append(new.clone(), v);
            }
            resp.remove(old);
        }
        for ((name, value), present) in self.replace.iter().zip(replace) {
            if let (true, Some(v)) = (present, value) {
                resp.insert(name.clone(), v.clone());
            }
        }
        for ((name, value), absent) in self.add.iter().zip(add) {
            if let (true, Some(v)) = (absent, value) {
                resp.insert(name.clone(), v.clone());
            }
        }
        for (name, value) in &self.append {
            if let Some(v) = value {
                resp.append(name.clone(), v.clone());
            }
        }
        if json {
            resp.remove(&CONTENT_LENGTH);
            resp.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            ex.json_body = Some(Box::default());
        }
    }

    fn body_filter(&self, chunk: &mut Option<Bytes>, end: bool, ex: &mut Exchange) {
        let (Some(edits), Some(buf)) = (&self.json, ex.json_body.as_mut()) else {
            return;
        };
        if buf.passthrough {
            return;
        }
        if let Some(c) = chunk.take() {
            buf.body.extend_from_slice(&c);
        }
        if buf.body.len() > MAX_JSON_BODY {
            log::warn!(
                "[response-transformer] JSON body over {MAX_JSON_BODY} bytes: sent unchanged"
            );
            buf.passthrough = true;
            *chunk = Some(std::mem::take(&mut buf.body).freeze());
            return;
        }
        if !end {
            return;
        }
        let body = std::mem::take(&mut buf.body).freeze();
        if body.is_empty() {
            // No body (a HEAD, a 204): nothing to edit.
            return;
        }
        *chunk = Some(match edits.apply(&body) {
            Ok(new) => Bytes::from(new),
            Err(e) => {
                log::warn!("[response-transformer] body transform failed: {e}");
                body
            }
        });
    }
}

#[cfg(test)]
mod tests;
