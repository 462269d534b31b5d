import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread whose entry module is `entry` (relative to `callerUrl`, without extension): the
 * compiled `.js` file in production, the `.ts` file under tsx. Node 20 does not carry tsx's loader into worker
 * threads, so under tsx (dev, tests) the worker registers it first.
 */
export function spawnModuleWorker(callerUrl: string, entry: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`${entry}.js`, callerUrl), { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const workerUrl = new URL(`${entry}.ts`, callerUrl).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(workerUrl)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
