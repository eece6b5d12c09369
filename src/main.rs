//! The `tokend` binary: parses the command line, starts tracing, loads settings and dispatches.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokend::app;
use tokend::cli::{run_admin, Cli, Command};
use tokend::clock::SystemClock;
use tokend::config::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    // Colours only for a person at a terminal: escape codes in a file or a log shipper are noise,
    // and cost time on every line.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // One JSON object per line for log shippers; human-readable text otherwise.
    if std::env::var("TOKEND_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(&settings.listen)
                .await
                .with_context(|| format!("binding {}", settings.listen))?;
            let state = app::build(settings, Arc::new(SystemClock)).await?;
            tracing::info!(addr = %listener.local_addr()?, "tokend listening");
            tokend::http::serve(state, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(())
        }
        other => run_admin(other, settings).await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
