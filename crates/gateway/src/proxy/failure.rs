//! How a failed proxy attempt is read: the status and Kong's message the client gets (`fail_to_proxy`), and
//! the event the balancer's passive health checks count.

use pingora::{Error, ErrorSource, ErrorType};

use crate::balancer::{self, Outcome};
use crate::plugins::request_size_limiting;
use crate::responses;

use super::Ctx;

/// The passive-check event of a failed attempt.
pub(super) fn failure_outcome(e: &Error) -> Outcome {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            Outcome::Timeout
        }
        _ if e.esource() == &ErrorSource::Downstream => Outcome::Unknown,
        _ => Outcome::TcpFailure,
    }
}

/// Status and Kong's message for a proxy failure.
pub(super) fn error_response(e: &Error) -> (u16, &'static str) {
    use ErrorType::*;
    match e.etype() {
        HTTPStatus(code) => (*code, responses::BAD_GATEWAY),
        Custom(name) if *name == balancer::NO_PEER => (503, responses::NO_PEER),
        t if *t == request_size_limiting::STREAMED_413 => (413, responses::TOO_LARGE),
        t if *t == request_size_limiting::STREAMED_417 => (417, responses::TOO_LARGE),
        ConnectTimedout | ReadTimedout | WriteTimedout => (504, responses::TIMEOUT),
        _ => match e.esource() {
            ErrorSource::Upstream => (502, responses::BAD_GATEWAY),
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed => (0, ""),
                _ => (400, responses::BAD_REQUEST),
            },
            ErrorSource::Internal | ErrorSource::Unset => (500, responses::UNEXPECTED),
        },
    }
}

/// The matched service's host (for error messages).
pub(super) fn upstream_host(ctx: &Ctx) -> &str {
    ctx.matched
        .and_then(|m| ctx.snap.services.get(m.service?))
        .map_or("", |svc| svc.host.as_str())
}
