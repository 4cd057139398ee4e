#!/usr/bin/env python3
"""Offline checks of the manifests under deploy/k8s and deploy/spinkube.

    python3 deploy/crds/check.py                   # every check below; exit 1 on any failure
    python3 deploy/crds/check.py --builtin-files   # the manifest files of built-in kinds, one a line
    python3 deploy/crds/check.py --sync-spin-toml  # rewrite the spin.toml ConfigMap from spin.toml

- A document whose apiVersion/kind is a CRD vendored in deploy/crds is
  validated against that CRD's openAPIV3Schema, closed the way the API
  server's pruning and strict field validation close it: an object schema
  with `properties` and no `x-kubernetes-preserve-unknown-fields` rejects
  unknown fields. (CEL `x-kubernetes-validations` rules are not evaluated.)
- A document of a vendored CRD's group but of another kind or version is an
  error; documents of other groups are left to `kubernetes-validate`
  (`cargo xtask validate` runs it on `--builtin-files`, and fails on a kind it
  has no schema for). A file may not mix the two.
- The ConfigMap's embedded spin.toml equals the repository's, byte for byte.
- spin.toml's variables and the manifests agree: every variable without a
  default is bound by each workload (SPIN_VARIABLE_* env) and SpinApp,
  nothing binds a variable spin.toml lacks, and every Secret key they read
  exists in the example Secret of that name.
- Every kustomization's resources exist, and every manifest except
  `*.example.yaml` is listed by a kustomization.
- Every service database of a CloudNativePG Cluster (its bootstrap database
  and each Database resource naming it) has CONNECT revoked from PUBLIC by
  the bootstrap SQL, as deploy/compose/initdb and the embedded setup do: the
  bootstrap database in postInitApplicationSQL (it exists by then), the
  others created and revoked in postInitSQL (a Database resource cannot set
  privileges, and adopts a database that exists).

Needs `jsonschema` and `pyyaml` (`python3 -m pip install jsonschema pyyaml`).
"""

import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "deploy" / "crds"
TREES = [ROOT / "deploy" / "k8s", ROOT / "deploy" / "spinkube"]
SPIN_TOML = ROOT / "spin.toml"
CONFIGMAP = ROOT / "deploy" / "k8s" / "configmap-spin-toml.yaml"
CONFIGMAP_NAME = "comptoir-spin-toml"

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# The part of ObjectMeta a manifest sets (CRD schemas leave `metadata` open:
# the API server validates it itself).
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}


def closed(schema, in_junctor=False):
    """A CRD's structural schema as JSON Schema that rejects unknown fields."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {k: closed(v, in_junctor) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = closed(out["items"], in_junctor)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = closed(out["additionalProperties"], in_junctor)
    for junctor in ("allOf", "anyOf", "oneOf"):
        if junctor in out:
            out[junctor] = [closed(s, True) for s in out[junctor]]
    if "not" in out:
        out["not"] = closed(out["not"], True)
    # Inside anyOf & co. `properties` only constrain values: never close there.
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not in_junctor
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        if schema.get("x-kubernetes-embedded-resource"):
            for key in ("apiVersion", "kind", "metadata"):
                out["properties"].setdefault(key, {})
        out["additionalProperties"] = False
    return out


def load_crds():
    """{(apiVersion, kind): (validator, crd file)} for every served version."""
    crds, groups = {}, set()
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            groups.add(group)
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = closed(version["schema"]["openAPIV3Schema"])
                schema["properties"]["metadata"] = OBJECT_META
                schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
                jsonschema.Draft7Validator.check_schema(schema)
                validator = jsonschema.Draft7Validator(schema)
                crds[(f"{group}/{version['name']}", kind)] = (validator, path.name)
    return crds, groups


def manifests():
    """(path, index, document) for every manifest document, kustomizations aside."""
    for tree in TREES:
        for path in sorted([*tree.rglob("*.yaml"), *tree.rglob("*.yml")]):
            if path.name.startswith("kustomization."):
                continue
            for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
                if doc is not None:
                    yield path, index, doc


def group_of(doc):
    api_version = str(doc.get("apiVersion", ""))
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def where(path, index, doc):
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{path.relative_to(ROOT)}[{index}] {doc.get('kind', '?')}/{name}"


def json_path(error):
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(document)"


def check_custom(docs, crds, groups, errors):
    for path, index, doc in docs:
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        if key in crds:
            validator, crd_file = crds[key]
            found = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            for error in found:
                errors.append(f"{where(path, index, doc)}: {json_path(error)}: {error.message}")
            print(f"{'FAIL' if found else 'ok  '} {where(path, index, doc)} against {crd_file}")
        elif group_of(doc) in groups:
            errors.append(f"{where(path, index, doc)}: no served version of a vendored CRD has "
                          f"apiVersion {key[0]} and kind {key[1]} (vendor its CRD in deploy/crds)")
            print(f"FAIL {where(path, index, doc)}: unknown custom kind")
        else:
            print(f"--   {where(path, index, doc)}: built-in kind, left to kubernetes-validate")


def builtin_files(docs, groups):
    """The files holding only built-in kinds; a file mixing kinds is an error."""
    by_file = {}
    for path, _, doc in docs:
        by_file.setdefault(path, set()).add(group_of(doc) in groups)
    mixed = [str(p.relative_to(ROOT)) for p, kinds in by_file.items() if len(kinds) > 1]
    if mixed:
        sys.exit(f"check.py: keep custom resources in files of their own: {', '.join(mixed)}")
    return [p for p, kinds in by_file.items() if kinds == {False}]


def spin_toml_configmap():
    text = SPIN_TOML.read_text(encoding="utf-8")
    if any(line != line.rstrip() for line in text.splitlines()):
        sys.exit("check.py: spin.toml has trailing whitespace, which the YAML block would not keep")
    chomp = "-" if not text.endswith("\n") else "+" if text.endswith("\n\n") else ""
    body = "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())
    out = f"""\
