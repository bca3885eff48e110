// The TypeScript client of the applytry API: openapi-fetch over the types openapi-typescript
// makes of openapi.yaml, so the calls' paths, bodies and answers come from the spec alone.
// Both schema.d.ts and server.ts are generated from the spec by `node build.mjs --client`.
import createClient, { type ClientOptions } from "openapi-fetch";

import type { components, paths } from "./schema.js";
import { BASE_PATH } from "./server.js";

export { BASE_PATH };

export type Schemas = components["schemas"];
export type { components, paths };

/** A client of the service at `origin` (e.g. "https://trial.example.com"). */
export function createApplytryClient(origin: string, options: ClientOptions = {}) {
  return createClient<paths>({ ...options, baseUrl: origin.replace(/\/+$/, "") + BASE_PATH });
}

export type ApplytryClient = ReturnType<typeof createApplytryClient>;
