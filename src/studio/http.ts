import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { z } from 'zod';
import {
  COMPLETE_FIELDS,
  RegisterResponseSchema,
  RegisterStatusSchema,
  contentTypeForExt,
  routes,
  studioUrl,
} from '../protocol/index.js';
import type { RegisterRequest, RegisterResponse, RegisterStatus } from '../protocol/index.js';
import { HttpAgents, httpRequest, isAbortError, toError } from '../util/index.js';
import { StudioHttpError } from './errors.js';
import { multipartBody, multipartFileBody } from './multipart.js';

/** Answers larger than this are cut (JSON answers of the studio are tiny; error pages need not be kept whole). */
const ANSWER_LIMIT = 1024 * 1024;

export interface StudioHttpOptions {
  apiBaseUrl: string;
  /** The `User-Agent` header of every request, `studio-worker/<version>`. */
  userAgent: string;
  log: Logger;
  /** Connect timeout, and the longest wait for an answer's headers or the next chunk of its body. */
  timeoutMs?: number;
}

export interface UploadResultOptions {
  workerId: string;
  jobId: string;
  authToken: string;
  filePath: string;
  /** The file's bytes when they are at hand: sent from memory instead of read back from `filePath`. */
  data?: Uint8Array | undefined;
  ext: string;
  prompt?: string | undefined;
  signal?: AbortSignal | undefined;
}

interface Answer {
  status: number;
  text: string;
}

/**
 * The studio's HTTP routes (registration and the multipart `complete` upload) over keep-alive
 * node:http(s) connections. Every failure is a StudioHttpError naming the operation, except an abort, which
 * rejects with the signal's AbortError untouched so callers can tell "stopped" from "failed".
 */
export class StudioHttp {
  private readonly agents = new HttpAgents({ idleMs: 10_000 });
  private readonly timeoutMs: number;
  /** Requests not yet answered in full: `close` lets them finish. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: StudioHttpOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async postRegisterRequest(body: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse> {
    const operation = 'post register request';
    const answer = await this.send(operation, routes.registerRequest(), signal, () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    }));
    return parseAnswer(operation, RegisterResponseSchema, answer);
  }

  async getRegisterStatus(
    requestId: string,
    secret: string,
    signal?: AbortSignal,
  ): Promise<RegisterStatus | { status: 'gone' } | { status: 'unknown'; answer: string }> {
    const operation = `poll register request ${requestId}`;
    const answer = await this.send(
      operation,
      routes.registerStatus(requestId),
      signal,
      () => ({ method: 'GET', headers: { authorization: `Bearer ${secret}`, accept: 'application/json' } }),
      (status) => status === 404,
    );
    if (answer.status === 404) return { status: 'gone' };
    // A status this version does not know (a newer studio's) is not an error: the caller polls on.
    const status = jsonStatusOf(answer.text);
    if (status !== undefined && !KNOWN_REGISTER_STATUSES.has(status)) {
      return { status: 'unknown', answer: answer.text.slice(0, 200) };
    }
    return parseAnswer(operation, RegisterStatusSchema, answer);
  }

  /**
   * Uploads a finished job's bytes as the contract's multipart `complete` request: from memory as one
   * buffer when the bytes are at hand, else streamed from disk (a result may be larger than memory).
   */
  async uploadResult(o: UploadResultOptions): Promise<{ status: number }> {
    const operation = `upload result of job ${o.jobId}`;
    const answer = await this.send(
      operation,
      routes.complete(o.workerId, o.jobId),
      o.signal,
      async (): Promise<RequestParts> => {
        const type = contentTypeForExt(o.ext);
        const filename = `${o.jobId}.${o.ext}`;
        const authorization = `Bearer ${o.authToken}`;
        const fields = [
          [COMPLETE_FIELDS.prompt, o.prompt ?? ''],
          [COMPLETE_FIELDS.ext, o.ext],
        ] as const;
        if (o.data) {
          const file = { name: COMPLETE_FIELDS.file, filename, contentType: type, data: o.data };
          const { body, contentType } = multipartBody(fields, file);
          return { method: 'POST', headers: { authorization, 'content-type': contentType }, body };
        }
        const { size } = await stat(o.filePath);
        const file = {
          name: COMPLETE_FIELDS.file,
          filename,
          contentType: type,
          path: o.filePath,
          bytes: size,
        };
        const { body, contentType, length } = multipartFileBody(fields, file);
        const headers = { authorization, 'content-type': contentType, 'content-length': String(length) };
        return { method: 'POST', headers, body };
      },
    );
    return { status: answer.status };
  }

  /** Lets the requests in flight finish, then closes the keep-alive connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.allSettled([...this.inFlight]).then(() => this.agents.close());
    return this.closing;
  }

  /**
   * Sends one request and reads its answer. Non-2xx statuses throw unless `accept` takes them;
   * the body is read (capped) in every case so the connection can be reused.
   */
  private async send(
    operation: string,
    route: string,
    signal: AbortSignal | undefined,
    build: () => Promise<RequestParts> | RequestParts,
    accept: (status: number) => boolean = () => false,
  ): Promise<Answer> {
    if (this.closing) {
      throw new StudioHttpError({ operation, detail: 'the studio client is closed', retryable: false });
    }
    const url = studioUrl(this.opts.apiBaseUrl, route);
    const exchange = (async (): Promise<Answer> => {
      const parts = await build();
      const res = await httpRequest(url, {
        ...parts,
        headers: { ...parts.headers, 'user-agent': this.opts.userAgent },
        signal,
        timeoutMs: this.timeoutMs,
        agents: this.agents,
      });
      return { status: res.status, text: await readCapped(res.body, ANSWER_LIMIT) };
    })();
    // `close` lets it finish.
    this.inFlight.add(exchange);
    let answer: Answer;
    try {
      answer = await exchange;
    } catch (e) {
      const err = toError(e);
      if (signal?.aborted || isAbortError(err)) throw err;
      throw StudioHttpError.fromNetwork(operation, err);
    } finally {
      this.inFlight.delete(exchange);
    }
    this.opts.log.debug({ operation, status: answer.status }, `${operation}: HTTP ${answer.status}`);
    if ((answer.status >= 200 && answer.status < 300) || accept(answer.status)) return answer;
    throw StudioHttpError.fromStatus(operation, answer.status, answer.text);
  }
}

interface RequestParts {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
}

const KNOWN_REGISTER_STATUSES: ReadonlySet<string> = new Set(['pending', 'approved', 'rejected']);

/** The `status` string of a JSON object answer, if it is one. */
function jsonStatusOf(text: string): string | undefined {
  try {
    const status = (JSON.parse(text) as { status?: unknown } | null)?.status;
    return typeof status === 'string' ? status : undefined;
  } catch {
    return undefined;
  }
}

async function readCapped(body: AsyncIterable<unknown>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early destroys the stream: an oversized answer costs its connection, not our memory.
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buf.subarray(0, limit - size));
    size += buf.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseAnswer<T>(operation: string, schema: z.ZodType<T>, answer: Answer): T {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    throw new StudioHttpError({
      operation,
      status: answer.status,
      detail: 'answer is not JSON',
      body: answer.text,
      retryable: false,
    });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new StudioHttpError({
    operation,
    status: answer.status,
    detail: `malformed answer (${problems.join('; ')})`,
    body: answer.text,
    retryable: false,
  });
}
