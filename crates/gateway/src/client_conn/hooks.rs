//! The proxy's side of the client deadlines: per request, Pingora's per-read (`client_body_timeout`) and
//! per-write (`send_timeout`) session timeouts and its keep-alive wait (`keepalive_timeout`), the phase changes of the connection's [`super::ConnState`],
//! the count of the timeouts Pingora reports, and the answer to a request whose body timed out (408).

use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

use super::{state, ConnLimits};
use crate::metrics::Metrics;
use crate::responses;

/// The request head is read (`early_request_filter`): set the session's timeouts; the head's deadline ends
/// and the body's starts.
pub fn request_started(session: &mut Session, limits: &ConnLimits) {
    session.set_read_timeout(Some(limits.body_read));
    session.set_write_timeout(Some(limits.send));
    // Pingora keeps a reused HTTP/1.1 connection waiting for its next request without limit: bound it
    // (a client's `Connection: close` still wins). A connection accepted as a `ClientStream` bounds it there
    // (its idle phase), with one timer per connection; Pingora's own keep-alive timeout would arm and
    // cancel a timer for every request (the next request is rarely there yet when the answer is written),
    // so it stays unbounded (`Some(0)`).
    if session.as_ref().stream().is_some() {
        let ours = state(session).is_some();
        session.set_keepalive(Some(if ours { 0 } else { limits.keepalive_secs }));
    }
    let has_body = !session.is_body_empty();
    if let Some(st) = state(session) {
        st.head_done(has_body);
    }
}

/// A piece of the request body was read (`request_body_filter`).
pub fn body_read(session: &Session, end_of_stream: bool) {
    if end_of_stream {
        if let Some(st) = state(session) {
            st.body_done();
        }
    }
}

/// The request is over (`logging`): count a timeout Pingora reported, and let the connection idle.
pub fn request_ended(session: &Session, e: Option<&Error>, metrics: &Metrics) {
    if let Some(kind) = e.and_then(timeout_kind) {
        metrics.client_timeouts.with_label_values(&[kind]).inc();
    }
    if let Some(st) = state(session) {
        st.request_done();
    }
}

/// Which client timeout `e` is, if it is one Pingora's session timeouts raised.
fn timeout_kind(e: &Error) -> Option<&'static str> {
    if e.esource() != &ErrorSource::Downstream {
        return None;
    }
    match e.etype() {
        ErrorType::ReadTimedout => Some("body"),
        ErrorType::WriteTimedout => Some("send"),
        _ => None,
    }
}

/// The answer to a request the client was too slow in (`fail_to_proxy`): 408 with Kong's message for a body
/// (`client_body_timeout` or `client_body_total_timeout`), nothing for a client that does not read.
pub fn client_timeout_response(session: &Session, e: &Error) -> Option<(u16, &'static str)> {
    if state(session).is_some_and(|s| s.body_timed_out()) {
        return Some((408, responses::REQUEST_TIMEOUT));
    }
    match timeout_kind(e) {
        Some("body") => Some((408, responses::REQUEST_TIMEOUT)),
        Some(_) => Some((0, "")),
        None => None,
    }
}
