use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use parking_lot::Mutex;

/// Tracks whether every part of a process can serve. Each part registers itself with
/// [`Readiness::component`] and flips its flag when done starting (e.g. after WAL replay).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    components: Arc<Mutex<Vec<Component>>>,
}

/// A registered component's name and readiness flag.
type Component = (String, Arc<AtomicBool>);

/// A handle one component uses to report that it is ready (or no longer is).
#[derive(Debug, Clone)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// Marks the component ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Marks the component not ready, e.g. while shutting down.
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Readiness {
    /// Registers a component, initially not ready.
    pub fn component(&self, name: &str) -> ReadyFlag {
        let flag = Arc::new(AtomicBool::new(false));
        self.components.lock().push((name.to_owned(), flag.clone()));
        ReadyFlag(flag)
    }

    /// Names of components that are not ready yet.
    pub fn not_ready(&self) -> Vec<String> {
        self.components
            .lock()
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Acquire))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether every registered component is ready.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    pub(crate) fn response(&self) -> (StatusCode, String) {
        let waiting = self.not_ready();
        if waiting.is_empty() {
            (StatusCode::OK, "Cairn is Ready.\n".to_owned())
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: waiting for {}\n", waiting.join(", ")),
            )
        }
    }
}
