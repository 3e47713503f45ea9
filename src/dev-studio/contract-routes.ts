import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { API_PREFIX, COMPLETE_FIELDS, contentTypeForExt, RegisterRequestSchema } from '../protocol/index.js';
import { badRequest, conflict, DevStudioError, notFound } from './errors.js';
import type { Hub } from './hub.js';
import type { JobBoard } from './job-board.js';
import type { Registry } from './registry.js';
import { completeProblems, drainUpload, receiveUpload, removeTempFiles } from './upload.js';

/** What the contract's HTTP routes work on. */
export interface ContractContext {
  registry: Registry;
  board: JobBoard;
  hub: Hub;
  resultsDir: string;
  /** Statuses the next multipart `complete` requests answer with, one each (fault injection). */
  uploadFaults: number[];
}

const BINARY_KINDS = new Set(['image', 'audio_tts', 'video']);

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

interface CompleteParams {
  workerId: string;
  jobId: string;
}

/** `POST /workers/register-request`, `GET /workers/register-requests/:id` and the multipart `complete`. */
export function registerContractRoutes(app: FastifyInstance, ctx: ContractContext): void {
  const { registry } = ctx;

  app.post(`${API_PREFIX}/workers/register-request`, (request) => {
    const parsed = RegisterRequestSchema.safeParse(request.body);
    if (!parsed.success) throw badRequest(`invalid register-request: ${z.prettifyError(parsed.error)}`);
    return registry.request(parsed.data);
  });

  app.get<{ Params: { requestId: string } }>(
    `${API_PREFIX}/workers/register-requests/:requestId`,
    (request) => registry.poll(request.params.requestId, bearerOf(request.headers.authorization)),
  );

  // The session route is served by the upgrade handler; a plain GET gets told so instead of a 404.
  app.get(`${API_PREFIX}/workers/:workerId/connect`, (_request, reply) => {
    reply.code(426).header('upgrade', 'websocket').send({ error: 'this route speaks WebSocket only' });
  });

  app.post<{ Params: CompleteParams }>(
    `${API_PREFIX}/workers/:workerId/jobs/:jobId/complete`,
    async (request, reply) => {
      const { workerId, jobId } = request.params;
      if (!registry.authorize(workerId, bearerOf(request.headers.authorization))) {
        throw new DevStudioError(401, `the bearer is not the auth token of worker ${workerId}`);
      }
      if (!request.isMultipart()) throw badRequest('expected a multipart/form-data body');
      const fault = ctx.uploadFaults.shift();
      if (fault !== undefined) {
        await drainUpload(request, ctx.resultsDir);
        return reply.code(fault).send({ error: `injected failure (${fault})` });
      }
      checkUploadAllowed(ctx, workerId, jobId);
      return receiveResult(request, ctx, workerId, jobId);
    },
  );
}

/**
 * flows.md §5: the studio takes an upload only while the job is claimed by this worker — held by
 * its live session; a claim released by a closed socket, or a finished job, gets 409.
 */
function checkUploadAllowed(ctx: ContractContext, workerId: string, jobId: string): void {
  const job = ctx.board.find(jobId);
  if (!job) throw notFound(`job ${jobId}`);
  if (!ctx.hub.holds(workerId, jobId)) {
    const holder = job.workerId === undefined ? '' : ` (worker ${job.workerId})`;
    throw conflict(`job ${jobId} is ${job.status}${holder}; it is not claimed by worker ${workerId}`);
  }
  if (!BINARY_KINDS.has(job.kind)) {
    throw badRequest(`job ${jobId} is a ${job.kind} job; its result goes in a completeJson frame`);
  }
}

async function receiveResult(
  request: FastifyRequest,
  ctx: ContractContext,
  workerId: string,
  jobId: string,
): Promise<{ ok: true }> {
  const upload = await receiveUpload(request, ctx.resultsDir);
  const problems = completeProblems(upload, jobId);
  const file = upload.files[0];
  const ext = upload.fields.get(COMPLETE_FIELDS.ext);
  if (problems.length > 0 || !file || ext === undefined) {
    await removeTempFiles(upload);
    throw badRequest(`bad complete upload for job ${jobId}: ${problems.join('; ')}`);
  }
  // The job may have moved on while the bytes were arriving (its socket closed, say).
  if (!ctx.hub.holds(workerId, jobId)) {
    await removeTempFiles(upload);
    throw conflict(
      `job ${jobId} is ${ctx.board.get(jobId).status}; it is no longer claimed by worker ${workerId}`,
    );
  }
  const filename = `${jobId}.${ext}`;
  // Job ids come from the operator (or a raw claim): keep them from naming a path outside the folder.
  const path = join(ctx.resultsDir, filename.replace(/[^A-Za-z0-9._-]/g, '_'));
  await rename(file.path, path);
  const contentType = contentTypeForExt(ext);
  ctx.hub.completeUpload(workerId, jobId, {
    type: 'file',
    ext,
    contentType,
    filename,
    bytes: file.bytes,
    path,
    prompt: upload.fields.get(COMPLETE_FIELDS.prompt) ?? '',
  });
  return { ok: true };
}
