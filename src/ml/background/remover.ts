/*
 * Why background removal has one worker thread of its own, running one job at a time (measured 2026-12-02 on the
 * shared 2-core dev box; figures in bench/README.md): a job is the whole removal (decode, method, U²-Net,
 * refinement, encode) and takes 0.2-0.6 s for a 0.3-1.4 MP image and 1.2-3.3 s at 12 MP. In the digit/signature
 * pool it would hold a worker that those quick requests need for seconds. A 12 MP job adds 140-290 MB at its peak
 * (full-size 8-bit planes, the guided filter's planes at 1024 px, sharp's buffers), so jobs wait in a FIFO queue
 * instead of running side by side. onnxruntime's pre-planned memory pattern is switched off: with it the u2netp
 * session alone held 579 MB RSS after warm-up runs in a bare process, without it 385 MB at the same speed (a
 * 12 MP photo job peaked at 905 MB against 715 MB); switching the arena off as well lowered the resting size but
 * not the peak (403 MB) and doubled the inference time. One onnxruntime thread: 290 ms per inference against
 * 190 ms with two, a small part of a job, and it leaves a core to the pool.
 */
import type { Worker } from 'node:worker_threads';
import { imageRefused, modelSpec, type SessionMemoryOptions, type SessionSpec } from '../onnx-runner.js';
import type { ImageRejection } from '../image-input.js';
import { maskModelCardSchema, ModelLoadError, readModelFile, type MaskModelCard } from '../model-file.js';
import { spawnModuleWorker } from '../worker-thread.js';
import { resolveOptions, type BackgroundOptions, type BackgroundResult, type ResolvedOptions } from './options.js';
import { U2NET_SIZE } from './photo.js';

/** Thrown when MAX_QUEUED jobs are already waiting: the caller should ask the user to try again shortly. */
export class RemoverBusyError extends Error {
  constructor() {
    super('Background removal is busy with other images. Please try again in a minute.');
    this.name = 'RemoverBusyError';
  }
}

/** Jobs waiting beyond the running one. Each holds its image's bytes, so an endless queue would be endless memory. */
export const MAX_QUEUED = 8;

export interface BackgroundRemover {
  /** The model card's version of u2netp.json, for /ready. */
  readonly version: string;
  remove(image: Uint8Array, options: BackgroundOptions): Promise<BackgroundResult>;
  /** An external provider's transparent PNG cut-out turned into the requested output ('transparent' re-encodes as PNG, 'color' composites, 'mask' extracts alpha). */
  fromCutout(cutout: Uint8Array, options: Pick<BackgroundOptions, 'output' | 'color'>): Promise<BackgroundResult>;
  /** Finishes accepted jobs, then stops its worker. */
  close(): Promise<void>;
}

export interface BackgroundRemoverOptions {
  /** The folder with u2netp.onnx and u2netp.json. */
  modelsDir: string;
  /** Files with more pixels are refused (too_many_pixels) before they are decoded. */
  maxPixels: number;
  /** onnxruntime threads in the background worker; default 1 (see the note at the top). */
  intraOpNumThreads?: number;
  /** onnxruntime memory settings; default: arena on, memory pattern off (see the note at the top). For bench/background.ts. */
  memory?: SessionMemoryOptions;
  /** The worker (and its few hundred MB) is stopped after this long without a job, and started again for the next one. */
  idleReleaseMs?: number;
}

/** Background removal is occasional; a restart costs about a second, holding the worker costs memory all day. */
export const IDLE_RELEASE_MS = 2 * 60 * 1000;

export const BACKGROUND_MODEL = 'u2netp';
const DEFAULT_MEMORY: SessionMemoryOptions = { enableCpuMemArena: true, enableMemPattern: false };

/** Messages between the remover and background-worker.ts. */
export type BackgroundWorkerRequest =
  | { type: 'remove'; id: number; file: Uint8Array; options: ResolvedOptions }
  | { type: 'cutout'; id: number; file: Uint8Array; options: Pick<ResolvedOptions, 'output' | 'color'> }
  | { type: 'close' };
export type BackgroundWorkerReply =
  | { type: 'ready' }
  | { type: 'load-failed'; file: string; message: string }
  | { type: 'result'; id: number; result: BackgroundResult }
  | { type: 'image-refused'; id: number; reason: ImageRejection; message: string }
  | { type: 'failed'; id: number; message: string };
export interface BackgroundWorkerSetup {
  spec: SessionSpec;
  intraOpNumThreads: number;
  memory: SessionMemoryOptions;
  maxPixels: number;
}

type JobRequest = Exclude<BackgroundWorkerRequest, { type: 'close' }>;
interface Job {
  request: JobRequest;
  resolve: (result: BackgroundResult) => void;
  reject: (error: Error) => void;
}

/** The network's contract is fixed in photo.ts (320x320 in, one 320x320 map out); the card must say the same. */
function checkContract(card: MaskModelCard, displayPath: string): void {
  const input = JSON.stringify(card.input.shape);
  const output = JSON.stringify(card.output.shape);
  const expectedInput = JSON.stringify([1, 3, U2NET_SIZE, U2NET_SIZE]);
  const expectedOutput = JSON.stringify([1, 1, U2NET_SIZE, U2NET_SIZE]);
  if (input !== expectedInput || output !== expectedOutput) {
    throw new ModelLoadError(
      displayPath,
      `The card of ${displayPath} gives input ${input} and output ${output}; background removal needs ${expectedInput} and ${expectedOutput}.`,
    );
  }
}

