//! `posix/cpu,posix/mem`: nothing is enforced; the command's process group is the
//! container, and killing it is the runner's business.

use super::{Isolator, IsolatorError, Limitation, Limits, Prepared, Usage};

#[derive(Debug, Clone, Copy, Default)]
pub struct PosixIsolator;

impl Isolator for PosixIsolator {
    fn name(&self) -> String {
        super::DEFAULT_ISOLATION.to_string()
    }

    fn prepare(&self, _container: &str, _limits: &Limits) -> Result<Prepared, IsolatorError> {
        Ok(Prepared::default())
    }

    fn isolate(&self, _container: &str, _pid: i32) -> Result<(), IsolatorError> {
        Ok(())
    }

    fn update(&self, _container: &str, _limits: &Limits) -> Result<(), IsolatorError> {
        Ok(())
    }

    fn usage(&self, _container: &str) -> Result<Usage, IsolatorError> {
        Ok(Usage::default())
    }

    fn limitation(&self, _container: &str) -> Option<Limitation> {
        None
    }

    /// Process groups leave nothing to find after a restart.
    fn recover(&self, _known: &[String]) -> Result<Vec<String>, IsolatorError> {
        Ok(Vec::new())
    }

    fn cleanup(&self, _container: &str) -> Result<(), IsolatorError> {
        Ok(())
    }
}
