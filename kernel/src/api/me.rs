//! `GET /v1/me`: who the presented API key belongs to and what it may do,
//! so a console or portal can show the right screens without guessing from
//! 403s. Any valid key; a missing or unknown one gets the usual 401.
//!
//! The `may` flags are the role rules of [`crate::auth::Role`] the handlers
//! enforce, not a second copy of them: a flag that says yes still leaves
//! each endpoint to check its own rule (tenancy above all).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Caller;
use super::problem;
use crate::auth::Principal;

/// The caller: principal, role, tenant and what the role allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The principal's id (`[[principals]] id` or the id of a stored key's principal).
    #[schema(example = "acme-portal")]
    id: String,
    /// `customer`, `reviewer`, `operator` or `admin`.
    #[schema(example = "customer", pattern = "^(customer|reviewer|operator|admin)$")]
    role: &'static str,
    /// The customer whose orders a customer key reads; staff keys have none.
    #[schema(example = "acme")]
    tenant: Option<String>,
    may: May,
}

/// What the caller's role allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct May {
    /// Submit and dry-run orders (`POST /v1/orders/{line}`, `POST /v1/validate/{line}`): every role.
    submit: bool,
    /// Work the review queue (`/v1/review`): reviewer, operator, admin.
    review: bool,
    /// Plugins, targets, dead letters, replies, audit, `/metrics`: operator, admin.
    operate: bool,
}

impl From<&Principal> for Me {
    fn from(principal: &Principal) -> Self {
        Me {
            id: principal.id.clone(),
            role: principal.role.as_str(),
            tenant: principal.tenant.clone(),
            may: May {
                submit: principal.role.can_submit(),
                review: principal.role.can_review(),
                operate: principal.role.can_operate(),
            },
        }
    }
}

/// Who am I: the caller's principal, role, tenant and permissions.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    tag = "session",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The principal the API key belongs to: `id`, `role`, `tenant` (null for staff) \
            and `may` (`submit`, `review`, `operate`).", body = Me,
            example = json!({"id": "acme-portal", "role": "customer", "tenant": "acme",
                "may": {"submit": true, "review": false, "operate": false}})),
        (status = 401, response = problem::Unauthorized),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn me(Caller(caller): Caller) -> Json<Me> {
    Json(Me::from(&caller))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use serde_json::json;

    #[test]
    fn flags_follow_the_role() {
        let me = |role, tenant: Option<&str>| {
            serde_json::to_value(Me::from(&Principal {
                id: "p".into(),
                role,
                tenant: tenant.map(Into::into),
            }))
            .unwrap()
        };
        assert_eq!(
            me(Role::Customer, Some("acme")),
            json!({"id": "p", "role": "customer", "tenant": "acme", "may": {"submit": true, "review": false, "operate": false}})
        );
        assert_eq!(
            me(Role::Reviewer, None)["may"],
            json!({"submit": true, "review": true, "operate": false})
        );
        assert_eq!(me(Role::Operator, None)["tenant"], serde_json::Value::Null);
        assert_eq!(
            me(Role::Admin, None)["may"],
            json!({"submit": true, "review": true, "operate": true})
        );
    }
}
