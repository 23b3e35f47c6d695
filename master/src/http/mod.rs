//! The master's HTTP routes.
//!
//! Checks run in the order Mesos runs them, so a client gets the same status for the
//! same mistake: authentication (401), leadership (307/503), method (405),
//! `Content-Type` (400/415), body and validation (400), `Accept` (406), then the
//! core's own answers.

mod agent_link;
mod operator;
mod redirect;
mod scheduler;
mod state;
mod version;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use ratufa_gateway::{LeaderProxy, Leadership, health, proxy_to_leader, require_leader};

use crate::MasterHandle;

/// The realm Mesos uses for the scheduler API; clients may show it.
pub const SCHEDULER_REALM: &str = "mesos-master-scheduler";

/// The principal a request authenticated as, when authentication is on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Principal(pub Option<String>);

/// The master's routes: the scheduler API, the operator API and the agent link (leader
/// only), `/health`, `/version`, `/flags` and `/redirect` (any master), each also under
/// `/master/`.
pub fn app(master: MasterHandle, leadership: Arc<dyn Leadership>) -> Router {
    // Agents do not authenticate as frameworks do (Mesos authenticates agents on its
    // own terms); only leadership applies.
    let agents = Router::new()
        .route("/agent/api/v1", any(agent_link::agent_api))
        .route("/master/agent/api/v1", any(agent_link::agent_api))
        // The read-only endpoints, as Mesos serves them: leader only, each also under
        // /master/ and with the old `.json` names.
        .route("/master/state", get(state::state))
        .route("/master/state.json", get(state::state))
        .route("/state", get(state::state))
        .route("/state.json", get(state::state))
        .route("/master/frameworks", get(state::frameworks))
        .route("/frameworks", get(state::frameworks))
        .route("/master/slaves", get(state::slaves))
        .route("/slaves", get(state::slaves))
        .route("/master/tasks", get(state::tasks))
        .route("/tasks", get(state::tasks))
        .route("/metrics/snapshot", get(state::metrics))
        .route("/weights", get(state::weights))
        .route("/master/weights", get(state::weights))
        // The operator API. Mesos guards it with `--authenticate_http_readwrite`,
        // which ratufa does not have yet; the scheduler API's credentials are for
        // frameworks.
        .route("/api/v1", any(operator::api))
        .route("/master/api/v1", any(operator::api))
        .route_layer(middleware::from_fn_with_state(
            leadership.clone(),
            require_leader,
        ));
    let agents = with_leader_proxy(agents, &master, &leadership).with_state(master.clone());

    let redirect = {
        let master = master.clone();
        let leadership = leadership.clone();
        move || {
            let master = master.clone();
            let leadership = leadership.clone();
            async move { redirect::redirect(&master, &leadership) }
        }
    };

    let flags = {
        let master = master.clone();
        move || {
            let master = master.clone();
            async move { state::flags(&master) }
        }
    };

    let api = Router::new()
        .route("/api/v1/scheduler", any(scheduler::scheduler))
        .route("/master/api/v1/scheduler", any(scheduler::scheduler))
        .route_layer(middleware::from_fn_with_state(
            leadership.clone(),
            require_leader,
        ));
    let api = with_leader_proxy(api, &master, &leadership)
        // Added last, so it runs first: Mesos authenticates before the handler, and so
        // before it redirects.
        .route_layer(middleware::from_fn_with_state(master.clone(), authenticate))
        .with_state(master);

    let anywhere = Router::new()
        .route("/health", any(health))
        .route("/flags", get(flags.clone()))
        .route("/master/flags", get(flags))
        .route("/master/health", any(health))
        .route("/version", any(version::version))
        .route("/master/version", any(version::version))
        .route("/redirect", get(redirect.clone()))
        .route("/master/redirect", get(redirect));

    api.merge(agents).merge(anywhere)
}

/// With `--leader_proxy`, a layer outside [`require_leader`] that forwards to the
/// leader what would otherwise be redirected to it.
fn with_leader_proxy(
    router: Router<MasterHandle>,
    master: &MasterHandle,
    leadership: &Arc<dyn Leadership>,
) -> Router<MasterHandle> {
    if !master.leader_proxy() {
        return router;
    }
    let proxy = LeaderProxy::new(leadership.clone(), master.max_body_bytes(), master.tls());
    router.route_layer(middleware::from_fn_with_state(proxy, proxy_to_leader))
}

/// Basic authentication for the scheduler API when `--authenticate_http_frameworks`
/// is on; the principal is handed on in the request's extensions.
async fn authenticate(
    State(master): State<MasterHandle>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match master.required_credentials() {
        None => None,
        Some(credentials) => {
            // Checked at start-up (serve refuses it); a handle built directly can
            // still get here, and then nobody can authenticate.
            let credentials = credentials.cloned().unwrap_or_default();
            match credentials.authenticate(req.headers(), SCHEDULER_REALM) {
                Ok(principal) => Some(principal),
                Err(error) => return error.into_response(),
            }
        }
    };
    req.extensions_mut().insert(Principal(principal));
    next.run(req).await
}
