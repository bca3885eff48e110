// Builds the sign-up web component from its sources and the spec.
//
//   node build.mjs            generate the client from ../../openapi.yaml, type-check, bundle
//                             into applytry-signup.js
//   node build.mjs --check    the same in memory; exit 1 if applytry-signup.js differs (CI)
//   node build.mjs --client   only generate the client's sources (client/schema.d.ts, server.ts)
//
// The bundle is committed, so the service's wheel needs no Node.js; the check keeps it equal
// to what its sources, the spec and the locked tool versions make.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import yaml from "js-yaml";
import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const spec = join(here, "..", "..", "openapi.yaml");
const bundle = join(here, "applytry-signup.js");
const GENERATED = "// Generated from openapi.yaml by build.mjs: do not edit.\n";

/** Writes `text` unless the file already holds it, so that builds running at once (the
 * contract tests build the client package and check the bundle) never see a file half-written. */
function keep(path, text) {
  if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text);
}

async function generateClient() {
  const document = yaml.load(readFileSync(spec, "utf8"));
  const types = astToString(await openapiTS(document));
  keep(join(here, "client", "schema.d.ts"), GENERATED + types);
  const basePath = JSON.stringify(document.servers[0].url.replace(/\/+$/, ""));
  keep(join(here, "client", "server.ts"), `${GENERATED}export const BASE_PATH = ${basePath};\n`);
}

function typeCheck() {
  try {
    execFileSync(join(here, "node_modules", ".bin", "tsc"), ["-p", here], { stdio: "inherit" });
  } catch {
    console.error("the sources do not type-check against the client openapi.yaml makes");
    process.exit(1);
  }
}

const common = { bundle: true, minify: true, target: "es2020", legalComments: "none", logLevel: "warning" };

async function build() {
  // The solver runs in a worker made from a blob, so a page on any origin can start it; its
  // source is built first and put into the component as a string.
  const worker = await esbuild.build({
    ...common,
    entryPoints: [join(here, "src", "solver-worker.ts")],
    format: "iife",
    write: false,
  });
  const result = await esbuild.build({
    ...common,
    entryPoints: [join(here, "src", "applytry-signup.ts")],
    format: "esm",
    define: { __SOLVER_SOURCE__: JSON.stringify(worker.outputFiles[0].text) },
    write: false,
  });
  return result.outputFiles[0].text;
}

const mode = process.argv[2];
await generateClient();
if (mode !== "--client") {
  typeCheck();
  const text = await build();
  if (mode === "--check") {
    if (readFileSync(bundle, "utf8") !== text) {
      console.error("applytry-signup.js does not match its sources: run `node build.mjs` in impl/signup");
      process.exit(1);
    }
  } else {
    writeFileSync(bundle, text);
  }
}
