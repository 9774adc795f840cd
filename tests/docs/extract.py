#!/usr/bin/env python3
"""Lists every shell command shown in the given docs, one JSON object a line:
{"file", "line", "block", "kind", "cmd"}. Markdown fences are read by their info string:
sh/bash (every line a command, comments dropped, backslash continuations joined), console (lines
starting "$ "), fstab (an fstab entry), crontab (the command after the five time fields); text, c,
ini, json and the like hold no commands. An untagged fence is an error (kind "untagged"), so a new
command block cannot go untested by accident. In a man page, the .nf/.fi block under EXAMPLES."""
import json
import re
import sys

NO_COMMANDS = {"text", "c", "ini", "json", "yaml", "diff", "python", "js", "javascript", "toml"}


def strip_comment(line):
    # a '#' that starts a word and is outside quotes starts a comment
    out, q = [], None
    for i, ch in enumerate(line):
        if q:
            if ch == q:
                q = None
        elif ch in "'\"":
            q = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def markdown(path, emit):
    lines = open(path, encoding="utf-8").read().split("\n")
    i, block = 0, 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(.*)$", lines[i])
        if not m:
            i += 1
            continue
        lang, start, body = m.group(2).strip(), i + 1, []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        block += 1
        if lang == "":
            emit(path, start, block, "untagged", "")
        elif lang in ("sh", "bash"):
            pending, first = "", None
            for n, l in body:
                l = strip_comment(l) if not pending else l.rstrip()
                if not l.strip() and not pending:
                    continue
                first = first or n
                if l.endswith("\\"):
                    pending += l[:-1] + " "
                    continue
                emit(path, first, block, "sh", (pending + l).strip())
                pending, first = "", None
        elif lang == "console":
            for n, l in body:
                if l.startswith("$ "):
                    emit(path, n, block, "sh", l[2:].strip())
        elif lang == "fstab":
            for n, l in body:
                if l.strip() and not l.lstrip().startswith("#"):
                    emit(path, n, block, "fstab", l.strip())
        elif lang == "crontab":
            for n, l in body:
                if l.strip() and not l.lstrip().startswith("#"):
                    emit(path, n, block, "sh", l.split(None, 5)[5].strip())
        elif lang not in NO_COMMANDS:
            emit(path, start, block, "unknown:" + lang, "")


def manpage(path, emit):
    lines = open(path, encoding="utf-8").read().split("\n")
    in_ex = in_nf = False
    for n, l in enumerate(lines, 1):
        if l.startswith(".SH"):
            in_ex = l.strip() == ".SH EXAMPLES"
        elif in_ex and l.startswith(".nf"):
            in_nf = True
        elif in_ex and l.startswith(".fi"):
            in_nf = False
        elif in_nf and l.strip():
            emit(path, n, 1, "sh", l.replace("\\-", "-").replace("\\e", "\\"))


def main():
    def emit(f, n, b, k, c):
        print(json.dumps({"file": f, "line": n, "block": b, "kind": k, "cmd": c}))

    for path in sys.argv[1:]:
        (manpage if re.search(r"\.[1-8]$", path) else markdown)(path, emit)


main()
