//! paste-deploy files, as OpenStack services describe their HTTP pipelines
//! (`api_paste_config`, oslo.service's `wsgi.Loader`): `[app:…]`, `[filter:…]`,
//! `[pipeline:…]` and `[composite:…]` (urlmap) sections composing apps and filters the
//! program registered by the names the file uses.
//!
//! ```ini
//! [composite:osapi]
//! use = egg:Paste#urlmap
//! /: versions
//! /v2.1: api_v21
//!
//! [pipeline:api_v21]
//! pipeline = healthcheck request_id compute
//!
//! [filter:healthcheck]
//! paste.filter_factory = oslo_middleware:Healthcheck.factory
//! backends = disable_by_file
//! disable_by_file_path = /etc/nova/healthcheck_disable
//!
//! [filter:request_id]
//! paste.filter_factory = nova.api:RequestId.factory
//!
//! [app:compute]
//! paste.app_factory = nova.api:compute_factory
//! ```
//!
//! ```no_run
//! # fn demo(conf: &oslo::Config) -> oslo::Result<()> {
//! use oslo::wsgi::paste::Paste;
//!
//! let paste = Paste::new()
//!     .app("nova.api:compute_factory", |_local| {
//!         Ok::<_, oslo::Error>(axum::Router::new().route("/servers", axum::routing::get(|| async { "[]" })))
//!     })
//!     .app("nova.api:versions_factory", |_local| {
//!         Ok::<_, oslo::Error>(axum::Router::new().route("/", axum::routing::get(|| async { "v2.1" })))
//!     })
//!     .filter("nova.api:RequestId.factory", |_local| Ok::<_, oslo::Error>(tower_layer::Identity::new()));
//! let app = paste.load(conf, "osapi")?;
//! let server = oslo::wsgi::Server::builder("osapi", app).bind()?;
//! # Ok(()) }
//! ```
//!
//! A section names its factory with `paste.app_factory`, `paste.filter_factory` or
//! `use` (the text as written is the name to register); its other keys, and those of
//! `[DEFAULT]` under them, are its [`LocalConf`]. A composite whose `use` ends in
//! `urlmap` (Paste's `egg:Paste#urlmap`, or an `urlmap_factory`) maps path prefixes to
//! apps, the longest first, and hands each app the path without its prefix (the prefix
//! is in the request's [`ScriptName`] extension). The health check is built in, as
//! `oslo_middleware:Healthcheck.factory` (filter) and `….app_factory` (app), with the
//! local options `path`, `disable_by_file_path` and `backends` (`disable_by_file` and
//! the names given to [`Paste::health_check`]; unset: all of them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use super::Body;
use super::app::HttpApp;
use super::healthcheck::Healthcheck;
use crate::config::Config;
use crate::error::BoxError;
use crate::future::BoxFuture;

/// The body of a composed app's responses.
pub type AppBody = UnsyncBoxBody<Bytes, BoxError>;

/// An HTTP application of any type behind one type: what paste composes, and what
/// [`super::Server`] serves.
pub struct App {
    inner: Box<dyn Erased>,
}

trait Erased: Send + Sync {
    fn clone_box(&self) -> Box<dyn Erased>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn call(
        &mut self,
        request: Request<Body>,
    ) -> BoxFuture<'static, Result<Response<AppBody>, BoxError>>;
}

struct Wrapped<S>(S);

impl<S: HttpApp> Erased for Wrapped<S>
where
    S: HttpApp,
{
    fn clone_box(&self) -> Box<dyn Erased> {
        Box::new(Wrapped(self.0.clone()))
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(
        &mut self,
        request: Request<Body>,
    ) -> BoxFuture<'static, Result<Response<AppBody>, BoxError>> {
        let answered = self.0.call(request);
        Box::pin(async move {
            let response = answered.await.map_err(Into::into)?;
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        })
    }
}

impl App {
    /// Wraps a tower service (an axum `Router`, a layered service).
    pub fn new<S: HttpApp>(service: S) -> App {
        App {
            inner: Box::new(Wrapped(service)),
        }
    }
}

impl Clone for App {
    fn clone(&self) -> Self {
        App {
            inner: self.inner.clone_box(),
        }
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("App")
    }
}

impl tower_service::Service<Request<Body>> for App {
    type Response = Response<AppBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<AppBody>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        self.inner.call(request)
    }
}

