//! The document stored in etcd: a declarative config without the `gateway:` block (the node's own settings
//! stay in its file), read with the file's loader so its errors carry field paths.

use gateway_config::model::{Config, Settings};
use serde_json::Value;

/// Loads `text` (YAML or JSON) with the node's `settings` as its `gateway:` block. The error has one problem
/// per line, each with its field path.
pub fn parse(text: &str, settings: &Settings) -> Result<Config, String> {
    let mut doc: Value = match serde_yaml::from_str::<Value>(text) {
        Ok(doc @ Value::Object(_)) => doc,
        Ok(_) => return Err("the document is not an object".into()),
        Err(e) => return Err(format!("the document is not YAML or JSON: {e}")),
    };
    if doc.get("gateway").is_some() {
        return Err(
            "gateway: not accepted in the etcd document: the gateway settings are each node's, in its file"
                .into(),
        );
    }
    let gateway = serde_json::to_value(settings).map_err(|e| e.to_string())?;
    if gateway.as_object().is_some_and(|m| !m.is_empty()) {
        doc["gateway"] = gateway;
    }
    let text = serde_yaml::to_string(&doc).map_err(|e| e.to_string())?;
    gateway_config::load::parse_str(&text).map_err(|e| e.to_string())
}

/// The document of `config`'s entities (no `gateway:` block), as `GET /config` exports it.
pub fn export(config: &Config) -> Result<String, String> {
    gateway_config::kong::declarative::export(config)
        .map_err(|e| format!("cannot serialise the config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_load_with_the_node_settings() {
        let settings = Settings {
            admin_listen: "127.0.0.1:9".into(),
            ..Settings::default()
        };
        let text = "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n";
        let config = parse(text, &settings).unwrap();
        assert_eq!(config.gateway.admin_listen, "127.0.0.1:9");
        assert_eq!(config.services.len(), 1);
        let again = parse(&export(&config).unwrap(), &settings).unwrap();
        assert_eq!(again.services.len(), 1);
        let e = parse("_format_version: \"3.0\"\ngateway: {}\n", &settings).unwrap_err();
        assert!(e.starts_with("gateway: not accepted"), "{e}");
        let e = parse(
            "_format_version: \"3.0\"\nservices:\n- name: s\n  url: ftp://x\n",
            &settings,
        )
        .unwrap_err();
        assert!(e.contains("services[0]"), "{e}");
        assert!(parse("[1]", &settings).is_err());
    }
}
