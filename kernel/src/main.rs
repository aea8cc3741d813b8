//! `hub`: the Order Hub binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod cli;

use hub_kernel::config::HubConfig;
use hub_kernel::plugin_test;
use hub_kernel::sandbox::{
    Capability, EngineSettings, HUB_WIT_VERSION, LoadedPlugin, PackageError, PluginPackage, SandboxEngine,
};
use hub_kernel::schema::{LineSchema, SchemaRegistry};
use hub_kernel::telemetry;
use hub_kernel::validate::{self, Outcome};

#[derive(Parser)]
#[command(
    name = "hub",
    version,
    about = "Order Hub: normalize, validate, review and route customer orders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub's HTTP API.
    Serve {
        /// Configuration file; without it the embedded default (examples/hub.toml) is used.
        #[arg(long, env = "HUB_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, env = "HUB_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// sqlite:FILE or postgres://…
        #[arg(long = "database", env = "HUB_DATABASE_URL")]
        database_url: Option<String>,
        /// Folder of business-line schemas.
        #[arg(long = "schemas", env = "HUB_SCHEMAS_DIR")]
        schemas_dir: Option<PathBuf>,
    },
    /// Normalize and validate one order file; prints the normalized order or its problems.
    /// Exit code 0: valid; 1: needs review or invalid; 2: usage or I/O error.
    Validate {
        line: String,
        order: PathBuf,
        #[arg(long = "schemas", env = "HUB_SCHEMAS_DIR", default_value = "schemas")]
        schemas_dir: PathBuf,
    },
    /// Work with business-line schemas.
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
    /// Explain routing decisions.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Inspect and test OPS plugins (WebAssembly components).
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Dead letters: list, inspect and replay jobs whose delivery gave up.
    Dlq(cli::dlq::DlqArgs),
    /// API keys of tenants and staff: create (shown once), list, revoke.
    Keys(cli::keys::KeysArgs),
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Normalize an order and show which rule routes it, and why earlier rules did not.
    /// Exit code 0: routed; 1: no rule matched (the order would wait for review).
    Explain {
        line: String,
        order: PathBuf,
        /// Configuration file; without it the embedded default (examples/hub.toml).
        #[arg(long, env = "HUB_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long = "schemas", env = "HUB_SCHEMAS_DIR", default_value = "schemas")]
        schemas_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a plugin as the hub would: manifest, WIT version, exports, capabilities.
    /// Exit code 0: loadable; 1: refused (the reason is printed).
    Check {
        /// The plugin's `.wasm`, its `plugin.toml`, or its package folder.
        plugin: PathBuf,
    },
    /// Run a plugin against recorded cases (no server, no network); prints a diff per mismatch.
    /// Exit code 0: every case passed; 1: some failed.
    Test {
        /// The plugin's `.wasm`, its `plugin.toml`, or its package folder.
        plugin: PathBuf,
        /// A folder with one sub-folder per case (see plugin-sdk/README.md).
        cases: PathBuf,
    },
}

