//! The master's HTTP routes.
//!
//! Checks run in the order Mesos runs them, so a client gets the same status for the
//! same mistake: authentication (401), leadership (307/503), method (405),
//! `Content-Type` (400/415), body and validation (400), `Accept` (406), then the
//! core's own answers.

mod agent_link;
mod chunks;
mod not_there;
mod operator;
mod redirect;
mod roles;
mod scheduler;
mod state;
mod teardown;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{any, get};
use ratufa_gateway::realm::guarded;
use ratufa_gateway::{LeaderProxy, Leadership, Realm, health, proxy_to_leader, require_leader};

use crate::MasterHandle;

/// The realm Mesos uses for the scheduler API; clients may show it.
pub const SCHEDULER_REALM: &str = "mesos-master-scheduler";
/// Mesos's realm for the master's endpoints that only report
/// (`--authenticate_http_readonly`).
pub const READONLY_REALM: &str = "mesos-master-readonly";
/// Mesos's realm for the master's endpoints that can change the cluster
/// (`--authenticate_http_readwrite`).
pub const READWRITE_REALM: &str = "mesos-master-readwrite";

/// The master's routes: the scheduler API, the operator API and the agent link (leader
/// only), `/health`, `/version`, `/flags` and `/redirect` (any master), each also under
/// `/master/`. Each is in the realm Mesos puts it in.
pub fn app(master: MasterHandle, leadership: Arc<dyn Leadership>) -> Router {
    let realms = master.operator_realms().clone();

    // Agents do not authenticate as frameworks or operators do (Mesos authenticates
    // agents on its own terms); only leadership applies.
    let link = Router::new()
        .route("/agent/api/v1", any(agent_link::agent_api))
        .route("/master/agent/api/v1", any(agent_link::agent_api));
    let link = leader_only(link, &master, &leadership, None);

    // The endpoints that only report, as Mesos serves them: leader only, each also
    // under /master/ and with the old `.json` names.
    let reports = Router::new()
        .route("/master/state", get(state::state))
        .route("/master/state.json", get(state::state))
        .route("/state", get(state::state))
        .route("/state.json", get(state::state))
        .route("/master/state-summary", get(state::state_summary))
        .route("/state-summary", get(state::state_summary))
        .route("/master/frameworks", get(state::frameworks))
        .route("/frameworks", get(state::frameworks))
        .route("/master/slaves", get(state::slaves))
        .route("/slaves", get(state::slaves))
        .route("/master/tasks", get(state::tasks))
        .route("/tasks", get(state::tasks))
        .route("/master/roles", get(roles::document))
        .route("/master/roles.json", get(roles::document))
        .route("/roles", get(roles::document))
        .route("/roles.json", get(roles::document))
        .route("/metrics/snapshot", get(state::metrics));
    let reports = leader_only(reports, &master, &leadership, realms.readonly.as_ref());

    // Mesos puts the whole operator API in the read-write realm, GET_* calls too (one
    // route, one realm), and `/weights` with it, though a GET only reads; `/teardown`
    // too.
    let operator = Router::new()
        .route("/weights", get(state::weights))
        .route("/master/weights", get(state::weights))
        .route("/teardown", any(teardown::teardown))
        .route("/master/teardown", any(teardown::teardown))
        .merge(not_there::routes())
        .route("/api/v1", any(operator::api))
        .route("/master/api/v1", any(operator::api));
    let operator = leader_only(operator, &master, &leadership, realms.readwrite.as_ref());

    let scheduler = Router::new()
        .route("/api/v1/scheduler", any(scheduler::scheduler))
        .route("/master/api/v1/scheduler", any(scheduler::scheduler));
    let scheduler = leader_only(scheduler, &master, &leadership, master.scheduler_realm());

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
    let flags = realms.readonly(
        Router::new()
            .route("/flags", get(flags.clone()))
            .route("/master/flags", get(flags)),
    );

    let anywhere = Router::new()
        .route("/health", any(health))
        .route("/master/health", any(health))
        .route("/version", any(ratufa_gateway::version::version))
        .route("/master/version", any(ratufa_gateway::version::version))
        .route("/redirect", get(redirect.clone()))
        .route("/master/redirect", get(redirect));

    link.merge(reports)
        .merge(operator)
        .merge(scheduler)
        .with_state(master)
        .merge(flags)
        .merge(anywhere)
        .layer(middleware::from_fn(ratufa_gateway::jsonp::jsonp))
}

/// Leader-only routes: redirected (or, with `--leader_proxy`, forwarded) to the leader
/// on a master that does not lead, after authentication in `realm` when there is one:
/// Mesos authenticates before it redirects, and a forwarded request keeps its
/// `Authorization` for the leader to check again.
fn leader_only(
    router: Router<MasterHandle>,
    master: &MasterHandle,
    leadership: &Arc<dyn Leadership>,
    realm: Option<&Realm>,
) -> Router<MasterHandle> {
    let router = router.route_layer(middleware::from_fn_with_state(
        leadership.clone(),
        require_leader,
    ));
    guarded(with_leader_proxy(router, master, leadership), realm)
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
