import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/**
 * `bin/photosync.js`, the command as installed: it runs the compiled build in dist/. Tests that start
 * it rebuild first when a source is newer than the build (`npm test` has just built it), so they
 * never exercise yesterday's code.
 */
export const PHOTOSYNC_BIN = path.join(ROOT, 'bin', 'photosync.js');

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

const builtMs = fs.existsSync(MAIN) ? fs.statSync(MAIN).mtimeMs : 0;
if (builtMs < newestSourceMs(path.join(ROOT, 'src'))) {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
}
