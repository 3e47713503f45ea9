/**
 * Test fixture, not a stand-in for any real engine: the real synthetic engine behind a gate, so a
 * test can hold a job on its engine while it drops the session, then let it finish. Every job it
 * runs is counted, so a test can tell a re-run from a result delivered from disk.
 */
import type { Engine, EngineResult, EngineRunContext } from '../../src/engines/index.js';
import { SyntheticEngine } from '../../src/engines/index.js';
import type { ModelSource, Task } from '../../src/protocol/index.js';

export class GatedEngine implements Engine {
  readonly name = 'synthetic' as const;
  readonly runs: string[] = [];
  private readonly inner = new SyntheticEngine();
  private readonly gates = new Map<string, { open: () => void; opened: Promise<void> }>();
  private readonly started = new Map<string, () => void>();

  capabilities() {
    return this.inner.capabilities();
  }
  refuse(claim: Parameters<NonNullable<Engine['refuse']>>[0]) {
    return this.inner.refuse(claim);
  }

  /** Jobs whose id starts with `held-` wait on their gate; others run straight through. */
  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    const jobId = ctx.claim.jobId;
    this.runs.push(jobId);
    this.started.get(jobId)?.();
    if (jobId.startsWith('held-')) await this.gate(jobId).opened;
    return this.inner.run(task, modelSource, ctx);
  }

  /** Resolves once the engine has started `jobId`. */
  whenStarted(jobId: string): Promise<void> {
    if (this.runs.includes(jobId)) return Promise.resolve();
    return new Promise((resolve) => this.started.set(jobId, resolve));
  }

  release(jobId: string): void {
    this.gate(jobId).open();
  }

  private gate(jobId: string) {
    let gate = this.gates.get(jobId);
    if (!gate) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      gate = { open, opened };
      this.gates.set(jobId, gate);
    }
    return gate;
  }
}
