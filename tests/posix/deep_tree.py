#!/usr/bin/env python3
"""Builds a directory tree whose deepest path is about PATH_MAX long below `root`, using
directory descriptors (no single path is longer than a component), with a file at some levels.
Usage: deep_tree.py ROOT NAME [--path-len N] [--comp-len N]"""
import argparse
import os

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("name")
ap.add_argument("--path-len", type=int, default=4096)
ap.add_argument("--comp-len", type=int, default=8)
a = ap.parse_args()
fd = os.open(a.root, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir(a.name, dir_fd=fd)
cur = os.open(a.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
os.close(fd)
length, level = len(a.name), 0
while length + a.comp_len + 1 <= a.path_len:
    comp = ("%0*d" % (a.comp_len, level))[-a.comp_len:]
    os.mkdir(comp, dir_fd=cur)
    if level % 16 == 0:
        f = os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=cur)
        os.write(f, b"x")
        os.close(f)
    nxt = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
    os.close(cur)
    cur = nxt
    length += a.comp_len + 1
    level += 1
os.close(cur)
print(level)
