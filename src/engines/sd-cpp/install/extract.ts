import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Entry, ZipFile } from 'yauzl';

/** Far above any stable-diffusion.cpp build (the CUDA ones are a few hundred MB); a zip bomb stops here. */
const MAX_EXTRACTED_BYTES = 8 * 1024 ** 3;
const MAX_ENTRIES = 10_000;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export interface ExtractedArchive {
  /** The file names written, in archive order. */
  files: string[];
  /** Entries left out, each with why. */
  skipped: string[];
}

/**
 * Unpacks every file of a zip into `dest`, flat: each entry lands under its last path component
 * only, so no entry (`../../etc/passwd`, `/abs`, `C:\x`) can be written outside `dest`. Unix
 * modes are kept (the executables stay executable). A symbolic link is kept only when it points
 * at a bare name beside it (`libfoo.so -> libfoo.so.1`); any other link is left out.
 */
export async function extractFlat(zipPath: string, dest: string): Promise<ExtractedArchive> {
  await mkdir(dest, { recursive: true });
  const zip = await openZip(zipPath);
  const files: string[] = [];
  const skipped: string[] = [];
  let total = 0;
  try {
    if (zip.entryCount > MAX_ENTRIES)
      throw new Error(`${zipPath} has ${zip.entryCount} entries; too many for a build`);
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      const rawName = entryName(entry);
      const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
      if (rawName.endsWith('/') || rawName.endsWith('\\') || (mode & S_IFMT) === S_IFDIR) continue;
      const name = rawName.split(/[/\\]/).pop() ?? '';
      const problem = namingProblem(name);
      if (problem) {
        skipped.push(`${JSON.stringify(rawName)}: ${problem}`);
        continue;
      }
      const out = join(dest, name);
      const stream = await zip.openReadStreamPromise(entry);
      if ((mode & S_IFMT) === S_IFLNK) {
        const target = (await readAll(stream, 4096)).toString('utf8');
        if (namingProblem(target) || target === name) {
          skipped.push(`${JSON.stringify(rawName)}: a link to ${JSON.stringify(target)}, outside the folder`);
          continue;
        }
        await rm(out, { force: true });
        await symlink(target, out);
        files.push(name);
        continue;
      }
      if (files.includes(name)) skipped.push(`${JSON.stringify(rawName)}: replaces an earlier ${name}`);
      const limit = new Transform({
        transform(chunk: Buffer, _enc, done) {
          total += chunk.length;
          if (total > MAX_EXTRACTED_BYTES)
            done(new Error(`${zipPath} unpacks to more than 8 GiB; refusing it`));
          else done(null, chunk);
        },
      });
      await pipeline(stream, limit, createWriteStream(out, { mode: 0o644 }));
      const perm = mode & 0o777;
      if (perm !== 0 && process.platform !== 'win32') await chmod(out, perm & 0o755);
      if (!files.includes(name)) files.push(name);
    }
  } finally {
    zip.close();
  }
  return { files, skipped };
}

/** Why `name` cannot be a file name in the bin folder, or undefined. */
function namingProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'no file name';
  // eslint-disable-next-line no-control-regex -- control characters are what we refuse
  if (/[\u0000-\u001f\u007f/\\:]/.test(name)) return 'a control character, separator or colon in the name';
  if (name.startsWith('.')) return 'a hidden name';
  return undefined;
}

/** Names are read raw (yauzl would refuse the whole archive over one `../` entry; we flatten it instead). */
function entryName(entry: Entry): string {
  const raw = entry.fileNameRaw;
  const utf8 = (entry.generalPurposeBitFlag & 0x800) !== 0;
  return raw.toString(utf8 ? 'utf8' : 'latin1');
}

async function openZip(path: string): Promise<ZipFile> {
  // Loaded when an archive is opened, not with the worker: most runs never extract one.
  const { default: yauzl } = await import('yauzl');
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, decodeStrings: false, autoClose: false }, (err, zip) => {
      if (err) reject(new Error(`${path} is not a readable zip archive: ${err.message}`));
      else resolve(zip);
    });
  });
}

function nextEntry(zip: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: Entry) => {
      cleanup();
      resolve(e);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

async function readAll(stream: NodeJS.ReadableStream, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += b.length;
    if (size > max) throw new Error('a symbolic link entry is too long');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
