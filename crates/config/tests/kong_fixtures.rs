//! The real Kong files of `tests/fixtures/kong-files` (decK's integration data, KIC's golden outputs): each
//! loads, or is refused, as `expected.txt` records, with the same steps as `gateway validate` (load, then
//! compile the routes). A file that stops loading, or starts to, fails this test until `expected.txt` says so.

#![allow(clippy::unwrap_used)] // test set-up: a failure is a test failure

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    // The manifest directory at run time first: a test binary can be shared between checkouts.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../tests/fixtures/kong-files")
}

fn loads(path: &std::path::Path) -> bool {
    gateway_config::load::load_file(path)
        .is_ok_and(|c| gateway_config::router::Router::compile(&c).is_ok())
}

/// The environment the files' decK env templates read (`${{ env "DECK_…" }}`), as decK's tests set one; the
/// values are ours (README.md). The certificate and the JWK are valid ones, so the files load.
fn set_fixture_env() {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "deck.test").unwrap();
    let name = name.build();
    let mut cert = x509::X509Builder::new().unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let pem = |b: Vec<u8>| format!("{:?}", String::from_utf8(b).unwrap());
    // A JWK with the `kid` the files give (decK's own test key).
    let jwk = r#"'{"kty": "RSA", "kid": "vsR8NCNV_1_LB06LqudGa2r-T0y4Z6VQVYue9IQz6A4", "n": "v2KAzzfruqctVHaE9WSCWIg1xAhMwxTIK-i56WNqPtpWBo9AqxcVea8NyVctEjUNq_mix5CklNy3ru7ARh7rBG_LU65fzs4fY_uYalul3QZSnr61Gj-cTUB3Gy4PhA63yXCbYRR3gDy6WR_wfis1MS61j0R_AjgXuVufmmC0F7R9qSWfR8ft0CbQgemEHY3ddKeW7T7fKv1jnRwYAkl5B_xtvxRFIYT-uR9NNftixNpUIW7q8qvOH7D9icXOg4_wIVxTRe5QiRYwEFoUbV1V9bFtu5FLal0vZnLaWwg5tA6enhzBpxJNdrS0v1RcPpyeNP-9r3cUDGmeftwz9v95UQ", "e": "AQAB"}'"#;
    let (cert_pem, key_pem) = (
        String::from_utf8(cert.build().to_pem().unwrap()).unwrap(),
        String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
    );
    // The env vault's variables `{vault://my-env-vault/cert}` reads (its `config.prefix` is `MY_SECRET_`).
    std::env::set_var("MY_SECRET_CERT", &cert_pem);
    std::env::set_var("MY_SECRET_KEY", &key_pem);
    let vars = [
        ("DECK_CLIENT_CERT", pem(cert_pem.into_bytes())),
        (
            "DECK_CLIENT_KEY",
            pem(key.private_key_to_pem_pkcs8().unwrap()),
        ),
        ("DECK_JWK_KEY", jwk.to_string()),
        ("DECK_SVC1_HOSTNAME", "httpbin.test".into()),
        ("DECK_SVC1_HOST", "httpbin.test".into()),
        ("DECK_SERVICE_HOST", "httpbin.test".into()),
        ("DECK_MOCKBIN_HOST", "mockbin.test".into()),
        ("DECK_MOCKBIN_ENABLED", "true".into()),
        ("DECK_WRITE_TIMEOUT", "60000".into()),
        ("DECK_FOO_FLOAT", "1.5".into()),
        ("DECK_RETRIES", "5".into()),
        ("DECK_RATE_LIMIT", "10".into()),
        ("DECK_REDIS_DB", "0".into()),
        ("DECK_REGEX_PRIORITY", "1".into()),
        ("DECK_BARR", "barr".into()),
        ("DECK_BAZZ", "bazz".into()),
        ("DECK_API_KEY", "api-key-value".into()),
        ("DECK_BEARER_TOKEN", "bearer-token-value".into()),
        ("DECK_DATABASE_PASSWORD", "database-password".into()),
        ("DECK_WEBHOOK_SECRET", "webhook-secret".into()),
    ];
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
}

#[test]
fn real_kong_files_load_as_recorded() {
    set_fixture_env();
    let dir = fixtures();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    let mut wrong = Vec::new();
    let (mut total, mut loading) = (0, 0);
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (outcome, file) = line.split_once(' ').expect("`<outcome> <file>`");
        let got = loads(&dir.join(file));
        total += 1;
        loading += usize::from(got);
        if got != (outcome == "loads") {
            wrong.push(format!(
                "{file}: expected {outcome}, got {}",
                if got { "loads" } else { "refused" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} file(s) differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(total, 533);
    assert_eq!(loading, 222, "files that load");
}
