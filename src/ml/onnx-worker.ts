/** Entry point of one inference worker thread (started by createWorkerPoolRunner in onnx-runner.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageInputError } from './image-input.js';
import { ModelLoadError } from './model-file.js';
import { OnnxModelSession, packBatches, prepareFiles, readFiles, type WorkerReply, type WorkerRequest, type WorkerSetup } from './onnx-runner.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

const sessions = new Map<string, OnnxModelSession>();
try {
  for (const spec of setup.specs) sessions.set(spec.key, await OnnxModelSession.create(spec, setup.intraOpNumThreads));
  reply({ type: 'ready' });
} catch (error) {
  const file = error instanceof ModelLoadError ? error.file : 'unknown';
  reply({ type: 'load-failed', file, message: (error as Error).message });
  await Promise.all([...sessions.values()].map((session) => session.release()));
  port.close();
}

async function runBatch(request: Exclude<WorkerRequest, { type: 'close' | 'read-files' }>): Promise<Float32Array> {
  const session = sessions.get(request.key)!;
  if (request.type === 'run') return session.run(request.input, request.count);
  // The pool sends at most MAX_BATCH files, so they pack into a single batch.
  const [batch] = packBatches(session.spec, await prepareFiles(request.key, request.files, request.maxPixels));
  return session.run(batch!.input, batch!.count);
}

port.on('message', async (request: WorkerRequest) => {
  if (request.type === 'close') {
    await Promise.all([...sessions.values()].map((session) => session.release()));
    port.close();
    return;
  }
  try {
    if (request.type === 'read-files') {
      const readings = await readFiles(sessions.get(request.key)!, request.files, request.maxPixels);
      const buffers = readings.flatMap((reading) => ('output' in reading ? [reading.output.buffer, reading.input.buffer] : []));
      reply({ type: 'readings', id: request.id, readings }, [...new Set(buffers)] as ArrayBuffer[]);
      return;
    }
    const output = await runBatch(request);
    reply({ type: 'result', id: request.id, output }, [output.buffer as ArrayBuffer]);
  } catch (error) {
    if (error instanceof ImageInputError) reply({ type: 'image-refused', id: request.id, reason: error.reason, message: error.message });
    else reply({ type: 'failed', id: request.id, message: (error as Error).message });
  }
});
