//! Bits shared by the eater command-line tools.

/// Logs to stderr; `ND_LOG` sets the filter (default `warn`, so the tools'
/// stdout stays what users read).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on SIGINT or SIGTERM.
pub async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Sets up logging, then runs a tool's async `main` on a single-threaded
/// runtime (an eater is one connection: no need for more).
pub fn run<F>(tool: &str, main: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = std::process::ExitCode>,
{
    init_logging();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(main),
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// How to reach a hub that speaks TLS or requires tokens; flattened into
/// every eater tool's flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HubAccess {
    /// CA certificates (PEM) to trust for a wss:// hub, instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// File holding the token for a hub that requires eater tokens (its first
    /// line). Default: the ND_HUB_TOKEN environment variable, if set.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

impl HubAccess {
    /// `config` with the CA file and the token (read now) set.
    pub fn apply(&self, config: crate::EaterConfig) -> Result<crate::EaterConfig, String> {
        let token = nd_client::token_from(self.token_file.as_deref())
            .map_err(|e| format!("cannot read the token: {e}"))?;
        Ok(config.ca_file(self.ca_file.clone()).token(token))
    }

    /// Applies the access flags to `config` and connects, as every tool
    /// starts. On failure the reason is printed, prefixed with `tool`'s name
    /// (with a hint when the hub could not be reached), and the exit code to
    /// return is given back.
    pub async fn connect(
        &self,
        tool: &str,
        config: crate::EaterConfig,
    ) -> Result<crate::Eater, std::process::ExitCode> {
        let config = self.apply(config).map_err(|e| {
            eprintln!("{tool}: {e}");
            std::process::ExitCode::FAILURE
        })?;
        crate::Eater::connect(config).await.map_err(|e| {
            eprintln!("{tool}: {e}. Is nd-hub running?");
            std::process::ExitCode::FAILURE
        })
    }
}
