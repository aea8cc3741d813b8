//! Reading orders for the portal: filtered, cursor-paginated lists, and
//! timelines from a given event on (SSE resume).
//!
//! Lists run newest first on `(created_at, id)`, a total order, so a cursor
//! (the last row's pair) never skips or repeats an order however many are
//! added meanwhile.

use super::{EVENT_COLUMNS, ORDER_COLUMNS, Store, StoreError, event_from_row, order_from_row};
use crate::store::OrderRecord;
use crate::timeline::{OrderStatus, TimelineEvent};

/// `GET /v1/orders` filters; every `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this tenant's orders (always set for customers).
    pub tenant: Option<String>,
    /// Any of these statuses.
    pub statuses: Vec<OrderStatus>,
    pub line: Option<String>,
    /// Created at or after (stored time format, see [`super::format_time`]).
    pub created_from: Option<String>,
    /// Created before.
    pub created_to: Option<String>,
    /// The customer's own reference, exactly.
    pub reference: Option<String>,
}

impl Store {
    /// Orders matching `filter`, newest first, strictly after `cursor`
    /// (`(created_at, id)` of the previous page's last order).
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        cursor: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: &str| {
            binds.push(value.to_owned());
            format!("${}", binds.len())
        };
        if let Some(tenant) = &filter.tenant {
            clauses.push(format!("tenant = {}", bind(tenant)));
        }
        if !filter.statuses.is_empty() {
            let placeholders: Vec<String> = filter.statuses.iter().map(|s| bind(s.as_str())).collect();
            clauses.push(format!("status IN ({})", placeholders.join(", ")));
        }
        if let Some(line) = &filter.line {
            clauses.push(format!("line = {}", bind(line)));
        }
        if let Some(from) = &filter.created_from {
            clauses.push(format!("created_at >= {}", bind(from)));
        }
        if let Some(to) = &filter.created_to {
            clauses.push(format!("created_at < {}", bind(to)));
        }
        if let Some(reference) = &filter.reference {
            clauses.push(format!("customer_reference = {}", bind(reference)));
        }
        if let Some((at, id)) = cursor {
            let at_param = bind(at);
            let id_param = bind(id);
            clauses.push(format!(
                "(created_at < {at_param} OR (created_at = {at_param} AND id < {id_param}))"
            ));
        }
        let limit_param = format!("${}", binds.len() + 1);
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders {where_clause} ORDER BY created_at DESC, id DESC LIMIT {limit_param}"
        );
        let mut query = sqlx::query(&sql);
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// The events of `order_id` after sequence number `after_seq`, oldest first.
    pub async fn timeline_after(
        &self,
        order_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM order_events WHERE order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
        let rows = sqlx::query(&sql)
            .bind(order_id)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }
}
