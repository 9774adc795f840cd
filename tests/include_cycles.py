#!/usr/bin/env python3
"""Fails on any cycle in the #include graph of the given source trees (ctest: include_cycles).

Nodes are the .c and .h files under the roots; `#include "x.h"` is an edge to the file x.h,
looked up next to the includer first, then in every directory that holds such a header (as the
build's include paths do). A cycle is printed with its files; exit status 1 if there is any."""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def cycles(graph):
    """The cycles of a graph {node: set of nodes}: its strongly connected components of more
    than one node, or of one with an edge to itself (Tarjan's algorithm, iteratively), each as
    a sorted list."""
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in graph[v]:
                        sccs.append(sorted(comp))
    return sccs


def main(roots):
    files = [os.path.join(d, f) for r in roots for d, _, fs in os.walk(r) for f in fs
             if f.endswith(('.c', '.h'))]
    by_name = {}
    for f in files:
        by_name.setdefault(os.path.basename(f), []).append(f)
    graph = {}
    for f in files:
        with open(f, encoding='utf-8', errors='replace') as fh:
            names = INCLUDE.findall(fh.read())
        edges = set()
        for n in names:
            local = os.path.normpath(os.path.join(os.path.dirname(f), n))
            if os.path.exists(local):
                edges.add(local)
            else:
                edges.update(by_name.get(os.path.basename(n), []))
        graph[f] = edges
    sccs = cycles(graph)
    for c in sccs:
        print('include cycle:', ' '.join(os.path.relpath(f) for f in c))
    print('%d files, %d include cycles' % (len(files), len(sccs)))
    return 1 if sccs else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
