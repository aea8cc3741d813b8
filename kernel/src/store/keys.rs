//! Tenants' API keys (`hub keys create|list|revoke`).
//!
//! **Invariants**
//! - Only the SHA-256 of a key is stored; the key is returned once, by
//!   [`Store::create_api_key`]'s caller, and never again.
//! - A revoked key stops working at its next request: lookups read the
//!   store every time (no cache to go stale).
//! - A key past its `expires_at` works no more, from that instant: the
//!   lookup compares it with the time of the request.
//! - Creating and revoking a key is recorded in the audit log in the same
//!   transaction.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditEntry, insert_audit};
use super::{Store, StoreError, now};
use crate::auth::{Principal, Role};
use crate::timeline::Actor;

/// A key about to be stored (the key itself stays with the caller).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub principal: Principal,
    pub key_sha256: String,
    pub key_prefix: String,
    pub label: String,
    /// Stored form of the time the key stops working ([`super::format_time`]); `None`: never.
    pub expires_at: Option<String>,
}

/// A stored key, as lists show it (no digest, no key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub principal: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub key_prefix: String,
    pub label: String,
    pub created_at: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Written in batches (see `api::key_usage`), so it may lag a few seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

fn parse_role(name: &str) -> Result<Role, StoreError> {
    Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{name}' on an API key")))
}

impl Store {
    pub async fn create_api_key(&self, key: &NewApiKey, by: &Actor) -> Result<(), StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        sqlx::query(
            "INSERT INTO api_keys (id, principal, role, tenant, key_sha256, key_prefix, label, created_at, created_by, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&key.id)
        .bind(&key.principal.id)
        .bind(key.principal.role.as_str())
        .bind(key.principal.tenant.clone().unwrap_or_default())
        .bind(&key.key_sha256)
        .bind(&key.key_prefix)
        .bind(&key.label)
        .bind(&at)
        .bind(by.parts().1)
        .bind(key.expires_at.clone())
        .execute(&mut *tx)
        .await?;
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "api-key.created",
                subject: &key.id,
                detail: serde_json::json!({
                    "principal": key.principal.id,
                    "role": key.principal.role.as_str(),
                    "tenant": key.principal.tenant,
                    "key_prefix": key.key_prefix,
                    "label": key.label,
                    "expires_at": key.expires_at,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes key `id`; `false` when there is no such key or it was revoked already.
    pub async fn revoke_api_key(&self, id: &str, by: &Actor) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now())
                .bind(by.parts().1)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if revoked == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "api-key.revoked",
                subject: id,
                detail: serde_json::Value::Null,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Keys, newest first; revoked ones only with `include_revoked`.
    pub async fn api_keys(&self, tenant: Option<&str>, include_revoked: bool) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, principal, role, tenant, key_prefix, label, created_at, created_by, revoked_at, expires_at, \
             last_used_at FROM api_keys \
             WHERE ($1 = '' OR tenant = $1) AND ($2 OR revoked_at IS NULL) ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant.unwrap_or_default())
        .bind(include_revoked)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// The principal of an unrevoked, unexpired key with this digest.
    pub async fn principal_for_key(&self, key_sha256: &str) -> Result<Option<Principal>, StoreError> {
        Ok(self.api_key_for(key_sha256).await?.map(|(_, principal)| principal))
    }

    /// The id and principal of an unrevoked, unexpired key with this digest.
    pub async fn api_key_for(&self, key_sha256: &str) -> Result<Option<(String, Principal)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, principal, role, tenant FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(key_sha256)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant: String = row.try_get("tenant")?;
        let role: String = row.try_get("role")?;
        Ok(Some((
            row.try_get("id")?,
            Principal {
                id: row.try_get("principal")?,
                role: parse_role(&role)?,
                tenant: (!tenant.is_empty()).then_some(tenant),
            },
        )))
    }

    /// Sets `last_used_at` of each `(key id, time)`, never backwards.
    pub async fn record_key_uses(&self, uses: &[(String, String)]) -> Result<(), StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    let tenant: String = row.try_get("tenant")?;
    let role: String = row.try_get("role")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        principal: row.try_get("principal")?,
        role: parse_role(&role)?,
        tenant: (!tenant.is_empty()).then_some(tenant),
        key_prefix: row.try_get("key_prefix")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        revoked_at: row.try_get("revoked_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}
