import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ldconfigCache } from '../../../platform/index.js';
import type { CommandRunner } from '../../../platform/index.js';

/**
 * The Vulkan loader a Vulkan build of stable-diffusion.cpp links against. It comes with the GPU
 * driver (Windows) or a system package (Linux), neither of which a worker can install unattended,
 * so its absence is reported with what to install instead of letting sd-cli crash on a missing symbol.
 */
export function vulkanLoaderName(platform: NodeJS.Platform): string | undefined {
  if (platform === 'win32') return 'vulkan-1.dll';
  if (platform === 'darwin') return undefined; // Metal builds: no Vulkan involved.
  return 'libvulkan.so.1';
}

/** What to install, per OS (the original's remedy). */
export function vulkanRemedy(platform: NodeJS.Platform): string {
  return platform === 'win32'
    ? 'install/update your GPU driver (NVIDIA, AMD, or Intel) — it ships the Vulkan runtime (vulkan-1.dll)'
    : 'install the Vulkan loader + a GPU driver, e.g. on Debian/Ubuntu `sudo apt install libvulkan1 mesa-vulkan-drivers` ' +
        '(plus the vendor driver for NVIDIA/AMD); verify with `vulkaninfo --summary`';
}

export function vulkanMissingMessage(platform: NodeJS.Platform): string {
  const loader = vulkanLoaderName(platform) ?? 'the Vulkan loader';
  return (
    `Vulkan runtime not available: the loader \`${loader}\` could not be found, so stable-diffusion.cpp ` +
    `cannot run on the GPU. It cannot be installed automatically — ${vulkanRemedy(platform)}.`
  );
}

/** Folders the dynamic linker searches without being told, beyond what ldconfig lists. */
const LINUX_LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/local/lib',
];

export interface VulkanProbe {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  run: CommandRunner;
  /** Whether a file exists (tests point it at a temp folder). */
  exists?: (path: string) => boolean;
}

/**
 * Whether the dynamic linker can find the Vulkan loader: on Linux in ldconfig's cache, a folder of
 * LD_LIBRARY_PATH or a standard library folder; on Windows in System32. Always true on macOS.
 */
export async function vulkanLoaderPresent(probe: VulkanProbe): Promise<boolean> {
  const loader = vulkanLoaderName(probe.platform);
  if (!loader) return true;
  const exists = probe.exists ?? existsSync;
  if (probe.platform === 'win32') {
    const root = probe.env['SystemRoot'] ?? probe.env['SYSTEMROOT'] ?? 'C:\\Windows';
    return exists(join(root, 'System32', loader));
  }
  const fromEnv = (probe.env['LD_LIBRARY_PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  if ([...fromEnv, ...LINUX_LIB_DIRS].some((dir) => exists(join(dir, loader)))) return true;
  const cache = await ldconfigCache(probe.run);
  return cache !== undefined && cache.split('\n').some((line) => line.trim().startsWith(`${loader} `));
}
