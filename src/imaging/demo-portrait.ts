import { boundedSharp, withinTimeLimit } from './bounded-sharp.ts';

/** A generated portrait (a coloured backdrop, a head and shoulders, initials) for demos and tests. */
export async function drawDemoPortrait(options: { initials: string; hue: number; size?: number }): Promise<Buffer> {
  const size = options.size ?? 720;
  const initials = options.initials.replace(/[^A-Za-z]/g, '').slice(0, 2).toUpperCase();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 100 100">
    <rect width="100" height="100" fill="hsl(${options.hue},55%,55%)"/>
    <circle cx="50" cy="40" r="18" fill="hsl(${options.hue},30%,85%)"/>
    <ellipse cx="50" cy="95" rx="34" ry="28" fill="hsl(${options.hue},30%,85%)"/>
    <text x="50" y="46" font-family="sans-serif" font-size="16" font-weight="bold" text-anchor="middle" fill="hsl(${options.hue},55%,30%)">${initials}</text>
  </svg>`;
  return withinTimeLimit(boundedSharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer());
}
