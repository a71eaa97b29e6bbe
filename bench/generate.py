#!/usr/bin/env python3
"""Synthetic catalogue for the benchmark, grown from the real seed (examples/data/seed-358-servers.json).

    python3 bench/generate.py --servers 10000 --versions 5 --out /tmp/catalogue.json

Writes a bare JSON array of server.json documents (the `upstream` format), SERVERS x VERSIONS entries.
Every entry keeps the real shape of the seed server it is derived from (packages, remotes, repository,
$schema) and varies what a real catalogue varies:

- names: round 0 keeps the seed names; round r > 0 moves each seed server to a namespace `<ns>-r<r>`
  (a fork or a re-publisher) and sometimes suffixes the name with a word. Names stay valid
  (`[a-zA-Z0-9.-]` namespace, `[a-zA-Z0-9._-]` name, alphanumeric at both ends) and unique.
- versions: increasing semver per server (`1.4.2`), about 1 in 8 a prerelease (`2.0.0-rc.1`).
- descriptions: the seed description (when not empty) plus a few words from a fixed vocabulary, so
  that a word like `server` occurs in many entries and others are rare.
- packages: the package version follows the server version; identifiers and repository URLs follow
  the new namespace.

Deterministic for a given --seed. Python standard library only. Prints a one-line JSON summary
(entries, bytes, how many entries each search probe matches) on stdout.
"""

import argparse
import copy
import json
import os
import random
import re
import sys

NAMESPACE_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?$")
NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$")

# Words for descriptions and name suffixes. `server` is deliberately common (it is also in most seed
# names); `kubernetes` and `quasar` are progressively rarer, as search probes.
ADJECTIVES = ["fast", "secure", "lightweight", "experimental", "official", "community", "minimal",
              "enterprise", "open", "local", "remote", "typed", "async", "cached", "managed"]
NOUNS = ["database", "search", "calendar", "email", "files", "weather", "finance", "maps", "git",
         "issues", "docs", "notes", "chat", "storage", "metrics", "logs", "browser", "crm", "tickets",
         "analytics"]
PHRASES = ["MCP server for {n}", "Access {n} from your assistant", "{a} {n} tools for agents",
           "Query and update {n}", "A {a} bridge to {n} APIs", "Model Context Protocol server: {n}",
           "{a} {n} integration", "Read {n} data with natural language"]
RARE = ["kubernetes", "terraform", "postgres", "quasar"]
RARE_WEIGHT = [0.05, 0.03, 0.02, 0.002]


def valid_name(full):
    ns, _, nm = full.partition("/")
    return bool(NAMESPACE_RE.match(ns) and NAME_RE.match(nm))


def versions_for(rng, count):
    """`count` distinct, increasing semver strings, about 1 in 8 a prerelease."""
    major, minor, patch = rng.randint(0, 3), rng.randint(0, 9), rng.randint(0, 9)
    out = []
    while len(out) < count:
        step = rng.random()
        if step < 0.15:
            major, minor, patch = major + 1, 0, 0
        elif step < 0.5:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        base = f"{major}.{minor}.{patch}"
        if rng.random() < 0.125:
            out.append(f"{base}-{rng.choice(['alpha', 'beta', 'rc'])}.{rng.randint(1, 5)}")
            if len(out) < count:
                out.append(base)  # the release after its prerelease
        else:
            out.append(base)
    return out[:count]


def description_for(rng, base_desc, version):
    n, a = rng.choice(NOUNS), rng.choice(ADJECTIVES)
    words = [rng.choice(PHRASES).format(n=n, a=a)]
    if base_desc:
        words.append(base_desc)
    for word, weight in zip(RARE, RARE_WEIGHT):
        if rng.random() < weight:
            words.append(f"Works with {word}.")
    words.append(f"Release {version}.")
    return " ".join(words)


def generate(seed_docs, servers, versions, seed=1):
    rng = random.Random(seed)
    count = len(seed_docs)
    out = []
    for i in range(servers):
        base = seed_docs[i % count]
        rnd = i // count
        ns, _, nm = base["name"].partition("/")
        if rnd:
            ns = f"{ns}-r{rnd}"
            if rng.random() < 0.3:
                nm = f"{nm}-{rng.choice(NOUNS)}"
        name = f"{ns}/{nm}"
        if not valid_name(name):
            raise SystemExit(f"generated an invalid name: {name}")
        owner = ns.rsplit(".", 1)[-1]
        repo_id = str(rng.randint(10**8, 10**9))
        for version in versions_for(rng, versions):
            doc = copy.deepcopy(base)
            doc["name"] = name
            doc["version"] = version
            doc["description"] = description_for(rng, base.get("description", ""), version)
            if isinstance(doc.get("repository"), dict):
                doc["repository"]["url"] = f"https://github.com/{owner}/{nm}"
                doc["repository"]["id"] = repo_id
            for pkg in doc.get("packages", []) or []:
                pkg["version"] = version
                if rnd and isinstance(pkg.get("identifier"), str):
                    ident = pkg["identifier"]
                    pkg["identifier"] = f"{ident}-r{rnd}" if "@" not in ident[1:] else ident
            out.append(doc)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed-file", default=os.path.join(os.path.dirname(__file__), "..", "examples", "data",
                                                        "seed-358-servers.json"))
    ap.add_argument("--servers", type=int, default=10000)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--probe", action="append", default=[], help="count the entries matching this search term")
    args = ap.parse_args()
    if args.servers < 1 or args.versions < 1:
        raise SystemExit("--servers and --versions must be at least 1")
    with open(args.seed_file, encoding="utf-8") as f:
        seed_docs = json.load(f)
    docs = generate(seed_docs, args.servers, args.versions, args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(docs, f, separators=(",", ":"))
    probes = {}
    for term in args.probe or ["server"] + RARE:
        t = term.lower()
        probes[term] = sum(1 for d in docs if t in (d["name"] + " " + d.get("title", "") + " " + d["description"]).lower())
    # a sample entry for the single-version and versions rows: one from the middle of the catalogue
    sample = docs[(len(docs) // 2) // args.versions * args.versions]
    json.dump({"entries": len(docs), "servers": args.servers, "bytes": os.path.getsize(args.out),
               "probes": probes, "sample_name": sample["name"],
               "sample_version": docs[(len(docs) // 2) // args.versions * args.versions + args.versions // 2]["version"]},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
