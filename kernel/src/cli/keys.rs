//! `hub keys create|list|revoke`: tenants' API keys from the command line.
//!
//! A key is printed once, at creation, and only its SHA-256 is stored; a
//! lost key is revoked and replaced, never recovered. Creation and
//! revocation go to the audit log with the operator's name (`--as`).

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};

use hub_kernel::auth::{self, Principal, Role};
use hub_kernel::store::{NewApiKey, Store};
use hub_kernel::timeline::Actor;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    store: super::StoreArgs,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (once; it cannot be shown again).
    Create {
        /// Who the key acts as: the actor on timelines (e.g. acme-portal).
        #[arg(long)]
        principal: String,
        /// customer | reviewer | operator | admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The customer a `customer` key belongs to (required for customers).
        #[arg(long)]
        tenant: Option<String>,
        /// A note to recognise the key by (where it is used).
        #[arg(long, default_value = "")]
        label: String,
        /// Who creates it, for the audit log (default: $USER).
        #[arg(long = "as")]
        operator: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never the keys themselves: id, prefix, principal, role, tenant).
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; it stops working at its next request.
    Revoke {
        id: String,
        #[arg(long = "as")]
        operator: Option<String>,
    },
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).ok_or_else(|| format!("unknown role '{name}'; use customer, reviewer, operator or admin"))
}

pub fn run(args: KeysArgs) -> Result<ExitCode> {
    let command = args.command;
    args.store.run(|store| async move {
        match command {
            KeysCommand::Create {
                principal,
                role,
                tenant,
                label,
                operator,
                json,
            } => {
                let principal = checked_principal(principal, role, tenant)?;
                create(&store, principal, label, super::cli_actor(operator), json).await
            }
            KeysCommand::List { tenant, all, json } => list(&store, tenant.as_deref(), all, json).await,
            KeysCommand::Revoke { id, operator } => {
                if store.revoke_api_key(&id, &super::cli_actor(operator)).await? {
                    println!("revoked {id}");
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("no active key '{id}' (`hub keys list --all` shows every key)");
                    Ok(ExitCode::from(1))
                }
            }
        }
    })
}

fn checked_principal(id: String, role: Role, tenant: Option<String>) -> Result<Principal> {
    if id.trim().is_empty() {
        bail!("--principal must not be empty");
    }
    let tenant = tenant.filter(|t| !t.trim().is_empty());
    match (role, &tenant) {
        (Role::Customer, None) => bail!("a customer key needs --tenant (the customer whose orders it may see)"),
        (Role::Customer, Some(_)) | (_, None) => {}
        (_, Some(_)) => bail!("--tenant is only for customer keys; staff keys see every tenant"),
    }
    Ok(Principal { id, role, tenant })
}

async fn create(store: &Store, principal: Principal, label: String, by: Actor, json: bool) -> Result<ExitCode> {
    let key = auth::generate_api_key().map_err(|e| anyhow!("the OS random number generator failed: {e}"))?;
    let id = format!("key_{}", uuid::Uuid::now_v7().simple());
    let key_prefix: String = key.chars().take(auth::KEY_PREFIX.len() + 6).collect();
    store
        .create_api_key(
            &NewApiKey {
                id: id.clone(),
                principal: principal.clone(),
                key_sha256: auth::digest_hex(&key),
                key_prefix: key_prefix.clone(),
                label,
            },
            &by,
        )
        .await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": id, "key": key, "principal": principal.id, "role": principal.role,
                "tenant": principal.tenant, "key_prefix": key_prefix,
            })
        );
    } else {
        println!("created {id} for {} ({})", principal.id, principal.role.as_str());
        println!("key: {key}");
        println!("Store it now: the hub keeps only its SHA-256 and cannot show it again.");
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &Store, tenant: Option<&str>, all: bool, json: bool) -> Result<ExitCode> {
    let keys = store.api_keys(tenant, all).await?;
    if json {
        for key in &keys {
            println!("{}", serde_json::to_string(key)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if keys.is_empty() {
        println!("no keys");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<34} {:<12} {:<20} {:<9} {:<12} {:<27} STATE",
        "ID", "PREFIX", "PRINCIPAL", "ROLE", "TENANT", "CREATED"
    );
    for key in keys {
        println!(
            "{:<34} {:<12} {:<20} {:<9} {:<12} {:<27} {}",
            key.id,
            key.key_prefix,
            key.principal,
            key.role.as_str(),
            key.tenant.as_deref().unwrap_or("-"),
            key.created_at,
            key.revoked_at.map_or("active".to_owned(), |at| format!("revoked {at}")),
        );
    }
    Ok(ExitCode::SUCCESS)
}
