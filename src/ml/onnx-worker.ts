/** Entry point of one inference worker thread (started by createWorkerPoolRunner in onnx-runner.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageInputError } from './image-input.js';
import { ModelLoadError } from './model-file.js';
import { OnnxModelSession, packBatches, prepareFiles, readFiles, sessionKey, type WorkerReply, type WorkerRequest, type WorkerSetup } from './onnx-runner.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/** One session per model and version: a version being activated loads beside the one answering (see activate in onnx-runner.ts). */
const sessions = new Map<string, OnnxModelSession>();

/** Creates every model's session; on failure reports it, lets go of what did load and closes the port. */
async function loadSessions(): Promise<boolean> {
  try {
    for (const spec of setup.specs) sessions.set(sessionKey(spec.key, spec.version), await OnnxModelSession.create(spec, setup.intraOpNumThreads));
    reply({ type: 'ready' });
    return true;
  } catch (error) {
    const file = error instanceof ModelLoadError ? error.file : 'unknown';
    reply({ type: 'load-failed', file, message: (error as Error).message });
    await Promise.all([...sessions.values()].map((session) => session.release()));
    port.close();
    return false;
  }
}

type TaskRequest = Extract<WorkerRequest, { type: 'run' | 'prepare-and-run' | 'read-files' }>;

function sessionFor(request: TaskRequest): OnnxModelSession {
  const session = sessions.get(sessionKey(request.key, request.version));
  if (!session) throw new Error(`Version ${request.version} of model "${request.key}" is not loaded in this worker.`);
  return session;
}

async function runBatch(request: Exclude<TaskRequest, { type: 'read-files' }>): Promise<Float32Array> {
  const session = sessionFor(request);
  if (request.type === 'run') return session.run(request.input, request.count);
  // The pool sends at most MAX_BATCH files, so they pack into a single batch.
  const [batch] = packBatches(session.spec, await prepareFiles(session.spec, request.files, request.maxPixels));
  return session.run(batch!.input, batch!.count);
}

async function handle(request: WorkerRequest): Promise<void> {
  if (request.type === 'close') {
    await Promise.all([...sessions.values()].map((session) => session.release()));
    port.close();
    return;
  }
  if (request.type === 'load') {
    const name = sessionKey(request.spec.key, request.spec.version);
    try {
      const session = await OnnxModelSession.create(request.spec, setup.intraOpNumThreads);
      const replaced = sessions.get(name);
      sessions.set(name, session);
      await replaced?.release();
      reply({ type: 'loaded', loadId: request.loadId });
    } catch (error) {
      const file = error instanceof ModelLoadError ? error.file : 'unknown';
      reply({ type: 'load-refused', loadId: request.loadId, file, message: (error as Error).message });
    }
    return;
  }
  if (request.type === 'unload') {
    const name = sessionKey(request.key, request.version);
    const session = sessions.get(name);
    sessions.delete(name);
    await session?.release();
    return;
  }
  try {
    if (request.type === 'read-files') {
      const readings = await readFiles(sessionFor(request), request.files, request.maxPixels);
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
}

// A worker that could not load takes no requests: it has closed its port and ends.
if (await loadSessions()) port.on('message', handle);
