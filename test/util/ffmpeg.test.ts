import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../src/util/index.js';

describe('ffmpegPath', () => {
  it('is the bundled binary when @ffmpeg-installer has one for this platform, and never throws', () => {
    const path = ffmpegPath();
    expect(path === 'ffmpeg' || existsSync(path)).toBe(true);
    expect(ffmpegPath()).toBe(path);
  });
});