function startWorker(setup: BackgroundWorkerSetup): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = spawnModuleWorker(import.meta.url, './background-worker', setup);
    const onMessage = (reply: BackgroundWorkerReply) => {
      worker.off('error', onError).off('exit', onExit).off('message', onMessage);
      if (reply.type === 'ready') resolve(worker);
      else if (reply.type === 'load-failed') reject(new ModelLoadError(reply.file, reply.message));
      else reject(new Error(`The background worker sent ${reply.type} before it was ready.`));
    };
    const onError = (error: Error) => {
      worker.off('exit', onExit).off('message', onMessage);
      reject(error);
    };
    const onExit = (code: number) => {
      worker.off('error', onError).off('message', onMessage);
      reject(new Error(`The background worker exited with code ${code} while loading ${setup.spec.displayPath}.`));
    };
    worker.on('message', onMessage).once('error', onError).once('exit', onExit);
  });
}

/**
 * Loads models/u2netp.onnx (sha256 checked against models/u2netp.json) and starts the background worker, which
 * creates the session and warms it up. Jobs run one at a time in arrival order. If the worker dies (out of
 * memory, a crash in native code), the job it held fails and the next job starts a fresh worker. The worker also
 * stops after idleReleaseMs without a job (its memory goes back to the system) and starts again for the next one.
 */
export async function loadBackgroundRemover(options: BackgroundRemoverOptions): Promise<BackgroundRemover> {
  if (!(options.maxPixels > 0) || !Number.isFinite(options.maxPixels)) throw new RangeError(`maxPixels must be a positive number; got ${options.maxPixels}.`);
  const file = await readModelFile(options.modelsDir, BACKGROUND_MODEL, maskModelCardSchema);
  checkContract(file.card, file.displayPath);
  const setup: BackgroundWorkerSetup = {
    spec: modelSpec(BACKGROUND_MODEL, file),
    intraOpNumThreads: Math.max(1, options.intraOpNumThreads ?? 1),
    memory: options.memory ?? DEFAULT_MEMORY,
    maxPixels: Math.floor(options.maxPixels),
  };

  let worker: Worker | null = null;
  let starting = false;
  let current: Job | null = null;
  const queue: Job[] = [];
  let nextId = 1;
  let closing: Promise<void> | null = null;
  let idleWaiters: (() => void)[] = [];

  const attach = (started: Worker) => {
    started.on('message', (reply: BackgroundWorkerReply) => {
      const job = current;
      if (!job || !('id' in reply) || reply.id !== job.request.id) return;
      current = null;
      if (reply.type === 'result') job.resolve(reply.result);
      else if (reply.type === 'image-refused') job.reject(imageRefused(reply.reason, reply.message));
      else job.reject(new Error(`Background removal failed: ${reply.message}`));
      pump();
    });
    // An uncaught error in the worker is followed by its exit; the exit handler cleans up.
    started.on('error', () => {});
    started.once('exit', (code) => {
      if (worker === started) worker = null;
      const lost = current;
      current = null;
      lost?.reject(new Error(`The background worker stopped (exit code ${code}) during this job.`));
      pump();
    });
    worker = started;
  };

  let idleTimer: NodeJS.Timeout | null = null;
  const releaseWhenIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idleTimer = null;
      const idle = worker;
      if (!idle || current || queue.length > 0 || closing) return;
      worker = null;
      idle.postMessage({ type: 'close' } satisfies BackgroundWorkerRequest);
    }, options.idleReleaseMs ?? IDLE_RELEASE_MS).unref();
  };

  const pump = () => {
    if (current || queue.length === 0) {
      if (!current && queue.length === 0) {
        for (const wake of idleWaiters) wake();
        idleWaiters = [];
        releaseWhenIdle();
      }
      return;
    }
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    if (!worker) {
      if (starting) return;
      starting = true;
      startWorker(setup).then(
        (started) => {
          starting = false;
          attach(started);
          pump();
        },
        (error: Error) => {
          starting = false;
          for (const job of queue.splice(0)) job.reject(error);
          pump();
        },
      );
      return;
    }
    current = queue.shift()!;
    // The file's bytes were copied into a buffer of their own (see enqueue), so they can be moved, not copied again.
    worker.postMessage(current.request, [current.request.file.buffer as ArrayBuffer]);
  };

  const enqueue = (request: JobRequest) =>
    new Promise<BackgroundResult>((resolve, reject) => {
      if (queue.length >= MAX_QUEUED) throw new RemoverBusyError();
      queue.push({ request, resolve, reject });
      pump();
    });

  /** A private copy: the caller's buffer may be a slice of a shared pool (multer, Buffer.from), which must not be detached. */
  const own = (bytes: Uint8Array) => {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('The image must be a Uint8Array (or Buffer).');
    return Uint8Array.from(bytes);
  };
  const checkOpen = () => {
    if (closing) throw new Error('The background remover is closed.');
  };

  attach(await startWorker(setup));
  releaseWhenIdle();

  return {
    version: file.card.version,
    async remove(image, removeOptions) {
      checkOpen();
      const resolved = resolveOptions(removeOptions);
      return enqueue({ type: 'remove', id: nextId++, file: own(image), options: resolved });
    },
    async fromCutout(cutout, cutoutOptions) {
      checkOpen();
      const { output, color } = resolveOptions({ ...cutoutOptions, mode: 'photo' });
      return enqueue({ type: 'cutout', id: nextId++, file: own(cutout), options: { output, color } });
    },
    close() {
      if (idleTimer) clearTimeout(idleTimer);
      closing ??= (async () => {
        if (current || queue.length > 0) await new Promise<void>((wake) => idleWaiters.push(wake));
        const running = worker;
        if (!running) return;
        await new Promise<void>((resolve) => {
          running.once('exit', () => resolve());
          running.postMessage({ type: 'close' } satisfies BackgroundWorkerRequest);
        });
      })();
      return closing;
    },
  };
}
