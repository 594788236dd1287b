//! ChatBell end to end, rule by rule (`docs/rules.md`), on one virtual
//! desktop shared by the scenarios, which run one after another. Each scenario
//! starts from a clean desk (every session closed, every request withdrawn) and
//! uses customers of its own.
//!
//! `cargo test -p chatbell-e2e --test rules -- r2 r8` runs the scenarios whose
//! name contains `r2` or `r8`; `-- --list` lists them. CHATBELL_BIN must name the built
//! `chatbell` binary (`./dev test` does that); CHATBELL_E2E_SKIP=1 skips the
//! suite on purpose (it then reports every scenario as ignored).
#![allow(clippy::unwrap_used)]

mod scenarios;

use chatbell_e2e::app::{self, ChatBell};
use chatbell_e2e::desktop::{Artefacts, Desktop};
use chatbell_e2e::org::{Org, DANA};
use chatbell_e2e::runner;
use futures_lite::FutureExt as _;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

pub use scenarios::World;

/// The whole run may take this long before the watchdog ends it.
const RUN_LIMIT: Duration = Duration::from_secs(25 * 60);
/// One scenario may take this long.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn main() {
    let Some(plan) = runner::plan(scenarios::NAMES) else {
        return;
    };
    runner::watchdog(RUN_LIMIT);
    let rt = runner::runtime();
    let results = rt.block_on(run(&plan.chosen));
    let ok = runner::report(&plan, &results);
    drop(rt);
    if !ok {
        std::process::exit(101);
    }
}

async fn run(chosen: &[&str]) -> Vec<(String, Result<(), String>)> {
    let mut results = Vec::new();
    let fail_all = |why: String| {
        chosen
            .iter()
            .map(|n| {
                println!("test {n} ... FAILED");
                (n.to_string(), Err(why.clone()))
            })
            .collect::<Vec<_>>()
    };
    let bin = match app::binary() {
        Ok(b) => b,
        Err(e) => return fail_all(e),
    };
    let artefacts = match Artefacts::fresh() {
        Ok(a) => a,
        Err(e) => return fail_all(e),
    };
    eprintln!("artefacts: {}", artefacts.root.display());
    let mut world = match setup(artefacts.clone(), &bin).await {
        Ok(w) => w,
        Err(e) => {
            return fail_all(format!(
                "the desktop session could not start: {e}\n(logs in {})",
                artefacts.logs().display()
            ))
        }
    };
    for name in chosen {
        let t = Instant::now();
        let outcome = AssertUnwindSafe(async {
            tokio::time::timeout(SCENARIO_LIMIT, world.run(name))
                .await
                .unwrap_or_else(|_| Err(format!("did not finish within {SCENARIO_LIMIT:?}")))
        })
        .catch_unwind()
        .await
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()))
        });
        world.after(name, outcome.is_err()).await;
        runner::report_one(name, &outcome, t.elapsed());
        results.push((name.to_string(), outcome));
    }
    let all_ok = results.iter().all(|(_, r)| r.is_ok());
    world.teardown(all_ok).await;
    results
}

async fn setup(artefacts: Artefacts, bin: &std::path::Path) -> Result<World, String> {
    let desk = Desktop::start(artefacts).await?;
    let org = Org::new(desk.emulator.base_url())?;
    let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
    let mut world = World::new(desk, org, bin.to_path_buf());
    world.configure_org().await?;
    dana.start_with_panel(&world.desk).await?;
    dana.sign_in_through_panel(&world.org, DANA).await?;
    world.dana = Some(dana);
    world.wait_for_tray().await?;
    Ok(world)
}
