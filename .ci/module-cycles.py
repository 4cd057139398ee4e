#!/usr/bin/env python3
"""Import cycles between the host's modules (issue 12: data flows one way).

Builds the module graph of host/src from every `crate::a::b` and `super::x`
path in each file (test modules left out), prints its cycles (strongly
connected components) and exits 1 if there is one other than the bindgen
cycle `bindings <-> postgres`, which `wasmtime::component::bindgen!` makes
by naming the postgres resource types.
"""
import re, os, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'host', 'src')
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        rel = os.path.relpath(os.path.join(dp, f), root)[:-3].split('/')
        if rel[-1] == 'mod': rel = rel[:-1]
        if rel in (['lib'], ['main']): continue
        mods['::'.join(rel)] = os.path.join(dp, f)
def top(m): return m
edges = {m: set() for m in mods}
for m, path in mods.items():
    text = open(path).read()
    text = re.sub(r'(?s)#\[cfg\(test\)\]\s*mod tests.*', '', text)  # test modules excluded
    text = re.sub(r'//.*', '', text)
    for ref in re.findall(r'crate::([a-z_]+(?:::[a-z_]+)*)', text):
        parts = ref.split('::')
        # longest prefix that is a module
        for i in range(len(parts), 0, -1):
            cand = '::'.join(parts[:i])
            if cand in mods:
                if cand != m and not m.startswith(cand + '::') and not cand.startswith(m + '::'):
                    edges[m].add(cand)
                break
    base = m.split('::')
    for ref in re.findall(r'\bsuper::(?:\{([^}]*)\}|([a-z_]+))', text):
        names = [n.strip().split('::')[0] for n in (ref[0].split(',') if ref[0] else [ref[1]])]
        parent = base[:-1]
        for n in names:
            cand = '::'.join(parent + [n]) if n else None
            if cand in mods and cand != m:
                edges[m].add(cand)
            elif parent and '::'.join(parent) in mods and '::'.join(parent) != m:
                pass  # items of the parent module: a child using its parent is ownership
# Tarjan SCC
index = {}; low = {}; stack = []; on = set(); sccs = []; i = [0]
def strong(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index: strong(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in edges:
    if v not in index: strong(v)
print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} edges")
for c in sccs:
    print("cycle:", " <-> ".join(c))
    for a in c:
        print("   ", a, "->", sorted(x for x in edges[a] if x in c))
ALLOWED = [['bindings', 'postgres']]
unexpected = [c for c in sccs if c not in ALLOWED]
if unexpected:
    print("import cycles other than the bindgen one: break them (see host/src/lib.rs)")
    sys.exit(1)
print("no import cycle but the bindgen one")
