import { generateCameraPhotos } from './bench-photos.ts';
import { benchReads, type LoadResult } from './read-throughput.ts';
import { benchSync } from './sync-throughput.ts';
import { benchUploads } from './upload-throughput.ts';

// Each figure is measured against its own baseline in this same run, so the ratios hold on any machine.
const uploads = Number(process.env.BENCH_UPLOADS ?? 24);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);

const ratio = (value: number, goal: number) => `${value.toFixed(2)}× (goal ≥ ${goal}×) ${value >= goal ? 'ok' : 'BELOW GOAL'}`;
const rps = (r: LoadResult) =>
  `${Math.round(r.requestsPerSecond).toLocaleString('en')} req/s, server CPU ${r.cpuMicrosPerRequest.toFixed(0)} µs/request, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}`;

console.log(`photosync benchmark — node ${process.version}, ${uploads} uploads, ${seconds} s per load round\n`);

console.log(`Generating ${uploads} distinct 12 MP JPEGs…`);
const photos = await generateCameraPhotos(uploads);
const averageKb = photos.reduce((sum, p) => sum + p.length, 0) / photos.length / 1024;
const upload = await benchUploads(photos);
console.log(`\nUploads (12 MP JPEG, avg ${averageKb.toFixed(0)} KB, 2 in flight)`);
console.log(`  raw sharp, same cascade:   ${upload.rawSharpPerSecond.toFixed(2)} photos/s`);
console.log(`  PUT …/photo/$value (HTTP): ${upload.uploadsPerSecond.toFixed(2)} photos/s`);
console.log(`  ratio:                     ${ratio(upload.ratio, 0.8)}`);
console.log(`  RSS of this process (server, client and the test photos): ${upload.startRssMb.toFixed(0)} MB before the upload run, ${upload.peakRssMb.toFixed(0)} MB at its peak`);

const sync = await benchSync({ people: 40, noOpChecks: 500 });
console.log('\nSync, Mail 648 → Sites S/M/L (one at a time)');
console.log(`  raw sharp 648 → S/M/L:     ${sync.rawSharpPerSecond.toFixed(1)} /s`);
console.log(`  syncProfilePhoto:          ${sync.syncsPerSecond.toFixed(1)} /s (fetch, render, one-transaction swap, run recorded)`);
console.log(`  ratio:                     ${ratio(sync.ratio, 0.8)}`);
console.log(`  no-op check (ETag equal):  ${sync.noOpCheckMicros.toFixed(0)} µs each`);

const reads = await benchReads({ seconds, connections: 10, rounds: 7 });
console.log('\nHot reads (server in a child process with LOG_LEVEL=warn; autocannon, 10 connections; median of 7 alternating rounds)');
console.log(`  GET …/photos/48x48/$value: ${rps(reads.graph48)}`);
console.log(`  bare node:http, same bytes: ${rps(reads.graph48Bare)}`);
console.log(`  ratio:                     ${ratio(reads.graph48.requestsPerSecond / reads.graph48Bare.requestsPerSecond, 0.8)}`);
console.log(`  GET userphoto.aspx?size=S: ${rps(reads.userPhotoS)}`);
console.log(`  bare node:http, same bytes: ${rps(reads.userPhotoSBare)}`);
console.log(`  ratio:                     ${ratio(reads.userPhotoS.requestsPerSecond / reads.userPhotoSBare.requestsPerSecond, 0.8)}`);
