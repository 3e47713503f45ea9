/**
 * vitest global setup: builds the real stable-diffusion.cpp (sd-cli, sd-server) from the vendored
 * source and writes its random-weight SD 1.x model, once per machine (both cached, see
 * scripts/sdcpp-lib.mjs), before any test file runs, so test files never race to build. The paths
 * reach the test processes as SDCPP_BIN and SDCPP_MODEL; without the vendored source they stay
 * unset and the real-binary tests skip with that reason.
 */
export default async function setup(): Promise<void> {
  // @ts-expect-error: a plain .mjs script, shared with `npm run sdcpp:build`.
  const lib = (await import('../../scripts/sdcpp-lib.mjs')) as {
    sdcppSource: () => string | undefined;
    sdcppBuild: (o: { log: (l: string) => void }) => Promise<string>;
    sdcppModel: (o: { log: (l: string) => void }) => Promise<string>;
  };
  if (!lib.sdcppSource()) return;
  const log = (line: string): void => void process.stderr.write(`[sdcpp] ${line}\n`);
  process.env['SDCPP_BIN'] = await lib.sdcppBuild({ log });
  process.env['SDCPP_MODEL'] = await lib.sdcppModel({ log });
}
