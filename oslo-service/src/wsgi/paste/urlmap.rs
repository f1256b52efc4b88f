//! The urlmap composite's router: a request goes to the app of the longest path prefix
//! it matches, with the prefix moved from its path to [`ScriptName`].

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, Uri};

use super::super::Body;
use super::app::not_found;
use super::{App, AppBody, ScriptName};
use crate::error::BoxError;
use crate::future::BoxFuture;

/// A urlmap composite: the app of the longest matching path prefix, with the prefix
/// moved from the path to [`ScriptName`].
#[derive(Clone)]
pub(super) struct UrlMap {
    routes: Arc<Vec<(String, App)>>,
}

impl UrlMap {
    /// The map of `routes`, path prefixes as the file writes them (`/`, `/v2.1/`) to
    /// their apps.
    pub(super) fn new(routes: Vec<(String, App)>) -> Self {
        let mut routes: Vec<(String, App)> = routes
            .into_iter()
            .map(|(prefix, app)| (prefix.trim_end_matches('/').to_owned(), app))
            .collect();
        // The longest prefix wins.
        routes.sort_by_key(|route| std::cmp::Reverse(route.0.len()));
        UrlMap {
            routes: Arc::new(routes),
        }
    }
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

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::BodyExt;
    use tower_service::Service;

    use super::*;

    /// An app that answers with its name, the script name and the path it was handed.
    fn echo(name: &'static str) -> App {
        App::new(axum::routing::any(
            move |script: Option<axum::Extension<ScriptName>>, uri: Uri| async move {
                let script = script.map(|s| s.0.0).unwrap_or_default();
                format!("{name} [{script}] {uri}")
            },
        ))
    }

    async fn answer(map: &mut UrlMap, path: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(path)
            .body(Body::from_bytes(""))
            .unwrap();
        let response = map.call(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_longest_prefix_wins_whatever_the_order_written() {
        let mut map = UrlMap::new(vec![
            ("/".to_owned(), echo("versions")),
            ("/v2".to_owned(), echo("v2")),
            ("/v2.1/".to_owned(), echo("v21")),
        ]);
        assert_eq!(
            answer(&mut map, "/v2.1/servers?all=1").await,
            (StatusCode::OK, "v21 [/v2.1] /servers?all=1".to_owned())
        );
        assert_eq!(
            answer(&mut map, "/v2/servers").await,
            (StatusCode::OK, "v2 [/v2] /servers".to_owned())
        );
        assert_eq!(
            answer(&mut map, "/v2.1").await,
            (StatusCode::OK, "v21 [/v2.1] /".to_owned())
        );
        assert_eq!(
            answer(&mut map, "/").await,
            (StatusCode::OK, "versions [] /".to_owned())
        );
    }

    #[tokio::test]
    async fn a_prefix_matches_whole_segments_only() {
        let mut map = UrlMap::new(vec![("/v2".to_owned(), echo("v2"))]);
        assert_eq!(
            answer(&mut map, "/v2x/servers").await,
            (StatusCode::NOT_FOUND, "Not Found".to_owned())
        );
        assert_eq!(
            answer(&mut map, "/").await,
            (StatusCode::NOT_FOUND, "Not Found".to_owned())
        );
    }
}
