import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import type { GenerateOptions } from './commands/generate.js';
import type { RunOptions } from './commands/run.js';
import type { TranscribeOptions } from './commands/transcribe.js';
import { EXIT_CODES, GENERATE_EXAMPLES, TRANSCRIBE_HELP } from './help-text.js';
import { makeContext } from './make-context.js';
import { addModelsCommands } from './program-models.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The command table: every command, its flags and help, each loading its module only when it runs. */
export function buildProgram(): Command {
  // Each command's module is loaded only when it runs, so `run` never loads the dev studio's
  // server, the demo or the model tools (a long-running worker's memory is what operators see).
  const program = new Command('studio-worker')
    .description(
      'Pull-based generation worker for the minis.gg studio: registers once, holds a session, runs jobs.',
    )
    .version(VERSION)
    .option(
      '--config-dir <dir>',
      "config folder (default: the original worker's, ~/.config/minis-studio-worker on Linux; env STUDIO_WORKER_CONFIG_DIR)",
    )
    .option(
      '--config <file>',
      "config.toml's path, as the original's flag (its folder is the config folder: models.json, daemon.lock, … beside it)",
    )
    .addOption(
      new Option('--log-level <level>', 'log level (env LOG_LEVEL)').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
      ]),
    )
    .addHelpText('after', EXIT_CODES)
    .showHelpAfterError();

  program
    .command('run')
    .description('register if needed, then hold the studio session and run jobs until stopped')
    .option('--grace <seconds>', 'how long a stop waits for the running job', '30')
    .option('--wait-for-lock', 'if a worker already runs on this config, wait for it to stop (else exit 7)')
    .option('--gpu <index>', 'pin this worker to one GPU (as config `gpu`); one worker per GPU')
    .option(
      '--metrics-listen <[host:]port>',
      'serve Prometheus /metrics and /healthz there, without a token (a bare port: 127.0.0.1)',
    )
    .option(
      '--log-file <path>',
      'write the log (JSON lines) to this file instead of stderr; rotated at 10 MiB, 3 old files kept (the Windows service uses it)',
    )
    .option(
      '--no-dashboard',
      'serve no dashboard (by default the worker serves it on 127.0.0.1:dashboard_port for `ui` to attach to)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker run --log-level debug\n  studio-worker run --metrics-listen 9464   # curl http://127.0.0.1:9464/metrics\n  studio-worker ui                          # while run runs: opens its dashboard, no second worker',
    )
    .action(async (o: RunOptions) => (await import('./commands/run.js')).runCommand(makeContext(program), o));

  program
    .command('register')
    .description('ask the studio to approve this machine and wait until the operator decides')
    .option('--api-base-url <url>', 'studio to register with (saved to the config)')
    .option('--reset', 'forget the current registration (worker id, token, pending request) first')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker register\n  studio-worker register --api-base-url http://127.0.0.1:8787/ --reset',
    )
    .action(async (o: { apiBaseUrl?: string; reset?: boolean }) =>
      (await import('./commands/register.js')).registerCommand(makeContext(program), o),
    );

  program
    .command('status')
    .description('show registration state, worker id, studio URL and pending uploads')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker status\n  studio-worker status --json | jq .registration',
    )
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/status.js')).statusCommand(makeContext(program, 'warn'), o),
    );

  program
    .command('set-threshold')
    .description('set the largest VRAM estimate (GB) of a job this worker accepts')
    .argument('<gb>', 'gigabytes, e.g. 12 or 7.5')
    .addHelpText('after', '\nExample:\n  studio-worker set-threshold 7.5')
    .action(async (gb: string) =>
      (await import('./commands/config.js')).setThresholdCommand(makeContext(program, 'warn'), gb),
    );

  program
    .command('config')
    .description('print the config (secrets masked) and where it lives')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker config\n  studio-worker --config-dir /srv/worker-1 config --json',
    )
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/config.js')).configCommand(makeContext(program, 'warn'), o),
    );

  program
    .command('generate')
    .description('run one job locally, without a studio, and write the result to a file')
    .requiredOption('--kind <kind>', 'image | llm | audio_stt | audio_tts | video')
    .requiredOption('--engine <engine>', 'synthetic | sd-cpp | llama-cpp | onnx')
    .option('--model <name>', 'model name the claim carries (default: the engine name)')
    .option(
      '--file <role=url[#sha256]>',
      'a model file (repeatable); role: diffusion-model, text-encoder, vae, lora, model…',
      collect,
    )
    .option(
      '--cli-default <key=value>',
      'a modelSource cliDefaults entry (repeatable), e.g. flowShift=3',
      collect,
    )
    .option('--task <json|@file>', 'the whole task as JSON (overrides the task flags)')
    .option(
      '-o, --output <path>',
      'where to write the result; its extension picks the format (default: <kind>-<time>.<ext> here)',
    )
    .option(
      '--repeat <n>',
      'run the job n times in this process; models stay loaded, so run 2 shows the warm time',
      '1',
    )
    .option('--enqueue <devStudioUrl>', 'enqueue the job on a dev studio instead of running it here')
    .option('--prompt <text>')
    .option('--negative-prompt <text>')
    .option('--width <px>')
    .option('--height <px>')
    .option('--steps <n>')
    .option('--seed <n>')
    .option('--cfg-scale <x>')
    .option('--sampling-method <name>')
    .option('--denoise <0..1>')
    .option('--init-image-url <url>')
    .option('--mask-url <url>')
    .option('--ref-image-url <url>')
    .option('--ext <ext>', 'result format: webp, png, wav, mp4… (must agree with -o)')
    .option('--message <role:text>', 'llm message (repeatable; role defaults to user)', collect)
    .option('--system <text>')
    .option('--max-tokens <n>')
    .option('--temperature <x>')
    .option('--top-p <x>')
    .option('--stop <text>', 'stop string (repeatable)', collect)
    .option('--json-schema <json|@file>', 'constrain llm output to this JSON schema')
    .option('--input-url <url>', 'audio to transcribe (audio_stt)')
    .option('--language <code>')
    .option('--translate')
    .option('--timestamps <segment|word>')
    .option('--text <text>', 'text to speak (audio_tts)')
    .option('--voice <name>')
    .option('--speed <x>')
    .option('--seconds <n>')
    .option('--fps <n>')
    .addHelpText('after', GENERATE_EXAMPLES)
    .action(async (o: GenerateOptions) =>
      (await import('./commands/generate.js')).generateCommand(makeContext(program), o),
    );

  addModelsCommands(program);

  program
    .command('ui')
    .description(
      'run the worker with a local dashboard on 127.0.0.1 (opens the browser); with a worker already running on this config, open its dashboard instead',
    )
    .option(
      '--port <port>',
      'dashboard port (default: dashboard_port from the config, 7878; 0 = any free port)',
    )
    .option('--no-open', 'do not open the browser; just print the URL')
    .option('--grace <seconds>', 'how long a stop waits for the running job', '30')
    .option('--wait-for-lock', 'if a worker already runs on this config, wait for it to stop (else exit 7)')
    .addHelpText('after', '\nExample:\n  studio-worker ui --no-open')
    .action(async (o: { open: boolean; port?: string; grace: string; waitForLock?: boolean }) => {
      const ctx = makeContext(program);
      const { uiCommand } = await import('./commands/ui.js');
      const { reconcileLoginEntries } = await import('./login-entries.js');
      const { checkForUpdate } = await import('../update/index.js');
      await uiCommand(ctx, {
        ...o,
        checkForUpdate: async () =>
          checkForUpdate(await ctx.store.load(), VERSION, { configDir: ctx.store.dir }),
        // The original's entries go; this worker's login entry follows an `auto_start` the operator set.
        afterStart: () => reconcileLoginEntries(ctx),
      });
    });

  program
    .command('setup')
    .description(
      "finish an install, as the original's installers do: remove the original's login entry and service, start this worker's dashboard at every login (auto_start = true), start it now and say what to do next",
    )
    .option('--no-open', 'the dashboard it starts opens no browser')
    .addHelpText(
      'after',
      '\nExample:\n  studio-worker setup\n  studio-worker --config ~/.config/minis-studio-worker/config.toml setup --no-open',
    )
    .action(async (o: { open: boolean }) =>
      (await import('./commands/setup.js')).setupCommand(makeContext(program), o),
    );

  program
    .command('serve')
    .description("serve this machine's engines to local programs (the local API), with no studio")
    .option(
      '--port <port>',
      'port on 127.0.0.1 (default: STUDIO_WORKER_LOCAL_API_PORT, local_api_port, 4787)',
    )
    .addHelpText(
      'after',
      `
The local API also runs with \`run\` and \`ui\`. Every request needs the bearer token from
local-api.json beside config.toml (\`studio-worker local-api\` says where). Routes: POST /image,
/tts, /stt, /video, /tokenize; GET/POST /models, DELETE /models/<id>, /models/<id>/state|load|unload;
POST /v1/chat/completions (OpenAI, stream too) and GET /v1/models. See docs/local-api.md.

Example:
  studio-worker serve
  curl -H "Authorization: Bearer $TOKEN" -d '{"prompt":"a red fox"}' http://127.0.0.1:4787/image -o fox.webp`,
    )
    .action(async (o: { port?: string }) =>
      (await import('./commands/local-api.js')).serveCommand(makeContext(program), o),
    );
  program
    .command('local-api')
    .description('where the local API is, whether a worker answers there, and how to read its token')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExamples:\n  studio-worker local-api\n  studio-worker local-api --json')
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/local-api.js')).localApiCommand(makeContext(program, 'warn'), o),
    );

  program
    .command('transcribe')
    .description("stream speech to a worker's live transcription listener; print the transcript as it grows")
    .requiredOption(
      '--stream <wav|->',
      "a 16 kHz mono 16-bit PCM WAV file, or - for raw 16 kHz mono s16le PCM on stdin (a recorder's pipe)",
    )
    .option('--model <id>', 'the streaming speech model; the worker running on this config mints the token')
    .option('--url <ws-url>', 'another listener: ws://host:4798/transcribe?token=<token minted there>')
    .option(
      '--realtime',
      'send 100 ms of audio every 100 ms, as a microphone does (default: as fast as taken)',
    )
    .option('--json', 'print each message from the listener as a JSON line')
    .addHelpText('after', TRANSCRIBE_HELP)
    .action(async (o: TranscribeOptions) =>
      (await import('./commands/transcribe.js')).transcribeCommand(makeContext(program, 'warn'), o),
    );

  const engines = program
    .command('engines')
    .description('each engine: whether it can run on this machine, on what, or what is missing')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker engines\n  studio-worker engines --json\n  studio-worker engines install sd-cpp',
    )
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/engines.js')).enginesCommand(makeContext(program, 'warn'), o),
    );
  engines
    .command('install')
    .description(
      'install an engine now rather than on its first job (sd-cpp: stable-diffusion.cpp into models_root/bin)',
    )
    .argument('<engine>', 'sd-cpp')
    .option('--force', 'install again even when sd-cli is found')
    .addHelpText(
      'after',
      `
Downloads the pinned stable-diffusion.cpp release for this machine (CUDA where an NVIDIA driver
and a CUDA build exist, else Vulkan; Metal on macOS), checks its SHA-256 against the release's
digest, and unpacks it into <models_root>/bin/. The download resumes if cut.

Environment:
  STUDIO_WORKER_SDCPP_RELEASE  another release tag (master-<n>-<sha>)
  STUDIO_WORKER_SDCPP_URL      a zip URL to use instead (needs STUDIO_WORKER_SDCPP_SHA256)
  STUDIO_WORKER_SDCPP_SHA256   the SHA-256 the zip must have
  STUDIO_WORKER_SDCPP_API      the GitHub API base to read the release from (a mirror)

Example:
  studio-worker engines install sd-cpp`,
    )
    .action(async (engine: string, o: { force?: boolean }) =>
      (await import('./commands/engines.js')).enginesInstallCommand(makeContext(program), engine, o),
    );

  program
    .command('check-update')
    .description('read the release feed and say whether a newer version is available (installs nothing)')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker check-update\n  studio-worker check-update --json   # JSON offline too; exit 5 when the feed cannot be read',
    )
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/update.js')).checkUpdateCommand(makeContext(program, 'warn'), o),
    );

  program
    .command('install-service')
    .description(
      'run the worker as a service: systemd user unit (Linux), LaunchAgent (macOS), Scheduled Task (Windows)',
    )
    .option('--dry-run', 'print the files and commands; change nothing')
    .option(
      '--gpus <all|list>',
      'one worker per GPU ("all", or indices such as 0,2): a systemd template unit studio-worker@N, a LaunchAgent or a Scheduled Task each, every one on its own config folder <config>/gpu-N with its own registration',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker install-service --dry-run\n  studio-worker install-service\n  studio-worker install-service --gpus all     # one worker per GPU, each approved once in the studio\n  studio-worker install-service --gpus 0,1 --dry-run',
    )
    .action(async (o: { dryRun?: boolean; gpus?: string }) =>
      (await import('./commands/service.js')).installServiceCommand(makeContext(program), o),
    );

  program
    .command('uninstall-service')
    .description('stop the service and remove exactly what install-service wrote')
    .option('--dry-run', 'print what would be removed; change nothing')
    .option(
      '--gpus <all|list>',
      'remove the per-GPU workers install-service --gpus installed (all: every one installed from this config; their config folders stay)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker uninstall-service --dry-run\n  studio-worker uninstall-service\n  studio-worker uninstall-service --gpus all   # the per-GPU workers; their config folders stay',
    )
    .action(async (o: { dryRun?: boolean; gpus?: string }) =>
      (await import('./commands/service.js')).uninstallServiceCommand(makeContext(program), o),
    );

  program
    .command('dev-studio')
    .description('run the reference studio on loopback, to try a worker against (not a production server)')
    .option('--port <port>', 'port to listen on (0 = any free port)', '8787')
    .option('--auto-approve', 'approve every registration request at once')
    .addHelpText(
      'after',
      '\nExample:\n  studio-worker dev-studio --auto-approve &\n  studio-worker --config-dir /tmp/w register --api-base-url http://127.0.0.1:8787/\n  studio-worker --config-dir /tmp/w run',
    )
    .action(async (o: { port: string; autoApprove?: boolean }) =>
      (await import('./commands/dev-studio.js')).devStudioCommand(makeContext(program), o),
    );

  program
    .command('demo')
    .description('start a dev studio and a worker, run one job of each kind, check every result')
    .option('--json', 'print {ok, jobs:[...]} instead of a table')
    .option('--real-image', 'image job on the real sd.cpp, cold then warm (a clone with its vendored source)')
    .addHelpText('after', '\nExamples:\n  studio-worker demo\n  studio-worker demo --json')
    .action(async (o: { json?: boolean; realImage?: boolean }) =>
      (await import('./commands/demo.js')).demoCommand(makeContext(program, 'warn'), o),
    );

  return program;
}
