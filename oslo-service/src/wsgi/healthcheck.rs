//! A health check like oslo.middleware's `healthcheck`: a layer in front of the
//! application that answers its path itself.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};

use super::Body;
use crate::future::BoxFuture;

/// A registered check: `Ok` when healthy, else the reason it is not.
type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The health check of an HTTP service, as oslo.middleware's `healthcheck` answers it:
/// `GET /healthcheck` is `200 OK` (text, or JSON when the client accepts
/// `application/json`), `HEAD` is `204`; when a registered check fails or the
/// `disable_by_file` file exists, both are `503` with the reasons. Other requests go
/// to the application. Use it as a tower layer, or as the paste filter
/// `oslo_middleware:Healthcheck.factory` (see [`super::paste`]).
///
/// ```no_run
/// let health = oslo::wsgi::Healthcheck::new()
///     .disable_by_file("/etc/api/maintenance")
///     .check("database", || async { Ok(()) });
/// let app: axum::Router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// let server = oslo::wsgi::Server::builder("api", health.wrap(app)).bind();
/// ```
#[derive(Clone)]
pub struct Healthcheck {
    path: String,
    disable_by_file: Option<PathBuf>,
    checks: Vec<(String, Check)>,
}

impl std::fmt::Debug for Healthcheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks: Vec<&str> = self.checks.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Healthcheck")
            .field("path", &self.path)
            .field("disable_by_file", &self.disable_by_file)
            .field("checks", &checks)
            .finish()
    }
}

impl Default for Healthcheck {
    fn default() -> Self {
        Self::new()
    }
}

impl Healthcheck {
    /// A health check at `/healthcheck` with no check: always healthy.
    pub fn new() -> Self {
        Healthcheck {
            path: "/healthcheck".to_owned(),
            disable_by_file: None,
            checks: Vec::new(),
        }
    }

    /// Answers at `path` instead of `/healthcheck`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Unhealthy (`DISABLED BY FILE`) while `path` exists: how an operator takes a
    /// node out of a load balancer's pool before maintenance.
    pub fn disable_by_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.disable_by_file = Some(path.into());
        self
    }

    /// Adds a check run on every health request: `Err(reason)` makes the answer 503.
    pub fn check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((
            name.into(),
            Arc::new(move || Box::pin(check()) as BoxFuture<'static, _>),
        ));
        self
    }

    /// `app` behind this health check: what its tower `Layer` impl makes, without
    /// importing the trait.
    pub fn wrap<S>(self, app: S) -> HealthcheckService<S> {
        HealthcheckService {
            health: Arc::new(self),
            inner: app,
        }
    }

    /// The reasons the service is unhealthy; empty when it is healthy.
    pub async fn failures(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        // A stop with `graceful_shutdown_delay` began: load balancers take the host out
        // while the routes still serve.
        if crate::service::is_draining() {
            reasons.push("shutting down".to_owned());
        }
        if let Some(file) = &self.disable_by_file {
            if file.exists() {
                reasons.push("DISABLED BY FILE".to_owned());
            }
        }
        for (name, check) in &self.checks {
            if let Err(reason) = check().await {
                reasons.push(format!("{name}: {reason}"));
            }
        }
        reasons
    }

    async fn answer(&self, method: &Method, wants_json: bool) -> Response<Full<Bytes>> {
        let failures = self.failures().await;
        let healthy = failures.is_empty();
        let reasons = if healthy {
            vec!["OK".to_owned()]
        } else {
            failures
        };
        let status = match (healthy, method == Method::HEAD) {
            (true, true) => StatusCode::NO_CONTENT,
            (true, false) => StatusCode::OK,
            (false, _) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let (body, content_type) = if method == Method::HEAD {
            (String::new(), "text/plain; charset=UTF-8")
        } else if wants_json {
            let json = serde_json_reasons(&reasons);
            (json, "application/json")
        } else {
            (reasons.join("\n"), "text/plain; charset=UTF-8")
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// `{"detailed": false, "reasons": [...]}`, oslo.middleware's JSON answer.
fn serde_json_reasons(reasons: &[String]) -> String {
    let quoted: Vec<String> = reasons.iter().map(|reason| json_string(reason)).collect();
    format!(
        "{{\"detailed\": false, \"reasons\": [{}]}}",
        quoted.join(", ")
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl<S> tower_layer::Layer<S> for Healthcheck {
    type Service = HealthcheckService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthcheckService {
            health: Arc::new(self.clone()),
            inner,
        }
    }
}

/// The application behind a [`Healthcheck`].
#[derive(Clone, Debug)]
pub struct HealthcheckService<S> {
    health: Arc<Healthcheck>,
    inner: S,
}

impl<S, B> tower_service::Service<Request<Body>> for HealthcheckService<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Either<Full<Bytes>, B>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let ours = request.uri().path() == self.health.path
            && (request.method() == Method::GET || request.method() == Method::HEAD);
        if !ours {
            let answered = self.inner.call(request);
            return Box::pin(async move { Ok(answered.await?.map(Either::Right)) });
        }
        let health = Arc::clone(&self.health);
        let method = request.method().clone();
        let wants_json = request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .any(|value| value.to_str().is_ok_and(|v| v.contains("application/json")));
        Box::pin(async move { Ok(health.answer(&method, wants_json).await.map(Either::Left)) })
    }
}
