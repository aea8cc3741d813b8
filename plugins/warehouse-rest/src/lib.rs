//! The worked example of `plugin-sdk/README.md`: warehouse orders to a WMS
//! with a small REST API. `POST {orders_path}` answers `201 {"orderNo"}` or
//! `422 {"error"}`; everything else is the SDK's transport classification.

use hub_plugin_sdk::{
    Failure, FailureExt, Order, Outcome, OutcomeExt, Plugin, Reason, ResponseExt, config, export_plugin, http,
};
use serde::Deserialize;

struct WarehouseRest;
export_plugin!(WarehouseRest);

/// The part of the normalized warehouse order this WMS needs.
#[derive(Deserialize)]
struct WarehouseOrder {
    warehouse_code: String,
    direction: String,
    lines: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct WmsAnswer {
    #[serde(rename = "orderNo")]
    order_no: Option<String>,
    error: Option<String>,
}

impl Plugin for WarehouseRest {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        // A payload that does not fit is a permanent failure: retrying won't fix it.
        let wo: WarehouseOrder = order.payload_as()?;
        let path = config::get("orders_path").unwrap_or_else(|| "orders".into());
        let body = serde_json::json!({
            "ref": order.id, "warehouse": wo.warehouse_code, "type": wo.direction, "lines": wo.lines,
        });
        // A relative path: the hub joins it to the target's base URL and adds the credentials.
        let response = http::post_json(&path, &body, &[("idempotency-key", &order.idempotency_key)])
            .map_err(|e| Failure::from_transport("POST order", e))?;
        // 401/403/404/408/429/5xx become transport errors with the SDK's retry rules.
        response
            .classify()
            .map_err(|e| Failure::from_transport("POST order", e))?;
        let answer: WmsAnswer = response.json().map_err(|e| Failure::from_transport("WMS answer", e))?;
        match (response.status, answer.order_no) {
            (200 | 201, Some(order_no)) => Ok(Outcome::accepted(order_no)),
            (422, _) => Ok(Outcome::rejected(vec![Reason::general(
                "WMS_REFUSED",
                answer.error.unwrap_or_else(|| "refused".into()),
            )])),
            (status, _) => Err(Failure::permanent(format!(
                "unexpected WMS answer {status}: {}",
                response.text()
            ))),
        }
    }
}
