use super::test_pem::{cert_for, key, pair, pem, Kind};
use super::*;
use crate::ids;
use crate::parse_str;

fn yaml_block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn certificate_yaml(cert: &str, key: &str, extra: &str) -> String {
    format!(
        "  - cert: |\n{}    key: |\n{}{extra}",
        yaml_block(cert, 6),
        yaml_block(key, 6)
    )
}

fn errors_of(text: &str) -> Vec<String> {
    parse_str(text).unwrap_err().lines()
}

#[test]
fn names_follow_kongs_wildcard_host() {
    for ok in [
        "example.com",
        "*.example.com",
        "example.*",
        "*",
        "a_b.local",
    ] {
        assert_eq!(check_wildcard_host(ok), Ok(()), "{ok}");
    }
    for (bad, message) in [
        (
            "a.*.com",
            "wildcard must be leftmost or rightmost character",
        ),
        ("*.example.*", "only one wildcard must be specified"),
        ("127.0.0.1", "must not be an IP"),
        ("::1", "must not be an IP"),
        ("example.com:443", "must not have a port"),
        ("exa mple.com", "invalid value: exa mple.com"),
        ("", "length must be at least 1"),
    ] {
        assert_eq!(check_wildcard_host(bad), Err(message.to_string()), "{bad}");
    }
}

#[test]
fn lookup_is_kongs_order() {
    let names = |names: &[&str]| Certificate {
        snis: names
            .iter()
            .map(|n| Sni {
                id: Uuid::nil(),
                name: n.to_string(),
                tags: vec![],
                created_at: None,
                updated_at: None,
            })
            .collect(),
        ..Certificate::new(Uuid::nil(), "", "")
    };
    let certs = vec![
        names(&["api.example.com"]),
        names(&["*.example.com"]),
        names(&["www.example.*"]),
        names(&["*"]),
        names(&["Upper.Example.Org"]),
    ];
    let index = SniIndex::new(&certs);
    assert_eq!(index.find(Some("api.example.com")), Some(0));
    assert_eq!(index.find(Some("API.example.com.")), Some(0));
    assert_eq!(index.find(Some("other.example.com")), Some(1));
    // One label only: `*.example.com` does not cover `a.b.example.com`.
    assert_eq!(index.find(Some("a.b.example.com")), Some(3));
    assert_eq!(index.find(Some("www.example.net")), Some(2));
    assert_eq!(index.find(Some("upper.example.org")), Some(4));
    assert_eq!(index.find(Some("unknown.test")), Some(3));
    assert_eq!(index.find(None), Some(3));
    let without_default = SniIndex::new(&certs[..2]);
    assert_eq!(without_default.find(Some("unknown.test")), None);
    assert_eq!(without_default.find(None), None);
    assert!(SniIndex::new(&[]).is_empty());
}

#[test]
fn a_file_with_certificates_is_parsed_once_and_round_trips() {
    let (cert, key) = pair("a.test", Kind::Rsa);
    let ec = super::test_pem::key(Kind::Ec);
    let text = format!(
        "_format_version: \"3.0\"\ncertificates:\n{}    snis:\n    - a.test\n    - name: \"*.a.test\"\n      tags: [t]\n    cert_alt: |\n{}    key_alt: |\n{}snis:\n- name: b.test\n  certificate: {}\n",
        certificate_yaml(&cert, &key, ""),
        yaml_block(&cert_for("a.test", &ec), 6),
        yaml_block(&pem(&ec), 6),
        ids::certificate_id(&cert),
    );
    let config = parse_str(&text).unwrap();
    let c = &config.certificates[0];
    assert_eq!(c.id, ids::certificate_id(&cert));
    let names: Vec<&str> = c.snis.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a.test", "*.a.test", "b.test"]);
    assert_eq!(c.snis[0].id, ids::sni_id("a.test"));
    assert_eq!(c.snis[1].tags, ["t"]);
    let keys = c.keys.as_ref().expect("parsed");
    assert_eq!(keys.main.chain.len(), 1);
    assert_eq!(keys.alt.as_ref().unwrap().key_type(), openssl::pkey::Id::EC);
    let again = parse_str(&crate::load::to_yaml(&config).unwrap()).unwrap();
    assert_eq!(again, config);
    assert!(
        !format!("{config:?}").contains("PRIVATE KEY"),
        "Debug must not print keys"
    );
}

#[test]
fn bad_certificates_are_field_errors_in_kongs_words() {
    let (cert, key) = pair("a.test", Kind::Rsa);
    let (_, other_key) = pair("b.test", Kind::Rsa);
    let file = |body: String| format!("_format_version: \"3.0\"\ncertificates:\n{body}");
    assert_eq!(
        errors_of(&file(certificate_yaml(&cert, &other_key, ""))),
        ["certificates[0]: certificate does not match key"]
    );
    assert_eq!(
        errors_of(&file(certificate_yaml("not a pem", &key, ""))),
        ["certificates[0].cert: invalid certificate: no PEM certificate found"]
    );
    let e = errors_of(&file(certificate_yaml(&cert, "garbage", "")));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("certificates[0].key: invalid key: "),
        "{e:?}"
    );
    assert_eq!(
        errors_of(&file("  - snis: [a.test]\n".into())),
        [
            "certificates[0].cert: required field missing",
            "certificates[0].key: required field missing"
        ]
    );
    let alt_only = format!("    cert_alt: |\n{}", yaml_block(&cert, 6));
    assert_eq!(
        errors_of(&file(certificate_yaml(&cert, &key, &alt_only))),
        ["certificates[0]: all or none of these fields must be set: 'cert_alt', 'key_alt'"]
    );
    let same_type = format!(
        "    cert_alt: |\n{}    key_alt: |\n{}",
        yaml_block(&cert, 6),
        yaml_block(&key, 6)
    );
    let e = errors_of(&file(certificate_yaml(&cert, &key, &same_type)));
    assert!(e[0].contains("need to have different type"), "{e:?}");
    let wrong_alt = format!(
        "    cert_alt: |\n{}    key_alt: |\n{}",
        yaml_block(&pair("c", Kind::Ec).0, 6),
        yaml_block(&pem(&key_ec()), 6)
    );
    assert_eq!(
        errors_of(&file(certificate_yaml(&cert, &key, &wrong_alt))),
        ["certificates[0]: alternative certificate does not match key"]
    );
}

fn key_ec() -> openssl::pkey::PKey<openssl::pkey::Private> {
    key(Kind::Ec)
}

#[test]
fn sni_names_are_checked_and_unique() {
    let (cert, key) = pair("a.test", Kind::Rsa);
    let (cert2, key2) = pair("b.test", Kind::Rsa);
    let text = format!(
        "_format_version: \"3.0\"\ncertificates:\n{}{}snis:\n- name: other.test\n  certificate: 00000000-0000-0000-0000-000000000001\n- name: x.test\n",
        certificate_yaml(&cert, &key, "    snis: [a.test, \"a.*.test\", 10.0.0.1]\n"),
        certificate_yaml(&cert2, &key2, "    snis: [A.test]\n"),
    );
    assert_eq!(
        errors_of(&text),
        [
            "certificates[0].snis[1].name: wildcard must be leftmost or rightmost character",
            "certificates[0].snis[2].name: must not be an IP",
            "snis[0].certificate: no certificate with id or name \"00000000-0000-0000-0000-000000000001\"",
            "snis[1].certificate: required field missing (a top-level sni must name its certificate)",
            "certificates[1].snis[0].name: duplicate sni name \"A.test\" (also certificates[0].snis[0])",
        ]
    );
}