/// The options of one section (its own keys first, then `[DEFAULT]`'s).
#[derive(Clone, Debug, Default)]
pub struct LocalConf {
    name: String,
    local: Vec<(String, String)>,
    global: Vec<(String, String)>,
}

impl LocalConf {
    /// The section's name (`request_id` for `[filter:request_id]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A value of the section, else of the file's `[DEFAULT]`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.local
            .iter()
            .chain(&self.global)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The part of the path a urlmap composite matched, for the app it handed the request
/// to (WSGI's `SCRIPT_NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptName(pub String);

/// Why a paste app could not be loaded: oslo.service's messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasteError {
    /// `api_paste_config` is nowhere to be found.
    #[error("Could not find config at {}", path.display())]
    NotFound {
        /// The path as configured.
        path: PathBuf,
    },
    /// The app, or a section it needs, cannot be built.
    #[error("Could not load paste app '{name}' from {}: {reason}", path.display())]
    AppNotLoaded {
        /// The app asked for.
        name: String,
        /// The paste file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
}

impl From<PasteError> for crate::Error {
    fn from(error: PasteError) -> Self {
        crate::Error::other(error)
    }
}

type AppFactory = Arc<dyn Fn(&LocalConf) -> Result<App, BoxError> + Send + Sync>;
type FilterFactory = Arc<dyn Fn(&LocalConf, App) -> Result<App, BoxError> + Send + Sync>;
type HealthCheckFn = Arc<dyn Fn(Healthcheck) -> Healthcheck + Send + Sync>;

const HEALTHCHECK_FILTER: &str = "oslo_middleware:Healthcheck.factory";
const HEALTHCHECK_APP: &str = "oslo_middleware:Healthcheck.app_factory";

/// The apps and filters a program offers paste files, by the factory names the files
/// use.
#[derive(Clone, Default)]
pub struct Paste {
    apps: HashMap<String, AppFactory>,
    filters: HashMap<String, FilterFactory>,
    health_checks: Vec<(String, HealthCheckFn)>,
}

impl std::fmt::Debug for Paste {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paste")
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .field("filters", &self.filters.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Paste {
    /// A registry with only the built-in health check.
    pub fn new() -> Self {
        Paste::default()
    }

    /// Registers an app factory under `name` (the value of `paste.app_factory` or
    /// `use` in the file): it builds the app from its section's options.
    pub fn app<F, S, E>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&LocalConf) -> Result<S, E> + Send + Sync + 'static,
        E: Into<BoxError>,
        S: HttpApp,
    {
        let factory: AppFactory =
            Arc::new(move |local| factory(local).map(App::new).map_err(Into::into));
        self.apps.insert(name.into(), factory);
        self
    }

    /// Registers a filter factory under `name` (the value of `paste.filter_factory` or
    /// `use`): a tower layer built from its section's options, put around what follows
    /// it in a pipeline.
    pub fn filter<F, L, E>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&LocalConf) -> Result<L, E> + Send + Sync + 'static,
        E: Into<BoxError>,
        L: tower_layer::Layer<App>,
        L::Service: HttpApp,
    {
        let factory: FilterFactory = Arc::new(move |local, app| {
            let layer = factory(local).map_err(Into::into)?;
            Ok(App::new(layer.layer(app)))
        });
        self.filters.insert(name.into(), factory);
        self
    }

    /// A check the built-in health check can run, named in its `backends` option.
    pub fn health_check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let name = name.into();
        let named = name.clone();
        let add: HealthCheckFn = Arc::new(move |health| health.check(named.clone(), check.clone()));
        self.health_checks.push((name, add));
        self
    }

    /// Loads the app `name` from the file `api_paste_config` names, found as
    /// oslo.service's `Loader` finds it: beside the config files.
    pub fn load(&self, conf: &Config, name: &str) -> Result<App, PasteError> {
        let options =
            conf.group::<crate::config::WsgiOptions>()
                .map_err(|err| PasteError::AppNotLoaded {
                    name: name.to_owned(),
                    path: PathBuf::new(),
                    reason: err.to_string(),
                })?;
        let configured = PathBuf::from(&options.api_paste_config);
        let path = conf
            .find_file(&configured)
            .ok_or(PasteError::NotFound { path: configured })?;
        self.load_file(&path, name)
    }

