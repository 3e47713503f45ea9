import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ModelSourceSchema, TaskSchema } from '../protocol/index.js';
import type { DevStudioAdmin } from './admin.js';
import { badRequest } from './errors.js';
import type { FileStore } from './files.js';

const EnqueueBodySchema = z.object({
  task: TaskSchema,
  modelSource: ModelSourceSchema.optional(),
  model: z.string().optional(),
  vramGbEstimate: z.number().nonnegative().optional(),
  gameId: z.string().optional(),
  assetName: z.string().optional(),
  prompt: z.string().optional(),
  ext: z.string().optional(),
  workerId: z.string().optional(),
  maxAttempts: z.number().int().positive().optional(),
  rawClaim: z.unknown().optional(),
});
const RejectBodySchema = z.object({ reason: z.string() });
const DisconnectBodySchema = z.object({ code: z.number().int().optional(), reason: z.string().optional() });
const FailUploadsBodySchema = z.object({
  n: z.number().int().nonnegative(),
  status: z.number().int().optional(),
});
const AddFileBodySchema = z.object({ name: z.string(), contentType: z.string(), base64: z.string() });
const AutoApproveBodySchema = z.object({ autoApprove: z.boolean() });
const MatchBodySchema = z.object({ matchCapabilities: z.boolean() });
const WaitQuerySchema = z.object({
  wait: z.enum(['0', '1', 'true', 'false']).optional(),
  timeoutMs: z.coerce.number().int().positive().optional(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw badRequest(`invalid ${what}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

type IdParams = { Params: { id: string } };

/** The admin HTTP API: JSON under `/admin/…`, one route per `DevStudioAdmin` method. */
export function registerAdminRoutes(app: FastifyInstance, admin: DevStudioAdmin, files: FileStore): void {
  app.get('/admin/registrations', () => admin.listRegistrations());
  app.post<IdParams>('/admin/registrations/:id/approve', (req) => admin.approve(req.params.id));
  app.post<IdParams>('/admin/registrations/:id/reject', (req) => {
    admin.reject(req.params.id, parse(RejectBodySchema, req.body, 'reject body').reason);
    return { ok: true };
  });
  app.post<IdParams>('/admin/registrations/:id/forget', (req) => {
    admin.forget(req.params.id);
    return { ok: true };
  });

  app.get('/admin/workers', () => admin.listWorkers());
  app.get<IdParams>('/admin/workers/:id/logs', (req) => admin.workerLogs(req.params.id));
  app.post<IdParams>('/admin/workers/:id/disconnect', (req) => {
    const body = parse(DisconnectBodySchema, req.body, 'disconnect body');
    admin.disconnectWorker(req.params.id, body.code, body.reason);
    return { ok: true };
  });
  app.post<IdParams>('/admin/workers/:id/drop', (req) => {
    admin.dropWorker(req.params.id);
    return { ok: true };
  });
  app.post<IdParams>('/admin/workers/:id/stop-reading', (req) => {
    admin.stopReading(req.params.id);
    return { ok: true };
  });
  app.post<IdParams>('/admin/workers/:id/delete', (req) => {
    admin.deleteWorker(req.params.id);
    return { ok: true };
  });

  app.get('/admin/jobs', () => admin.listJobs());
  app.post('/admin/jobs', (req, reply) => {
    reply.code(201).send(admin.enqueueJob(parse(EnqueueBodySchema, req.body, 'job')));
  });
  app.get<IdParams>('/admin/jobs/:id', (req) => {
    const query = parse(WaitQuerySchema, req.query, 'query');
    const wait = query.wait === '1' || query.wait === 'true';
    if (!wait) return admin.getJob(req.params.id);
    return admin.waitForJob(
      req.params.id,
      query.timeoutMs === undefined ? {} : { timeoutMs: query.timeoutMs },
    );
  });
  app.get<IdParams>('/admin/jobs/:id/result', (req, reply) => {
    const result = admin.jobResult(req.params.id);
    if (result.type === 'json') {
      reply.type('application/json').send(JSON.stringify(result.value));
      return;
    }
    reply
      .type(result.contentType)
      .header('content-length', result.bytes)
      .header('content-disposition', `attachment; filename="${result.filename}"`)
      .send(createReadStream(result.path));
  });

  app.post('/admin/fail-next-uploads', (req) => {
    const body = parse(FailUploadsBodySchema, req.body, 'fail-next-uploads body');
    admin.failNextUploads(body.n, body.status);
    return { ok: true };
  });
  app.get('/admin/violations', () => admin.violations());
  app.post('/admin/files', { bodyLimit: 64 * 1024 * 1024 }, (req) => {
    const body = parse(AddFileBodySchema, req.body, 'file');
    return { url: admin.addFile(body.name, Buffer.from(body.base64, 'base64'), body.contentType) };
  });
  app.get('/admin/auto-approve', () => ({ autoApprove: admin.autoApprove }));
  app.put('/admin/auto-approve', (req) => {
    admin.autoApprove = parse(AutoApproveBodySchema, req.body, 'auto-approve body').autoApprove;
    return { autoApprove: admin.autoApprove };
  });
  app.get('/admin/match-capabilities', () => ({ matchCapabilities: admin.matchCapabilities }));
  app.put('/admin/match-capabilities', (req) => {
    admin.matchCapabilities = parse(MatchBodySchema, req.body, 'match-capabilities body').matchCapabilities;
    return { matchCapabilities: admin.matchCapabilities };
  });

  app.get<{ Params: { name: string } }>('/files/:name', (req, reply) => {
    const file = files.get(req.params.name);
    reply
      .type(file.contentType)
      .send(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength));
  });
}
