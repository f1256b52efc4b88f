//! paste-deploy files composing registered apps and filters, and the health check, by
//! calling the composed application with requests.

use std::future::poll_fn;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use oslo::wsgi::paste::{App, Paste, PasteError, ScriptName};
use oslo::wsgi::{Body, Healthcheck};
use tower_service::Service;

async fn call<S, B>(app: &mut S, request: Request<Body>) -> (u16, String, http::HeaderMap)
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    poll_fn(|cx| app.poll_ready(cx)).await.unwrap();
    let response = app.call(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// An app that echoes the path it got, with the script name urlmap set.
fn echo(label: &'static str) -> axum::Router {
    axum::Router::new().fallback(move |request: Request<axum::body::Body>| async move {
        let script = request
            .extensions()
            .get::<ScriptName>()
            .map_or("", |s| s.0.as_str())
            .to_owned();
        format!("{label} script={script} path={}", request.uri())
    })
}

/// A layer adding a header named by its section's `header` option.
#[derive(Clone)]
struct Tag {
    header: &'static str,
    value: String,
}

impl<S> tower_layer::Layer<S> for Tag {
    type Service = Tagged<S>;
    fn layer(&self, inner: S) -> Tagged<S> {
        Tagged {
            tag: self.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct Tagged<S> {
    tag: Tag,
    inner: S,
}

impl<S, B> Service<Request<Body>> for Tagged<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = oslo::BoxFuture<'static, Result<Response<B>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let answered = self.inner.call(request);
        let (header, value) = (self.tag.header, self.tag.value.clone());
        Box::pin(async move {
            let mut response = answered.await?;
            // Each filter appends, so the order shows how the pipeline nests.
            response
                .headers_mut()
                .append(header, HeaderValue::from_str(&value).unwrap());
            Ok(response)
        })
    }
}

fn registry() -> Paste {
    Paste::new()
        .app("test:versions", |_local| {
            Ok::<_, oslo::Error>(echo("versions"))
        })
        .app("test:compute", |local| {
            let label: &'static str = if local.get("flavor") == Some("v2") {
                "compute-v2"
            } else {
                "compute"
            };
            Ok::<_, oslo::Error>(echo(label))
        })
        .filter("test:Tag.factory", |local| {
            Ok::<_, oslo::Error>(Tag {
                header: "x-tag",
                value: local.get("tag").unwrap_or(local.name()).to_owned(),
            })
        })
}

const PASTE: &str = "\
[DEFAULT]
tag = from-default

[composite:osapi]
use = egg:Paste#urlmap
/: versions
/v2.1: api_v21
/v2.1/admin: admin

[pipeline:api_v21]
pipeline = outer inner compute

[filter:outer]
paste.filter_factory = test:Tag.factory
tag = outer

[filter:inner]
use = test:Tag.factory

[app:compute]
paste.app_factory = test:compute
flavor = v2

[app:versions]
paste.app_factory = test:versions

[app:admin]
paste.app_factory = test:compute
";

fn paste_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api-paste.ini");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[tokio::test]
async fn urlmap_pipelines_and_filters_compose_as_the_file_says() {
    let (_dir, path) = paste_file(PASTE);
    let mut app = registry().load_file(&path, "osapi").unwrap();

    let (status, body, headers) = call(&mut app, get("/v2.1/servers?limit=1")).await;
    assert_eq!(status, 200);
    assert_eq!(body, "compute-v2 script=/v2.1 path=/servers?limit=1");
    // inner is closest to the app, so it appends first; its tag comes from [DEFAULT].
    let tags: Vec<_> = headers
        .get_all("x-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(tags, ["from-default", "outer"]);

    // The longest prefix wins; the root catches the rest; the prefix alone is "/".
    let (_, body, headers) = call(&mut app, get("/v2.1/admin/x")).await;
    assert_eq!(body, "compute script=/v2.1/admin path=/x");
    assert!(headers.get("x-tag").is_none());
    assert_eq!(
        call(&mut app, get("/v2.1")).await.1,
        "compute-v2 script=/v2.1 path=/"
    );
    assert_eq!(call(&mut app, get("/")).await.1, "versions script= path=/");
    assert_eq!(
        call(&mut app, get("/v2.10")).await.1,
        "versions script= path=/v2.10"
    );
}

#[tokio::test]
async fn load_finds_api_paste_config_beside_the_config_files() {
    let (dir, _path) = paste_file(PASTE);
    let conf_file = dir.path().join("api.conf");
    std::fs::write(&conf_file, "[DEFAULT]\n").unwrap();
    let conf = oslo::Config::load(oslo::config::ConfigSources::from_files([&conf_file])).unwrap();
    let mut app = registry().load(&conf, "osapi").unwrap();
    assert_eq!(call(&mut app, get("/")).await.0, 200);

    std::fs::write(&conf_file, "[DEFAULT]\napi_paste_config = elsewhere.ini\n").unwrap();
    let conf = oslo::Config::load(oslo::config::ConfigSources::from_files([&conf_file])).unwrap();
    let error = registry().load(&conf, "osapi").unwrap_err();
    assert_eq!(error.to_string(), "Could not find config at elsewhere.ini");
}

#[test]
fn what_cannot_be_loaded_is_named() {
    let (_dir, path) = paste_file(PASTE);
    let shown = path.display().to_string();
    let error = |name: &str, paste: &Paste| paste.load_file(&path, name).unwrap_err().to_string();

    assert_eq!(
        error("nope", &registry()),
        format!(
            "Could not load paste app 'nope' from {shown}: no section [app:nope], [pipeline:nope] or [composite:nope]"
        )
    );
    // A factory the program did not register.
    let bare = Paste::new()
        .app("test:versions", |_l| Ok::<_, oslo::Error>(echo("v")))
        .app("test:compute", |_l| Ok::<_, oslo::Error>(echo("c")));
    let message = error("osapi", &bare);
    assert!(
        message.starts_with(&format!("Could not load paste app 'osapi' from {shown}: ")),
        "{message}"
    );
    assert!(
        message.contains("no filter factory 'test:Tag.factory' is registered (for [filter:inner])"),
        "{message}"
    );

    let (_dir, looped) =
        paste_file("[pipeline:a]\npipeline = f a\n[filter:f]\nuse = test:Tag.factory\n");
    let message = registry().load_file(&looped, "a").unwrap_err().to_string();
    assert!(message.contains("'a' refers to itself"), "{message}");

    assert!(matches!(
        registry().load_file(std::path::Path::new("/nonexistent/paste.ini"), "a"),
        Err(PasteError::NotFound { .. })
    ));
}

#[tokio::test]
async fn the_health_check_answers_text_json_head_and_503_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let disable = dir.path().join("disabled");
    let health = Healthcheck::new().disable_by_file(&disable);
    let mut app = tower_layer::Layer::layer(&health, echo("app"));

    let (status, body, headers) = call(&mut app, get("/healthcheck")).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(headers["content-type"], "text/plain; charset=UTF-8");
    let json = Request::get("/healthcheck")
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = call(&mut app, json).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"detailed": false, "reasons": ["OK"]}"#);
    let head = Request::head("/healthcheck").body(Body::empty()).unwrap();
    assert_eq!(call(&mut app, head).await.0, 204);
    // Everything else is the application's.
    assert_eq!(
        call(&mut app, get("/other")).await.1,
        "app script= path=/other"
    );

    std::fs::write(&disable, "").unwrap();
    let (status, body, _) = call(&mut app, get("/healthcheck")).await;
    assert_eq!((status, body.as_str()), (503, "DISABLED BY FILE"));
    let head = Request::head("/healthcheck").body(Body::empty()).unwrap();
    assert_eq!(call(&mut app, head).await.0, 503);
}

#[tokio::test]
async fn the_paste_health_check_runs_the_backends_it_names() {
    let (_dir, path) = paste_file(
        "[pipeline:main]\npipeline = healthcheck versions\n\
         [filter:healthcheck]\npaste.filter_factory = oslo_middleware:Healthcheck.factory\n\
         backends = database\npath = /health\n\
         [app:versions]\npaste.app_factory = test:versions\n",
    );
    let paste = registry()
        .health_check("database", || async {
            Err("connection refused".to_owned())
        })
        .health_check("cache", || async { Err("never asked".to_owned()) });
    let mut app: App = paste.load_file(&path, "main").unwrap();
    let (status, body, _) = call(&mut app, get("/health")).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "database: connection refused")
    );
    assert_eq!(call(&mut app, get("/")).await.0, 200);

    let (_dir, path) = paste_file(
        "[pipeline:main]\npipeline = healthcheck versions\n\
         [filter:healthcheck]\nuse = oslo_middleware:Healthcheck.factory\nbackends = nosuch\n\
         [app:versions]\npaste.app_factory = test:versions\n",
    );
    let message = registry().load_file(&path, "main").unwrap_err().to_string();
    assert!(
        message.contains("unknown health check backend 'nosuch'"),
        "{message}"
    );
}
