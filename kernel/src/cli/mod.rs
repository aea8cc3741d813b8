//! Subcommands of the `hub` binary that work on the store directly.
//!
//! They need the database URL the hub uses and no running hub (like a
//! migration tool); [`StoreArgs`] finds it and opens the store the same way
//! for every such command.

pub mod dlq;
pub mod keys;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use hub_kernel::config::HubConfig;
use hub_kernel::store::Store;
use hub_kernel::timeline::Actor;

/// Where the store is: `--config`'s `database_url`, or `--database`.
#[derive(Args)]
pub struct StoreArgs {
    /// Configuration file whose `database_url` to use (default: the embedded default's).
    #[arg(long, env = "HUB_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// sqlite:FILE or postgres://… (overrides the config).
    #[arg(long = "database", env = "HUB_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store, runs `work` on it and closes it.
    pub fn run<F, Fut>(self, work: F) -> Result<ExitCode>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<ExitCode>>,
    {
        let url = match self.database_url {
            Some(url) => url,
            None => HubConfig::load(self.config.as_deref())?.database_url,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let store = Store::connect(&url).await.context("cannot open the store")?;
            let code = work(store.clone()).await;
            store.close().await;
            code
        })
    }
}

/// The staff member running a command, for timelines and the audit log:
/// `--as`, else `$USER`.
pub fn cli_actor(name: Option<String>) -> Actor {
    let name = name
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".to_owned());
    Actor::Staff(format!("cli:{name}"))
}
