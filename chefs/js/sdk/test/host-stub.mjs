// `node --import ./sdk/test/host-stub.mjs`: lets Node load the SDK outside a
// component by resolving its one import, netdumplings:chef/host, to a stub
// that keeps the log lines in globalThis.chefLog.
import { register } from 'node:module';

globalThis.chefLog = [];
const stub = 'export function log(level, message) { globalThis.chefLog.push([level, message]); }';
register(
    'data:text/javascript,' +
        encodeURIComponent(`
export async function resolve(specifier, context, next) {
    if (specifier.startsWith('netdumplings:chef/host')) {
        return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(stub)}), shortCircuit: true };
    }
    return next(specifier, context);
}`),
);
