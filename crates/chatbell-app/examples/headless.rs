//! ChatBell with no GUI, in demo mode unless a configuration says otherwise:
//!
//! ```text
//! CHATBELL_DATA_DIR=/tmp/cb RUST_LOG=info cargo run -p chatbell-app --example headless
//! ```
//!
//! Outputs (toasts, sounds, badge) are logged; the control socket answers
//! `{"cmd":"status"}` and the others until Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let paths = chatbell_app::Paths::from_env()?;
    chatbell_app::headless::run(paths, chatbell_app::AppOptions::default(), None, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
