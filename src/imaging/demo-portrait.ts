import { boundedSharp, withinTimeLimit } from './bounded-sharp.ts';

/** A small deterministic generator, so each person's scene is the same at every start. */
function seeded(text: string): () => number {
  let state = 2166136261;
  for (const ch of text) state = Math.imul(state ^ ch.charCodeAt(0), 16777619);
  return () => {
    state = Math.imul(state ^ (state >>> 15), 2246822507);
    state = Math.imul(state ^ (state >>> 13), 3266489909);
    return ((state ^= state >>> 16) >>> 0) / 4294967296;
  };
}

/**
 * A generated photo for demos: a landscape in strong colours (a sky in the person's hue, a sun, hills),
 * different per person and plainly unlike the initials placeholder, so a demo
 * shows at a glance whether Sites has a photo or only initials.
 */
export async function drawDemoPortrait(options: { initials: string; hue: number; size?: number }): Promise<Buffer> {
  const size = options.size ?? 720;
  const random = seeded(`${options.initials}:${options.hue}`);
  const hue = options.hue;
  const hill = (index: number) => {
    const base = 55 + index * 14;
    const points = Array.from({ length: 6 }, (_, i) => `${i * 20},${(base + (random() - 0.5) * 18).toFixed(1)}`).join(' ');
    const light = 42 - index * 9;
    return `<polygon points="0,100 ${points} 100,${(base + (random() - 0.5) * 18).toFixed(1)} 100,100" fill="hsl(${(hue + 120 + index * 25) % 360},60%,${light}%)"/>`;
  };
  const sunX = (20 + random() * 60).toFixed(1);
  const sunY = (18 + random() * 20).toFixed(1);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 100 100">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="hsl(${hue},80%,38%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},90%,72%)"/>
    </linearGradient></defs>
    <rect width="100" height="100" fill="url(#sky)"/>
    <circle cx="${sunX}" cy="${sunY}" r="${(9 + random() * 6).toFixed(1)}" fill="hsl(${(hue + 180) % 360},95%,70%)"/>
    ${hill(0)}
    ${hill(1)}${hill(2)}
  </svg>`;
  return withinTimeLimit(boundedSharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer());
}
