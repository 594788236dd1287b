//! The small test runner the end-to-end binaries share (`harness = false`): their
//! tests share a desktop, or are too heavy to run side by side, so they run one
//! after another, printing libtest's lines (`test NAME ... ok`, the summary) so
//! that `cargo test` reads them as usual.
//!
//! Arguments as libtest's: parts of names to choose tests by, `--exact`,
//! `--list`. `CHATBELL_E2E_SKIP=1` reports every chosen test as ignored.

use std::time::{Duration, Instant};

/// The tests chosen by the command line.
pub struct Plan {
    pub chosen: Vec<&'static str>,
    pub filtered_out: usize,
    started: Instant,
}

/// Reads the command line. `None` when there is nothing to run (a listing, a
/// skip, no match): what libtest would print is printed.
pub fn plan(all: &[&'static str]) -> Option<Plan> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&'static str> = all
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
    if args.iter().any(|a| a == "--list") {
        for n in &chosen {
            println!("{n}: test");
        }
        return None;
    }
    let filtered_out = all.len() - chosen.len();
    let skip = std::env::var("CHATBELL_E2E_SKIP").is_ok_and(|v| v == "1");
    if skip || chosen.is_empty() {
        if skip {
            eprintln!("CHATBELL_E2E_SKIP=1: the end-to-end tests are skipped on purpose");
        }
        for n in &chosen {
            println!("test {n} ... ignored");
        }
        println!(
            "\ntest result: ok. 0 passed; 0 failed; {} ignored; 0 measured; {filtered_out} filtered out; finished in 0.00s\n",
            chosen.len()
        );
        return None;
    }
    println!("\nrunning {} tests", chosen.len());
    Some(Plan {
        chosen,
        filtered_out,
        started: Instant::now(),
    })
}

/// Ends the run, and every process it started, after `limit`.
pub fn watchdog(limit: Duration) {
    let _ = std::thread::Builder::new()
        .name("e2e-watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("the end-to-end run took longer than {limit:?}: stopping it");
            crate::proc::kill_all_started();
            std::process::exit(101);
        });
}

/// One test's line.
pub fn report_one(name: &str, result: &Result<(), String>, took: Duration) {
    println!(
        "test {name} ... {} ({:.1} s)",
        if result.is_ok() { "ok" } else { "FAILED" },
        took.as_secs_f64()
    );
}

/// Prints the failures and the summary; whether all passed.
pub fn report(plan: &Plan, results: &[(String, Result<(), String>)]) -> bool {
    let failed: Vec<&(String, Result<(), String>)> =
        results.iter().filter(|(_, r)| r.is_err()).collect();
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
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        results.len() - failed.len(),
        failed.len(),
        plan.filtered_out,
        plan.started.elapsed().as_secs_f64()
    );
    failed.is_empty()
}

/// The multi-threaded runtime the tests run on.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(101);
        }
    }
}
