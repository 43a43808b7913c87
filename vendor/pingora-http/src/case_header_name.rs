// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

use crate::*;
use bytes::Bytes;
use http::header;
use pingora_error::{ErrorType::InvalidHTTPHeader, OrErr, Result};

#[derive(Debug, Clone)]
pub struct CaseHeaderName(Repr);

/// The bytes of a case-preserving name, or a typed [HeaderName] written as it is (lower case): a typed
/// name is kept as itself rather than copied into new bytes.
#[derive(Debug, Clone)]
enum Repr {
    Bytes(Bytes),
    Name(HeaderName),
}

impl CaseHeaderName {
    pub fn new(name: String) -> Self {
        CaseHeaderName(Repr::Bytes(name.into()))
    }
}

impl CaseHeaderName {
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(b) => b,
            Repr::Name(n) => n.as_str().as_bytes(),
        }
    }

    pub fn from_slice(buf: &[u8]) -> Self {
        CaseHeaderName(Repr::Bytes(Bytes::copy_from_slice(buf)))
    }

    /// The case a typed name is written with: the title case of the common ones, otherwise the name
    /// itself, without copying it.
    pub(crate) fn of_header_name(name: HeaderName) -> Self {
        match titled_header_name_str(&name) {
            Some(s) => CaseHeaderName(Repr::Bytes(Bytes::from_static(s.as_bytes()))),
            None => CaseHeaderName(Repr::Name(name)),
        }
    }
}

/// A trait that converts into case-sensitive header names.
pub trait IntoCaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName;

    /// The parsed [HeaderName] and, when `with_case` (the header keeps its names' case) and the case
    /// differs from the name's default (what Pingora writes for a name without case: the titled form of
    /// a dozen standard names, else the lower-case name), the case to write. The default parses
    /// [Self::into_case_header_name]'s bytes; a typed [HeaderName] is used as it is, neither parsed again
    /// nor copied, and has its default case.
    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)>
    where
        Self: Sized,
    {
        let case_header_name = self.into_case_header_name();
        let header_name = HeaderName::from_bytes(case_header_name.as_slice())
            .or_err(InvalidHTTPHeader, "invalid header name")?;
        let default = titled_header_name_str(&header_name).unwrap_or(header_name.as_str());
        let keep = with_case && case_header_name.as_slice() != default.as_bytes();
        Ok((header_name, keep.then_some(case_header_name)))
    }
}

impl IntoCaseHeaderName for CaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        self
    }
}

impl IntoCaseHeaderName for String {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(Repr::Bytes(self.into()))
    }
}

impl IntoCaseHeaderName for &'static str {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(Repr::Bytes(self.into()))
    }
}

impl IntoCaseHeaderName for HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName::of_header_name(self)
    }

    fn into_header_names(self, _with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)> {
        // Written with its default case: nothing to keep.
        Ok((self, None))
    }
}

impl IntoCaseHeaderName for &HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName::of_header_name(self.clone())
    }

    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)> {
        self.clone().into_header_names(with_case)
    }
}

impl IntoCaseHeaderName for Bytes {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(Repr::Bytes(self))
    }
}

pub(crate) fn titled_header_name_str(header_name: &HeaderName) -> Option<&'static str> {
    Some(match *header_name {
        header::ACCEPT_RANGES => "Accept-Ranges",
        header::AGE => "Age",
        header::CACHE_CONTROL => "Cache-Control",
        header::CONNECTION => "Connection",
        header::CONTENT_TYPE => "Content-Type",
        header::CONTENT_ENCODING => "Content-Encoding",
        header::CONTENT_LENGTH => "Content-Length",
        header::DATE => "Date",
        header::TRANSFER_ENCODING => "Transfer-Encoding",
        header::HOST => "Host",
        header::SERVER => "Server",
        header::SET_COOKIE => "Set-Cookie",
        // TODO: add more const header here to map to their titled case
        // TODO: automatically upper case the first letter?
        _ => {
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_case_header_name() {
        assert_eq!("FoO".into_case_header_name().as_slice(), b"FoO");
        assert_eq!("FoO".to_string().into_case_header_name().as_slice(), b"FoO");
        assert_eq!(header::SERVER.into_case_header_name().as_slice(), b"Server");
    }

    #[test]
    fn typed_names_are_used_as_they_are() {
        let custom = HeaderName::from_static("x-forwarded-for");
        let (name, case) = custom.clone().into_header_names(true).unwrap();
        assert_eq!(name, custom);
        assert!(case.is_none(), "a typed name has its default case");
        let (name, case) = (&header::CONTENT_TYPE).into_header_names(true).unwrap();
        assert_eq!(name, header::CONTENT_TYPE);
        assert!(case.is_none());
        assert_eq!(
            CaseHeaderName::of_header_name(header::CONTENT_TYPE).as_slice(),
            b"Content-Type"
        );
        assert!(custom.into_header_names(false).unwrap().1.is_none());
    }

    #[test]
    fn untyped_names_are_parsed_and_keep_their_case() {
        let (name, case) = "X-Foo".into_header_names(true).unwrap();
        assert_eq!(name.as_str(), "x-foo");
        assert_eq!(case.unwrap().as_slice(), b"X-Foo");
        // A name written as its default (lower case; the titled standard ones) keeps nothing.
        assert!("x-foo".into_header_names(true).unwrap().1.is_none());
        assert!("Content-Length"
            .into_header_names(true)
            .unwrap()
            .1
            .is_none());
        let (_, case) = "content-length".into_header_names(true).unwrap();
        assert_eq!(case.unwrap().as_slice(), b"content-length");
        assert!("bad name".into_header_names(true).is_err());
        assert!("bad name".to_string().into_header_names(false).is_err());
    }
}
