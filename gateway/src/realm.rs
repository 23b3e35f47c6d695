//! Routes guarded by HTTP basic authentication in one of Mesos's realms: a master's or
//! an agent's read-only and read-write endpoints (`--authenticate_http_readonly`,
//! `--authenticate_http_readwrite`) and the scheduler API
//! (`--authenticate_http_frameworks`).
//!
//! A realm is only built when its flag is on; routes guarded by an absent realm stay
//! open, as Mesos leaves them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::auth::Credentials;

/// One realm and the credentials valid in it.
#[derive(Clone, Debug)]
pub struct Realm {
    name: &'static str,
    credentials: Arc<Credentials>,
}

/// The principal a request authenticated as, in the extensions of a request that
/// passed a realm's guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal(pub String);

impl Realm {
    /// `name` is what `WWW-Authenticate: Basic realm="…"` says (Mesos's realm names,
    /// which clients may show or key saved credentials on).
    pub fn new(name: &'static str, credentials: Arc<Credentials>) -> Realm {
        Realm { name, credentials }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The routes of `router` added so far answer 401 unless the request carries
    /// credentials valid here. Add it after the layers it must run before (axum runs
    /// the last added first): Mesos authenticates before it redirects to the leader.
    pub fn guard<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.route_layer(middleware::from_fn_with_state(self.clone(), authenticate))
    }
}

/// Guards `router` with `realm` when there is one.
pub fn guarded<S>(router: Router<S>, realm: Option<&Realm>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    match realm {
        Some(realm) => realm.guard(router),
        None => router,
    }
}

async fn authenticate(State(realm): State<Realm>, mut req: Request, next: Next) -> Response {
    match realm.credentials.authenticate(req.headers(), realm.name) {
        Ok(principal) => {
            req.extensions_mut().insert(Principal(principal));
            next.run(req).await
        }
        Err(error) => error.into_response(),
    }
}

/// The first of `flags` (name, on) that is on when there are no credentials: what a
/// daemon names as it refuses to start, since nobody could authenticate.
pub fn flag_without_credentials(
    flags: &[(&'static str, bool)],
    have_credentials: bool,
) -> Option<&'static str> {
    if have_credentials {
        return None;
    }
    flags.iter().find_map(|&(flag, on)| on.then_some(flag))
}

/// A daemon's two operator realms, each present when its flag is on. Which endpoint is
/// in which follows Mesos: what can change the cluster (or the agent) is read-write,
/// what only reports is read-only; `/health`, `/version` and `/redirect` are in neither.
#[derive(Clone, Debug, Default)]
pub struct OperatorRealms {
    pub readonly: Option<Realm>,
    pub readwrite: Option<Realm>,
}

impl OperatorRealms {
    /// The realms named `readonly` and `readwrite`, each on when its flag is, both
    /// checking `credentials`. A flag that is on without credentials is refused at
    /// start by the daemons; here it would leave nobody able to authenticate.
    pub fn new(
        names: (&'static str, &'static str),
        readonly: bool,
        readwrite: bool,
        credentials: Option<&Credentials>,
    ) -> OperatorRealms {
        let credentials = Arc::new(credentials.cloned().unwrap_or_default());
        OperatorRealms {
            readonly: readonly.then(|| Realm::new(names.0, credentials.clone())),
            readwrite: readwrite.then(|| Realm::new(names.1, credentials)),
        }
    }

    /// `router`'s routes, authenticated in the read-only realm when it is on.
    pub fn readonly<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        guarded(router, self.readonly.as_ref())
    }

    /// `router`'s routes, authenticated in the read-write realm when it is on.
    pub fn readwrite<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        guarded(router, self.readwrite.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Extension;
    use axum::body::Body;
    use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use base64::Engine;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const NAMES: (&str, &str) = ("test-readonly", "test-readwrite");

    fn app(realms: &OperatorRealms) -> Router {
        let who = |principal: Option<Extension<Principal>>| async move {
            principal.map_or("anonymous".to_string(), |Extension(Principal(p))| p)
        };
        let reads = realms.readonly(Router::new().route("/state", get(who)));
        let writes = realms.readwrite(Router::new().route("/teardown", get(who)));
        reads.merge(writes).route("/health", get(|| async { "ok" }))
    }

    fn credentials() -> Credentials {
        Credentials::new([("ops".to_string(), "s3cret".to_string())])
    }

    async fn get_as(
        app: &Router,
        path: &str,
        user_pass: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut request = HttpRequest::get(path);
        if let Some(user_pass) = user_pass {
            let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
            request = request.header(AUTHORIZATION, format!("Basic {encoded}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            challenge,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn each_realm_guards_only_its_own_routes() {
        let realms = OperatorRealms::new(NAMES, false, true, Some(&credentials()));
        let app = app(&realms);

        let (status, challenge, body) = get_as(&app, "/teardown", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Basic realm=\"test-readwrite\"");
        assert!(body.contains("Missing 'Authorization'"), "{body}");

        let (status, _, body) = get_as(&app, "/teardown", Some("ops:wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("Invalid credentials"), "{body}");

        let (status, _, body) = get_as(&app, "/teardown", Some("ops:s3cret")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ops"));

        // The read-only realm is off: open, and nobody is named.
        let (status, _, body) = get_as(&app, "/state", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "anonymous"));
        let (status, _, _) = get_as(&app, "/health", None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_readonly_realm_names_itself_and_leaves_health_open() {
        let realms = OperatorRealms::new(NAMES, true, false, Some(&credentials()));
        let app = app(&realms);
        let (status, challenge, _) = get_as(&app, "/state", Some("nobody:s3cret")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Basic realm=\"test-readonly\"");
        assert_eq!(get_as(&app, "/teardown", None).await.0, StatusCode::OK);
        assert_eq!(get_as(&app, "/health", None).await.0, StatusCode::OK);
    }

    #[test]
    fn the_first_flag_on_is_named_only_without_credentials() {
        let flags = [("a", false), ("b", true), ("c", true)];
        assert_eq!(flag_without_credentials(&flags, false), Some("b"));
        assert_eq!(flag_without_credentials(&flags, true), None);
        assert_eq!(flag_without_credentials(&[("a", false)], false), None);
    }

    #[tokio::test]
    async fn a_realm_without_credentials_lets_nobody_in() {
        let realms = OperatorRealms::new(NAMES, true, true, None);
        let app = app(&realms);
        assert_eq!(
            get_as(&app, "/state", Some("ops:s3cret")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}
