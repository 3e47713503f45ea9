import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Claim, ImageTask, ModelSource, Task } from '../../protocol/index.js';
import { FileRoleSchema } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import {
  EngineError,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
  type ModelProvider,
  type ProvisionedModel,
  type WarmModel,
} from '../types.js';
import { buildSdapiRequest, buildSdCliArgs, buildSdServerArgs, type SdFilesByRole } from './args.js';
import { binaryEnv, SD_CLI_NOT_FOUND, SdCliLocator, serverBeside } from './binary.js';
import { SdCppInstaller, type SdInstallRecord } from './install/index.js';
import { SdServerUnavailable, WarmSdServer } from './server.js';
import { fetchInputs } from './inputs.js';
import { checkExt, finishImage, finishVideo, FRAME_PREFIX } from './finish.js';
import { runSdCli } from './process.js';

/** One hour: a long Wan video on a mid-range GPU; past this sd-cli is stuck, not slow. */
const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;

export interface SdCppEngineOptions {
  /** `sd_cli_path` from config.toml; unset = `sd-cli` on PATH. */
  sdCliPath?: string;
  /** Engine-level log (binary lookups); job output goes to each job's own logger. */
  log?: Logger;
  /** Kill sd-cli after this long (default one hour). */
  timeoutMs?: number;
  /**
   * Model names to advertise per kind. sd-cpp runs whatever files the studio's modelSource names,
   * so it knows no model list of its own: the default advertises none, and the worker may pass
   * the names it has provisioned or been configured to offer.
   */
  models?: { image?: string[]; video?: string[] };
  /**
   * models_root (already ~-expanded). With it, a worker without sd-cli installs stable-diffusion.cpp
   * into `<modelsRoot>/bin/` on the first job (see install/), and looks there first.
   */
  modelsRoot?: string;
  /** The environment binaries are looked up in and started with (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /**
   * Keep image models loaded in an sd-server for this long after a job (`image_idle_unload_secs`);
   * 0 runs sd-cli per job. Default 300 s.
   */
  imageIdleUnloadMs?: number;
  /** How long sd-server may take to load a model before it is given up on (default ten minutes). */
  serverStartTimeoutMs?: number;
  /** The installer (default: one for `modelsRoot`). */
  installer?: SdCppInstaller;
  /** Models the operator keeps loaded (`models keep`): the warm server is not stopped for idling. */
  kept?: (model: string) => boolean;
}

const DEFAULT_IDLE_UNLOAD_MS = 300_000;

/** The first progress message of an image job on sd-server: whether it pays the model's load. */
export const SD_SERVER_PROGRESS = {
  loading: 'loading the model into sd-server',
  warm: 'generating (model already loaded)',
} as const;

/**
 * Images and video through stable-diffusion.cpp's `sd-cli`, run as a subprocess per job: the
 * model files are provisioned by the worker's model cache, inputs downloaded into the job's
 * scratch folder, the arguments built from the task and the model's cliDefaults, progress read
 * off sd-cli's bar, and its PNG (or PNG frames) converted to the ext the task asked for.
 */
export class SdCppEngine implements Engine {
  readonly name = 'sd-cpp' as const;
  private readonly locator: SdCliLocator;
  private readonly env: NodeJS.ProcessEnv;
  private readonly installer: SdCppInstaller | undefined;
  private readonly server: WarmSdServer;
  /** Why stable-diffusion.cpp cannot be installed here (set by `init()`); undefined = it can. */
  private installProblem: string | undefined;
  /** Why the build the worker installed cannot run here (its Vulkan loader is missing), set by `init()`. */
  private installedProblem: string | undefined;

  constructor(private readonly opts: SdCppEngineOptions = {}) {
    this.env = opts.env ?? process.env;
    this.locator = new SdCliLocator(opts.sdCliPath, this.env, opts.modelsRoot);
    this.installer =
      opts.installer ??
      (opts.modelsRoot && !opts.sdCliPath
        ? new SdCppInstaller({ modelsRoot: opts.modelsRoot, env: this.env, log: opts.log })
        : undefined);
    this.installProblem = this.installer ? undefined : SD_CLI_NOT_FOUND;
    this.server = new WarmSdServer({
      idleMs: opts.imageIdleUnloadMs ?? DEFAULT_IDLE_UNLOAD_MS,
      log: opts.log,
      ...(opts.kept ? { isKept: opts.kept } : {}),
      ...(opts.serverStartTimeoutMs !== undefined ? { startTimeoutMs: opts.serverStartTimeoutMs } : {}),
    });
  }

  async init(): Promise<void> {
    if (!this.installer) return;
    try {
      this.installProblem = await this.installer.problem();
      this.installedProblem =
        this.locator.find() === this.installer.cliPath ? await this.installer.installedProblem() : undefined;
    } catch (e) {
      this.installProblem = e instanceof Error ? e.message : String(e);
    }
  }

  /** The sd-cli jobs would run now, if any. */
  get sdCliFound(): string | undefined {
    return this.locator.find();
  }

