//! Kong 3.x's tracing header formats (`kong/observability/tracing/propagation/`): extraction of an incoming
//! context (w3c `traceparent`, b3 multi and single header, jaeger `uber-trace-id`, ot `ot-tracer-*`) and
//! injection of the outgoing one in each configured format.

use http::{HeaderMap, HeaderName, HeaderValue};

/// A format built here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// W3C trace context.
    W3c,
    /// b3, one header per field.
    B3,
    /// b3, the single `b3` header.
    B3Single,
    /// Jaeger's `uber-trace-id`.
    Jaeger,
    /// OpenTracing's `ot-tracer-*`.
    Ot,
}

impl Format {
    /// The format of a config name (`None` for `preserve` and formats not built).
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "w3c" => Format::W3c,
            "b3" => Format::B3,
            "b3-single" => Format::B3Single,
            "jaeger" => Format::Jaeger,
            "ot" => Format::Ot,
            _ => return None,
        })
    }
}

/// What an incoming request carried.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    /// The trace id (64-bit ids left-padded with zeros).
    pub trace_id: Option<[u8; 16]>,
    /// The caller's span (the root span's parent).
    pub span_id: Option<[u8; 8]>,
    /// The caller's sampling decision.
    pub sampled: Option<bool>,
    /// The format it was read from (b3's single header: `B3Single`).
    pub format: Option<Format>,
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>width$}", width = 2 * N);
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    if out.iter().all(|b| *b == 0) {
        return None;
    }
    Some(out)
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// Built at compile time (`from_static` outside a const context parses the name on every call).
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Lower-case hex of `b` into `out` (twice as long).
fn hex_into(out: &mut [u8], b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, x) in out.chunks_exact_mut(2).zip(b) {
        pair[0] = HEX[(x >> 4) as usize];
        pair[1] = HEX[(x & 15) as usize];
    }
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `name` is one of the headers [`extract`] reads.
fn is_trace_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "traceparent"
            | "b3"
            | "x-b3-traceid"
            | "x-b3-flags"
            | "x-b3-sampled"
            | "x-b3-spanid"
            | "uber-trace-id"
            | "ot-tracer-traceid"
            | "ot-tracer-spanid"
            | "ot-tracer-sampled"
    )
}

/// The first format of `formats` found in `headers`.
pub fn extract(headers: &HeaderMap, formats: &[Format]) -> Extracted {
    // Most requests carry no trace context: one pass over the few names a request has costs less than a
    // lookup of every name of every format.
    if !headers.keys().any(is_trace_header) {
        return Extracted::default();
    }
    for f in formats {
        let found = match f {
            Format::W3c => w3c(headers),
            Format::B3 | Format::B3Single => b3(headers),
            Format::Jaeger => jaeger(headers),
            Format::Ot => ot(headers),
        };
        if let Some(e) = found {
            return e;
        }
    }
    Extracted::default()
}

fn w3c(h: &HeaderMap) -> Option<Extracted> {
    let v = get(h, "traceparent")?;
    let parts: Vec<&str> = v.trim().split('-').collect();
    if parts.len() < 4 || parts[0].len() != 2 || parts[0] == "ff" {
        return None;
    }
    if parts[1].len() != 32 || parts[2].len() != 16 || parts[3].len() != 2 {
        return None;
    }
    let flags = u8::from_str_radix(parts[3], 16).ok()?;
    Some(Extracted {
        trace_id: Some(unhex(parts[1])?),
        span_id: Some(unhex(parts[2])?),
        sampled: Some(flags & 1 == 1),
        format: Some(Format::W3c),
    })
}

fn sampled_flag(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "true" | "d" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn b3(h: &HeaderMap) -> Option<Extracted> {
    if let Some(single) = get(h, "b3") {
        let parts: Vec<&str> = single.trim().split('-').collect();
        if parts.len() == 1 {
            return Some(Extracted {
                sampled: sampled_flag(parts[0]),
                format: Some(Format::B3Single),
                ..Extracted::default()
            });
        }
        return Some(Extracted {
            trace_id: Some(unhex(parts[0])?),
            span_id: Some(unhex(parts[1])?),
            sampled: parts.get(2).and_then(|s| sampled_flag(s)),
            format: Some(Format::B3Single),
        });
    }
    let trace = get(h, "x-b3-traceid");
    let sampled = match get(h, "x-b3-flags") {
        Some("1") => Some(true),
        _ => get(h, "x-b3-sampled").and_then(sampled_flag),
    };
    if trace.is_none() && sampled.is_none() {
        return None;
    }
    Some(Extracted {
        trace_id: trace.and_then(unhex),
        span_id: get(h, "x-b3-spanid").and_then(unhex),
        sampled,
        format: Some(Format::B3),
    })
}

fn jaeger(h: &HeaderMap) -> Option<Extracted> {
    let v = get(h, "uber-trace-id")?;
    let parts: Vec<&str> = v.trim().split(':').collect();
    if parts.len() != 4 {
        return None;
    }
    let flags = u8::from_str_radix(parts[3], 16).ok()?;
    Some(Extracted {
        trace_id: Some(unhex(parts[0])?),
        span_id: Some(unhex(parts[1])?),
        sampled: Some(flags & 1 == 1),
        format: Some(Format::Jaeger),
    })
}

fn ot(h: &HeaderMap) -> Option<Extracted> {
    let trace = get(h, "ot-tracer-traceid")?;
    Some(Extracted {
        trace_id: Some(unhex(trace)?),
        span_id: get(h, "ot-tracer-spanid").and_then(unhex),
        sampled: get(h, "ot-tracer-sampled").and_then(sampled_flag),
        format: Some(Format::Ot),
    })
}

/// The context sent upstream.
pub struct Outgoing<'a> {
    /// The trace id.
    pub trace_id: &'a [u8; 16],
    /// The span the upstream request is a child of (the attempt's).
    pub span_id: &'a [u8; 8],
    /// That span's parent (the root span).
    pub parent_id: Option<&'a [u8; 8]>,
    /// The sampling decision.
    pub sampled: bool,
}

