import type { Sharp } from 'sharp';
import { loadSharp } from '../../util/index.js';
import type { HashRng } from './rng.js';

interface Disc {
  x: number;
  y: number;
  r: number;
  vx: number;
  vy: number;
  color: string;
  opacity: number;
}

/** A picture derived from a hash: a two-colour gradient at some angle with drifting translucent discs. */
export interface Scene {
  from: string;
  to: string;
  angle: number;
  discs: Disc[];
  stripes: number;
}

export function makeScene(rng: HashRng): Scene {
  const hue = rng.int(0, 359);
  return {
    from: `hsl(${hue}, ${rng.int(55, 95)}%, ${rng.int(35, 60)}%)`,
    to: `hsl(${(hue + rng.int(90, 270)) % 360}, ${rng.int(55, 95)}%, ${rng.int(30, 65)}%)`,
    angle: rng.int(0, 359),
    stripes: rng.int(3, 9),
    discs: Array.from({ length: rng.int(3, 7) }, () => ({
      x: rng.next(),
      y: rng.next(),
      r: rng.range(0.06, 0.25),
      vx: rng.range(-1, 1),
      vy: rng.range(-1, 1),
      color: `hsl(${rng.int(0, 359)}, ${rng.int(60, 100)}%, ${rng.int(40, 75)}%)`,
      opacity: rng.range(0.35, 0.8),
    })),
  };
}

type Rgb = [number, number, number];

/** Parses the `hsl(h, s%, l%)` strings the scene stores into 0..255 RGB. */
function hslToRgb(css: string): Rgb {
  const m = /hsl\((\d+), (\d+)%, (\d+)%\)/.exec(css);
  const h = Number(m?.[1] ?? 0) / 360;
  const sat = Number(m?.[2] ?? 0) / 100;
  const l = Number(m?.[3] ?? 0) / 100;
  const q = l < 0.5 ? l * (1 + sat) : l + sat - l * sat;
  const p = 2 * l - q;
  const channel = (t: number): number => {
    const u = ((t % 1) + 1) % 1;
    const v = u < 1 / 6 ? p + (q - p) * 6 * u : u < 1 / 2 ? q : u < 2 / 3 ? p + (q - p) * (2 / 3 - u) * 6 : p;
    return Math.round(v * 255);
  };
  return [channel(h + 1 / 3), channel(h), channel(h - 1 / 3)];
}

/**
 * The scene at time `t` (0 = first frame; discs wrap around the edges) rasterised straight into
 * an RGB buffer: a gradient along the scene's angle, faint stripes, translucent discs. Drawn in JS
 * rather than through SVG because librsvg's parse-and-render costs milliseconds per small image,
 * which is most of a synthetic job.
 */
export function renderSceneRgb(scene: Scene, width: number, height: number, t = 0): Buffer {
  const out = Buffer.allocUnsafe(width * height * 3);
  const from = hslToRgb(scene.from);
  const to = hslToRgb(scene.to);
  const rad = (scene.angle * Math.PI) / 180;
  const dx = Math.cos(rad);
  const dy = Math.sin(rad);
  const span = Math.abs(dx) * width + Math.abs(dy) * height || 1;
  const stripeRad = ((scene.angle % 45) * Math.PI) / 180;
  const stripePeriod = (2 * width) / (scene.stripes * 2);
  const size = Math.min(width, height);
  const wrap = (v: number): number => ((v % 1) + 1) % 1;
  const discs = scene.discs.map((d) => ({
    cx: wrap(d.x + d.vx * t) * width,
    cy: wrap(d.y + d.vy * t) * height,
    r2: (d.r * size) ** 2,
    rgb: hslToRgb(d.color),
    a: d.opacity,
  }));
  const cosS = Math.cos(stripeRad);
  const sinS = Math.sin(stripeRad);
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const g = Math.min(1, Math.max(0, ((x - width / 2) * dx + (y - height / 2) * dy) / span + 0.5));
      let r = from[0] + (to[0] - from[0]) * g;
      let gr = from[1] + (to[1] - from[1]) * g;
      let b = from[2] + (to[2] - from[2]) * g;
      const along = (x - width / 2) * cosS + (y - height / 2) * sinS + width * 4;
      if (along % stripePeriod < stripePeriod / 2) {
        r += (255 - r) * 0.08;
        gr += (255 - gr) * 0.08;
        b += (255 - b) * 0.08;
      }
      for (const d of discs) {
        const ddx = x - d.cx;
        const ddy = y - d.cy;
        if (ddx * ddx + ddy * ddy <= d.r2) {
          r += (d.rgb[0] - r) * d.a;
          gr += (d.rgb[1] - gr) * d.a;
          b += (d.rgb[2] - b) * d.a;
        }
      }
      out[i++] = r;
      out[i++] = gr;
      out[i++] = b;
    }
  }
  return out;
}

/** The scene as a sharp pipeline over its raw RGB pixels, ready to encode. */
export async function renderScene(scene: Scene, width: number, height: number, t = 0): Promise<Sharp> {
  const sharp = await loadSharp();
  return sharp(renderSceneRgb(scene, width, height, t), { raw: { width, height, channels: 3 } });
}
