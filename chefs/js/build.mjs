#!/usr/bin/env node
// Builds the JavaScript chefs into WebAssembly components (build.sh runs this).
//
//     node build.mjs [--out DIR] [CHEF ...]
//
// Every directory here is a chef (`packet-count/chef.js`), but sdk/,
// template/, node_modules/ and hidden ones; CHEF names some of them
// (default: all). For each chef:
//
// 1. rolldown bundles chef.js and the SDK into one ES module
//    (componentize-js takes a single source file);
// 2. componentize-js embeds it in StarlingMonkey (SpiderMonkey compiled to
//    wasm), pre-initialised with wizer, as a component of the `chef` world of
//    wit/chef.wit, written to DIR/<directory, - replaced by _>.wasm.
//
// DIR defaults to $CARGO_TARGET_DIR/polyglot/js, CARGO_TARGET_DIR to
// <repo>/target. Bundles, stamps and componentize-js' scratch files go to
// $CARGO_TARGET_DIR/polyglot/js-build. A chef whose bundle, WIT and
// toolchain are unchanged since its last build is not rebuilt (~12 s each).
//
// Every WASI feature of the engine is disabled, so a component imports
// nothing but netdumplings:chef/host (no clocks, random, stdio, HTTP): a
// chef logs with the SDK's log(), and has no console.log or Date.now.
// (`jco componentize` cannot be used instead: its WASI shim fails to read
// the .wit files, "failed to get path metadata".)

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const witPath = join(repo, 'wit');
const worldName = 'chef';
const disableFeatures = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];
/** The only imports a chef may have; the bundler leaves them to componentize-js. */
const HOST_IMPORTS = /^netdumplings:chef\//;
/** Directories that are not chefs. */
const NOT_CHEFS = new Set(['sdk', 'template', 'node_modules']);

function packageVersion(name) {
    return JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
}

function sha256(...parts) {
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest('hex');
}

function witText() {
    return readdirSync(witPath)
        .filter((f) => f.endsWith('.wit'))
        .sort()
        .map((f) => `${f}\n${readFileSync(join(witPath, f), 'utf8')}`)
        .join('\n');
}

async function bundle(build, entry, outFile) {
    await build({
        input: entry,
        external: [HOST_IMPORTS],
        logLevel: 'warn',
        output: { file: outFile, format: 'esm', minify: false, sourcemap: false },
    });
    return readFile(outFile, 'utf8');
}

async function main(argv) {
    const target = resolve(process.env.CARGO_TARGET_DIR || join(repo, 'target'));
    let out = join(target, 'polyglot', 'js');
    const wanted = [];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--out') out = resolve(argv[++i]);
        else if (argv[i] === '--help' || argv[i] === '-h') {
            console.log('usage: build.sh [--out DIR] [CHEF ...]');
            return;
        } else wanted.push(argv[i]);
    }
    const work = join(target, 'polyglot', 'js-build');
    await mkdir(out, { recursive: true });
    await mkdir(join(work, 'tmp'), { recursive: true });
    // componentize-js works in os.tmpdir(): keep that under target/ too.
    process.env.TMPDIR = join(work, 'tmp');

    const all = readdirSync(here)
        .filter((d) => !d.startsWith('.') && !NOT_CHEFS.has(d) && statSync(join(here, d)).isDirectory())
        .sort();
    const unknown = wanted.filter((w) => !all.includes(w));
    if (unknown.length > 0) throw new Error(`no such chef: ${unknown.join(', ')} (chefs: ${all.join(', ')})`);
    for (const dir of all) {
        if (!existsSync(join(here, dir, 'chef.js'))) throw new Error(`${dir}/chef.js missing (every folder here but sdk/ and template/ is a chef)`);
    }

    const { build } = await import('rolldown');
    const { componentize } = await import('@bytecodealliance/componentize-js');
    const toolchain = JSON.stringify({
        componentizeJs: packageVersion('@bytecodealliance/componentize-js'),
        rolldown: packageVersion('rolldown'),
        worldName,
        disableFeatures,
    });
    const wit = witText();

    for (const dir of wanted.length > 0 ? wanted : all) {
        const name = dir.replaceAll('-', '_');
        const bundlePath = join(work, `${name}.js`);
        const stampPath = join(work, `${name}.stamp`);
        const wasm = join(out, `${name}.wasm`);
        const source = await bundle(build, join(here, dir, 'chef.js'), bundlePath);
        const inputs = sha256(source, '\0', wit, '\0', toolchain);
        const stamp = existsSync(stampPath) ? JSON.parse(readFileSync(stampPath, 'utf8')) : {};
        if (stamp.inputs === inputs && existsSync(wasm) && stamp.output === sha256(readFileSync(wasm))) {
            console.log(`js: ${name}.wasm up to date`);
            continue;
        }
        const started = Date.now();
        const { component, imports } = await componentize({ sourcePath: bundlePath, witPath, worldName, disableFeatures });
        // Anything but the host interface would be a WASI import the kitchen grants nothing for.
        const stray = imports.filter(([iface]) => !HOST_IMPORTS.test(iface));
        if (stray.length > 0) throw new Error(`${dir}: unexpected imports ${JSON.stringify(stray)}`);
        await writeFile(`${wasm}.tmp`, component);
        await rename(`${wasm}.tmp`, wasm);
        await writeFile(stampPath, JSON.stringify({ inputs, output: sha256(component) }) + '\n');
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        console.log(`js: ${name}.wasm (${(component.length / 1e6).toFixed(1)} MB, ${secs} s)`);
    }
}

main(process.argv.slice(2)).catch((e) => {
    console.error(`chefs/js/build: ${e?.message ?? e}`);
    process.exit(1);
});
