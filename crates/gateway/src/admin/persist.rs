//! The Admin API's side of the control plane: an accepted request's edit goes through
//! [`crate::control::apply`] (one writer at a time, starting from the running config; validated and compiled,
//! the YAML file replaced atomically, and only then the new snapshot swapped in).
//! A refused write touches neither file nor snapshot.

use std::sync::Arc;

use gateway_config::kong::Kind;
use gateway_config::model::Config;

use super::error::ApiError;
use crate::control::{self, Change, Edit, Refusal};
use crate::state::AppState;

/// Runs `edit` on the current config through the control plane and, when it returns a new config, persists
/// and installs it. `kind` names the edited entity kind for error mapping and logs.
pub async fn write<T, F>(state: &Arc<AppState>, kind: Kind, edit: F) -> Result<T, ApiError>
where
    F: FnOnce(&Config) -> Edit<T> + Send + 'static,
    T: Send + 'static,
{
    run(state, Change::Edit(kind, Box::new(edit))).await
}

/// [`write`] for `POST /config`: `edit` gives the whole new config.
pub async fn declare<T, F>(state: &Arc<AppState>, edit: F) -> Result<T, ApiError>
where
    F: FnOnce(&Config) -> Edit<T> + Send + 'static,
    T: Send + 'static,
{
    run(state, Change::Declare(Box::new(edit))).await
}

async fn run<T: Send + 'static>(state: &Arc<AppState>, change: Change<T>) -> Result<T, ApiError> {
    control::apply(state, change)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Kong(k) => ApiError::Kong(k),
            Refusal::FileChanged(msg) | Refusal::Conflict(msg) => ApiError::Conflict(msg),
            Refusal::Unavailable(msg) => ApiError::Unavailable(msg),
            Refusal::Invalid(msg) | Refusal::Internal(msg) => ApiError::Internal(msg),
        })?
        .ok_or_else(|| ApiError::Internal("an edit gave no answer".into()))
}
