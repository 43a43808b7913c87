//! The sparse case map against a model: random inserts, appends and removals with names in various cases
//! (typed, lower case, titled, mixed) must write every value with the case it was given, as the dense
//! case map of stock Pingora did.

use super::*;
use std::collections::BTreeMap;

/// A small deterministic generator (no dependency): xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Names in the cases a proxy meets: read off the wire as sent, or typed (written with their default).
const SPELLINGS: &[&[&str]] = &[
    &["Host", "host", "HOST"],
    &["User-Agent", "user-agent"],
    &["X-Foo", "x-foo", "X-FOO"],
    &["Content-Length", "content-length"],
    &["X-RateLimit-Limit-Minute", "x-ratelimit-limit-minute"],
    &["Set-Cookie", "set-cookie", "SET-COOKIE"],
    &["Via", "via"],
];

/// The header's lines as (name as written, value), grouped by lower-case name in the order written.
fn written(lines: &[u8]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in String::from_utf8(lines.to_vec()).unwrap().split("\r\n") {
        if let Some((name, value)) = line.split_once(": ") {
            let entry = out.entry(name.to_ascii_lowercase()).or_default();
            entry.push((name.to_owned(), value.to_owned()));
        }
    }
    out
}

fn check(resp: &ResponseHeader, model: &BTreeMap<String, Vec<(String, String)>>, step: usize) {
    let mut wire = Vec::new();
    resp.header_to_h1_wire(&mut wire);
    assert_eq!(&written(&wire), model, "step {step}");
    // The other views agree with the wire.
    let mut via_iter = Vec::new();
    for (name, value) in resp.case_header_iter() {
        via_iter.extend_from_slice(name.as_slice());
        via_iter.extend_from_slice(b": ");
        via_iter.extend_from_slice(value.as_bytes());
        via_iter.extend_from_slice(b"\r\n");
    }
    assert_eq!(via_iter, wire, "step {step}");
    let mut via_map = Vec::new();
    resp.map(|name, value| {
        let name = match name {
            HeaderNameVariant::Case(c) => c.as_slice().to_vec(),
            HeaderNameVariant::Titled(t) => t.as_bytes().to_vec(),
        };
        via_map.extend_from_slice(&name);
        via_map.extend_from_slice(b": ");
        via_map.extend_from_slice(value.as_bytes());
        via_map.extend_from_slice(b"\r\n");
        Ok(())
    })
    .unwrap();
    assert_eq!(via_map, wire, "step {step}");
}

#[test]
fn every_value_is_written_with_the_case_it_was_given() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut resp = ResponseHeader::build(200, Some(rng.below(4))).unwrap();
        let mut model: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for step in 0..40 {
            let spellings = SPELLINGS[rng.below(SPELLINGS.len())];
            let lower = spellings[0].to_ascii_lowercase();
            let typed = rng.below(4) == 0;
            let spelling = spellings[rng.below(spellings.len())];
            let value = format!("v{seed}-{step}");
            // A typed name is written with its default case: the titled standard name, else lower case.
            let name = HeaderName::from_bytes(lower.as_bytes()).unwrap();
            let as_written = match typed {
                true => default_case(&name).to_owned(),
                false => spelling.to_owned(),
            };
            match rng.below(5) {
                0 | 1 => {
                    match typed {
                        true => resp.append_header(name, value.as_str()).unwrap(),
                        false => resp
                            .append_header(spelling.to_owned(), value.as_str())
                            .unwrap(),
                    };
                    model.entry(lower).or_default().push((as_written, value));
                }
                2 | 3 => {
                    match typed {
                        true => resp.insert_header(name, value.as_str()).unwrap(),
                        false => resp
                            .insert_header(spelling.to_owned(), value.as_str())
                            .unwrap(),
                    };
                    model.insert(lower, vec![(as_written, value)]);
                }
                _ => {
                    resp.remove_header(&name);
                    model.remove(&lower);
                }
            }
            check(&resp, &model, step);
            check(&resp.clone(), &model, step);
        }
    }
}

#[test]
fn default_cased_names_keep_no_case_entries() {
    let mut resp = ResponseHeader::build(200, Some(4)).unwrap();
    resp.append_header("Content-Length", "0").unwrap();
    resp.append_header("Date", "x").unwrap();
    resp.insert_header(HeaderName::from_static("x-ratelimit-limit-minute"), "5")
        .unwrap();
    resp.insert_header("x-lower", "1").unwrap();
    assert!(resp.header_name_map.as_ref().unwrap().map.is_empty());
    resp.append_header("X-Mixed", "1").unwrap();
    let cases = &resp.header_name_map.as_ref().unwrap().map;
    assert_eq!(cases.len(), 1);
    let mut wire = Vec::new();
    resp.header_to_h1_wire(&mut wire);
    assert_eq!(
        wire,
        b"Content-Length: 0\r\nDate: x\r\nx-ratelimit-limit-minute: 5\r\nx-lower: 1\r\nX-Mixed: 1\r\n"
    );
}
