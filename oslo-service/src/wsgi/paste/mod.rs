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

//!
//! The parts: `app` erases an app's type behind [`App`]; `loader` reads a paste file
//! and composes the registered apps and filters ([`Paste`]'s work); `urlmap` routes a
//! request by its path prefix for a urlmap composite.

mod app;
mod loader;
mod urlmap;

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::BoxError;

/// The body of a composed app's responses.
pub type AppBody = UnsyncBoxBody<Bytes, BoxError>;

/// An HTTP application of any type behind one type: what paste composes, and what
/// [`super::Server`] serves.
pub struct App {
    inner: Box<dyn app::Erased>,
}

/// The options of one section (its own keys first, then `[DEFAULT]`'s).
#[derive(Clone, Debug, Default)]
pub struct LocalConf {
    name: String,
    local: Vec<(String, String)>,
    global: Vec<(String, String)>,
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

/// The apps and filters a program offers paste files, by the factory names the files
/// use.
#[derive(Clone, Default)]
pub struct Paste {
    apps: HashMap<String, loader::AppFactory>,
    filters: HashMap<String, loader::FilterFactory>,
    health_checks: Vec<(String, loader::HealthCheckFn)>,
}
