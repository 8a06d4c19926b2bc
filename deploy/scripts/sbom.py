#!/usr/bin/env python3
"""Writes a CycloneDX 1.5 JSON SBOM of the axiom binary from `cargo metadata`.

A script rather than cargo-cyclonedx: it needs only Python's standard library and cargo
itself, so it runs offline and adds no tool build to CI. It lists every package that the
`axiom` binary links in on this platform (normal dependencies, resolved by cargo, without
dev- and build-only ones), with its version, license, package URL and crates.io source.

Usage: sbom.py [OUTPUT]   (default: target/sbom/axiom.cdx.json)
"""

import datetime
import json
import pathlib
import subprocess
import sys
import uuid


def purl(package):
    return f"pkg:cargo/{package['name']}@{package['version']}"


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    output = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target" / "sbom" / "axiom.cdx.json"
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform",
             subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True)
             .stdout.split("host: ")[1].split()[0]],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout
    )
    packages = {package["id"]: package for package in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    root_id = next(package["id"] for package in metadata["packages"]
                   if package["name"] == "axiom" and package["id"] in metadata["workspace_members"])

    # Walk normal (runtime) dependency edges from the binary's package.
    linked, stack = set(), [root_id]
    while stack:
        current = stack.pop()
        if current in linked:
            continue
        linked.add(current)
        for dep in nodes[current]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                stack.append(dep["pkg"])

    def component(package_id):
        package = packages[package_id]
        entry = {
            "type": "application" if package_id == root_id else "library",
            "bom-ref": purl(package),
            "name": package["name"],
            "version": package["version"],
            "purl": purl(package),
        }
        if package.get("license"):
            entry["licenses"] = [{"expression": package["license"]}]
        if package.get("source"):
            entry["externalReferences"] = [{"type": "distribution", "url": package["source"]}]
        return entry

    dependencies = [
        {"ref": purl(packages[package_id]),
         "dependsOn": sorted({purl(packages[dep["pkg"]]) for dep in nodes[package_id]["deps"]
                              if dep["pkg"] in linked and any(k["kind"] is None for k in dep["dep_kinds"])})}
        for package_id in sorted(linked)
    ]
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "axiom deploy/scripts/sbom.py"}]},
            "component": component(root_id),
        },
        "components": [component(package_id) for package_id in sorted(linked) if package_id != root_id],
        "dependencies": dependencies,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(bom, indent=2) + "\n")
    print(f"sbom: wrote {len(bom['components'])} components to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