    /// Loads the app `name` from the paste file at `path`.
    pub fn load_file(&self, path: &Path, name: &str) -> Result<App, PasteError> {
        let failed = |reason: String| PasteError::AppNotLoaded {
            name: name.to_owned(),
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|_| PasteError::NotFound {
            path: path.to_owned(),
        })?;
        let assignments = crate::config::parse_ini(&text).map_err(|err| failed(err.to_string()))?;
        let mut file = PasteFile::default();
        for assignment in assignments {
            let entry = (assignment.key, assignment.value);
            if assignment.section == "DEFAULT" {
                file.global.push(entry);
            } else {
                file.sections
                    .entry(assignment.section)
                    .or_default()
                    .push(entry);
            }
        }
        let mut loading = Vec::new();
        self.build_app(&file, name, &mut loading).map_err(failed)
    }

    fn build_app(
        &self,
        file: &PasteFile,
        name: &str,
        loading: &mut Vec<String>,
    ) -> Result<App, String> {
        if loading.iter().any(|n| n == name) {
            return Err(format!(
                "'{name}' refers to itself through {}",
                loading.join(" -> ")
            ));
        }
        loading.push(name.to_owned());
        let built = if let Some(section) = file.section("app", name) {
            self.build_leaf(file, name, section)
        } else if let Some(section) = file.section("pipeline", name) {
            self.build_pipeline(file, name, section, loading)
        } else if let Some(section) = file.section("composite", name) {
            self.build_composite(file, name, section, loading)
        } else {
            Err(format!(
                "no section [app:{name}], [pipeline:{name}] or [composite:{name}]"
            ))
        };
        loading.pop();
        built
    }

    fn build_leaf(
        &self,
        file: &PasteFile,
        name: &str,
        section: &[(String, String)],
    ) -> Result<App, String> {
        let local = file.local(name, section);
        let factory = factory_name(section, "paste.app_factory")
            .ok_or_else(|| format!("[app:{name}] has no paste.app_factory or use"))?;
        if factory == HEALTHCHECK_APP {
            return self.healthcheck_around(&local, App::new(NotFound));
        }
        let build = self.apps.get(factory).ok_or_else(|| {
            format!("no app factory '{factory}' is registered (for [app:{name}])")
        })?;
        build(&local).map_err(|err| format!("[app:{name}]: {err}"))
    }

