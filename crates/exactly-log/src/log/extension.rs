//! The slot a layer built on the log (the transaction coordinator) keeps its per-handle
//! state in: the log never looks into it, but lets it finish its work when closed.

use super::Log;
use crate::error::MaintenanceError;
use std::any::Any;

/// State a layer built on the log keeps per handle (the transaction coordinator), which
/// the log never looks into but lets finish its work when the log is closed.
pub(crate) trait Extension: Any + Send + Sync {
    /// The extension as `Any`, to downcast to its own type.
    fn as_any(&self) -> &dyn Any;
    /// Called first by [`Log::close`]: completes what the extension left pending.
    fn before_close(&self, log: &Log) -> Result<(), MaintenanceError>;
}
