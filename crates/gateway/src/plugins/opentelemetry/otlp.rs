//! A small hand-written encoder of the OTLP trace protobuf messages (`opentelemetry/proto/trace/v1/
//! trace.proto`, `collector/trace/v1/trace_service.proto`): the few messages a request's trace needs, written
//! straight into one buffer with no intermediate structs. Each request's spans are encoded (as repeated
//! `ScopeSpans.spans` fields) when the request ends; a batch is those bytes concatenated inside one
//! `ExportTraceServiceRequest` — protobuf's repeated fields concatenate, so batching is a copy.

/// A protobuf wire writer over a `Vec<u8>`.
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }

    /// A length-delimited field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A varint field (enums, ints).
    pub fn uint(&mut self, field: u32, v: u64) {
        self.tag(field, 0);
        self.varint(v);
    }

    /// A fixed64 field (timestamps).
    pub fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A nested message written by `f`.
    pub fn message(&mut self, field: u32, f: impl FnOnce(&mut Writer<'_>)) {
        let mut inner = Vec::new();
        f(&mut Writer(&mut inner));
        self.bytes(field, &inner);
    }
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Value {
    /// `string_value`.
    Str(String),
    /// `int_value`.
    Int(i64),
}

/// A `KeyValue` as field `field` of the enclosing message.
pub fn attribute(w: &mut Writer<'_>, field: u32, key: &str, value: &Value) {
    w.message(field, |kv| {
        kv.bytes(1, key.as_bytes());
        kv.message(2, |any| match value {
            Value::Str(s) => any.bytes(1, s.as_bytes()),
            Value::Int(i) => any.uint(3, *i as u64),
        });
    });
}

/// Span kinds (`Span.SpanKind`).
pub const KIND_INTERNAL: u64 = 1;
/// The request's root span.
pub const KIND_SERVER: u64 = 2;
/// Calls the gateway makes (upstream, IdP).
pub const KIND_CLIENT: u64 = 3;

/// One span, ready to encode.
#[derive(Debug, Clone)]
pub struct Span {
    /// The span's id.
    pub id: [u8; 8],
    /// Its parent (`None`: a root without parent).
    pub parent: Option<[u8; 8]>,
    /// Name (`kong`, `kong.router`, `kong.access.plugin.<name>`, `kong.balancer`, `kong.internal.request`).
    pub name: std::borrow::Cow<'static, str>,
    /// Kind.
    pub kind: u64,
    /// Start, Unix nanoseconds.
    pub start: u64,
    /// End, Unix nanoseconds.
    pub end: u64,
    /// Attributes.
    pub attributes: Vec<(&'static str, Value)>,
    /// An error message (status ERROR).
    pub error: Option<String>,
}

/// Appends `span` to `out` as a `ScopeSpans.spans` field (number 2) of the trace `trace_id`.
pub fn encode_span(out: &mut Vec<u8>, trace_id: &[u8; 16], span: &Span) {
    Writer(out).message(2, |w| {
        w.bytes(1, trace_id);
        w.bytes(2, &span.id);
        if let Some(p) = &span.parent {
            w.bytes(4, p);
        }
        w.bytes(5, span.name.as_bytes());
        w.uint(6, span.kind);
        w.fixed64(7, span.start);
        w.fixed64(8, span.end.max(span.start));
        for (k, v) in &span.attributes {
            attribute(w, 9, k, v);
        }
        if let Some(e) = &span.error {
            w.message(15, |st| {
                st.bytes(2, e.as_bytes());
                st.uint(3, 2);
            });
        }
    });
}

/// An `ExportTraceServiceRequest` of one resource and Kong's scope over `spans` (encoded [`encode_span`]
/// outputs, concatenated).
pub fn export_request(resource: &[(String, String)], spans: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spans.iter().map(Vec::len).sum::<usize>() + 256);
    Writer(&mut out).message(1, |rs| {
        rs.message(1, |r| {
            for (k, v) in resource {
                attribute(r, 1, k, &Value::Str(v.clone()));
            }
        });
        rs.message(2, |ss| {
            ss.message(1, |scope| {
                scope.bytes(1, b"kong-internal");
                scope.bytes(2, b"0.1.0");
            });
            for s in spans {
                ss.0.extend_from_slice(s);
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_a_span_encode_as_protobuf() {
        let mut v = Vec::new();
        Writer(&mut v).uint(1, 300);
        assert_eq!(v, [0x08, 0xac, 0x02]);
        let span = Span {
            id: [2; 8],
            parent: None,
            name: "kong".into(),
            kind: KIND_SERVER,
            start: 1,
            end: 2,
            attributes: vec![("http.status_code", Value::Int(200))],
            error: None,
        };
        let mut s = Vec::new();
        encode_span(&mut s, &[1; 16], &span);
        // field 2, length-delimited; then trace_id (field 1, 16 bytes).
        assert_eq!(s[0], 0x12);
        assert_eq!(&s[2..4], &[0x0a, 16]);
        let req = export_request(&[("service.name".into(), "kong".into())], &[s.clone()]);
        assert!(req.windows(s.len()).any(|w| w == s.as_slice()));
    }
}
