//! `chatbell-emulator`: runs the Dataverse emulator until SIGINT or SIGTERM.
//!
//! The first line of standard output is the base URL (e.g.
//! `http://127.0.0.1:41234`), so that scripts and tests can read it; a line
//! `tenant: <id>` follows. With `--exit-with-stdin` it also stops when its
//! standard input closes: ChatBell's demo starts it so, and it goes with the
//! ChatBell that started it however that one ends.

use anyhow::{bail, Context, Result};
use chatbell_emulator::{Emulator, Options, OrgClock, Seed};
use std::io::Write;
use std::time::Duration;

const USAGE: &str = "usage: chatbell-emulator [--listen ADDR] [--seed demo|empty] [--simulate] \
[--simulate-speed X] [--simulate-rate EVENTS_PER_HOUR] [--random-seed N] [--state FILE] \
[--org PROFILE.toml] [--token-lifetime SECONDS] [--delta-token-max-age SECONDS] [--manual-clock [2026-11-21T09:00:00Z]] \
[--device-code-interval SECONDS] [--exit-with-stdin]";

/// The command line: the emulator's options, and whether it stops when its
/// standard input closes.
struct Args {
    options: Options,
    exit_with_stdin: bool,
}

fn parse_args() -> Result<Args> {
    let mut o = Options::default();
    let mut exit_with_stdin = false;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--listen" => o.listen = value("--listen")?.parse().context("--listen")?,
            "--seed" => {
                o.seed = value("--seed")?
                    .parse::<Seed>()
                    .map_err(anyhow::Error::msg)?
            }
            "--simulate" => o.simulate = true,
            "--simulate-speed" => {
                o.simulate_speed = value("--simulate-speed")?
                    .parse()
                    .context("--simulate-speed")?
            }
            "--simulate-rate" => {
                o.simulate_rate = value("--simulate-rate")?
                    .parse()
                    .context("--simulate-rate")?
            }
            "--random-seed" => {
                o.random_seed = value("--random-seed")?.parse().context("--random-seed")?
            }
            "--state" => o.state_file = Some(value("--state")?.into()),
            "--org" => {
                let path = std::path::PathBuf::from(value("--org")?);
                o.org = Some(chatbell_emulator::profile::OrgProfile::load(&path)?);
            }
            "--token-lifetime" => {
                o.access_token_lifetime = Duration::from_secs(
                    value("--token-lifetime")?
                        .parse()
                        .context("--token-lifetime")?,
                )
            }
            "--delta-token-max-age" => {
                o.delta_token_max_age = Duration::from_secs(
                    value("--delta-token-max-age")?
                        .parse()
                        .context("--delta-token-max-age")?,
                )
            }
            "--manual-clock" => {
                let start = match args.peek() {
                    Some(v) if !v.starts_with("--") => {
                        let v = args.next().unwrap_or_default();
                        Some(
                            chatbell_emulator::clock::parse_ts(&v)
                                .with_context(|| format!("bad time {v}"))?,
                        )
                    }
                    _ => None,
                };
                o.clock = Some(match start {
                    Some(t) => OrgClock::manual(t),
                    None => OrgClock::manual_default(),
                });
            }
            "--device-code-interval" => {
                o.device_code_interval = Duration::from_secs(
                    value("--device-code-interval")?
                        .parse()
                        .context("--device-code-interval")?,
                )
            }
            "--exit-with-stdin" => exit_with_stdin = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(Args {
        options: o,
        exit_with_stdin,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let emu = Emulator::start(args.options)
        .await
        .context("starting the emulator")?;
    // The base URL first, flushed on its own; the rest is informational. Write
    // errors are ignored: a reader may close the pipe after the first line.
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", emu.base_url());
        let _ = writeln!(out, "tenant: {}", emu.tenant_id());
        let _ = out.flush();
        let _ = writeln!(out, "web api:   {}", emu.api_url());
        let _ = writeln!(out, "authority: {}", emu.authority());
        if let Ok(id) = emu.user_id(chatbell_emulator::DEMO_AGENT_EMAIL) {
            let _ = writeln!(
                out,
                "demo user: {} ({id})",
                chatbell_emulator::DEMO_AGENT_EMAIL
            );
        }
        let _ = out.flush();
    }
    if args.exit_with_stdin {
        tokio::select! {
            () = wait_for_signal() => {}
            () = stdin_closed() => {}
        }
    } else {
        wait_for_signal().await;
    }
    emu.shutdown().await;
    Ok(())
}

/// Returns when standard input reaches its end (the writer closed it, or ended).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