#[derive(Subcommand)]
enum SchemasCommand {
    /// Check every schema in DIR (default: ./schemas); exit 1 listing every mistake.
    Check { dir: Option<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            database_url,
            schemas_dir,
        } => serve(config.as_deref(), listen, database_url, schemas_dir).map(|()| ExitCode::SUCCESS),
        Command::Validate {
            line,
            order,
            schemas_dir,
        } => validate_file(&line, &order, &schemas_dir),
        Command::Schemas {
            command: SchemasCommand::Check { dir },
        } => check_schemas(&dir.unwrap_or_else(|| PathBuf::from("schemas"))),
        Command::Routes {
            command:
                RoutesCommand::Explain {
                    line,
                    order,
                    config,
                    schemas_dir,
                },
        } => explain_route(&line, &order, config.as_deref(), &schemas_dir),
        Command::Plugin {
            command: PluginCommand::Check { plugin },
        } => check_plugin(&plugin),
        Command::Plugin {
            command: PluginCommand::Test { plugin, cases },
        } => test_plugin(&plugin, &cases),
        Command::Dlq(args) => cli::dlq::run(args),
        Command::Keys(args) => cli::keys::run(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// Loads a plugin package for the CLI; `Ok(Err(..))` is a refusal to report.
fn load_plugin(path: &Path) -> Result<(Arc<SandboxEngine>, Result<LoadedPlugin, PackageError>)> {
    let engine = SandboxEngine::new(
        EngineSettings {
            max_instances: 16,
            max_memory_mib: 256,
        },
        None,
    )
    .context("cannot start the WebAssembly engine")?;
    let loaded = PluginPackage::open(path).and_then(|package| engine.load(package));
    Ok((engine, loaded))
}

fn check_plugin(path: &Path) -> Result<ExitCode> {
    let (_engine, loaded) = load_plugin(path)?;
    let plugin = match loaded {
        Ok(plugin) => plugin,
        Err(error) => {
            println!("refused: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let manifest = &plugin.package.manifest;
    let names = |capabilities: &mut dyn Iterator<Item = Capability>| {
        capabilities
            .map(|capability| capability.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let size = std::fs::metadata(&plugin.package.component_path)
        .map(|meta| meta.len())
        .unwrap_or(0);
    println!("plugin          {} {}", manifest.name, manifest.version);
    if let Some(description) = &manifest.description {
        println!("description     {description}");
    }
    println!(
        "component       {} ({size} bytes)",
        plugin.package.component_path.display()
    );
    println!("sha256          {}", plugin.digest);
    println!(
        "wit             hub:plugin {} (this hub implements {HUB_WIT_VERSION})",
        plugin.wit
    );
    println!("exports         {}", plugin.exports.join(", "));
    println!("business lines  {}", manifest.business_lines.join(", "));
    println!("declares        {}", names(&mut manifest.capabilities.iter().copied()));
    println!("imports         {}", names(&mut plugin.imports.iter().copied()));
    let unused: Vec<Capability> = manifest
        .capabilities
        .iter()
        .copied()
        .filter(|capability| !plugin.imports.contains(capability))
        .collect();
    if !unused.is_empty() {
        println!(
            "note            declared but never imported: {} (targets must still grant them)",
            names(&mut unused.into_iter())
        );
    }
    println!("compiled in     {} ms", plugin.load.elapsed.as_millis());
    println!("ok");
    Ok(ExitCode::SUCCESS)
}

fn test_plugin(path: &Path, cases: &Path) -> Result<ExitCode> {
    let (engine, loaded) = load_plugin(path)?;
    let plugin = match loaded {
        Ok(plugin) => Arc::new(plugin),
        Err(error) => {
            println!("refused: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let title = format!("{} {}", plugin.name(), plugin.version());
    let reports = runtime
        .block_on(plugin_test::run_cases(engine, plugin, cases))
        .with_context(|| format!("cannot run the cases in {}", cases.display()))?;
    println!("{title}: {} cases from {}", reports.len(), cases.display());
    for report in &reports {
        if report.passed() {
            println!("  ok    {}", report.name);
        } else {
            println!("  FAIL  {}", report.name);
            for mismatch in &report.mismatches {
                for line in mismatch.lines() {
                    println!("        {line}");
                }
            }
        }
    }
    let failed = reports.iter().filter(|report| !report.passed()).count();
    println!("{} passed, {failed} failed", reports.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn load_schemas(dir: &Path) -> Result<SchemaRegistry> {
    SchemaRegistry::load_dir(dir).map_err(|errors| anyhow::anyhow!("{errors}"))
}

fn check_schemas(dir: &Path) -> Result<ExitCode> {
    match SchemaRegistry::load_dir(dir) {
        Ok(registry) => {
            for schema in registry.lines() {
                println!("ok  {} v{} ({})", schema.line, schema.version, schema.title);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::from(1))
        }
    }
}

fn explain_route(line: &str, order: &Path, config: Option<&Path>, schemas_dir: &Path) -> Result<ExitCode> {
    let config = HubConfig::load(config)?;
    let router = config.router()?;
    let verdict = check_order_file(line, order, schemas_dir)?;
    if verdict.outcome != Outcome::Valid {
        println!(
            "note: the order is {:?}; routing looks at its normalized form anyway",
            verdict.outcome
        );
    }
    let decision = router.decide(line, &verdict.normalized);
    print!("{}", decision.explain());
    Ok(if decision.target.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads an order file and normalizes + validates it against its line's
/// latest schema (shared by `validate` and `routes explain`).
fn check_order_file(line: &str, order: &Path, schemas_dir: &Path) -> Result<validate::Verdict> {
    let registry = load_schemas(schemas_dir)?;
    let schema: Arc<LineSchema> = registry
        .latest(line)
        .with_context(|| format!("unknown business line '{line}' in {}", schemas_dir.display()))?;
    let text = std::fs::read_to_string(order).with_context(|| format!("cannot read {}", order.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", order.display()))?;
    Ok(validate::check(&schema, value))
}

fn validate_file(line: &str, order: &Path, schemas_dir: &Path) -> Result<ExitCode> {
    let verdict = check_order_file(line, order, schemas_dir)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&verdict).context("cannot print the verdict")?
    );
    Ok(if verdict.outcome == Outcome::Valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn serve(
    config_path: Option<&Path>,
    listen: Option<std::net::SocketAddr>,
    database_url: Option<String>,
    schemas_dir: Option<PathBuf>,
) -> Result<()> {
    let mut config = HubConfig::load(config_path)?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(url) = database_url {
        config.database_url = url;
    }
    if let Some(dir) = schemas_dir {
        config.schemas_dir = dir;
    }
    let telemetry = telemetry::init(config.log_format, &config.telemetry)?;
    if config_path.is_none() {
        tracing::warn!(
            "running on the embedded default configuration with its well-known DEMO API keys; use --config for anything but a local trial"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served: Result<()> = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        hub_kernel::server::run(config, listener, shutdown_signal()).await?;
        Ok(())
    });
    drop(runtime);
    telemetry.shutdown();
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
