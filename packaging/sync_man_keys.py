#!/usr/bin/python3
"""packaging/sync_man_keys.py — rewrites the key list of docs/rwproxy.ini.5.md (the part
between its "keys: generated" markers) from the key tables of docs/config.md, so the man
page rwproxy.ini(5) lists every key with its type, default and whether RELOAD applies it.

    python3 packaging/sync_man_keys.py          # rewrite docs/rwproxy.ini.5.md in place
    python3 packaging/sync_man_keys.py --check  # exit 1 if it is not up to date

tests/unit/test_manpage_keys.c checks the result against the parser's own key table
(rwp_config_keys()), so a key added to proxy/config.c and docs/config.md but not synced
here fails `make unit`. Standard library only.
"""
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_MD = os.path.join(REPO, "docs", "config.md")
MAN_MD = os.path.join(REPO, "docs", "rwproxy.ini.5.md")
BEGIN = "<!-- keys: generated from docs/config.md by packaging/sync_man_keys.py; do not edit by hand -->"
END = "<!-- end of generated keys -->"


def split_row(line):
    """Cells of a Markdown table row; '\\|' inside a cell is not a separator."""
    cells, cur, i = [], "", 1
    body = line.strip()
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            cur += "\\|"
            i += 2
            continue
        if ch == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    return cells


def key_tables(text):
    """[(section, [(key, type, default, reload, description)])] in docs/config.md order,
    from the tables under the "## Keys" heading."""
    out, section, in_keys = [], None, False
    for line in text.splitlines():
        if line.startswith("## "):
            in_keys = line.strip() == "## Keys"
            continue
        if not in_keys:
            continue
        m = re.match(r"^### \[([a-z0-9_.A-Z]+)\]\s*$", line)
        if m:
            section = m.group(1)
            out.append((section, []))
            continue
        if section and line.startswith("| `"):
            cells = split_row(line)
            if len(cells) < 5:
                raise SystemExit("docs/config.md: bad key row: " + line)
            key = cells[0].strip("`")
            out[-1][1].append((key, cells[1], cells[2], cells[3], " | ".join(cells[4:])))
    return [(s, rows) for s, rows in out if rows]


def reload_word(cell):
    """'yes' or 'restart' from the reload column."""
    return "restart" if "restart" in cell.lower() else "yes"


def render(tables):
    """The generated Markdown: one '## [section]' per section, one definition per key."""
    lines = [BEGIN, ""]
    for section, rows in tables:
        lines += ["## [%s]" % section, ""]
        for key, typ, default, reload, desc in rows:
            # docs/config.md's notes are not part of the man page: point at them
            desc = re.sub(r"\bbelow\b", "in docs/config.md", desc)
            lines.append("`%s` (%s) — default: %s; reload: %s" % (key, typ, default,
                                                                  reload_word(reload)))
            lines.append(":   %s" % desc)
            lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main(argv):
    check = "--check" in argv
    with open(CONFIG_MD, encoding="utf-8") as f:
        tables = key_tables(f.read())
    with open(MAN_MD, encoding="utf-8") as f:
        man = f.read()
    b, e = man.find(BEGIN), man.find(END)
    if b < 0 or e < b:
        raise SystemExit("%s: markers not found" % MAN_MD)
    new = man[:b] + render(tables) + man[e + len(END):]
    if check:
        if new != man:
            print("docs/rwproxy.ini.5.md is out of date: run python3 packaging/sync_man_keys.py")
            return 1
        return 0
    if new != man:
        with open(MAN_MD, "w", encoding="utf-8") as f:
            f.write(new)
        print("docs/rwproxy.ini.5.md: key list rewritten (%d sections, %d keys)" % (
            len(tables), sum(len(r) for _, r in tables)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
