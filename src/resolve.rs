//! `ratufa resolve <master>`: prints the leading master's `ip:port`, as Mesos's
//! `mesos-resolve` does, so scripts can turn the `zk://` URL every node is configured
//! with into an address for curl or `--master` (`MASTER=$(ratufa resolve "$(cat zk)")`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use ratufa_agent::master_detector::MasterDetector;
use ratufa_zk::ZkUrl;

#[derive(Args, Debug)]
pub struct ResolveFlags {
    /// The master: `zk://[user:pass@]host:port[,host:port…]/path`, `host:port`, or
    /// `file:///path` naming a file that holds one of those.
    pub master: String,
    /// How long to wait for ZooKeeper to name a leader.
    #[arg(long, default_value = "5secs", value_parser = crate::parse_positive_duration)]
    pub timeout: Duration,
}

/// Prints the leader's address on stdout; an error names what could not be resolved.
pub async fn run(flags: ResolveFlags) -> anyhow::Result<()> {
    let master = match flags.master.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("<master> {}: cannot read the file", flags.master))?
            .trim()
            .to_string(),
        None => flags.master.clone(),
    };
    let address = resolve(&master, flags.timeout).await?;
    println!("{address}");
    Ok(())
}

async fn resolve(master: &str, timeout: Duration) -> anyhow::Result<SocketAddr> {
    if !master.starts_with("zk://") {
        return master.parse::<SocketAddr>().map_err(|e| {
            anyhow!("<master> '{master}' is neither a zk:// URL nor an ip:port ({e})")
        });
    }
    let url = ZkUrl::parse(master).map_err(|e| anyhow!("<master>: {e}"))?;
    let shown = url.to_string();
    let detector = MasterDetector::start(url);
    if !detector.await_other_leader(None, timeout).await {
        bail!(
            "no leading master found in {shown} within {timeout:?}: {}",
            detector
                .leader()
                .err()
                .unwrap_or_else(|| "it has none".to_string())
        );
    }
    detector
        .leader()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("resolving {shown}"))
}