    fn build_pipeline(
        &self,
        file: &PasteFile,
        name: &str,
        section: &[(String, String)],
        loading: &mut Vec<String>,
    ) -> Result<App, String> {
        let list = section
            .iter()
            .find(|(k, _)| k == "pipeline")
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>())
            .ok_or_else(|| format!("[pipeline:{name}] has no pipeline"))?;
        let (app_name, filters) = list
            .split_last()
            .ok_or_else(|| format!("[pipeline:{name}] is empty"))?;
        let mut app = self.build_app(file, app_name, loading)?;
        for filter in filters.iter().rev() {
            app = self.apply_filter(file, filter, app)?;
        }
        Ok(app)
    }

    fn apply_filter(&self, file: &PasteFile, name: &str, app: App) -> Result<App, String> {
        let section = file
            .section("filter", name)
            .ok_or_else(|| format!("no section [filter:{name}]"))?;
        let local = file.local(name, section);
        let factory = factory_name(section, "paste.filter_factory")
            .ok_or_else(|| format!("[filter:{name}] has no paste.filter_factory or use"))?;
        if factory == HEALTHCHECK_FILTER {
            return self.healthcheck_around(&local, app);
        }
        let build = self.filters.get(factory).ok_or_else(|| {
            format!("no filter factory '{factory}' is registered (for [filter:{name}])")
        })?;
        build(&local, app).map_err(|err| format!("[filter:{name}]: {err}"))
    }

    fn build_composite(
        &self,
        file: &PasteFile,
        name: &str,
        section: &[(String, String)],
        loading: &mut Vec<String>,
    ) -> Result<App, String> {
        let kind = factory_name(section, "paste.composite_factory")
            .ok_or_else(|| format!("[composite:{name}] has no use"))?;
        if !(kind.ends_with("urlmap") || kind.ends_with("urlmap_factory")) {
            return Err(format!(
                "[composite:{name}] uses '{kind}'; only urlmap composites are known"
            ));
        }
        let mut routes = Vec::new();
        for (key, target) in section {
            if key == "use" || key.starts_with("paste.") {
                continue;
            }
            if !key.starts_with('/') {
                return Err(format!("[composite:{name}]: '{key}' is not a path"));
            }
            let prefix = key.trim_end_matches('/').to_owned();
            routes.push((prefix, self.build_app(file, target.trim(), loading)?));
        }
        // The longest prefix wins.
        routes.sort_by_key(|route| std::cmp::Reverse(route.0.len()));
        Ok(App::new(UrlMap {
            routes: Arc::new(routes),
        }))
    }

    /// The built-in health check from its section's options, in front of `app`.
    fn healthcheck_around(&self, local: &LocalConf, app: App) -> Result<App, String> {
        let health = self.healthcheck(local)?;
        Ok(App::new(tower_layer::Layer::layer(&health, app)))
    }

    fn healthcheck(&self, local: &LocalConf) -> Result<Healthcheck, String> {
        let mut health = Healthcheck::new();
        if let Some(path) = local.get("path") {
            health = health.path(path);
        }
        let backends: Option<Vec<&str>> = local.get("backends").map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .collect()
        });
        let wanted = |name: &str| backends.as_ref().is_none_or(|list| list.contains(&name));
        if let (true, Some(file)) = (wanted("disable_by_file"), local.get("disable_by_file_path")) {
            health = health.disable_by_file(file);
        }
        for backend in backends.iter().flatten() {
            let known = *backend == "disable_by_file"
                || self.health_checks.iter().any(|(n, _)| n == backend);
            if !known {
                return Err(format!(
                    "[{}]: unknown health check backend '{backend}'",
                    local.name()
                ));
            }
        }
        for (name, add) in &self.health_checks {
            if wanted(name) {
                health = add(health);
            }
        }
        Ok(health)
    }
}

/// The value naming a section's factory.
fn factory_name<'a>(section: &'a [(String, String)], key: &str) -> Option<&'a str> {
    section
        .iter()
        .find(|(k, _)| k == key || k == "use")
        .map(|(_, v)| v.trim())
}

#[derive(Default)]
struct PasteFile {
    global: Vec<(String, String)>,
    sections: HashMap<String, Vec<(String, String)>>,
}

impl PasteFile {
    /// `[kind:name]`, spaces around the colon allowed as paste allows them.
    fn section(&self, kind: &str, name: &str) -> Option<&[(String, String)]> {
        self.sections.iter().find_map(|(header, entries)| {
            let (k, n) = header.split_once(':')?;
            (k.trim() == kind && n.trim() == name).then_some(entries.as_slice())
        })
    }

    fn local(&self, name: &str, section: &[(String, String)]) -> LocalConf {
        LocalConf {
            name: name.to_owned(),
            local: section.to_vec(),
            global: self.global.clone(),
        }
    }
}

/// A urlmap composite: the app of the longest matching path prefix, with the prefix
/// moved from the path to [`ScriptName`].
#[derive(Clone)]
struct UrlMap {
    routes: Arc<Vec<(String, App)>>,
}

impl tower_service::Service<Request<Body>> for UrlMap {
    type Response = Response<AppBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<AppBody>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let matched = self.routes.iter().find(|(prefix, _)| {
            path == *prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty()
        });
        let Some((prefix, app)) = matched else {
            return Box::pin(async { Ok(not_found()) });
        };
        let rest = &path[prefix.len()..];
        let rest = if rest.is_empty() { "/" } else { rest };
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{rest}{query}").parse::<Uri>() {
            *request.uri_mut() = uri;
        }
        request.extensions_mut().insert(ScriptName(prefix.clone()));
        let mut app = app.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
            app.call(request).await
        })
    }
}

fn not_found() -> Response<AppBody> {
    let body = http_body_util::Full::new(Bytes::from_static(b"Not Found"))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// An app that answers 404 to everything: what the health check app stands in front of.
#[derive(Clone)]
struct NotFound;

impl tower_service::Service<Request<Body>> for NotFound {
    type Response = Response<AppBody>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Response<AppBody>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Body>) -> Self::Future {
        std::future::ready(Ok(not_found()))
    }
}
