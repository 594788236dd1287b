#!/usr/bin/python3
"""The desktop's tray host, as far as a test needs one: an
org.kde.StatusNotifierWatcher on the session bus that records every tray item
that registers, and a look at a registered item's properties.

    sni-watcher.py serve FILE     owns org.kde.StatusNotifierWatcher; writes
                                  "ready" to FILE.ready once it does, then one
                                  line per registration to FILE:
                                  "<unique bus name> <object path> <pid>"
    sni-watcher.py item BUS PATH  prints the item's Id, Category, Status,
                                  IconName and IconPixmap (its images'
                                  sizes, "64x64 ...") as JSON

Run it with Debian's /usr/bin/python3 (python3-dbus, python3-gi).
"""

import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
PROPS = "org.freedesktop.DBus.Properties"


class Watcher(dbus.service.Object):
    def __init__(self, bus, out):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.bus = bus
        self.out = out
        self.items = []

    @dbus.service.method(WATCHER, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        # An item gives its object path (libayatana-appindicator) or a bus name.
        if service.startswith("/"):
            name, path = sender, service
        else:
            name, path = service, "/StatusNotifierItem"
        daemon = self.bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus")
        pid = int(daemon.GetConnectionUnixProcessID(name, dbus_interface="org.freedesktop.DBus"))
        self.items.append(name + path)
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(f"{name} {path} {pid}\n")
        self.StatusNotifierItemRegistered(name + path)

    @dbus.service.method(WATCHER, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemUnregistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="")
    def StatusNotifierHostRegistered(self):
        pass

    def _props(self):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(self.items, signature="s"),
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
        }

    @dbus.service.method(PROPS, in_signature="ss", out_signature="v")
    def Get(self, interface, prop):
        return self._props()[prop]

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self._props()


def serve(out):
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    watcher = Watcher(bus, out)
    name = dbus.service.BusName(WATCHER, bus, do_not_queue=True)
    with open(out + ".ready", "w", encoding="utf-8") as f:
        f.write("ready\n")
    GLib.MainLoop().run()
    del watcher, name


def item(name, path):
    bus = dbus.SessionBus()
    props = bus.get_object(name, path).GetAll(ITEM, dbus_interface=PROPS)
    out = {k: str(props.get(k, "")) for k in ("Id", "Category", "Status", "IconName")}
    out["IconPixmap"] = " ".join(f"{int(w)}x{int(h)}" for w, h, _ in props.get("IconPixmap", []))
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "item":
        item(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
