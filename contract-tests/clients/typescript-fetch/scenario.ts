// The generated-client scenario (see ../README.md) with openapi-generator's typescript-fetch
// client on Node.js's own fetch.
import { ApplyTryApi, Configuration, ProblemFromJSON, ResponseError } from "./applytry";

async function main(base: string, phone: string): Promise<void> {
  const api = new ApplyTryApi(new Configuration({ basePath: base }));
  const ask = (number: string) =>
    api.generateVerifyCodeRaw({ generateVerifyCodeRequest: { phone: number } });

  const first = await (await ask(phone)).value();
  const again = await ask(phone);
  const second = await again.value();
  const retryAfter = Number(again.raw.headers.get("Retry-After"));

  let badStatus = 0;
  let badTitle = "";
  try {
    await ask("not a phone");
    throw new Error("a bad phone was accepted");
  } catch (error) {
    if (!(error instanceof ResponseError)) throw error;
    badStatus = error.response.status;
    badTitle = ProblemFromJSON(await error.response.json()).title;
  }

  console.log(
    JSON.stringify({ first: first.retCode, second: second.retCode, retryAfter, badStatus, badTitle }),
  );
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(error);
  process.exit(1);
});
