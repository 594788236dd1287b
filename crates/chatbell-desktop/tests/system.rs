//! The machine waking up and the network coming back, heard on a real D-Bus
//! daemon standing for the system bus.
#![allow(clippy::unwrap_used)]

use chatbell_desktop::system::{self, SystemEvent};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn resume_and_network_up_are_heard_from_the_system_bus() {
    let mut daemon = match Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(d) => d,
        Err(e) => panic!("dbus-daemon is needed (Debian's dbus package): {e}"),
    };
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let address = address.trim().to_string();
    // This test binary holds this one test: the variable reaches nobody else.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &address);
    let events = system::channel();

    let conn = zbus::block_on(async {
        zbus::connection::Builder::address(address.as_str())
            .build()
            .await
            .unwrap()
    });
    // The watcher subscribes on its own thread: emit until it hears.
    let mut heard = Vec::new();
    for _ in 0..50 {
        {
            let c = &conn;
            zbus::block_on(async {
                c.emit_signal(
                    None::<()>,
                    "/org/freedesktop/login1",
                    "org.freedesktop.login1.Manager",
                    "PrepareForSleep",
                    &(false,),
                )
                .await
                .unwrap();
                c.emit_signal(
                    None::<()>,
                    "/org/freedesktop/NetworkManager",
                    "org.freedesktop.NetworkManager",
                    "StateChanged",
                    &(70u32,),
                )
                .await
                .unwrap();
            })
        }
        while let Ok(e) = events.recv_timeout(Duration::from_millis(100)) {
            heard.push(e);
        }
        if heard.contains(&SystemEvent::Resumed) && heard.contains(&SystemEvent::NetworkUp) {
            break;
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(heard.contains(&SystemEvent::Resumed), "{heard:?}");
    assert!(heard.contains(&SystemEvent::NetworkUp), "{heard:?}");
}
