"""Reads and drives the approval window (`tpm-passkey-prompt`) the way a screen reader
does: through the accessibility bus (AT-SPI), which GTK serves for every window.
No hook in the product: what this reads is what GTK shows.

Run with the system Python (python3-gi, gir1.2-atspi-2.0), inside the session bus of the
window (`dbus-run-session`). One action per run; prints JSON.

  atspi_prompt.py read [SECONDS]   the showing window's labels, buttons and PIN field
  atspi_prompt.py pin TEXT         types TEXT into the PIN field
  atspi_prompt.py press LABEL      clicks the button labelled LABEL
  atspi_prompt.py shot PATH        saves the window as it is on screen (PNG)
"""
import json
import sys
import time

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

APP = "tpm-passkey-prompt"


def showing(node):
    return node.get_state_set().contains(Atspi.StateType.SHOWING)


def walk(node):
    yield node
    for i in range(node.get_child_count()):
        child = node.get_child_at_index(i)
        if child is not None:
            yield from walk(child)


def window(patience):
    deadline = time.monotonic() + patience
    while True:
        desk = Atspi.get_desktop(0)
        for i in range(desk.get_child_count()):
            app = desk.get_child_at_index(i)
            if app is None or app.get_name() != APP:
                continue
            for j in range(app.get_child_count()):
                frame = app.get_child_at_index(j)
                if frame is not None and frame.get_role() == Atspi.Role.FRAME and showing(frame):
                    return frame
        if time.monotonic() > deadline:
            sys.exit(f"no showing {APP} window within {patience} s")
        time.sleep(0.1)


def find(frame, role, name=None):
    for n in walk(frame):
        if n.get_role() == role and showing(n) and (name is None or n.get_name() == name):
            return n
    sys.exit(f"nothing with role {role.value_nick} named {name!r} in the window")


def main():
    action, rest = sys.argv[1], sys.argv[2:]
    patience = float(rest[0]) if action == "read" and rest else 10
    frame = window(patience)
    if action == "read":
        print(json.dumps({
            "title": frame.get_name(),
            "labels": [n.get_name() for n in walk(frame)
                       if n.get_role() == Atspi.Role.LABEL and showing(n) and n.get_name()],
            "buttons": [n.get_name() for n in walk(frame)
                        if n.get_role() == Atspi.Role.PUSH_BUTTON and showing(n)],
            "radios": [n.get_name() for n in walk(frame)
                       if n.get_role() == Atspi.Role.RADIO_BUTTON and showing(n)],
            "pin": any(n.get_role() == Atspi.Role.PASSWORD_TEXT and showing(n) for n in walk(frame)),
        }))
    elif action == "pin":
        field = find(frame, Atspi.Role.PASSWORD_TEXT)
        ok = Atspi.EditableText.set_text_contents(field, rest[0])
        print(json.dumps({"typed": bool(ok)}))
    elif action == "press":
        button = find(frame, Atspi.Role.PUSH_BUTTON, rest[0])
        print(json.dumps({"pressed": bool(Atspi.Action.do_action(button, 0))}))
    elif action == "shot":
        gi.require_version("Gdk", "3.0")
        from gi.repository import Gdk
        Gdk.init([])
        box = Atspi.Component.get_extents(frame, Atspi.CoordType.SCREEN)
        image = Gdk.pixbuf_get_from_window(Gdk.get_default_root_window(), box.x, box.y, box.width, box.height)
        image.savev(rest[0], "png", [], [])
        print(json.dumps({"saved": rest[0], "size": [box.width, box.height]}))
    else:
        sys.exit(f"unknown action {action}")


if __name__ == "__main__":
    main()
