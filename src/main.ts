import { runCli } from './cli/index.ts';

// The process entry: the only place (with cli/) that touches process.env, argv and the exit code.
const code = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
process.exitCode = code;
