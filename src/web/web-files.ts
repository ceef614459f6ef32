import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the pages' static files live: `src/web` of the installed package, the same whether this code
 * runs from the sources (tsx) or from the compiled bundle in `dist/`, whose modules sit elsewhere.
 */
export const WEB_FILES_DIR = path.join(packageRoot(), 'src', 'web');

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`photosync's package.json was not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}
