import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG } from '../../src/config/index.js';

// No container engine runs here: these check the deployment files against the CLI they start,
// not that an image builds (docs/deploy.md says so).
const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const help = (...args: string[]) =>
  execFileSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' });
const sources = () => {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ts')) out.push(readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(join(ROOT, 'src'));
  return out.join('\n');
};
const SRC = sources();

/** An environment variable the worker (or Node) reads. */
function knownEnv(name: string): boolean {
  return (
    name === 'NODE_ENV' || SRC.includes(`'${name}'`) || SRC.includes(`"${name}"`) || SRC.includes(`.${name}`)
  );
}

/** Every `--flag` of `args` exists on the command `args[0]`. */
function checkArgs(args: string[]): { command: string; port: number } {
  const command = args[0] ?? '';
  const text = help(command);
  for (const flag of args.filter((a) => a.startsWith('--')))
    expect(text, `${command} ${flag}`).toContain(flag);
  const listen = args[args.indexOf('--metrics-listen') + 1] ?? '';
  const port = Number(/:(\d+)$/.exec(listen)?.[1]);
  expect(port, 'a --metrics-listen port').toBeGreaterThan(0);
  return { command, port };
}

const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const instruction = (name: string) =>
  dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.startsWith(`${name} `))
    .map((l) => l.slice(name.length + 1).trim());

describe('deploy/Dockerfile (not built here: no container engine)', () => {
  it('starts the CLI with flags it has, Node flags Node takes, and the health check on the metrics port', () => {
    const entry = JSON.parse(instruction('ENTRYPOINT').at(-1) ?? '[]') as string[];
    const cmd = JSON.parse(instruction('CMD').at(-1) ?? '[]') as string[];
    expect(entry[0]).toBe('node');
    expect(entry.at(-1)).toBe('/app/dist/cli/main.js');
    for (const flag of entry.slice(1, -1)) {
      expect(() => execFileSync(process.execPath, [flag, '-e', '0'])).not.toThrow();
    }
    const { command, port } = checkArgs(cmd);
    expect(command).toBe('run');
    expect(instruction('EXPOSE')).toEqual([String(port)]);
    const health = instruction('HEALTHCHECK')[0] ?? '';
    expect(health).toContain(`http://127.0.0.1:${port}/healthz`);
    expect(SRC).toContain("path !== '/healthz'");
  });

  it('sets only environment variables the worker reads, and puts config and models on volumes', () => {
    const env = instruction('ENV')
      .join(' ')
      .match(/([A-Z_]+)=/g)
      ?.map((m) => m.slice(0, -1));
    expect(env).toEqual(['STUDIO_WORKER_CONFIG_DIR', 'NODE_ENV', 'LOG_LEVEL']);
    for (const name of env ?? []) expect(knownEnv(name), name).toBe(true);
    const volumes = JSON.parse(instruction('VOLUME')[0] ?? '[]') as string[];
    expect(volumes).toEqual(['/config', DEFAULT_CONFIG.modelsRoot.replace('~', '/home/worker')]);
    expect(dockerfile).toMatch(/^USER worker$/m);
  });
});

interface PodSpec {
  securityContext: { runAsUser: number };
  volumes: { name: string; hostPath?: unknown }[];
  initContainers?: {
    command: string[];
    securityContext?: { runAsUser?: number };
    volumeMounts: { name: string; mountPath: string }[];
  }[];
}

describe('deploy/kubernetes manifests', () => {
  const files = readdirSync(join(ROOT, 'deploy/kubernetes')).filter((f) => f.endsWith('.yaml'));

  it.each(files)('%s: args, env, probes, ports, annotations and volumes match the CLI', (file) => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes', file), 'utf8'));
    for (const d of docs) expect(d.errors).toEqual([]);
    const workloads = docs
      .map(
        (d) =>
          d.toJS() as {
            kind: string;
            spec?: {
              template?: { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> };
            };
          },
      )
      .filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
    expect(workloads).toHaveLength(1);
    const template = workloads[0]!.spec!.template!;
    const [container] = template.spec['containers'] as {
      args: string[];
      env: { name: string; value: string }[];
      ports: { containerPort: number }[];
      resources: { limits: Record<string, number> };
      livenessProbe: { httpGet: { path: string; port: number } };
      readinessProbe: { httpGet: { path: string; port: number } };
      volumeMounts: { name: string; mountPath: string }[];
    }[];
    const { port } = checkArgs(container!.args);
    for (const e of container!.env) expect(knownEnv(e.name), e.name).toBe(true);
    expect(container!.resources.limits['nvidia.com/gpu']).toBe(1);
    for (const probe of [container!.livenessProbe, container!.readinessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/healthz', port });
    }
    expect(container!.ports.map((p) => p.containerPort)).toEqual([port]);
    expect(template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(port),
      'prometheus.io/path': '/metrics',
    });
    const configDir = container!.env.find((e) => e.name === 'STUDIO_WORKER_CONFIG_DIR')?.value;
    expect(container!.volumeMounts.map((m) => m.mountPath).sort()).toEqual(
      [configDir, DEFAULT_CONFIG.modelsRoot.replace('~', '/home/worker')].sort(),
    );
  });

  it.each(files)('%s: every object is valid against the Kubernetes API schemas', (file) => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes', file), 'utf8'));
    // Each kind's model from kubernetes-models (the API's OpenAPI schemas), validating what it is given.
    const validate: Record<string, (o: object) => void> = {
      DaemonSet: (o) => new DaemonSet(o).validate(),
      Deployment: (o) => new Deployment(o).validate(),
      PersistentVolumeClaim: (o) => new PersistentVolumeClaim(o).validate(),
    };
    for (const d of docs) {
      const object = d.toJS() as { kind: string };
      const check = validate[object.kind];
      expect(check, `a validator for ${object.kind}`).toBeDefined();
      expect(() => check!(object), `${file}: ${object.kind}`).not.toThrow();
    }
  });

  it('lets the pod’s user write a hostPath config folder (hostPath ignores fsGroup)', () => {
    const doc = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/daemonset.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; spec: { template: { spec: PodSpec } } })
      .find((o) => o.kind === 'DaemonSet');
    const pod = doc!.spec.template.spec;
    const user = pod.securityContext.runAsUser;
    const hostPaths = pod.volumes.filter((v) => v.hostPath).map((v) => v.name);
    const init = pod.initContainers ?? [];
    // A root init step owns every hostPath folder the worker writes to, for the worker's uid.
    const owner = init.find((c) => c.command.join(' ').includes(`chown ${user}:`));
    expect(owner, 'an init container that chowns the folders to the worker').toBeDefined();
    expect(owner!.securityContext?.runAsUser).toBe(0);
    const mounted = owner!.volumeMounts.map((m) => m.name).sort();
    expect(mounted).toEqual([...hostPaths].sort());
    for (const m of owner!.volumeMounts) expect(owner!.command.join(' ')).toContain(m.mountPath);
  });

  it('says in docs/deploy.md that the image has not been built here', () => {
    const text = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8').replace(/\s+/g, ' ');
    expect(text).toContain('The image has not been built here');
  });
});