# GENERATED from the repository's spin.toml by
#   python3 deploy/crds/check.py --sync-spin-toml
# Edit spin.toml, then re-run that: `cargo xtask validate` fails while the
# two differ. (kustomize's configMapGenerator cannot read ../../spin.toml:
# it refuses files outside the kustomization's directory.)
#
# Mounted at /app/spin.toml with subPath, which does not follow updates: a
# changed spin.toml reaches running pods with a new rollout
# (`kubectl -n comptoir rollout restart deployment/comptoir`).
apiVersion: v1
kind: ConfigMap
metadata:
  name: {CONFIGMAP_NAME}
  labels:
    app.kubernetes.io/name: comptoir
    app.kubernetes.io/component: gateway
data:
  spin.toml: |{chomp}
{body}"""
    assert yaml.safe_load(out)["data"]["spin.toml"] == text, "spin.toml does not round-trip through YAML"
    return out


def check_spin_toml(docs, errors):
    expected = SPIN_TOML.read_bytes()
    maps = [(p, i, d) for p, i, d in docs if d.get("kind") == "ConfigMap" and "spin.toml" in (d.get("data") or {})]
    if not maps:
        errors.append("no ConfigMap under deploy/ embeds spin.toml")
    for path, index, doc in maps:
        same = doc["data"]["spin.toml"].encode("utf-8") == expected
        print(f"{'ok  ' if same else 'FAIL'} {where(path, index, doc)}: embedded spin.toml "
              f"{'equals' if same else 'differs from'} spin.toml")
        if not same:
            errors.append(f"{where(path, index, doc)}: embedded spin.toml differs from spin.toml "
                          "(run python3 deploy/crds/check.py --sync-spin-toml)")


def check_variables(docs, errors):
    variables = tomllib.loads(SPIN_TOML.read_text())["variables"]
    required = {name for name, spec in variables.items() if "default" not in spec}
    secrets = {}  # (tree, name) -> keys of the (example) Secret or ConfigMap
    for path, _, doc in docs:
        if doc.get("kind") in ("Secret", "ConfigMap"):
            keys = {*(doc.get("data") or {}), *(doc.get("stringData") or {})}
            secrets[(tree_of(path), doc["metadata"]["name"])] = keys

    def keys_of(path, ref, what):
        keys = secrets.get((tree_of(path), ref.get("name")))
        if keys is None:
            errors.append(f"{path.relative_to(ROOT)}: {what} {ref.get('name')!r} has no (example) manifest")
            return set()
        if "key" in ref and ref["key"] not in keys:
            errors.append(f"{path.relative_to(ROOT)}: {what} {ref['name']!r} has no key {ref['key']!r}")
        return keys

    def compare(path, index, doc, bound):
        unknown, missing = bound - set(variables), required - bound
        for name in sorted(unknown):
            errors.append(f"{where(path, index, doc)}: binds {name!r}, which spin.toml does not declare")
        for name in sorted(missing):
            errors.append(f"{where(path, index, doc)}: does not bind spin.toml's required variable {name!r}")
        ok = not unknown and not missing
        print(f"{'ok  ' if ok else 'FAIL'} {where(path, index, doc)}: binds spin.toml's variables {sorted(bound)}")

    for path, index, doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names = set()
                for env in container.get("env", []):
                    names.add(env["name"])
                    for kind, what in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                        if kind in env.get("valueFrom", {}):
                            keys_of(path, env["valueFrom"][kind], what)
                for source in container.get("envFrom", []):
                    for kind, what in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                        if kind in source:
                            names |= {source.get("prefix", "") + k for k in keys_of(path, source[kind], what)}
                prefix = "SPIN_VARIABLE_"
                compare(path, index, doc, {n[len(prefix):].lower() for n in names if n.startswith(prefix)})
        elif doc.get("kind") == "SpinApp":
            for variable in doc["spec"].get("variables", []):
                for kind, what in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    if kind in variable.get("valueFrom", {}):
                        keys_of(path, variable["valueFrom"][kind], what)
            compare(path, index, doc, {v["name"] for v in doc["spec"].get("variables", [])})


def check_database_privileges(docs, errors):
    def revokes(statements, database):
        pattern = rf'REVOKE\s+(ALL|CONNECT)\b.*\bON\s+DATABASE\s+"?{re.escape(database)}"?\s+FROM\s+PUBLIC\b'
        return next((i for i, sql in enumerate(statements) if re.search(pattern, sql, re.I)), None)

    def creates(statements, database):
        pattern = rf'^\s*CREATE\s+DATABASE\s+"?{re.escape(database)}"?(\s|$)'
        return next((i for i, sql in enumerate(statements) if re.search(pattern, sql, re.I)), None)

    for path, index, doc in docs:
        if doc.get("kind") != "Cluster" or group_of(doc) != "postgresql.cnpg.io":
            continue
        cluster = doc["metadata"]["name"]
        initdb = ((doc.get("spec") or {}).get("bootstrap") or {}).get("initdb") or {}
        post_init = initdb.get("postInitSQL") or []
        application = initdb.get("postInitApplicationSQL") or []
        problems = []
        if initdb.get("database") and revokes(application, initdb["database"]) is None:
            problems.append(f"postInitApplicationSQL does not revoke CONNECT on {initdb['database']} from PUBLIC")
        for _, _, other in docs:
            spec = other.get("spec") or {}
            if other.get("kind") != "Database" or (spec.get("cluster") or {}).get("name") != cluster:
                continue
            database = spec.get("name")
            created, revoked = creates(post_init, database), revokes(post_init, database)
            if created is None or revoked is None or revoked < created:
                problems.append(f"postInitSQL does not create {database} and then revoke CONNECT on it from PUBLIC")
        for problem in problems:
            errors.append(f"{where(path, index, doc)}: {problem}")
        print(f"{'FAIL' if problems else 'ok  '} {where(path, index, doc)}: "
              "PUBLIC has no CONNECT on its service databases")


def tree_of(path):
    return next(t for t in TREES if t in path.parents)


def check_kustomizations(docs, errors):
    listed = set()
    for tree in TREES:
        for kustomization in sorted(tree.rglob("kustomization.yaml")):
            for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
                target = (kustomization.parent / entry).resolve()
                if target.is_file() or (target / "kustomization.yaml").is_file():
                    listed.add(target)
                else:
                    errors.append(f"{kustomization.relative_to(ROOT)}: resource {entry!r} does not exist")
            print(f"ok   {kustomization.relative_to(ROOT)}: resources exist")
    for path in sorted({p for p, _, _ in docs}):
        if not path.name.endswith(".example.yaml") and path.resolve() not in listed:
            errors.append(f"{path.relative_to(ROOT)}: listed by no kustomization.yaml")


def main(argv):
    crds, groups = load_crds()
    docs = list(manifests())
    if argv == ["--builtin-files"]:
        for path in builtin_files(docs, groups):
            print(path)
        return 0
    if argv == ["--sync-spin-toml"]:
        CONFIGMAP.write_text(spin_toml_configmap(), encoding="utf-8")
        print(f"wrote {CONFIGMAP.relative_to(ROOT)}")
        return 0
    if argv:
        sys.exit(__doc__)
    errors = []
    builtin_files(docs, groups)
    check_custom(docs, crds, groups, errors)
    check_spin_toml(docs, errors)
    check_variables(docs, errors)
    check_kustomizations(docs, errors)
    check_database_privileges(docs, errors)
    sys.stdout.flush()
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    sys.stderr.flush()
    print(f"check.py: {len(docs)} documents, {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
