//! The runtime a master, an agent or a local cluster runs on: tokio's worker pool,
//! sized as Mesos's libprocess sizes its own.
//!
//! Mesos takes the number of libprocess worker threads from
//! `LIBPROCESS_NUM_WORKER_THREADS` (an integer from 1 to 1024; anything else is
//! ignored with a warning), so that an operator can keep a daemon from taking a
//! thread per core. Here it sets tokio's worker threads; unset, there is one per core.
//! Fewer workers can be the faster choice where the daemon shares its cores with
//! much else: on the 2-core agent_launch bench, one worker instead of two cut
//! `ratufa local`'s CPU per task by about a third, the rest having gone to workers
//! waking each other to steal work (BENCHMARKS.md).

/// Mesos's variable, and its bounds.
pub const WORKER_THREADS: &str = "LIBPROCESS_NUM_WORKER_THREADS";
const MAX_WORKER_THREADS: usize = 1024;

/// The worker count `value` asks for, or why it is ignored.
pub fn worker_threads(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_WORKER_THREADS).contains(n))
        .ok_or_else(|| {
            format!(
                "Ignoring invalid value '{value}' for {WORKER_THREADS}, using the default \
                 (one per core). Valid values are integers in the range 1 to \
                 {MAX_WORKER_THREADS}"
            )
        })
}

/// A multi-threaded runtime with the workers `LIBPROCESS_NUM_WORKER_THREADS` asks for.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(value) = std::env::var_os(WORKER_THREADS) {
        match worker_threads(&value.to_string_lossy()) {
            Ok(workers) => {
                tracing::info!(workers, "worker threads set by {WORKER_THREADS}");
                builder.worker_threads(workers);
            }
            Err(warning) => {
                tracing::warn!("{warning}");
                eprintln!("ratufa: {warning}");
            }
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_1_to_1024_are_taken_others_are_refused_naming_the_variable() {
        assert_eq!(worker_threads("1"), Ok(1));
        assert_eq!(worker_threads(" 24 "), Ok(24));
        assert_eq!(worker_threads("1024"), Ok(1024));
        for bad in ["0", "1025", "-2", "two", ""] {
            let warning = worker_threads(bad).unwrap_err();
            assert!(warning.contains(WORKER_THREADS), "{warning}");
            assert!(warning.contains(&format!("'{bad}'")), "{warning}");
        }
    }
}
