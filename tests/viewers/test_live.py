"""``flowcep run --view``: the screen a user sees, read from a pseudo-terminal through pyte (a
terminal emulator), and the plain lines it degrades to when stdout is a pipe."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from collections import Counter
from pathlib import Path

import pyte
import pytest

from flowcep_plugin.cli.demo import CONFIG, SAMPLE

FLOWCEP = [sys.executable, "-m", "flowcep_plugin"]


DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
#: FLOWCEP_UPDATE_SCREENSHOTS=1 makes these tests write the pictures docs/viewers.md shows.
UPDATE_SCREENSHOTS = bool(os.environ.get("FLOWCEP_UPDATE_SCREENSHOTS"))


def screen_of(args: list[str], cols: int = 160, rows: int = 60) -> tuple[list[str], int]:
    """Run a command in a pty of cols x rows (sized before the child starts, so the view sees
    the real width); return the final screen and the exit status."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm-256color"}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        stream.feed(data)
    code = proc.wait(timeout=60)
    os.close(master)
    if UPDATE_SCREENSHOTS and "--view" in args:
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        (DOCS_IMAGES / "viewer-terminal.svg").write_text(screen_svg(screen))
    return screen.display, code


def alerts_of(path: Path) -> list[dict[str, object]]:
    return [d for d in map(json.loads, path.read_text().splitlines()) if d["event"]["kind"] == "alert"]


def test_view_in_a_terminal_shows_counts_drops_alerts_talkers_and_event_time(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    lines, code = screen_of([*FLOWCEP, "run", "--view", "-q", "-i", f"ipfix-file:{SAMPLE}",
                             "-c", str(CONFIG), "-o", f"jsonl:{out}"])
    text = "\n".join(lines)
    assert code == 0, text
    docs = alerts_of(out)
    first = [d for d in docs if d["flowcep"]["revision"] == 1]  # type: ignore[index]
    by_rule = Counter(str(d["rule"]["id"]) for d in first)  # type: ignore[index]
    assert f"alerts ({len(first)}, {len(docs) - len(first)} updates)" in text
    head = lines[0]
    assert head.startswith("FlowCEP") and "records 12,220" in head, head
    assert "event time 2024-04-12 10:" in head and "watermark lag" in head
    for title in ("records by stage", "dropped by reason", "alerts by rule", "top talkers (bytes)",
                  "traffic categories (bytes)"):
        assert title in text, title
    # the ten most frequent rules are listed with their counts, as in the alerts file
    for rule, n in by_rule.most_common(5):
        assert any(rule in ln and f" {n} " in ln for ln in lines), (rule, n)
    assert "10.10.0.83" in text  # the sample's top talker by bytes
    assert "file-sharing" in text


def test_view_degrades_to_plain_lines_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.run([*FLOWCEP, "run", "--view", "-q", "-i", f"ipfix-file:{SAMPLE}", "-c", str(CONFIG),
                           "-o", f"jsonl:{out}"], capture_output=True, text=True, timeout=300, check=True)
    assert "\x1b[" not in proc.stdout, "no terminal control sequences into a pipe"
    lines = proc.stdout.splitlines()
    docs = alerts_of(out)
    assert len(lines) == len(docs) + 1  # one line per alert as it fired, then the status line
    for doc, line in zip(docs, lines, strict=False):
        assert str(doc["rule"]["id"]) in line  # type: ignore[index]
    first = sum(1 for d in docs if d["flowcep"]["revision"] == 1)  # type: ignore[index]
    assert lines[-1].startswith("flowcep view: 12,220 records")
    assert f"{first} alerts ({len(docs) - first} updates)" in lines[-1]


@pytest.mark.parametrize("plain", [True, False])
def test_alert_memory_is_bounded(plain: bool) -> None:
    import io

    from flowcep_plugin.context import Context
    from flowcep_plugin.viewers.live import MAX_ALERTS, LiveView

    view = LiveView(Context(), io.StringIO(), plain=plain, refresh_per_second=50)
    for i in range(MAX_ALERTS * 3):
        view.write_events([{"event": {"kind": "alert"}, "rule": {"id": f"r{i % 7}"}, "message": str(i),
                            "flowcep": {"revision": 1 + i % 2}}])
    view.close()
    assert len(view._alerts) == MAX_ALERTS
    assert sum(view._by_rule.values()) == MAX_ALERTS * 3 // 2 and view._updates == MAX_ALERTS * 3 // 2


def screen_svg(screen: pyte.Screen, font_px: int = 13) -> str:
    """The emulator's screen as an SVG picture (characters, colours, bold) for docs/viewers.md."""
    from xml.sax.saxutils import escape

    cw, lh = font_px * 0.6, font_px * 1.25
    palette = {"default": "#d8dee9", "red": "#e06c75", "green": "#98c379", "yellow": "#e5c07b",
               "blue": "#61afef", "magenta": "#c678dd", "cyan": "#56b6c2", "white": "#ffffff",
               "brightred": "#ff7b86", "brightgreen": "#a9e08a", "brightyellow": "#f0d08c"}
    used = [y for y in range(screen.lines) if "".join(c.data for c in screen.buffer[y].values()).strip()]
    height = (max(used) + 2) * lh if used else lh
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{screen.columns * cw:.0f}" height="{height:.0f}" '
           f'font-family="DejaVu Sans Mono, monospace" font-size="{font_px}">',
           '<rect width="100%" height="100%" fill="#1e2229"/>']
    for y in used:
        row = screen.buffer[y]
        x = 0
        while x < screen.columns:
            ch = row[x]
            run = [ch.data]
            fg, bold = ch.fg, ch.bold
            x2 = x + 1
            while x2 < screen.columns and row[x2].fg == fg and row[x2].bold == bold:
                run.append(row[x2].data)
                x2 += 1
            text = "".join(run)
            if text.strip():
                colour = palette.get(fg, "#" + fg if len(fg) == 6 else palette["default"])
                weight = ' font-weight="bold"' if bold else ""
                out.append(f'<text x="{x * cw:.1f}" y="{(y + 1) * lh:.1f}" fill="{colour}"{weight} '
                           f'xml:space="preserve">{escape(text)}</text>')
            x = x2
    out.append("</svg>")
    return "\n".join(out)
