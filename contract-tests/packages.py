"""Client packages of the applytry API, built from ``openapi.yaml``: what CI publishes as its
artifacts and what ``test_clients.py`` installs and runs.

    .venv/bin/python contract-tests/packages.py [--out reports/clients] [LANGUAGE ...]

LANGUAGE is typescript, python, go or java (all four when none is named). Each package holds
a README of three lines: what it is, the spec version it comes from, how to use it.

- typescript: ``applytry-client-VERSION.tgz`` (``npm pack``), the client of
  ``impl/signup/client/`` that the sign-up component uses too: openapi-fetch over the types
  openapi-typescript makes of the spec, compiled by tsc to an ES module with declarations.
- python: ``applytry_client-VERSION-py3-none-any.whl``, openapi-python-client's client.
- go: ``applytry-client-go-VERSION.zip``, one folder holding openapi-generator's Go client
  as the module ``example.com/applytry/client`` (standard library only).
- java: ``applytry-client-VERSION-sources.jar``, openapi-generator's Java client on
  ``java.net.http.HttpClient``, with its pom.xml under ``META-INF/maven/``.

VERSION is the spec's ``info.version``. Nothing generated is edited.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = ROOT / "openapi.yaml"
OUT = ROOT / "reports" / "clients"
SIGNUP = ROOT / "impl" / "signup"
BIN = Path(sys.executable).parent
GO_MODULE = "example.com/applytry/client"
JAVA_GROUP, JAVA_ARTIFACT, JAVA_PACKAGE = "com.applytry", "applytry-client", "com.applytry.client"
NO_TESTS_OR_DOCS = "--global-property=apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"


class StepFailed(RuntimeError):
    """A build step exited non-zero; the message holds the step's own output."""


def run(command: list[str], *, cwd: Path, timeout_s: float = 300) -> str:
    """Runs a build step; returns its standard output."""
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise StepFailed(f"{' '.join(command)} exited {result.returncode}:\n{output}")
    return result.stdout


@functools.cache
def spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def base_path() -> str:
    return spec()["servers"][0]["url"]


def spec_version() -> str:
    return str(spec()["info"]["version"])


def readme(title: str, version: str, usage: str) -> str:
    return f"# {title}\nGenerated from openapi.yaml, API version {version}.\n{usage}\n"


def openapi_generator(work: Path, generator: str, output: str, *options: str) -> Path:
    """Runs openapi-generator (bundled by the PyPI package, it runs on Java) into work/output."""
    command = [str(BIN / "openapi-generator-cli"), "generate", "-i", str(SPEC), "-g", generator]
    run([*command, "-o", output, NO_TESTS_OR_DOCS, *options], cwd=work)
    return work / output


def zip_folder(archive: Path, files: dict[str, Path | str]) -> None:
    """Writes ``files`` (name in the archive: file or text) into the zip ``archive``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for name, content in sorted(files.items()):
            if isinstance(content, Path):
                out.write(content, name)
            else:
                out.writestr(name, content)


def typescript_package(work: Path, version: str) -> Path:
    """The sign-up component's client as an npm package; its generated sources (schema.d.ts,
    server.ts) come from the component's own build, so both use one client."""
    node_modules = npm_installed(SIGNUP)
    run(["node", str(SIGNUP / "build.mjs"), "--client"], cwd=SIGNUP)
    stage = work / "applytry-client"
    shutil.copytree(SIGNUP / "client", stage / "src")
    # tsc finds openapi-fetch's types where the component's build installed them.
    (stage / "node_modules").symlink_to(node_modules)
    fetch = json.loads((SIGNUP / "package.json").read_text())["dependencies"]["openapi-fetch"]
    manifest = {
        "name": "applytry-client",
        "version": version,
        "description": "The TypeScript client of the applytry API: openapi-fetch over its spec",
        "license": spec()["info"]["license"]["name"],
        "type": "module",
        "main": "./dist/index.js",
        "types": "./dist/index.d.ts",
        "exports": {".": {"types": "./dist/index.d.ts", "default": "./dist/index.js"}},
        "files": ["dist"],
        "dependencies": {"openapi-fetch": fetch},
    }
    (stage / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    # NodeNext, as Node.js itself resolves the package's imports, not as a bundler would.
    compiler = {
        "target": "ES2020",
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "lib": ["ES2020", "DOM"],
        "strict": True,
        "declaration": True,
        "skipLibCheck": True,
        "types": [],
        "rootDir": "src",
        "outDir": "dist",
    }
    tsconfig = {"compilerOptions": compiler, "include": ["src"]}
    (stage / "tsconfig.json").write_text(json.dumps(tsconfig, indent=2) + "\n")
    run([str(node_modules / ".bin" / "tsc"), "-p", "."], cwd=stage)
    # tsc emits no copy of a declaration file it was given: the spec's types go by hand.
    for declarations in (stage / "src").glob("*.d.ts"):
        shutil.copy(declarations, stage / "dist")
    (stage / "README.md").write_text(
        readme(
            "applytry-client: the TypeScript client of the applytry API (openapi-fetch)",
            version,
            f"Install: `npm install applytry-client-{version}.tgz`; use: "
            '`import { createApplytryClient } from "applytry-client"`.',
        )
    )
    output = run(["npm", "pack", "--pack-destination", str(work)], cwd=stage)
    return work / output.strip().splitlines()[-1]


def npm_installed(project: Path) -> Path:
    """``project``'s node_modules, installed from its package-lock.json when out of date. One
    install at a time, across processes: the contract tests run on several."""
    modules = project / "node_modules"
    stamp = modules / ".package-lock.json"
    with open(project / "package-lock.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.stat().st_mtime < os.fstat(lock.fileno()).st_mtime:
            run(["npm", "ci", "--no-audit", "--no-fund"], cwd=project, timeout_s=600)
    return modules


def python_package(work: Path, version: str) -> Path:
    """openapi-python-client's client with its default (Poetry) project, built by pip."""
    run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(SPEC),
            "--output-path",
            "applytry-client",
            "--meta",
            "poetry",
            "--config",
            str(HERE / "clients" / "python" / "config.yaml"),
        ],
        cwd=work,
    )
    # The README becomes the wheel's description.
    (work / "applytry-client" / "README.md").write_text(
        readme(
            "applytry-client: the Python client of the applytry API (openapi-python-client)",
            version,
            f"Install: `pip install applytry_client-{version}-py3-none-any.whl`; use: "
            "`Client(base_url=SERVICE + BASE_PATH)` from `applytry_client`, where BASE_PATH is "
            f"the spec's server path, `{base_path()}`.",
        )
    )
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels)]
    run([*pip, str(work / "applytry-client")], cwd=work)
    (wheel,) = wheels.glob("*.whl")
    return wheel


