import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/*
 * The layout is the architecture (docs/ARCHITECTURE.md): one folder per domain, reached through its
 * index.ts; shared HTTP pieces in http/ below the domains; the pages (web/) and the command line
 * (cli/) on top. File-level cycles are madge's (`npm run check:cycles`); these are the folder rules.
 */

const SRC = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src');
/** The folders on top, which may use any domain; the top-level files (app.ts, services.ts, …) too. */
const ON_TOP = new Set(['web', 'cli']);

interface Import {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every relative import (static, re-export or dynamic) between files of src/, as paths under src/. */
function imports(): Import[] {
  return sourceFiles(SRC).flatMap((file) => {
    const text = fs.readFileSync(file, 'utf8');
    return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)]
      .map((match) => ({ from: path.relative(SRC, file), to: path.relative(SRC, path.resolve(path.dirname(file), match[1]!)) }))
      .filter((i) => !i.to.startsWith('..')); // package.json (the version) is no module of ours
  });
}

/** The domain folder of a path under src/ (`mail/graph-routes.ts` → `mail`); '' for a top-level file. */
const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : '');

const crossFolder = imports().filter((i) => folderOf(i.from) !== '' && folderOf(i.to) !== '' && folderOf(i.from) !== folderOf(i.to));

test('no domain imports the pages or the command line', () => {
  const wrong = crossFolder.filter((i) => !ON_TOP.has(folderOf(i.from)) && ON_TOP.has(folderOf(i.to)));
  assert.deepEqual(wrong, []);
});

test('a folder reaches another only through its index.ts', () => {
  const wrong = crossFolder.filter((i) => i.to !== `${folderOf(i.to)}/index.ts`);
  assert.deepEqual(wrong, []);
});

test('the folders import each other without a cycle', () => {
  const edges = new Map<string, Set<string>>();
  for (const i of crossFolder) {
    if (!edges.has(folderOf(i.from))) edges.set(folderOf(i.from), new Set());
    edges.get(folderOf(i.from))!.add(folderOf(i.to));
  }
  const cycles: string[] = [];
  const visit = (folder: string, trail: string[]) => {
    if (trail.includes(folder)) {
      cycles.push([...trail.slice(trail.indexOf(folder)), folder].join(' → '));
      return;
    }
    for (const next of edges.get(folder) ?? []) visit(next, [...trail, folder]);
  };
  for (const folder of edges.keys()) visit(folder, []);
  assert.deepEqual([...new Set(cycles)], []);
});
