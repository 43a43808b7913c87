//! The etcd calls the store makes: connect (endpoints, auth, TLS, timeouts), read the document,
//! compare-and-swap it, create it when absent. Every failure is a [`StoreError`]; no secret reaches a message.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, OpenSslClientConfig, Txn,
    TxnOp, TxnOpResponse,
};
use gateway_config::config_store::ConfigStoreSettings;

use super::{Document, StoreError};

/// Largest message read or written (a document of 10,000 services is a few MB; etcd's own request limit,
/// `--max-request-bytes`, is the tighter bound).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Connects to etcd (lazily: the first call opens the connection, so this fails only on bad settings or a
/// refused login).
pub async fn connect(settings: &ConfigStoreSettings) -> Result<Client, StoreError> {
    let timeout = Duration::from_millis(settings.timeout);
    let mut options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout)
        .with_keep_alive(Duration::from_secs(2), timeout)
        .with_keep_alive_while_idle(true);
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        options = options.with_user(user.clone(), password.clone());
    }
    if let Some(tls) = &settings.tls {
        options = options.with_openssl_tls(openssl_config(tls)?);
    }
    let connect = Client::connect(&settings.endpoints, Some(options));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer within {} ms",
            settings.timeout
        ))),
    }
}

/// The TLS settings as the client's OpenSSL connector (files read now).
fn openssl_config(
    tls: &gateway_config::config_store::StoreTls,
) -> Result<OpenSslClientConfig, StoreError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", p.display())))
    };
    let mut config = OpenSslClientConfig::default();
    if let Some(ca) = &tls.ca_cert {
        config = config.ca_cert_pem(&read(ca)?);
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        config = config.client_cert_pem_and_key(&read(cert)?, &read(key)?);
    }
    Ok(config)
}

/// etcd's error as a store error: the gRPC status message (a refused connection, a timeout, etcd's own
/// message), which never carries the password.
pub fn unavailable(e: etcd_client::Error) -> StoreError {
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            let source = std::error::Error::source(&status)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            StoreError::Unavailable(format!("{}{source}", status.message()))
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The KV client with the size limits of [`MAX_MESSAGE`].
pub fn kv(client: &Client) -> KvClient {
    client
        .kv_client()
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// Reads the document at `key` (`None`: no such key) and etcd's current revision.
pub async fn get(client: &Client, key: &str) -> Result<(Option<Document>, i64), StoreError> {
    let resp = kv(client).get(key, None).await.map_err(unavailable)?;
    let header = resp.header().map(|h| h.revision()).unwrap_or(0);
    let doc = match resp.kvs().first() {
        Some(kv) => Some(Document {
            text: kv
                .value_str()
                .map_err(|_| {
                    StoreError::Unavailable(format!("the value at {key} is not UTF-8 text"))
                })?
                .to_owned(),
            revision: kv.mod_revision(),
        }),
        None => None,
    };
    Ok((doc, header))
}

/// Writes `text` at `key` if its `mod_revision` is still `expected` (0: the key must not exist). Returns
/// the new revision, or [`StoreError::Conflict`] with the key's current one.
pub async fn compare_and_swap(
    client: &Client,
    key: &str,
    expected: i64,
    text: &str,
) -> Result<i64, StoreError> {
    let compare = if expected == 0 {
        Compare::create_revision(key, CompareOp::Equal, 0)
    } else {
        Compare::mod_revision(key, CompareOp::Equal, expected)
    };
    let txn = Txn::new()
        .when([compare])
        .and_then([TxnOp::put(key, text, None)])
        .or_else([TxnOp::get(key, Some(GetOptions::new().with_keys_only()))]);
    let resp = kv(client).txn(txn).await.map_err(unavailable)?;
    if resp.succeeded() {
        return Ok(resp.header().map(|h| h.revision()).unwrap_or(0));
    }
    let current = resp
        .op_responses()
        .into_iter()
        .find_map(|r| match r {
            TxnOpResponse::Get(g) => Some(g.kvs().first().map_or(0, |kv| kv.mod_revision())),
            _ => None,
        })
        .unwrap_or(0);
    Err(StoreError::Conflict { expected, current })
}

/// Writes `text` at `key` whatever is there (`gateway config push`). Returns the new revision.
pub async fn put(client: &Client, key: &str, text: &str) -> Result<i64, StoreError> {
    let resp = kv(client).put(key, text, None).await.map_err(unavailable)?;
    Ok(resp.header().map(|h| h.revision()).unwrap_or(0))
}
