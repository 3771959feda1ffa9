// `node --import ./sdk/test/host-stub.mjs`: lets Node load the SDK outside a
// component by resolving its imports to stubs: netdumplings:chef/host keeps
// the log lines in globalThis.chefLog; netdumplings:chef/scapy answers with
// globalThis.scapyTable (the names) and globalThis.scapyBatch ({ starts,
// ids }: the names of the batch a test hands over).
import { register } from 'node:module';

globalThis.chefLog = [];
globalThis.scapyTable = [];
globalThis.scapyBatch = { starts: [0], ids: [] };
const stubs = {
    'netdumplings:chef/host': 'export function log(level, message) { globalThis.chefLog.push([level, message]); }',
    'netdumplings:chef/scapy':
        'export function names() { return globalThis.scapyTable; }\n' +
        'export function nameBatch() { return globalThis.scapyBatch; }',
};
register(
    'data:text/javascript,' +
        encodeURIComponent(`
export async function resolve(specifier, context, next) {
    const stubs = ${JSON.stringify(stubs)};
    for (const [name, source] of Object.entries(stubs)) {
        if (specifier.startsWith(name)) {
            return { url: 'data:text/javascript,' + encodeURIComponent(source), shortCircuit: true };
        }
    }
    return next(specifier, context);
}`),
);