  /** sd-cli is here, or can be installed on the first job. */
  private canRun(): boolean {
    if (this.installedProblem !== undefined) return false;
    return this.locator.find() !== undefined || this.installProblem === undefined;
  }

  /**
   * Image and video while sd-cli is here or can be installed on the first job; nothing otherwise,
   * so the studio is not told this worker runs what it cannot (a claim that comes anyway still
   * gets `refuse()`'s reason, which says what is missing).
   */
  capabilities(): EngineCapabilities {
    if (!this.canRun()) return { taskKinds: [], modelsPerKind: {} };
    const models = this.opts.models ?? {};
    return {
      taskKinds: ['image', 'video'],
      modelsPerKind: { image: [...(models.image ?? [])], video: [...(models.video ?? [])] },
    };
  }

  availability() {
    const found = this.locator.find();
    if (found && this.installedProblem) {
      return {
        ready: false,
        detail: `the stable-diffusion.cpp build at ${found} cannot run here: ${this.installedProblem}`,
      };
    }
    if (found) {
      const server = this.useServer() ? serverBeside(found) : undefined;
      const record = this.installer?.cliPath === found ? this.installer.record() : undefined;
      const build = record ? `stable-diffusion.cpp ${record.release} (${record.backend}) ` : '';
      const warm = server
        ? `; sd-server at ${server} keeps image models warm`
        : this.useServer()
          ? '; no sd-server beside it, so every image job loads its model'
          : '';
      return { ready: true, detail: `${build}sd-cli at ${found}${warm}` };
    }
    if (this.installer && this.installProblem === undefined) {
      return {
        ready: true,
        detail: `sd-cli not installed yet: the first image job installs stable-diffusion.cpp into ${this.installer.binDir} (or run \`studio-worker engines install sd-cpp\`)`,
      };
    }
    return { ready: false, detail: this.notFoundReason() };
  }

  refuse(claim: Claim): string | undefined {
    if (claim.task.kind !== 'image' && claim.task.kind !== 'video') {
      return `sd-cpp serves image and video jobs, not ${claim.task.kind}`;
    }
    if (!this.canRun()) {
      const reason = this.installedProblem
        ? `sd-cpp cannot run here: ${this.installedProblem}`
        : this.notFoundReason();
      this.opts.log?.warn({ sdCliPath: this.opts.sdCliPath }, reason);
      return reason;
    }
    return undefined;
  }

  warmModels(): WarmModel[] {
    const info = this.server.info();
    const warm: WarmModel[] = info
      ? [{ engine: this.name, model: info.model, state: info.state, since: info.since, bytes: info.bytes }]
      : [];
    for (const f of this.server.failures()) {
      if (warm.some((w) => w.model === f.model)) continue;
      warm.push({
        engine: this.name,
        model: f.model,
        state: 'failed',
        since: f.since,
        bytes: 0,
        error: f.why,
      });
    }
    return warm;
  }

