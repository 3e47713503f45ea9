#!/usr/bin/env node
/**
 * `npm run sdcpp:build`: builds the real sd-cli and sd-server of stable-diffusion.cpp from the
 * vendored source the worker's pinned release was made from (../shared/vendor/, never copied into
 * this project), into a cache keyed by the source's hash, so the tests and the demo run the real
 * binaries on this machine's CPU. A finished build is reused. The last line printed is the bin
 * folder.
 *
 * Environment: SDCPP_SOURCE (the .tar.xz; default ../shared/vendor/stable-diffusion.cpp-*.tar.xz
 * beside the clone), SDCPP_CACHE (default ~/.cache/studio-worker/sdcpp), SDCPP_BACKEND (cpu, the
 * default; vulkan: adds libvulkan-dev, glslc and spirv-headers with apt, and newer Vulkan headers
 * where the system's are too old (SDCPP_VULKAN_INCLUDE names them; on Debian 12 the next release's
 * are downloaded with apt into the cache), portable CPU code; cuda: needs the CUDA toolkit's nvcc
 * and cuBLAS, never installed for you), SDCPP_CUDA_ARCH (cuda: the GPU architectures, e.g. 90 for an
 * H100/H200; default ggml's choice), SDCPP_CMAKE_ARGS (more cmake arguments; same cache folder),
 * SDCPP_JOBS (default: the cores).
 * Exit codes: 0 built or reused; 2 bad input (no source); 6 the machine refused (a tool missing
 * and not installable, a full disk); 5 the build failed.
 */
import { sdcppBuild } from './sdcpp-lib.mjs';

try {
  const bin = await sdcppBuild({ log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${bin}\n`);
} catch (e) {
  process.stderr.write(`sdcpp:build: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(typeof e?.exitCode === 'number' ? e.exitCode : 5);
}
