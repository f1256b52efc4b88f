//! [`HttpApp`]: the one name for what the server serves, so that its bounds are
//! written once.

use bytes::Bytes;
use http::{Request, Response};

use super::Body;
use crate::error::BoxError;

/// What a [`super::Server`] serves: a tower service of `Request<Body>` answering with
/// any body of `Bytes`, cloned for each connection. Every such service implements it:
/// an axum `Router`, a service behind tower layers, a [`super::paste::App`].
///
/// ```
/// fn servable(_: impl oslo::wsgi::HttpApp) {}
/// servable(axum::Router::new().route("/", axum::routing::get(|| async { "ok" })));
/// ```
pub trait HttpApp:
    tower_service::Service<
        Request<Body>,
        Response = Response<Self::ResponseBody>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The body of its responses.
    type ResponseBody: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpApp for S
where
    S: tower_service::Service<
            Request<Body>,
            Response = Response<B>,
            Error: Into<BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    type ResponseBody = B;
}
