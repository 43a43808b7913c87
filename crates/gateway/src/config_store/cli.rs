//! `gateway config push FILE` and `gateway config pull`: the declarative document into and out of etcd, so the
//! YAML stays the file people review and keep in git. The etcd settings are the node's config file's
//! (`-c`, its `gateway.config_store` block).

use std::path::Path;
use std::process::ExitCode;

use gateway_config::config_store::ConfigStoreSettings;
use gateway_config::model::Settings;

use super::{client, document};

/// The node's settings and its etcd store, or the message saying why there is none.
fn store_of(config: &Path) -> Result<(Settings, ConfigStoreSettings), String> {
    let loaded = crate::control::read(config)
        .map_err(|e| format!("{}: invalid configuration:\n{e}", config.display()))?;
    let settings = loaded.config.gateway;
    match settings.etcd_store() {
        Some(store) => Ok((settings.clone(), store.clone())),
        None => Err(format!(
            "{}: gateway.config_store is not kind: etcd; nothing to push to or pull from",
            config.display()
        )),
    }
}

/// The document to push for `file`: a file with a `gateway:` block is loaded whole and its entities
/// exported (the block is each node's); otherwise its text as written, once it loads with the node's settings.
fn document_of(file: &Path, settings: &Settings) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let has_gateway = serde_yaml::from_str::<serde_json::Value>(&text)
        .ok()
        .is_some_and(|v| v.get("gateway").is_some());
    let (config, doc) = if has_gateway {
        let config = gateway_config::load::parse_str(&text).map_err(|e| e.to_string())?;
        eprintln!(
            "{}: the gateway: block is left out (each node keeps its own settings)",
            file.display()
        );
        let doc = document::export(&config)?;
        (config, doc)
    } else {
        (document::parse(&text, settings)?, text)
    };
    gateway_config::router::Router::compile(&config).map_err(|e| e.to_string())?;
    Ok(doc)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the etcd client: {e}"))
}

/// `gateway config push FILE`: validate `file`, then write it as the document (whatever revision etcd
/// holds; every node applies it).
pub fn push(config: &Path, file: &Path) -> ExitCode {
    let result = (|| {
        let (settings, store) = store_of(config)?;
        let doc = document_of(file, &settings)
            .map_err(|e| format!("{}: invalid configuration:\n{e}", file.display()))?;
        let key = store.config_key();
        let revision = runtime()?.block_on(async {
            let etcd = client::connect(&store).await.map_err(|e| e.to_string())?;
            client::put(&etcd, &key, &doc)
                .await
                .map_err(|e| e.to_string())
        })?;
        println!(
            "pushed {} to etcd {key} (revision {revision})",
            file.display()
        );
        Ok::<_, String>(())
    })();
    finish(result)
}

/// `gateway config pull`: print the document (or write it to `out`).
pub fn pull(config: &Path, out: Option<&Path>) -> ExitCode {
    let result = (|| {
        let (_, store) = store_of(config)?;
        let key = store.config_key();
        let (doc, _) = runtime()?.block_on(async {
            let etcd = client::connect(&store).await.map_err(|e| e.to_string())?;
            client::get(&etcd, &key).await.map_err(|e| e.to_string())
        })?;
        let doc = doc.ok_or_else(|| format!("etcd holds no configuration at {key}"))?;
        match out {
            Some(path) => {
                crate::control::write_atomic(path, doc.text.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                eprintln!(
                    "pulled etcd {key} (revision {}) into {}",
                    doc.revision,
                    path.display()
                );
            }
            None => print!("{}", doc.text),
        }
        Ok::<_, String>(())
    })();
    finish(result)
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
