//! State that the layers above the service (periodic tasks, later the HTTP server) keep
//! per running service, found by type, so that [`Context`](super::Context) needs to know
//! none of them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One value per type, made on first use and shared afterwards.
#[derive(Default)]
pub(crate) struct Attachments(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Attachments {
    /// The value of type `T`, made with `T::default()` the first time.
    pub(crate) fn get_or_default<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut values = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let id = TypeId::of::<T>();
        if let Some(found) = values
            .get(&id)
            .and_then(|value| Arc::clone(value).downcast::<T>().ok())
        {
            return found;
        }
        let fresh = Arc::new(T::default());
        values.insert(id, fresh.clone());
        fresh
    }
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.lock().map_or(0, |values| values.len());
        f.debug_struct("Attachments")
            .field("count", &count)
            .finish()
    }
}
