//! Logging setup.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Install the global subscriber; `filter` uses `RUST_LOG` syntax. Quiet noisy dependencies
/// unless asked for.
pub fn init(filter: &str, format: LogFormat) {
    let filter = if filter.contains("openraft") || filter.contains("sled") {
        filter.to_string()
    } else {
        format!("{filter},openraft=warn,sled=warn")
    };
    let env = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(env).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
