export { runCli } from './program.ts';
export { EXIT, type CliIo } from './cli-io.ts';
