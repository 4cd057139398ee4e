#!/usr/bin/env python3
"""Import cycles between the host's modules (issue 12: data flows one way).

Builds the module graph of host/src from every `crate::…`, `super::…` path
in each file (test modules left out), grouped imports included
(`use crate::{a, b::{C, D}}`, `use super::{x, y}`, nested braces), and
names of lib.rs's `pub use` re-exports (`crate::Cli` is `cli`).

Two graphs are checked:
- the host's top-level modules, the ones lib.rs maps (a path into
  `canary::stats` is a dependency on `canary`): two of them must not use
  each other, even through different submodules;
- the submodules of one top-level module (`pool::dispatch`,
  `pool::replica`): no cycle among them either (a child using its parent,
  or a parent its child, is ownership, not a cycle).

Prints the cycles (strongly connected components) and exits 1 if there is
one other than the bindgen cycle `bindings <-> key_value, outbound_redis, postgres, sqlite`,
which `wasmtime::component::bindgen!` makes by naming their resource types.
"""
import os
import re
import sys

IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
ALLOWED = [['bindings', 'key_value', 'outbound_redis', 'postgres', 'sqlite']]
# What may hold `crate::` without naming a module, leftmost first.
LEXEMES = re.compile(r'''(?sx)
    (?<![A-Za-z0-9_])b?r(\#*)".*?"\1   # raw string
  | b?"(?:\\.|[^"\\])*"             # string
  | b?'(?:\\.|[^'\\])'              # character (not a lifetime)
  | //[^\n]*                         # line comment
  | /\*.*?\*/                         # block comment
''')


def source(path):
    """The file's code: comments, strings and test modules left out."""
    text = open(path).read()
    text = re.sub(r'(?s)#\[cfg\(test\)\]\s*mod tests.*', '', text)
    return LEXEMES.sub(lambda m: '""' if m.group(0)[-1:] in '"\'' else ' ', text)


def use_tree(text, pos):
    """The paths of the use tree (or plain path) at `pos`, each a list of
    segments whose last may be renamed: [(segments, alias)]."""
    def skip(p):
        while p < len(text) and text[p].isspace():
            p += 1
        return p

    def tree(p):
        p = skip(p)
        if text.startswith('{', p):
            paths, p = [], p + 1
            while True:
                p = skip(p)
                if p >= len(text) or text[p] == '}':
                    return paths, p + 1
                if text[p] == ',':
                    p += 1
                    continue
                sub, p = tree(p)
                paths += sub
        if text.startswith('*', p):
            return [([], None)], p + 1
        m = IDENT.match(text, p)
        if not m:
            return [([], None)], p
        name, p = m.group(), m.end()
        q = skip(p)
        if text.startswith('::', q) and not text.startswith('::<', q):
            sub, p = tree(q + 2)
            head = [] if name == 'self' else [name]
            return [(head + s, a) for s, a in sub], p
        alias = re.match(r'\s+as\s+([A-Za-z_][A-Za-z0-9_]*)', text[p:])
        if alias:
            return [([] if name == 'self' else [name], alias.group(1))], p + alias.end()
        return [([] if name == 'self' else [name], None)], p

    return tree(pos)[0]


def modules(root):
    """Module path (`canary::stats`) -> file, lib.rs and main.rs left out."""
    mods = {}
    for dp, _, fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs'):
                continue
            rel = os.path.relpath(os.path.join(dp, f), root)[:-3].split(os.sep)
            if rel[-1] == 'mod':
                rel = rel[:-1]
            if rel in (['lib'], ['main']):
                continue
            mods['::'.join(rel)] = os.path.join(dp, f)
    return mods


def reexports(root, mods):
    """lib.rs's `pub use m::Item [as Name]`: Name -> the path it stands for."""
    lib = os.path.join(root, 'lib.rs')
    names = {}
    if not os.path.exists(lib):
        return names
    text = source(lib)
    for m in re.finditer(r'\bpub\s+use\s+', text):
        for segments, alias in use_tree(text, m.end()):
            if segments and segments[0] in mods:
                names[alias or segments[-1]] = segments
    return names


def references(text, module, names):
    """Every crate path `module`'s code names, as lists of segments."""
    base = module.split('::')
    for m in re.finditer(r'\b(crate|(?:super\s*::\s*)*super)\s*::', text):
        if m.group(1) == 'crate':
            prefix = []
        else:
            ups = m.group(1).count('super')
            if ups > len(base):
                continue
            prefix = base[:len(base) - ups]
        for segments, _ in use_tree(text, m.end()):
            path = prefix + segments
            if path and path[0] in names:
                path = names[path[0]] + path[1:]
            yield path


def graph(root):
    """Edges between modules (fine: every file a node)."""
    mods = modules(root)
    names = reexports(root, mods)
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        for ref in references(source(path), m, names):
            for i in range(len(ref), 0, -1):  # longest prefix that is a module
                cand = '::'.join(ref[:i])
                if cand in mods:
                    related = cand == m or m.startswith(cand + '::') or cand.startswith(m + '::')
                    if not related:
                        edges[m].add(cand)
                    break
    return edges


def top(m):
    return m.split('::')[0]


def cycles(edges):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'host', 'src')
    fine = graph(root)
    coarse = {top(m): set() for m in fine}
    for m, targets in fine.items():
        coarse[top(m)] |= {top(t) for t in targets if top(t) != top(m)}
    # Cycles across top-level modules show in the coarse graph; the fine
    # graph adds those among the submodules of one.
    inner = [c for c in cycles(fine) if len({top(m) for m in c}) == 1]
    print(f"{len(fine)} modules ({len(coarse)} top-level), "
          f"{sum(map(len, fine.values()))} edges ({sum(map(len, coarse.values()))} top-level)")
    found = [(c, coarse) for c in cycles(coarse)] + [(c, fine) for c in inner]
    for c, edges in found:
        print("cycle:", " <-> ".join(c))
        for a in c:
            via = sorted(t for t in fine if top(t) == a) if edges is coarse else [a]
            for m in via:
                targets = sorted(t for t in fine[m] if (top(t) if edges is coarse else t) in c
                                 and (edges is not coarse or top(t) != a))
                if targets:
                    print("   ", m, "->", targets)
    unexpected = [c for c, _ in found if c not in ALLOWED]
    if unexpected:
        print("import cycles other than the bindgen one: break them (see host/src/lib.rs)")
        sys.exit(1)
    print("no import cycle but the bindgen one")


main()
