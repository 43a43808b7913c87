//! A file in the shape Kong's own dumps have (every plugin field written out, credentials nested under their
//! consumer, grpc protocols on plugins) with consumers, all four credential kinds and the four plugins that use
//! them, loaded unchanged: each plugin typed with the values written, each credential found by what the
//! plugins look it up by.

use std::path::PathBuf;

use gateway_config::credentials::CredentialIndex;
use gateway_config::plugins::PluginConfig;

#[test]
fn a_kong_dump_with_credentials_and_the_auth_plugins_loads_unchanged() {
    // The manifest directory at run time first: a test binary can be shared between checkouts.
    let path = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../tests/fixtures/kong-dump/credentials-and-auth-plugins.yaml");
    let config = gateway_config::load::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    gateway_config::router::Router::compile(&config).expect("routes compile");
    let service = &config.services[0];
    let typed = |p: &gateway_config::model::Plugin| p.typed.as_ref().map(|t| t.spec.name);
    assert_eq!(typed(&service.plugins[0]), Some("acl"));
    let route_plugins: Vec<_> = (service.routes.iter())
        .map(|r| typed(&r.plugins[0]))
        .collect();
    assert_eq!(
        route_plugins,
        [Some("key-auth"), Some("basic-auth"), Some("jwt")]
    );
    // The values written, not defaults: basic-auth hides credentials, jwt verifies exp.
    let basic = &service.routes[1].plugins[0]
        .typed
        .as_ref()
        .unwrap()
        .canonical;
    assert_eq!(basic["hide_credentials"], true);
    let jwt = &service.routes[2].plugins[0]
        .typed
        .as_ref()
        .unwrap()
        .canonical;
    assert_eq!(jwt["claims_to_verify"], serde_json::json!(["exp"]));
    assert!(matches!(
        service.plugins[0].typed.as_ref().unwrap().config,
        PluginConfig::Acl(_)
    ));

    let index = CredentialIndex::new(&config);
    let (consumer, credential) = index.keyauth_credential("alice-api-key-0f0a4a0f").unwrap();
    assert_eq!(
        config.consumers[consumer].username.as_deref(),
        Some("alice")
    );
    assert_eq!(
        credential.as_bytes(),
        b"3f1d2b7a-1c11-4d33-8a44-0f0a4a0f0104"
    );
    let (consumer, _) = index.basicauth("alice-basic").unwrap();
    assert_eq!(consumer, 0);
    assert_eq!(index.jwt("alice-iss").map(|j| j.consumer), Some(0));
    assert_eq!(index.groups(0), ["gold"]);
    assert!(index.groups(1).is_empty());
}