  async unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    const info = this.server.info();
    if (info && !keep?.has(info.model)) await this.server.unload(reason);
  }

  async close(): Promise<void> {
    await this.server.unload('the worker is stopping');
  }

  /**
   * Installs stable-diffusion.cpp into `<models_root>/bin/` now (the `engines install sd-cpp`
   * command); `force` replaces an install that is there.
   */
  async install(
    models: ModelProvider,
    signal: AbortSignal,
    opts: { force?: boolean } = {},
  ): Promise<SdInstallRecord> {
    if (!this.installer) throw new EngineError(this.notFoundReason(), false);
    const record = await this.installer.ensure(models, signal, opts);
    this.locator.invalidate();
    this.installProblem = undefined;
    this.installedProblem = await this.installer.installedProblem();
    return record;
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    throwIfAborted(ctx.signal);
    if (task.kind !== 'image' && task.kind !== 'video') {
      throw new EngineError(`sd-cpp serves image and video jobs, not ${task.kind}`, false);
    }
    checkExt(task);
    if (!ctx.models)
      throw new EngineError('sd-cpp needs the worker model cache (EngineRunContext.models)', false);
    const binary = await this.binary(ctx);

    ctx.onProgress?.({ fraction: 0, message: 'provisioning model files' });
    const model = await ctx.models.provision(modelSource.files, ctx.signal, { model: ctx.claim.model });
    try {
      const inputs = await fetchInputs(task, ctx.models, ctx.workDir, ctx.signal);
      if (task.kind === 'image' && !inputs.refImage && !hasLora(model)) {
        const png = await this.viaServer(binary, task, modelSource, model, inputs, ctx);
        if (png) return await finishImage(task, png, ctx);
      }
      const framesDir = join(ctx.workDir, 'sd-frames');
      const output =
        task.kind === 'video'
          ? join(framesDir, `${FRAME_PREFIX}%05d.png`)
          : join(ctx.workDir, 'sd-output.png');
      if (task.kind === 'video') await mkdir(framesDir, { recursive: true });
      const args = buildSdCliArgs(task, modelSource.cliDefaults, filesByRole(model), { ...inputs, output });
      throwIfAborted(ctx.signal);
      await runSdCli({
        binary,
        args,
        cwd: ctx.workDir,
        env: binaryEnv(binary, this.env),
        signal: ctx.signal,
        log: ctx.log,
        timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        onProgress: (p) => reportStep(ctx, p),
      });
      return task.kind === 'image'
        ? await finishImage(task, output, ctx)
        : await finishVideo(task, framesDir, ctx);
    } catch (e) {
      // A binary that vanished since the lookup should be looked for again, not trusted for 10 s.
      if (e instanceof EngineError && e.message.includes('could not start')) this.locator.invalidate();
      throw e;
    } finally {
      model.release();
    }
  }

  /** sd-cli's path, installing stable-diffusion.cpp first when it is missing and installable. */
  private async binary(ctx: EngineRunContext): Promise<string> {
    const found = this.locator.find();
    if (found) return found;
    if (!this.installer || !ctx.models) throw new EngineError(this.notFoundReason(), false);
    ctx.onProgress?.({ fraction: 0, message: 'installing stable-diffusion.cpp' });
    ctx.log.info(`sd-cli not found; installing stable-diffusion.cpp into ${this.installer.binDir}`);
    await this.install(ctx.models, ctx.signal);
    const installed = this.locator.find();
    if (!installed)
      throw new EngineError(
        `stable-diffusion.cpp was installed but ${this.installer.cliPath} is not executable`,
        false,
      );
    return installed;
  }

  private useServer(): boolean {
    return (this.opts.imageIdleUnloadMs ?? DEFAULT_IDLE_UNLOAD_MS) > 0;
  }

  /**
   * The job's PNG from the warm sd-server (started for this model set if need be), or undefined
   * when there is no server to use, so the job runs on sd-cli. A server that dies mid-job fails
   * the job (retryable); one that cannot start or does not speak the API is passed over.
   */
  private async viaServer(
    cli: string,
    task: ImageTask,
    modelSource: ModelSource,
    model: ProvisionedModel,
    inputs: { initImage?: string; mask?: string },
    ctx: EngineRunContext,
  ): Promise<string | undefined> {
    const binary = this.useServer() ? serverBeside(cli) : undefined;
    if (!binary) return undefined;
    const files = filesByRole(model);
    const args = buildSdServerArgs(modelSource.cliDefaults, files);
    const request = buildSdapiRequest(task, modelSource.cliDefaults, {
      ...(inputs.initImage ? { initImage: await readFile(inputs.initImage) } : {}),
      ...(inputs.mask ? { mask: await readFile(inputs.mask) } : {}),
    });
    // Another engine's warm model may hold the memory this one needs; this one's own stays.
    const warm = this.server.holds(args);
    ctx.onProgress?.({
      fraction: 0,
      message: warm ? SD_SERVER_PROGRESS.warm : SD_SERVER_PROGRESS.loading,
    });
    try {
      const png = await this.server.generate(
        {
          binary,
          args,
          env: binaryEnv(binary, this.env),
          cwd: ctx.workDir,
          model: ctx.claim.model,
          bytes: await filesBytes(Object.values(files).flat()),
        },
        request,
        { signal: ctx.signal, log: ctx.log, onProgress: (p) => reportStep(ctx, p) },
      );
      const path = join(ctx.workDir, 'sd-output.png');
      await writeFile(path, png);
      return path;
    } catch (e) {
      if (!(e instanceof SdServerUnavailable)) throw e;
      ctx.log.warn(`running this job with sd-cli instead of sd-server: ${e.message}`);
      return undefined;
    }
  }

  private notFoundReason(): string {
    if (!this.installProblem || this.installProblem === SD_CLI_NOT_FOUND) return SD_CLI_NOT_FOUND;
    return (
      `sd-cli (stable-diffusion.cpp) not found, and the worker cannot install it here: ${this.installProblem} ` +
      'Or set sd_cli_path in config.toml to an sd-cli you built (https://github.com/leejet/stable-diffusion.cpp; CUDA: cmake -DSD_CUDA=ON).'
    );
  }
}

function reportStep(ctx: EngineRunContext, p: { step: number; steps: number; secondsPerStep: number }): void {
  ctx.onProgress?.({
    fraction: p.step / p.steps,
    message: `step ${p.step}/${p.steps} (${p.secondsPerStep.toFixed(2)} s/step)`,
  });
}

function hasLora(model: ProvisionedModel): boolean {
  return model.byRole('lora').length > 0;
}

async function filesBytes(paths: readonly string[]): Promise<number> {
  let total = 0;
  for (const p of paths) total += (await stat(p).catch(() => undefined))?.size ?? 0;
  return total;
}

function filesByRole(model: ProvisionedModel): SdFilesByRole {
  const files: SdFilesByRole = {};
  for (const role of FileRoleSchema.options) {
    const paths = model.byRole(role);
    if (paths.length > 0) files[role] = paths;
  }
  return files;
}
