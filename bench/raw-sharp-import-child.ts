// The bulk-import baseline, run as its own process like the CLI import: every file of a folder
// read and put through the same cascade straight on sharp, N in flight. Prints {files, seconds}.
import fs from 'node:fs/promises';
import path from 'node:path';
import { rawSharpCascade, throughput } from './bench-photos.ts';

const [dir, inFlightArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: raw-sharp-import-child.ts <folder> [in flight]');
const inFlight = Number(inFlightArg ?? 2);
const names = (await fs.readdir(dir)).filter((name) => !name.startsWith('.')).sort();
const started = performance.now();
await throughput(names, inFlight, async (name) => rawSharpCascade(await fs.readFile(path.join(dir, name))));
process.stdout.write(`${JSON.stringify({ files: names.length, seconds: (performance.now() - started) / 1000 })}\n`);
