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
        /// The key stops working this long after creation: 90s, 45m, 12h, 30d.
        #[arg(long, value_parser = parse_expires_in, conflicts_with = "expires_at")]
        expires_in: Option<chrono::Duration>,
        /// The key stops working at this time (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(long, value_parser = parse_expires_at)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
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

/// `90s`, `45m`, `12h`, `30d`: a positive whole number and its unit.
fn parse_expires_in(text: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("'{text}' is not a duration; use e.g. 90s, 45m, 12h or 30d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if count <= 0 {
        return Err(format!("--expires-in must be positive, not '{text}'"));
    }
    let duration = match unit {
        's' => chrono::Duration::try_seconds(count),
        'm' => chrono::Duration::try_minutes(count),
        'h' => chrono::Duration::try_hours(count),
        'd' => chrono::Duration::try_days(count),
        _ => None,
    };
    duration.ok_or_else(bad)
}

fn parse_expires_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("'{text}' is not an RFC 3339 time (2027-01-31T00:00:00Z): {e}"))
}

/// When a new key expires, from `--expires-in` or `--expires-at`; a time
/// not in the future is refused (such a key would never work).
fn expiry(
    expires_in: Option<chrono::Duration>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let at = match (expires_in, expires_at) {
        (Some(after), _) => Some(
            now.checked_add_signed(after)
                .ok_or_else(|| anyhow!("--expires-in is too far in the future"))?,
        ),
        (None, at) => at,
    };
    if let Some(at) = at
        && at <= now
    {
        bail!(
            "--expires-at {} is not in the future",
            hub_kernel::store::format_time(at)
        );
    }
    Ok(at)
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
                expires_in,
                expires_at,
                json,
            } => {
                let principal = checked_principal(principal, role, tenant)?;
                let expires_at =
                    expiry(expires_in, expires_at, chrono::Utc::now())?.map(hub_kernel::store::format_time);
                create(&store, principal, label, expires_at, super::cli_actor(operator), json).await
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

async fn create(
    store: &Store,
    principal: Principal,
    label: String,
    expires_at: Option<String>,
    by: Actor,
    json: bool,
) -> Result<ExitCode> {
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
                expires_at: expires_at.clone(),
            },
            &by,
        )
        .await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": id, "key": key, "principal": principal.id, "role": principal.role,
                "tenant": principal.tenant, "key_prefix": key_prefix, "expires_at": expires_at,
            })
        );
    } else {
        println!("created {id} for {} ({})", principal.id, principal.role.as_str());
        if let Some(at) = &expires_at {
            println!("expires: {at}");
        }
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
        "{:<34} {:<12} {:<20} {:<9} {:<12} {:<27} {:<27} {:<27} STATE",
        "ID", "PREFIX", "PRINCIPAL", "ROLE", "TENANT", "CREATED", "EXPIRES", "LAST USED"
    );
    let now = hub_kernel::store::now();
    for key in keys {
        let state = match (&key.revoked_at, &key.expires_at) {
            (Some(at), _) => format!("revoked {at}"),
            (None, Some(at)) if *at <= now => "expired".to_owned(),
            (None, _) => "active".to_owned(),
        };
        println!(
            "{:<34} {:<12} {:<20} {:<9} {:<12} {:<27} {:<27} {:<27} {state}",
            key.id,
            key.key_prefix,
            key.principal,
            key.role.as_str(),
            key.tenant.as_deref().unwrap_or("-"),
            key.created_at,
            key.expires_at.as_deref().unwrap_or("never"),
            key.last_used_at.as_deref().unwrap_or("never"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expiry_is_in_the_future_or_refused() {
        let now = parse_expires_at("2026-12-04T12:00:00Z").unwrap();
        assert_eq!(parse_expires_in("30d").unwrap(), chrono::Duration::days(30));
        assert_eq!(parse_expires_in("90s").unwrap(), chrono::Duration::seconds(90));
        for bad in ["", "d", "30", "30w", "-1d", "0h", "1.5d"] {
            assert!(parse_expires_in(bad).is_err(), "{bad}");
        }
        let in_a_day = expiry(Some(chrono::Duration::days(1)), None, now).unwrap().unwrap();
        assert_eq!(hub_kernel::store::format_time(in_a_day), "2026-12-05T12:00:00.000000Z");
        let at = parse_expires_at("2027-01-31T08:00:00+08:00").unwrap();
        assert_eq!(expiry(None, Some(at), now).unwrap(), Some(at));
        assert_eq!(expiry(None, None, now).unwrap(), None);
        let past = parse_expires_at("2026-12-04T11:59:59Z").unwrap();
        assert!(
            expiry(None, Some(past), now)
                .unwrap_err()
                .to_string()
                .contains("not in the future")
        );
        assert!(parse_expires_at("tomorrow").is_err());
    }
}
