//! [`App`]: any HTTP application behind one type, its errors and response bodies
//! boxed, so that paste can put apps of different types in one pipeline or map.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::super::Body;
use super::super::app::HttpApp;
use super::{App, AppBody};
use crate::error::BoxError;
use crate::future::BoxFuture;

/// What [`App`] holds: the wrapped service, cloned and called through a vtable.
pub(super) trait Erased: Send + Sync {
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

/// A 404 with a short body: what a urlmap answers for a path no prefix matches.
pub(super) fn not_found() -> Response<AppBody> {
    let body = http_body_util::Full::new(Bytes::from_static(b"Not Found"))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// An app that answers 404 to everything: what the health check app stands in front of.
#[derive(Clone)]
pub(super) struct NotFound;

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

#[cfg(test)]
mod tests {
    use tower_service::Service;

    use super::*;

    /// The status and body text `app` answers `path` with.
    async fn answer(app: &mut App, path: &str) -> (StatusCode, String) {
        std::future::poll_fn(|cx| app.poll_ready(cx)).await.unwrap();
        let request = Request::builder()
            .uri(path)
            .body(Body::from_bytes(""))
            .unwrap();
        let response = app.call(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_app_answers_as_the_service_it_wraps_and_so_do_its_clones() {
        let router = axum::Router::new().route("/servers", axum::routing::get(|| async { "[]" }));
        let mut app = App::new(router);
        let mut clone = app.clone();
        assert_eq!(
            answer(&mut app, "/servers").await,
            (StatusCode::OK, "[]".to_owned())
        );
        assert_eq!(
            answer(&mut clone, "/servers").await,
            (StatusCode::OK, "[]".to_owned())
        );
        assert_eq!(answer(&mut app, "/other").await.0, StatusCode::NOT_FOUND);
        assert_eq!(format!("{app:?}"), "App");
    }

    #[tokio::test]
    async fn an_app_of_apps_is_one_app() {
        let inner = App::new(axum::Router::new().route("/", axum::routing::get(|| async { "in" })));
        let mut outer = App::new(inner);
        assert_eq!(
            answer(&mut outer, "/").await,
            (StatusCode::OK, "in".to_owned())
        );
    }

    #[tokio::test]
    async fn not_found_answers_404_to_everything() {
        let mut app = App::new(NotFound);
        for path in ["/", "/healthcheck", "/v2.1/servers?all=1"] {
            assert_eq!(
                answer(&mut app, path).await,
                (StatusCode::NOT_FOUND, "Not Found".to_owned())
            );
        }
    }
}
