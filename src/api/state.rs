//! What every request handler shares: the payment core it calls and the settings of the edge
//! itself (request limits). Cloning it clones one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::payments::Context;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Arc<Context>,
    pub config: Config,
}

impl AppState {
    pub fn new(core: Arc<Context>, config: Config) -> Self {
        Self(Arc::new(Shared { core, config }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
