// The generated-client scenario (see ../README.md) with the applytry-client npm package:
// openapi-fetch over the types openapi-typescript makes of the spec.
import { BASE_PATH, createApplytryClient } from "applytry-client";

async function main(base: string, phone: string): Promise<void> {
  // The package takes the service's origin and adds the spec's server path itself.
  if (!base.endsWith(BASE_PATH)) throw new Error(`${base} does not end with ${BASE_PATH}`);
  const client = createApplytryClient(base.slice(0, -BASE_PATH.length));
  const ask = (number: string) =>
    client.POST("/applyTry/generateverifycode", { body: { phone: number } });

  const first = await ask(phone);
  const second = await ask(phone);
  const bad = await ask("not a phone");
  if (!first.data || !second.data) throw new Error(JSON.stringify([first.error, second.error]));
  if (!bad.error) throw new Error("a bad phone was accepted");

  console.log(
    JSON.stringify({
      first: first.data.retCode,
      second: second.data.retCode,
      retryAfter: Number(second.response.headers.get("Retry-After")),
      badStatus: bad.response.status,
      badTitle: bad.error.title,
    }),
  );
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(error);
  process.exit(1);
});
