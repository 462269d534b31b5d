/** Entry point of one inference worker thread (started by createWorkerPoolRunner in onnx-runner.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { ModelLoadError } from './model-file.js';
import { OnnxModelSession, type WorkerReply, type WorkerRequest, type WorkerSetup } from './onnx-runner.js';

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

port.on('message', async (request: WorkerRequest) => {
  if (request.type === 'close') {
    await Promise.all([...sessions.values()].map((session) => session.release()));
    port.close();
    return;
  }
  try {
    const output = await sessions.get(request.key)!.run(request.input, request.count);
    reply({ type: 'result', id: request.id, output }, [output.buffer as ArrayBuffer]);
  } catch (error) {
    reply({ type: 'failed', id: request.id, message: (error as Error).message });
  }
});
