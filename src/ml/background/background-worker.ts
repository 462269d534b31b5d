/** Entry point of the background-removal worker thread (started by loadBackgroundRemover in remover.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageInputError } from '../image-input.js';
import { ModelLoadError } from '../model-file.js';
import { OnnxModelSession } from '../onnx-runner.js';
import { convertCutout, removeBackground } from './remove.js';
import type { BackgroundWorkerReply, BackgroundWorkerRequest, BackgroundWorkerSetup } from './remover.js';

const port = parentPort!;
const setup = workerData as BackgroundWorkerSetup;
const reply = (message: BackgroundWorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let session: OnnxModelSession<BackgroundWorkerSetup['spec']> | null = null;
try {
  session = await OnnxModelSession.create(setup.spec, setup.intraOpNumThreads, setup.memory);
  reply({ type: 'ready' });
} catch (error) {
  const file = error instanceof ModelLoadError ? error.file : 'unknown';
  reply({ type: 'load-failed', file, message: (error as Error).message });
  port.close();
}

const segment = (input: Float32Array) => session!.run(input, 1);

port.on('message', async (request: BackgroundWorkerRequest) => {
  if (request.type === 'close') {
    await session?.release();
    port.close();
    return;
  }
  try {
    const result =
      request.type === 'remove'
        ? await removeBackground(request.file, request.options, { maxPixels: setup.maxPixels, segment })
        : await convertCutout(request.file, request.options, { maxPixels: setup.maxPixels });
    // sharp's output buffer may not be transferable (external memory); a copy of a few MB is.
    const bytes = Uint8Array.from(result.bytes);
    reply({ type: 'result', id: request.id, result: { ...result, bytes } }, [bytes.buffer]);
  } catch (error) {
    if (error instanceof ImageInputError) reply({ type: 'image-refused', id: request.id, reason: error.reason, message: error.message });
    else reply({ type: 'failed', id: request.id, message: (error as Error).message });
  }
});
