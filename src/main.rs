//! The `tokend` binary: parses the command line, starts tracing, loads settings and dispatches.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokend::app::Tokend;
use tokend::cli::{run_admin, Cli, Command};
use tokend::clock::SystemClock;
use tokend::config::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(&settings.listen)
                .await
                .with_context(|| format!("binding {}", settings.listen))?;
            let state = Tokend::build(settings, Arc::new(SystemClock)).await?;
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
