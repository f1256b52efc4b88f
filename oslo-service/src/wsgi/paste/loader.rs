//! Reading a paste-deploy file and composing its sections from the apps and filters
//! a [`Paste`] registered: `[app:…]` from an app factory, `[pipeline:…]` as filters
//! around an app, `[composite:…]` as a urlmap, and the built-in health check.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::app::HttpApp;
use super::super::healthcheck::Healthcheck;
use super::app::NotFound;
use super::urlmap::UrlMap;
use super::{App, LocalConf, Paste, PasteError};
use crate::config::Config;
use crate::error::BoxError;

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

pub(super) type AppFactory = Arc<dyn Fn(&LocalConf) -> Result<App, BoxError> + Send + Sync>;
pub(super) type FilterFactory = Arc<dyn Fn(&LocalConf, App) -> Result<App, BoxError> + Send + Sync>;
pub(super) type HealthCheckFn = Arc<dyn Fn(Healthcheck) -> Healthcheck + Send + Sync>;

const HEALTHCHECK_FILTER: &str = "oslo_middleware:Healthcheck.factory";
const HEALTHCHECK_APP: &str = "oslo_middleware:Healthcheck.app_factory";

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
            routes.push((key.clone(), self.build_app(file, target.trim(), loading)?));
        }
        Ok(App::new(UrlMap::new(routes)))
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

#[cfg(test)]
mod tests {
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower_service::Service;

    use super::super::super::Body;
    use super::*;

    /// A registry with an app answering with its `greeting` option, and a filter that
    /// adds its section's name to the response as `x-tag`.
    fn registry() -> Paste {
        Paste::new()
            .app("test:hello", |local: &LocalConf| {
                let greeting = local.get("greeting").unwrap_or("hello").to_owned();
                Ok::<_, BoxError>(axum::routing::get(move || async move { greeting }))
            })
            .filter("test:tag", |local: &LocalConf| {
                let name = http::HeaderValue::from_str(local.name())?;
                Ok::<_, BoxError>(tower_layer::layer_fn(move |app| Tagged {
                    name: name.clone(),
                    app,
                }))
            })
    }

    /// What the `test:tag` filter puts around an app.
    #[derive(Clone)]
    struct Tagged {
        name: http::HeaderValue,
        app: App,
    }

    impl Service<Request<Body>> for Tagged {
        type Response = http::Response<super::super::AppBody>;
        type Error = BoxError;
        type Future = crate::future::BoxFuture<'static, Result<Self::Response, BoxError>>;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            self.app.poll_ready(cx)
        }

        fn call(&mut self, request: Request<Body>) -> Self::Future {
            let answered = self.app.call(request);
            let name = self.name.clone();
            Box::pin(async move {
                let mut response = answered.await?;
                response.headers_mut().append("x-tag", name);
                Ok(response)
            })
        }
    }

    fn load(text: &str, name: &str) -> Result<App, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-paste.ini");
        std::fs::write(&path, text).unwrap();
        registry().load_file(&path, name).map_err(|err| match err {
            PasteError::AppNotLoaded { reason, .. } => reason,
            other => other.to_string(),
        })
    }

    /// The status, the `x-tag` values in order, and the body `app` answers `path` with.
    async fn answer(mut app: App, path: &str) -> (StatusCode, Vec<String>, String) {
        let request = Request::builder()
            .uri(path)
            .body(Body::from_bytes(""))
            .unwrap();
        std::future::poll_fn(|cx| app.poll_ready(cx)).await.unwrap();
        let response = app.call(request).await.unwrap();
        let status = response.status();
        let tags = response
            .headers()
            .get_all("x-tag")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, tags, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn a_section_is_found_with_spaces_around_its_colon_and_reads_default_under_its_own() {
        let mut file = PasteFile::default();
        file.global.push(("greeting".into(), "global".into()));
        file.global.push(("shared".into(), "from default".into()));
        file.sections.insert(
            "app : main".into(),
            vec![
                ("use".into(), " test:hello ".into()),
                ("greeting".into(), "own".into()),
            ],
        );
        let section = file.section("app", "main").unwrap();
        assert!(file.section("filter", "main").is_none());
        assert_eq!(
            factory_name(section, "paste.app_factory"),
            Some("test:hello")
        );
        let local = file.local("main", section);
        assert_eq!(local.name(), "main");
        assert_eq!(local.get("greeting"), Some("own"));
        assert_eq!(local.get("shared"), Some("from default"));
        assert_eq!(local.get("missing"), None);
    }

    #[tokio::test]
    async fn a_pipeline_puts_its_filters_around_its_app_the_first_outermost() {
        let app = load(
            "[DEFAULT]\ngreeting = hi\n\
             [pipeline:main]\npipeline = outer inner hello\n\
             [filter:outer]\nuse = test:tag\n\
             [filter:inner]\npaste.filter_factory = test:tag\n\
             [app:hello]\npaste.app_factory = test:hello\n",
            "main",
        )
        .unwrap();
        // The inner filter tags the response first.
        assert_eq!(
            answer(app, "/").await,
            (
                StatusCode::OK,
                vec!["inner".into(), "outer".into()],
                "hi".into()
            )
        );
    }

    #[tokio::test]
    async fn a_urlmap_composite_routes_to_its_apps_and_the_health_check_app_is_built_in() {
        let text = "[composite:main]\nuse = egg:Paste#urlmap\n/v1: hello\n/: health\n\
                    [app:hello]\nuse = test:hello\n\
                    [app:health]\nuse = oslo_middleware:Healthcheck.app_factory\n";
        let app = load(text, "main").unwrap();
        assert_eq!(answer(app.clone(), "/v1").await.2, "hello");
        assert_eq!(answer(app.clone(), "/healthcheck").await.0, StatusCode::OK);
        assert_eq!(answer(app, "/other").await.0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn what_cannot_be_built_says_why() {
        let cases = [
            (
                "[app:a]\nuse = test:nope\n",
                "no app factory 'test:nope' is registered (for [app:a])",
            ),
            (
                "[pipeline:a]\npipeline = f a\n[filter:f]\nuse = test:tag\n",
                "'a' refers to itself through a",
            ),
            (
                "[pipeline:a]\npipeline = f b\n[app:b]\nuse = test:hello\n",
                "no section [filter:f]",
            ),
            ("[pipeline:a]\npipeline =\n", "[pipeline:a] is empty"),
            (
                "[composite:a]\nuse = egg:Paste#other\n",
                "[composite:a] uses 'egg:Paste#other'; only urlmap composites are known",
            ),
            (
                "[composite:a]\nuse = egg:Paste#urlmap\nv2: b\n",
                "[composite:a]: 'v2' is not a path",
            ),
            (
                "[app:a]\nuse = oslo_middleware:Healthcheck.app_factory\nbackends = db\n",
                "[a]: unknown health check backend 'db'",
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(load(text, "a").unwrap_err(), reason, "{text}");
        }
    }
}
