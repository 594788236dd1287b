//! A test helper, not part of ChatBell: the writer of the crash test
//! (`tests/crash.rs`).
//!
//! `chatbell-store-crashwriter DB [COUNT]` opens the store at `DB`, finds the last
//! commit it made there (the `crashwriter` watermark) and goes on from the next:
//! commit `i` is the batch of `batch.rs`; once [`Store::commit`] has returned, it
//! prints `ack i` and flushes. It stops after `COUNT` commits, or when killed, which
//! is what the test does, with SIGKILL, at a random moment.

mod batch;

use chatbell_store::{Commit, Store};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: chatbell-store-crashwriter DB [COUNT]");
        return ExitCode::from(2);
    };
    let count = match args.next().map(|c| c.to_string_lossy().parse::<u64>()) {
        None => u64::MAX,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("chatbell-store-crashwriter: bad COUNT: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chatbell-store-crashwriter: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(path, count)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatbell-store-crashwriter: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(&path).await?;
    let first = match store.watermark(batch::WATERMARK).await? {
        Some(w) => u64::try_from(w.modified_on.0)? + 1,
        None => 1,
    };
    let mut out = std::io::stdout().lock();
    for i in first..first.saturating_add(count) {
        let changes = batch::changes(i);
        let effects = batch::effects(i);
        let watermarks = [batch::watermark(i)];
        store
            .commit(&Commit {
                changes: &changes,
                effects: &effects,
                watermarks: &watermarks,
                me: Some(batch::me()),
                ..Commit::default()
            })
            .await?;
        writeln!(out, "ack {i}")?;
        out.flush()?;
    }
    store.close().await;
    Ok(())
}
