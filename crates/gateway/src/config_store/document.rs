//! The document stored in etcd: a declarative config without the `gateway:` block (the node's own settings
//! stay in its file), read with the file's loader so its errors carry field paths.
//!
//! A block-style YAML document (what `gateway config push` and the Admin API write) is loaded as the file is
//! on a reload: the node's settings appended as a `gateway:` block, the text parsed with a parse cache, so a
//! one-entity change re-parses that entity only. Any other text (JSON, flow style) takes the slower path
//! through a generic value.

use gateway_config::load::{ParseCache, Timings};
use gateway_config::model::{Config, Settings};
use serde_json::Value;

/// The items of the last document parsed (one document per process).
static PARSE_CACHE: std::sync::LazyLock<ParseCache> = std::sync::LazyLock::new(ParseCache::default);

/// Loads `text` (YAML or JSON) with the node's `settings` as its `gateway:` block. The error has one problem
/// per line, each with its field path.
pub fn parse(text: &str, settings: &Settings) -> Result<Config, String> {
    if let Some(full) = with_settings_block(text, settings)? {
        return gateway_config::load::parse_str_cached(
            &full,
            &PARSE_CACHE,
            &mut Timings::default(),
        )
        .map(|(config, _)| config)
        .map_err(|e| e.to_string());
    }
    parse_value(text, settings)
}

/// `text` with `settings` appended as a block-style `gateway:` mapping, when `text` is block-style YAML
/// (its first meaningful line is a top-level `key:`) and has no `gateway:` key of its own; `None` otherwise.
fn with_settings_block(text: &str, settings: &Settings) -> Result<Option<String>, String> {
    let first = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.is_empty() && !l.starts_with('#') && l != &"---");
    let block_style =
        first.is_some_and(|l| !l.starts_with([' ', '\t', '{', '[', '"', '\'']) && l.contains(':'));
    if !block_style || text.lines().any(|l| l.starts_with("gateway:")) {
        return Ok(None);
    }
    let mut full = String::with_capacity(text.len() + 256);
    full.push_str(text);
    if !full.ends_with('\n') {
        full.push('\n');
    }
    let yaml = serde_yaml::to_string(settings).map_err(|e| e.to_string())?;
    if yaml.trim() != "{}" {
        full.push_str("gateway:\n");
        for line in yaml.lines() {
            full.push_str("  ");
            full.push_str(line);
            full.push('\n');
        }
    }
    Ok(Some(full))
}

/// The generic path: the document as a value, the settings inserted, the whole re-serialised and loaded.
fn parse_value(text: &str, settings: &Settings) -> Result<Config, String> {
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
        // JSON takes the generic path, with the same result.
        let json = r#"{"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:1"}]}"#;
        let config = parse(json, &settings).unwrap();
        assert_eq!(config.services.len(), 1);
        assert_eq!(config.gateway.admin_listen, "127.0.0.1:9");
        let e = parse("{\"_format_version\": \"3.0\", \"gateway\": {}}", &settings).unwrap_err();
        assert!(e.starts_with("gateway: not accepted"), "{e}");
    }

    #[test]
    fn the_settings_block_is_appended_to_block_yaml_only() {
        let settings = Settings {
            admin_listen: "127.0.0.1:9".into(),
            ..Settings::default()
        };
        let full = with_settings_block("# c\n_format_version: \"3.0\"", &settings)
            .unwrap()
            .unwrap();
        assert!(
            full.ends_with("\ngateway:\n  admin_listen: 127.0.0.1:9\n"),
            "{full}"
        );
        let bare = with_settings_block("_format_version: \"3.0\"\n", &Settings::default());
        assert_eq!(bare.unwrap().unwrap(), "_format_version: \"3.0\"\n");
        assert!(with_settings_block("{}", &settings).unwrap().is_none());
        assert!(with_settings_block("gateway: {}\n", &settings)
            .unwrap()
            .is_none());
    }
}
