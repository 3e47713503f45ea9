import sharp, { type Sharp } from 'sharp';
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

/** The scene at time `t` (0 = first frame; discs wrap around the edges) as an SVG document. */
export function sceneSvg(scene: Scene, width: number, height: number, t = 0): string {
  const size = Math.min(width, height);
  const wrap = (v: number): number => ((v % 1) + 1) % 1;
  const discs = scene.discs
    .map((d) => {
      const cx = (wrap(d.x + d.vx * t) * width).toFixed(1);
      const cy = (wrap(d.y + d.vy * t) * height).toFixed(1);
      return `<circle cx="${cx}" cy="${cy}" r="${(d.r * size).toFixed(1)}" fill="${d.color}" fill-opacity="${d.opacity.toFixed(2)}"/>`;
    })
    .join('');
  // Stripes span three times the frame so that, rotated, they still cover every corner.
  const stripeWidth = width / (scene.stripes * 2);
  const stripes = Array.from({ length: scene.stripes * 3 }, (_, i) => {
    const x = (i * 2 * stripeWidth - width).toFixed(1);
    return `<rect x="${x}" y="${-height}" width="${stripeWidth.toFixed(1)}" height="${height * 3}" fill="#fff" fill-opacity="0.08"/>`;
  }).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<defs><linearGradient id="g" gradientTransform="rotate(${scene.angle}, 0.5, 0.5)">` +
    `<stop offset="0" stop-color="${scene.from}"/><stop offset="1" stop-color="${scene.to}"/></linearGradient></defs>` +
    `<rect width="${width}" height="${height}" fill="url(#g)"/>` +
    `<g transform="rotate(${scene.angle % 45}, ${width / 2}, ${height / 2})">${stripes}</g>${discs}</svg>`
  );
}

/** The scene rendered by sharp (librsvg), opaque RGB. */
export function renderScene(scene: Scene, width: number, height: number, t = 0): Sharp {
  return sharp(Buffer.from(sceneSvg(scene, width, height, t)), { limitInputPixels: false }).removeAlpha();
}