def go_package(work: Path, version: str) -> Path:
    """openapi-generator's Go client as a module: the go.mod is written here, since the
    generated one names a placeholder path and a newer Go than Debian's."""
    client = openapi_generator(work, "go", "client", "--package-name=client")
    top = f"applytry-client-go-{version}"
    files: dict[str, Path | str] = {f"{top}/{path.name}": path for path in client.glob("*.go")}
    files[f"{top}/go.mod"] = f"module {GO_MODULE}\n\ngo 1.19\n"
    files[f"{top}/README.md"] = readme(
        f"{GO_MODULE}: the Go client of the applytry API (openapi-generator, standard library)",
        version,
        f"Use: unzip, then in go.mod `require {GO_MODULE} v{version}` and "
        f"`replace {GO_MODULE} => ./{top}`.",
    )
    archive = work / f"{top}.zip"
    zip_folder(archive, files)
    return archive


def java_package(work: Path, version: str) -> Path:
    """openapi-generator's Java client (native) as a Maven-style sources jar."""
    packages = JAVA_PACKAGE
    client = openapi_generator(
        work,
        "java",
        "client",
        "--library=native",
        "--additional-properties="
        f"invokerPackage={packages},apiPackage={packages}.api,modelPackage={packages}.model,"
        f"groupId={JAVA_GROUP},artifactId={JAVA_ARTIFACT},artifactVersion={version},"
        "openApiNullable=false,useJakartaEe=true,hideGenerationTimestamp=true",
    )
    sources = client / "src" / "main" / "java"
    files: dict[str, Path | str] = {
        path.relative_to(sources).as_posix(): path for path in sources.rglob("*.java")
    }
    files["META-INF/MANIFEST.MF"] = "Manifest-Version: 1.0\r\n\r\n"
    files[f"META-INF/maven/{JAVA_GROUP}/{JAVA_ARTIFACT}/pom.xml"] = client / "pom.xml"
    files["README.md"] = readme(
        f"{JAVA_GROUP}:{JAVA_ARTIFACT}: the Java client sources of the applytry API "
        "(openapi-generator, java.net.http)",
        version,
        "Use: compile with javac against the dependencies of "
        f"META-INF/maven/{JAVA_GROUP}/{JAVA_ARTIFACT}/pom.xml (Jackson 2.16+, httpmime).",
    )
    archive = work / f"{JAVA_ARTIFACT}-{version}-sources.jar"
    zip_folder(archive, files)
    return archive


@dataclass(frozen=True)
class Package:
    build: Callable[[Path, str], Path]
    filename: str  # with {version}
    commands: tuple[str, ...]  # needed on PATH to build it


PACKAGES = {
    "typescript": Package(typescript_package, "applytry-client-{version}.tgz", ("node", "npm")),
    "python": Package(python_package, "applytry_client-{version}-py3-none-any.whl", ()),
    "go": Package(go_package, "applytry-client-go-{version}.zip", ("java",)),
    "java": Package(java_package, "applytry-client-{version}-sources.jar", ("java",)),
}


def filename(language: str) -> str:
    return PACKAGES[language].filename.format(version=spec_version())


def build(language: str, out: Path = OUT) -> Path:
    """Builds one language's package into ``out``; returns its path. The package appears
    there whole or not at all, so that runs side by side never read half an archive."""
    version = spec_version()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"applytry-{language}-") as work:
        built = PACKAGES[language].build(Path(work), version)
        expected = PACKAGES[language].filename.format(version=version)
        if built.name != expected:
            raise StepFailed(f"the {language} package is {built.name}, expected {expected}")
        partial = out / f".{expected}.{os.getpid()}"
        shutil.copyfile(built, partial)
        os.replace(partial, out / expected)
        return out / expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder (default reports/clients)")
    parser.add_argument("languages", nargs="*", metavar="LANGUAGE", help=", ".join(PACKAGES))
    arguments = parser.parse_args(argv)
    unknown = set(arguments.languages) - set(PACKAGES)
    if unknown:
        parser.error(f"no package for {', '.join(sorted(unknown))}; one of {', '.join(PACKAGES)}")
    for language in arguments.languages or PACKAGES:
        missing = [command for command in PACKAGES[language].commands if not shutil.which(command)]
        if missing:
            print(f"{language}: needs {', '.join(missing)} on PATH", file=sys.stderr)
            return 1
        try:
            artifact = build(language, arguments.out)
        except StepFailed as failed:
            print(f"{language}: {failed}", file=sys.stderr)
            return 1
        print(f"{artifact} ({artifact.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