/// The headers of `format` for `ctx`.
pub fn inject(format: Format, ctx: &Outgoing<'_>, out: &mut Vec<(HeaderName, HeaderValue)>) {
    let flag = if ctx.sampled { "1" } else { "0" };
    let hexes = || (hex(ctx.trace_id), hex(ctx.span_id));
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    match format {
        Format::W3c => {
            // The default format, on every proxied request: written in place, without temporary strings.
            let mut v = *b"00-00000000000000000000000000000000-0000000000000000-00";
            hex_into(&mut v[3..35], ctx.trace_id);
            hex_into(&mut v[36..52], ctx.span_id);
            v[54] = flag.as_bytes()[0];
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                out.push((TRACEPARENT, v));
            }
        }
        Format::B3 => {
            let (trace, span) = hexes();
            put("x-b3-traceid", trace);
            put("x-b3-spanid", span);
            if let Some(p) = ctx.parent_id {
                put("x-b3-parentspanid", hex(p));
            }
            put("x-b3-sampled", flag.to_string());
        }
        Format::B3Single => {
            let (trace, span) = hexes();
            let parent = ctx
                .parent_id
                .map(|p| format!("-{}", hex(p)))
                .unwrap_or_default();
            put("b3", format!("{trace}-{span}-{flag}{parent}"));
        }
        Format::Jaeger => {
            let (trace, span) = hexes();
            let parent = ctx.parent_id.map_or("0".to_string(), |p| hex(p));
            put("uber-trace-id", format!("{trace}:{span}:{parent}:0{flag}"));
        }
        Format::Ot => {
            let (trace, span) = hexes();
            put("ot-tracer-traceid", trace);
            put("ot-tracer-spanid", span);
            put("ot-tracer-sampled", flag.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn traceparent_is_written_as_w3c_says() {
        let trace: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
        let span: [u8; 8] = std::array::from_fn(|i| 0xa0 + i as u8);
        for (sampled, flag) in [(true, "01"), (false, "00")] {
            let ctx = Outgoing {
                trace_id: &trace,
                span_id: &span,
                parent_id: None,
                sampled,
            };
            let mut out = Vec::new();
            inject(Format::W3c, &ctx, &mut out);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].0, "traceparent");
            let want = format!("00-0102030405060708090a0b0c0d0e0f10-a0a1a2a3a4a5a6a7-{flag}");
            assert_eq!(out[0].1, want.as_str());
        }
    }

    #[test]
    fn no_trace_header_extracts_nothing() {
        let h = headers(&[("host", "x"), ("x-b3", "1"), ("traceparent2", "00-ab")]);
        let e = extract(&h, &[Format::W3c, Format::B3, Format::Jaeger, Format::Ot]);
        assert!(e.trace_id.is_none() && e.sampled.is_none() && e.format.is_none());
    }

    #[test]
    fn each_format_round_trips() {
        let all = [Format::B3, Format::W3c, Format::Jaeger, Format::Ot];
        for f in [
            Format::W3c,
            Format::B3,
            Format::B3Single,
            Format::Jaeger,
            Format::Ot,
        ] {
            let mut out = Vec::new();
            let ctx = Outgoing {
                trace_id: &[0xab; 16],
                span_id: &[0xcd; 8],
                parent_id: Some(&[0xef; 8]),
                sampled: true,
            };
            inject(f, &ctx, &mut out);
            let mut h = HeaderMap::new();
            for (n, v) in out {
                h.insert(n, v);
            }
            let e = extract(&h, &all);
            assert_eq!(e.trace_id, Some([0xab; 16]), "{f:?}");
            assert_eq!(e.span_id, Some([0xcd; 8]), "{f:?}");
            assert_eq!(e.sampled, Some(true), "{f:?}");
            assert_eq!(e.format, Some(f), "{f:?}");
        }
    }

    #[test]
    fn extraction_follows_the_configured_order_and_rejects_bad_ids() {
        let h = headers(&[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            ),
            ("x-b3-traceid", "80f198ee56343ba8"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ]);
        let e = extract(&h, &[Format::W3c, Format::B3]);
        assert_eq!(e.format, Some(Format::W3c));
        assert_eq!(e.sampled, Some(false));
        let e = extract(&h, &[Format::B3, Format::W3c]);
        assert_eq!(e.format, Some(Format::B3));
        assert_eq!(
            hex(&e.trace_id.unwrap()),
            "000000000000000080f198ee56343ba8"
        );
        let bad = headers(&[(
            "traceparent",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        )]);
        assert_eq!(extract(&bad, &[Format::W3c]), Extracted::default());
    }
}
