// Runs a wasm32-wasi command under node's WASI: node run-wasi.mjs FILE.wasm DIR [ARGS...]
// DIR is visible to the program as /data.
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [file, dir, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, preopens: { '/data': dir } });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
