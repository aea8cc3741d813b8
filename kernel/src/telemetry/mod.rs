//! Telemetry: logs (human-readable or JSON, filtered by `RUST_LOG`),
//! optional span export over OTLP, Prometheus metrics ([`metrics`]) and
//! W3C trace context ([`trace`]).
//!
//! Why spans are exported through `tracing` rather than a second API: the
//! hub's code already says what it does in `tracing` spans and events
//! (intake, each delivery attempt, plugin log lines); the OpenTelemetry
//! layer turns those same spans into exported ones, so logs and traces
//! cannot tell different stories.

pub mod metrics;
pub mod trace;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, TelemetryConfig};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("[telemetry] cannot set up OTLP export to {endpoint}: {reason}")]
    Otlp { endpoint: String, reason: String },
}

/// What must outlive the process's work: the span exporter, flushed on
/// [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (bounded by the export timeout).
    /// Call outside the async runtime, after it has stopped.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not flush the last spans to the OTLP collector");
        }
    }
}

/// Installs the global subscriber (a second call leaves the first in
/// place): logs in `format`, and span export when `config` names an OTLP
/// endpoint. Call before starting the async runtime (the exporter's HTTP
/// client runs on a thread of its own).
pub fn init(format: LogFormat, config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let traces_url = config.otlp_traces_url();
    let provider = traces_url
        .as_deref()
        .map(|url| otlp_provider(url, config))
        .transpose()?;
    let spans = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("order-hub")));
    let logs = tracing_subscriber::fmt::layer().with_target(false);
    let registry = tracing_subscriber::registry().with(filter).with(spans);
    let _already_set = match format {
        LogFormat::Text => registry.with(logs).try_init(),
        LogFormat::Json => registry.with(logs.json()).try_init(),
    };
    if let Some(url) = traces_url {
        tracing::info!(endpoint = %url, service = %config.service_name, "exporting spans over OTLP/HTTP");
    }
    Ok(Telemetry { provider })
}

fn otlp_provider(url: &str, config: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_millis(config.otlp_timeout_ms))
        .build()
        .map_err(|error| TelemetryError::Otlp {
            endpoint: url.to_owned(),
            reason: error.to_string(),
        })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
