//! ChatBell end to end, rule by rule (`notification-rules.md`), on one virtual
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
use futures_lite::FutureExt as _;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

pub use scenarios::World;

/// The whole run may take this long before the watchdog ends it.
const RUN_LIMIT: Duration = Duration::from_secs(25 * 60);
/// One scenario may take this long.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = args.iter().any(|a| a == "--list");
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&str> = scenarios::NAMES
        .iter()
        .copied()
        .filter(|n| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        n == f
                    } else {
                        n.contains(f.as_str())
                    }
                })
        })
        .collect();
    if list {
        for n in &chosen {
            println!("{n}: test");
        }
        return;
    }
    let filtered_out = scenarios::NAMES.len() - chosen.len();
    if std::env::var("CHATBELL_E2E_SKIP").is_ok_and(|v| v == "1") {
        eprintln!("CHATBELL_E2E_SKIP=1: the end-to-end scenarios are skipped on purpose");
        for n in &chosen {
            println!("test {n} ... ignored");
        }
        println!(
            "\ntest result: ok. 0 passed; 0 failed; {} ignored; 0 measured; {filtered_out} filtered out; finished in 0.00s\n",
            chosen.len()
        );
        return;
    }
    if chosen.is_empty() {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in 0.00s\n");
        return;
    }
    let started = Instant::now();
    let _watchdog = std::thread::Builder::new()
        .name("e2e-watchdog".into())
        .spawn(|| {
            std::thread::sleep(RUN_LIMIT);
            eprintln!("the end-to-end run took longer than {RUN_LIMIT:?}: stopping it");
            chatbell_e2e::proc::kill_all_started();
            std::process::exit(101);
        });
    println!("\nrunning {} tests", chosen.len());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(run(&chosen));
    let failed: Vec<&(String, Result<(), String>)> =
        results.iter().filter(|(_, r)| r.is_err()).collect();
    let passed = results.len() - failed.len();
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for (n, r) in &failed {
            if let Err(e) = r {
                println!("---- {n} ----\n{e}\n");
            }
        }
        println!("failures:");
        for (n, _) in &failed {
            println!("    {n}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    drop(rt);
    if !failed.is_empty() {
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
        println!(
            "test {name} ... {} ({:.1} s)",
            if outcome.is_ok() { "ok" } else { "FAILED" },
            t.elapsed().as_secs_f64()
        );
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
