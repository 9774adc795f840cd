#!/usr/bin/env python3
"""Fails on any cycle among the source files of the given build trees when an edge is a call
(ctest: call_cycles): file A -> file B when A's object file uses a global symbol B's defines.

Usage: call_cycles.py NM BUILD_DIR... The objects are CMake's (`<dir>/CMakeFiles/<target>.dir/
<source>.o`); a source built into two targets is one node. A file-level cycle means no file of
it can be read, tested or replaced without the others: docs/design.md gives each module's
layers, top-down, and this keeps them so. Cycles are printed; exit status 1 if there is any."""
import os
import subprocess
import sys

from include_cycles import cycles


def source_of(obj):
    """fs/persist/CMakeFiles/spacefs_persist.dir/view.c.o -> fs/persist/view.c"""
    head, _, rest = obj.partition('/CMakeFiles/')
    return os.path.join(head, rest.split('/', 1)[1])[:-len('.o')]


def main(nm, roots):
    defs, uses = {}, {}
    for root in roots:
        for d, _, fs in os.walk(root):
            for f in fs:
                if not f.endswith('.c.o') or '/CMakeFiles/' not in d + '/':
                    continue
                obj = os.path.join(d, f)
                node = os.path.relpath(source_of(obj), os.path.dirname(os.path.abspath(root)))
                out = subprocess.run([nm, obj], capture_output=True, text=True, check=True).stdout
                for line in out.splitlines():
                    part = line.split()
                    if len(part) == 3 and part[1] in 'TDBRC':
                        defs.setdefault(part[2], set()).add(node)
                    elif len(part) == 2 and part[0] == 'U':
                        uses.setdefault(node, set()).add(part[1])
    graph = {n: set() for n in set(uses) | {n for ns in defs.values() for n in ns}}
    for node, syms in uses.items():
        for s in syms:
            graph[node].update(defs.get(s, set()) - {node})
    found = cycles(graph)
    for c in found:
        print('call cycle:', ' '.join(c))
    print('%d files, %d call cycles' % (len(graph), len(found)))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2:]))
