//! `/master/redirect` (and `/redirect`): 307 to the leading master's base URL, on
//! every master, the leader included (it sends clients to itself); 503 while no
//! leader is known. Mesos answers the same, with a protocol-relative Location; ratufa
//! sends an absolute one as for every redirect.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use ratufa_gateway::leader::LEADER_RETRY_AFTER;
use ratufa_gateway::{ApiError, LeaderStatus, Leadership};

use crate::MasterHandle;

pub(super) fn redirect(master: &MasterHandle, leadership: &Arc<dyn Leadership>) -> Response {
    let base = match leadership.status() {
        LeaderStatus::Leading | LeaderStatus::Recovering => master.base_url(),
        LeaderStatus::Following { base_url } => base_url,
        LeaderStatus::NoLeader => {
            return ApiError::service_unavailable("No leader elected", LEADER_RETRY_AFTER)
                .into_response();
        }
    };
    ApiError::temporary_redirect(&base).into_response()
}
