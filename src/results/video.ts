import { spawn } from 'node:child_process';

import type { Task } from '../protocol/index.js';
import { headBytes, withFile } from './binary.js';
import { failed, type BinaryResult, type VerifyOutcome } from './types.js';
import { ffmpegPath, loadSharp, toError } from '../util/index.js';

const DECODE_TIMEOUT_MS = 120_000;
const STDERR_KEEP_CHARS = 64 * 1024;

interface Decoded {
  format: string;
  codec: string;
  width: number;
  height: number;
  frames: number;
}

/** Checks the container magic, then decodes every frame: ffmpeg for mp4/webm, sharp for animated gif/webp. */
export async function verifyVideo(result: BinaryResult, task?: Task): Promise<VerifyOutcome> {
  const magicProblem = checkMagic(result.ext, await headBytes(result, 12));
  if (magicProblem) return failed(magicProblem);
  let decoded: Decoded;
  try {
    // ffmpeg (this build) cannot decode animated WebP; libvips can decode both animated formats.
    decoded = await withFile(result, (path) =>
      result.ext === 'gif' || result.ext === 'webp'
        ? decodeAnimated(path)
        : decodeWithFfmpeg(path, result.ext),
    );
  } catch (e) {
    return failed(`video does not decode: ${toError(e).message}`);
  }
  const { format, width, height, frames } = decoded;
  if (frames === 0) return failed(`video ${format} ${width}×${height} holds no frames`);
  // yuv420p needs even dimensions, so an engine may round an odd size down by one pixel.
  if (task?.kind === 'video' && (Math.abs(task.width - width) > 1 || Math.abs(task.height - height) > 1)) {
    return failed(`video is ${width}×${height}, but the task asked for ${task.width}×${task.height}`);
  }
  return { ok: true, summary: `${format} ${width}×${height}, ${frames} frames`, details: { ...decoded } };
}

function checkMagic(ext: string, head: Uint8Array): string | undefined {
  const ascii = (from: number, to: number): string => String.fromCharCode(...head.subarray(from, to));
  switch (ext) {
    case 'mp4':
      return ascii(4, 8) === 'ftyp' ? undefined : 'not an MP4: no "ftyp" box at offset 4';
    case 'webm':
      return head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3
        ? undefined
        : 'not a WebM: no EBML header (1A 45 DF A3)';
    case 'gif':
      return ascii(0, 4) === 'GIF8' ? undefined : 'not a GIF: no "GIF8" signature';
    case 'webp':
      return ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP'
        ? undefined
        : 'not a WebP: no "RIFF....WEBP" header';
    default:
      return `unsupported video ext "${ext}" (expected mp4, webm, gif or webp)`;
  }
}

async function decodeAnimated(path: string): Promise<Decoded> {
  const sharp = await loadSharp();
  const image = sharp(path, { animated: true, failOn: 'truncated' });
  const meta = await image.metadata();
  await image.raw().toBuffer();
  const frames = meta.pages ?? 1;
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  return { format: meta.format ?? 'unknown', codec: meta.format ?? 'unknown', width, height, frames };
}

/** Decodes to the null muxer, failing on the first decode error; frames come from `-progress`. */
function decodeWithFfmpeg(path: string, format: string): Promise<Decoded> {
  const args = [
    '-hide_banner',
    '-nostats',
    '-progress',
    'pipe:1',
    '-xerror',
    '-i',
    path,
    '-map',
    '0:v:0',
    '-f',
    'null',
    '-',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: DECODE_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-STDERR_KEEP_CHARS);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < STDERR_KEEP_CHARS) stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const tail = stderr.trim().split('\n').slice(-4).join(' | ');
        reject(new Error(`ffmpeg exited with ${code ?? signal}: ${tail}`));
        return;
      }
      // The first video stream listed is the input's ("Video: h264 (High) (avc1 / 0x…), yuv420p, 64x64 …").
      const stream = /Stream #0:\d+.*?: Video: ([^\s,]+).*?, (\d+)x(\d+)/.exec(stderr);
      const frameLines = [...stdout.matchAll(/^frame=(\d+)$/gm)];
      const frames = Number(frameLines.at(-1)?.[1] ?? 0);
      if (!stream) {
        reject(new Error('ffmpeg found no video stream'));
        return;
      }
      resolve({
        format,
        codec: stream[1] ?? 'unknown',
        width: Number(stream[2]),
        height: Number(stream[3]),
        frames,
      });
    });
  });
}
