//! The command line's side of the control socket: `chatbell status [--json]`,
//! `chatbell act <id> <action> [--reason TEXT]`, `chatbell signin`,
//! `chatbell signout`, `chatbell ping`, `chatbell open` (the panel),
//! `chatbell quit`, and `chatbell org inspect` / `chatbell org check` (the
//! signed-in org's tables found and the mapping proposed; the org checked).

use crate::control::{self, ControlError, Request};
use crate::view::Status;
use std::path::Path;

/// What to print and the exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOutput {
    /// 0 done, 1 refused or not answering, 2 usage or not running.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// How to use the commands.
pub const USAGE: &str =
    "usage: chatbell status [--json] | act <id> <action> [--reason TEXT] | signin [--browser] | signout | open | quit | ping | org inspect | org check";

/// Reads the arguments after the program name. `Ok((request, json))`.
pub fn parse(args: &[String]) -> Result<(Request, bool), String> {
    let mut it = args.iter().map(String::as_str);
    let cmd = it.next().ok_or_else(|| USAGE.to_string())?;
    let rest: Vec<&str> = it.collect();
    let none = |r: Request| {
        if rest.is_empty() {
            Ok((r, false))
        } else {
            Err(format!("{cmd}: unexpected arguments\n{USAGE}"))
        }
    };
    match cmd {
        "status" => match rest.as_slice() {
            [] => Ok((Request::Status, false)),
            ["--json"] => Ok((Request::Status, true)),
            _ => Err(USAGE.to_string()),
        },
        "act" => match rest.as_slice() {
            [id, action] => Ok((
                Request::Act {
                    id: id.to_string(),
                    action: action.to_string(),
                    reason: None,
                },
                false,
            )),
            [id, action, "--reason", reason] => Ok((
                Request::Act {
                    id: id.to_string(),
                    action: action.to_string(),
                    reason: Some(reason.to_string()),
                },
                false,
            )),
            _ => Err("usage: chatbell act <id> <action> [--reason TEXT]".to_string()),
        },
        "signin" => match rest.as_slice() {
            [] => Ok((Request::Signin { browser: false }, false)),
            ["--browser"] => Ok((Request::Signin { browser: true }, false)),
            _ => Err("usage: chatbell signin [--browser]".to_string()),
        },
        "signout" => none(Request::Signout),
        "ping" => none(Request::Ping),
        "open" => none(Request::Open),
        "quit" => none(Request::Quit),
        "org" => match rest.as_slice() {
            ["inspect"] => Ok((Request::OrgInspect, false)),
            ["check"] => Ok((Request::OrgCheck, false)),
            _ => Err("usage: chatbell org inspect | chatbell org check".to_string()),
        },
        _ => Err(USAGE.to_string()),
    }
}

fn summary(s: &Status) -> String {
    let mut out = format!(
        "{}{} · {} unread · {} notification(s){}\n",
        serde_json::to_value(s.connection)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        if s.demo { " (demo)" } else { "" },
        s.unread,
        s.notifications.len(),
        if s.dnd_active {
            " · do not disturb"
        } else {
            ""
        },
    );
    if let Some(p) = &s.signin {
        out.push_str(&format!(
            "sign in: open {} and enter {}\n",
            p.verification_uri, p.user_code
        ));
    }
    for n in &s.notifications {
        out.push_str(&format!("{}  {}  {}\n", n.id, n.kind, n.title));
    }
    out
}

/// Waits (about 10 s) until nothing answers at `socket` any more; else what is
/// still there.
async fn gone(socket: &Path) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let still = match control::request(socket, &Request::Ping).await {
            Ok(_) => "ChatBell said it would quit, but is still running".to_string(),
            // Still holding its socket, and stuck: not gone.
            Err(e @ ControlError::NotAnswering { .. }) => e.to_string(),
            Err(_) => return Ok(()),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(still);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs one command against the instance at `socket`. A ChatBell that does not
/// answer in time ([`control::Patience::DEFAULT`]) is a failure (exit code 1):
/// "ChatBell is running (pid N) but not answering".
pub async fn run(args: &[String], socket: &Path) -> CliOutput {
    let fail = |code: i32, msg: String| CliOutput {
        code,
        stdout: String::new(),
        stderr: format!("{msg}\n"),
    };
    let (req, json) = match parse(args) {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    let answer = match control::request(socket, &req).await {
        Ok(a) => a,
        Err(e @ ControlError::NotRunning { .. }) => return fail(2, e.to_string()),
        Err(e) => return fail(1, e.to_string()),
    };
    if answer.get("ok") == Some(&serde_json::Value::Bool(false)) {
        let msg = answer
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("refused")
            .to_string();
        return fail(1, msg);
    }
    if req == Request::Quit {
        if let Err(still) = gone(socket).await {
            return fail(1, still);
        }
    }
    let stdout = match req {
        Request::Status if json => format!("{answer}\n"),
        Request::Status => match serde_json::from_value::<Status>(answer) {
            Ok(s) => summary(&s),
            Err(e) => return fail(1, format!("unreadable status: {e}")),
        },
        Request::Signin { browser: true } => {
            "Continue in the browser that opened; ChatBell signs in when it comes back\n"
                .to_string()
        }
        Request::Signin { browser: false } => format!(
            "Open {} and enter the code {}\n",
            answer["verification_uri"].as_str().unwrap_or("?"),
            answer["user_code"].as_str().unwrap_or("?")
        ),
        Request::OrgInspect => match answer.get("mapping").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => return fail(1, "ChatBell sent no mapping".into()),
        },
        Request::OrgCheck => {
            let (text, all_ok) = findings(&answer);
            if !all_ok {
                return CliOutput {
                    code: 1,
                    stdout: text,
                    stderr: String::new(),
                };
            }
            text
        }
        _ => String::new(),
    };
    CliOutput {
        code: 0,
        stdout,
        stderr: String::new(),
    }
}

/// The org check's findings as doctor prints them (`ok  ` / `FIX `), and
/// whether all passed.
pub fn findings(answer: &serde_json::Value) -> (String, bool) {
    let mut out = String::new();
    let mut all_ok = true;
    for f in answer
        .get("findings")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        let ok = f.get("ok").and_then(|o| o.as_bool()).unwrap_or(false);
        all_ok &= ok;
        out.push_str(&format!(
            "{} org, {}: {}\n",
            if ok { "ok  " } else { "FIX " },
            f.get("check").and_then(|c| c.as_str()).unwrap_or("?"),
            f.get("detail").and_then(|d| d.as_str()).unwrap_or("")
        ));
    }
    (out, all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cli_arguments_become_requests() {
        assert_eq!(
            parse(&args(&["status", "--json"])),
            Ok((Request::Status, true))
        );
        assert_eq!(
            parse(&args(&["act", "chat:x", "reject", "--reason", "busy now"])),
            Ok((
                Request::Act {
                    id: "chat:x".into(),
                    action: "reject".into(),
                    reason: Some("busy now".into())
                },
                false
            ))
        );
        assert_eq!(parse(&args(&["signout"])), Ok((Request::Signout, false)));
        assert_eq!(parse(&args(&["open"])), Ok((Request::Open, false)));
        assert_eq!(parse(&args(&["quit"])), Ok((Request::Quit, false)));
        assert!(parse(&args(&["quit", "now"])).is_err());
        for bad in [
            &[][..],
            &["status", "--xml"],
            &["act", "x"],
            &["signin", "now"],
            &["rm"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
