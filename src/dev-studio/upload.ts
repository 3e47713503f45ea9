import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { COMPLETE_FIELDS, contentTypeForExt } from '../protocol/index.js';

export interface ReceivedFile {
  fieldname: string;
  filename: string;
  mimetype: string;
  /** A temp file in the results folder; the caller renames or removes it. */
  path: string;
  bytes: number;
}

export interface ReceivedUpload {
  fields: Map<string, string>;
  files: ReceivedFile[];
  problems: string[];
}

const EXT = /^[a-z0-9]{1,8}$/;

/**
 * Reads a multipart body part by part, streaming each file part to a temp file in `dir` so an
 * upload of any size costs no more memory than a chunk.
 */
export async function receiveUpload(request: FastifyRequest, dir: string): Promise<ReceivedUpload> {
  const upload: ReceivedUpload = { fields: new Map(), files: [], problems: [] };
  try {
    await readParts(request, dir, upload);
  } catch (e) {
    await removeTempFiles(upload);
    throw e;
  }
  return upload;
}

async function readParts(request: FastifyRequest, dir: string, upload: ReceivedUpload): Promise<void> {
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (upload.fields.has(part.fieldname)) upload.problems.push(`field '${part.fieldname}' sent twice`);
      if (part.valueTruncated) upload.problems.push(`field '${part.fieldname}' is too long`);
      upload.fields.set(part.fieldname, typeof part.value === 'string' ? part.value : String(part.value));
      continue;
    }
    const path = join(dir, `.upload-${randomBytes(6).toString('hex')}`);
    const file: ReceivedFile = {
      fieldname: part.fieldname,
      filename: part.filename,
      mimetype: part.mimetype,
      path,
      bytes: 0,
    };
    upload.files.push(file);
    const out = createWriteStream(path);
    await pipeline(part.file, out);
    if (part.file.truncated) upload.problems.push(`file part '${part.fieldname}' exceeds the size limit`);
    file.bytes = out.bytesWritten;
  }
}

/** Every way `upload` differs from the contract's `complete` body for `jobId`; empty when it conforms. */
export function completeProblems(upload: ReceivedUpload, jobId: string): string[] {
  const problems = [...upload.problems];
  const ext = upload.fields.get(COMPLETE_FIELDS.ext);
  if (upload.fields.get(COMPLETE_FIELDS.prompt) === undefined) problems.push(`missing text field 'prompt'`);
  if (ext === undefined) problems.push(`missing text field 'ext'`);
  else if (!EXT.test(ext))
    problems.push(`field 'ext' is ${JSON.stringify(ext)}; expected 1-8 lowercase letters or digits`);
  for (const name of upload.fields.keys()) {
    if (name !== COMPLETE_FIELDS.prompt && name !== COMPLETE_FIELDS.ext)
      problems.push(`unexpected field '${name}'`);
  }
  const [file, ...extra] = upload.files;
  if (extra.length > 0) problems.push(`${upload.files.length} file parts; expected one`);
  if (!file) {
    problems.push(`missing file part '${COMPLETE_FIELDS.file}'`);
    return problems;
  }
  if (file.fieldname !== COMPLETE_FIELDS.file) {
    problems.push(`file part is named '${file.fieldname}'; expected '${COMPLETE_FIELDS.file}'`);
  }
  if (file.bytes === 0) problems.push('the file part is empty');
  if (ext !== undefined) {
    const expectedName = `${jobId}.${ext}`;
    if (file.filename !== expectedName) {
      problems.push(`file name is '${file.filename}'; expected '${expectedName}'`);
    }
    const expectedType = contentTypeForExt(ext);
    if (file.mimetype !== expectedType) {
      problems.push(`file content type is '${file.mimetype}'; ext '${ext}' needs '${expectedType}'`);
    }
  }
  return problems;
}

export async function removeTempFiles(upload: ReceivedUpload): Promise<void> {
  await Promise.all(upload.files.map((f) => rm(f.path, { force: true })));
}

/** Reads and discards a multipart body (fault injection answers only after the body is in). */
export async function drainUpload(request: FastifyRequest, dir: string): Promise<void> {
  await removeTempFiles(await receiveUpload(request, dir));
}
