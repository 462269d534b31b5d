import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { prepareDigit } from './digit-image.js';
import { ImageInputError, type DecodeOptions, type ImageRejection } from './image-input.js';
import { ModelLoadError, type AnyModelCard, type ModelFile } from './model-file.js';
import { prepareSignature, signatureFitOf, type SignatureFit } from './signature-image.js';
import { spawnModuleWorker } from './worker-thread.js';

/*
 * Why preparation and inference run in worker threads (measured 2026-11-24 on the shared 2-core dev box, AMD EPYC,
 * onnxruntime-node 1.30; figures in bench/README.md): InferenceSession.run() only defers to setImmediate and then
 * runs the graph synchronously on the calling thread, so an inference holds the event loop for its whole length.
 * On the main thread the longest event-loop stall was 27-34 ms for single signatures (p50 4.6 ms per image) and
 * 240-270 ms for a batch of 32, 14 ms for single digits and 38-40 ms for a batch of 32 digits: far above the 2 ms
 * budget. prepareDigit / prepareSignature also compute in JavaScript (p50 15-20 ms per image, stalls of 12-40 ms).
 * So both models run in one pool of workers, and the *Files methods prepare there too. With the pool the longest
 * stalls were 5-25 ms, where an idle process on the same busy box (load ~3.5 from other jobs) saw 5-11 ms: the box's
 * noise, not the models, which that box cannot resolve below ~10 ms. Pool size: workers = cores, one
 * onnxruntime thread each; one worker with two threads gave lower throughput (50 vs 74-83 signatures/s).
 * The main-thread runner stays for the benchmark that makes this comparison.
 */

/** Large requests are cut into batches of at most this many images so one request cannot hog a worker for long. */
export const MAX_BATCH = 64;

/** How long close() waits for a worker to end by itself after its last task; releasing sessions takes ~0.1 s. */
const CLOSE_GRACE_MS = 10_000;

export type ModelKey = 'digits' | 'signatures';

/** How each model's input is made from an uploaded file (the functions named in the model cards). */
const preparers: Record<ModelKey, (bytes: Uint8Array, options: DecodeOptions, spec: ModelSpec) => Promise<Float32Array>> = {
  digits: prepareDigit,
  signatures: (bytes, options, spec) => prepareSignature(bytes, { ...options, fit: spec.signatureFit }),
};

/** Prepares every file for one model version; when several are refused, the error is the first refused file's, in order. */
export async function prepareFiles(spec: ModelSpec, files: Uint8Array[], maxPixels: number): Promise<Float32Array[]> {
  const settled = await Promise.allSettled(files.map((file) => preparers[spec.key](file, { maxPixels }, spec)));
  const refused = settled.find((result) => result.status === 'rejected');
  if (refused) throw refused.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<Float32Array>).value);
}

/** One file's outcome in readFiles: the model's output row and the input it was given, or why the file was refused. */
export type FileReading = { output: Float32Array; input: Float32Array } | { refused: ImageRejection; message: string };

/**
 * Prepares every file and runs the accepted ones as one batch (at most MAX_BATCH files); a refused file gets its
 * reason and does not fail the others. A failure that is not a refusal (a bug, a broken model) still throws.
 */
export async function readFiles(session: OnnxModelSession, files: Uint8Array[], maxPixels: number): Promise<FileReading[]> {
  const prepared = await Promise.allSettled(files.map((file) => preparers[session.spec.key](file, { maxPixels }, session.spec)));
  const inputs: Float32Array[] = [];
  for (const result of prepared) {
    if (result.status === 'fulfilled') inputs.push(result.value);
    else if (!(result.reason instanceof ImageInputError)) throw result.reason;
  }
  const [batch] = packBatches(session.spec, inputs);
  const outputs = batch ? splitRows(await session.run(batch.input, batch.count), batch.count) : [];
  let next = 0;
  return prepared.map((result) => {
    if (result.status === 'rejected') return { refused: (result.reason as ImageInputError).reason, message: (result.reason as ImageInputError).message };
    const at = next++;
    return { output: outputs[at]!, input: inputs[at]! };
  });
}

/** What an ONNX session needs to know about one model. Plain data, so it can be sent to a worker. */
export interface SessionSpec {
  /** Names the model in messages. */
  key: string;
  bytes: Uint8Array;
  displayPath: string;
  inputName: string;
  outputName: string;
  /** Shape of one input image without the batch dimension, e.g. [1, 28, 28]. */
  sampleShape: number[];
  /** Signature models only: how prepareSignature fits the ink into the input (the card's preprocessing.fit). */
  signatureFit?: SignatureFit;
}

/** A model of the worker pool: one version of one model. */
export interface ModelSpec extends SessionSpec {
  key: ModelKey;
  /** The card's version; a worker holds a session per model and version while requests still need it. */
  version: string;
}

/** How workers name a model's session: one per model and version. */
export const sessionKey = (key: ModelKey, version: string) => `${key}@${version}`;

export function modelSpec<Key extends string>(key: Key, file: ModelFile<AnyModelCard>): SessionSpec & { key: Key } {
  return {
    key,
    bytes: file.bytes,
    displayPath: file.displayPath,
    inputName: file.card.input.name,
    outputName: file.card.output.name,
    sampleShape: sampleShapeOf(file.card, file.displayPath),
    // checkModelCard has refused an unknown fit before any signature card gets here.
    ...(key === 'signatures' ? { signatureFit: signatureFitOf(file.card) } : {}),
  };
}

function sampleShapeOf(card: AnyModelCard, displayPath: string): number[] {
  const [, ...rest] = card.input.shape;
  if (!rest.every((dim): dim is number => typeof dim === 'number')) {
    throw new ModelLoadError(displayPath, `The card of ${displayPath} must give every input dimension but the batch as a number, got ${JSON.stringify(card.input.shape)}.`);
  }
  return rest;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * onnxruntime memory settings. Its defaults (a memory arena and a pre-planned memory pattern) suit the small
 * models; the background model turns the pattern off to bound its memory (see src/ml/background/remover.ts).
 */
export interface SessionMemoryOptions {
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
}

/** One ONNX session, created once and warmed up; runs on whichever thread creates it. */
export class OnnxModelSession<Spec extends SessionSpec = ModelSpec> {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: Spec,
  ) {}

  static async create<Spec extends SessionSpec>(spec: Spec, intraOpNumThreads: number, memory: SessionMemoryOptions = {}): Promise<OnnxModelSession<Spec>> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(spec.bytes, { intraOpNumThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all', ...memory });
    } catch (error) {
      throw new ModelLoadError(spec.displayPath, `${spec.displayPath} is not a loadable ONNX model: ${(error as Error).message}`, { cause: error });
    }
    if (!session.inputNames.includes(spec.inputName) || !session.outputNames.includes(spec.outputName)) {
      await session.release();
      throw new ModelLoadError(
        spec.displayPath,
        `${spec.displayPath} has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], ` +
          `but its card promises input "${spec.inputName}" and output "${spec.outputName}".`,
      );
    }
    const model = new OnnxModelSession(session, spec);
    // The first run allocates buffers and picks kernels; pay for it at start-up rather than on the first request.
    try {
      await model.run(new Float32Array(sizeOf(spec.sampleShape)), 1);
    } catch (error) {
      await session.release();
      throw new ModelLoadError(spec.displayPath, `${spec.displayPath} failed its warm-up inference: ${(error as Error).message}`, { cause: error });
    }
    return model;
  }

  /** Runs `count` images laid out back to back in `input`; returns the output rows back to back. */
  async run(input: Float32Array, count: number): Promise<Float32Array> {
    const tensor = new ort.Tensor('float32', input, [count, ...this.spec.sampleShape]);
    const results = await this.session.run({ [this.spec.inputName]: tensor });
    const output = results[this.spec.outputName]!;
    // Copy: the result tensor's memory belongs to onnxruntime, and the copy can be transferred to another thread.
    return Float32Array.from(output.data as Float32Array);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** What a runner answers with: the output and the version of the model that made it. */
export interface Answer<T> {
  version: string;
  value: T;
}

/**
 * Runs batches through the models; the interface the model objects in index.ts use. Each call runs on the
 * version that was active when it was made, even if another is activated while it waits or runs.
 */
export interface InferenceRunner {
  /** Each input is one image of the model's sample shape; returns one output row per input, in order. */
  run(modelKey: ModelKey, images: Float32Array[]): Promise<Answer<Float32Array[]>>;
  /** Prepares uploaded image files as the model's card says, then runs them; throws ImageInputError for a refused file. */
  runFiles(modelKey: ModelKey, files: Uint8Array[], maxPixels: number): Promise<Answer<Float32Array[]>>;
  /** Like runFiles, but each file gets its own outcome: a refused file does not fail the others. */
  readFiles(modelKey: ModelKey, files: Uint8Array[], maxPixels: number): Promise<Answer<FileReading[]>>;
  /** The version new calls run on. */
  activeVersion(modelKey: ModelKey): string;
  /**
   * Loads `spec` (another version of one of the runner's models) wherever inference runs, warms it up, and only
   * then makes it the version new calls run on; calls already made finish on their version, whose sessions are
   * released once they are done. If loading fails anywhere, nothing changes and the ModelLoadError says why.
   */
  activate(spec: ModelSpec): Promise<void>;
  close(): Promise<void>;
}

export interface RunnerOptions {
  /** Worker threads; default: the number of cores. */
  workers?: number;
  /** onnxruntime threads inside each worker; default: cores / workers, at least 1. */
  intraOpNumThreads?: number;
}

/** Lays out images back to back in batches of at most MAX_BATCH, checking each image's size. */
export function packBatches(spec: SessionSpec, images: Float32Array[]): { input: Float32Array; count: number }[] {
  const sampleSize = sizeOf(spec.sampleShape);
  const batches: { input: Float32Array; count: number }[] = [];
  for (let start = 0; start < images.length; start += MAX_BATCH) {
    const slice = images.slice(start, start + MAX_BATCH);
    const input = new Float32Array(slice.length * sampleSize);
    slice.forEach((image, i) => {
      if (image.length !== sampleSize) {
        throw new RangeError(`Model "${spec.key}" takes images of ${sampleSize} values (${spec.sampleShape.join('x')}); image ${start + i} has ${image.length}.`);
      }
      input.set(image, i * sampleSize);
    });
    batches.push({ input, count: slice.length });
  }
  return batches;
}

function fileBatches(files: Uint8Array[]): Uint8Array[][] {
  const batches: Uint8Array[][] = [];
  for (let start = 0; start < files.length; start += MAX_BATCH) batches.push(files.slice(start, start + MAX_BATCH));
  return batches;
}

function splitRows(output: Float32Array, count: number): Float32Array[] {
  const width = output.length / count;
  return Array.from({ length: count }, (_, i) => output.slice(i * width, (i + 1) * width));
}

/**
 * Which version of each model new calls run on, and how many calls each version still has to answer: a version
 * that is no longer active is released (`release`) once its last call is done.
 */
function createVersionBook(specs: ModelSpec[], release: (spec: ModelSpec) => void) {
  const active = new Map(specs.map((spec) => [spec.key, spec]));
  const pending = new Map<string, number>();
  const retired = new Map<string, ModelSpec>();
  const releaseIfDone = (name: string) => {
    const spec = retired.get(name);
    if (!spec || (pending.get(name) ?? 0) > 0) return;
    retired.delete(name);
    pending.delete(name);
    release(spec);
  };
  return {
    spec(key: ModelKey): ModelSpec {
      const spec = active.get(key);
      if (!spec) throw new Error(`No model "${key}" was loaded into this runner.`);
      return spec;
    },
    /** True when the version's sessions still exist (active, or retired with calls left): nothing to load. */
    loaded: (spec: ModelSpec) => active.get(spec.key)?.version === spec.version || retired.has(sessionKey(spec.key, spec.version)),
    /** Counts a call on the active version of `key` until `done` is called; returns that version's spec. */
    begin(key: ModelKey): { spec: ModelSpec; done: () => void } {
      const spec = this.spec(key);
      const name = sessionKey(key, spec.version);
      pending.set(name, (pending.get(name) ?? 0) + 1);
      let finished = false;
      return {
        spec,
        done() {
          if (finished) return;
          finished = true;
          pending.set(name, pending.get(name)! - 1);
          releaseIfDone(name);
        },
      };
    },
    switchTo(spec: ModelSpec): void {
      const old = active.get(spec.key);
      const name = sessionKey(spec.key, spec.version);
      retired.delete(name);
      active.set(spec.key, spec);
      if (!old || old.version === spec.version) return;
      const oldName = sessionKey(old.key, old.version);
      retired.set(oldName, old);
      releaseIfDone(oldName);
    },
  };
}

/** Wraps a call so that its version's count is released however the call ends. */
async function counted<T>(book: ReturnType<typeof createVersionBook>, key: ModelKey, call: (spec: ModelSpec) => Promise<T>): Promise<Answer<T>> {
  const { spec, done } = book.begin(key);
  try {
    return { version: spec.version, value: await call(spec) };
  } finally {
    done();
  }
}

/** Runs preparation and inference on the calling thread. Blocks the event loop throughout; see the note at the top. */
export async function createMainThreadRunner(specs: ModelSpec[], { intraOpNumThreads = 1 }: RunnerOptions = {}): Promise<InferenceRunner> {
  const sessions = new Map<string, OnnxModelSession>();
  try {
    for (const spec of specs) sessions.set(sessionKey(spec.key, spec.version), await OnnxModelSession.create(spec, intraOpNumThreads));
  } catch (error) {
    await Promise.all([...sessions.values()].map((session) => session.release()));
    throw error;
  }
  const book = createVersionBook(specs, (spec) => {
    const name = sessionKey(spec.key, spec.version);
    void sessions.get(name)?.release();
    sessions.delete(name);
  });
  const sessionOf = (spec: ModelSpec) => sessions.get(sessionKey(spec.key, spec.version))!;
  let closed = false;
  const checkOpen = () => {
    if (closed) throw new Error('The inference runner is closed.');
  };
  const runOn = async (spec: ModelSpec, images: Float32Array[]) => {
    const rows: Float32Array[] = [];
    for (const { input, count } of packBatches(spec, images)) rows.push(...splitRows(await sessionOf(spec).run(input, count), count));
    return rows;
  };
  return {
    run(modelKey, images) {
      checkOpen();
      return counted(book, modelKey, (spec) => runOn(spec, images));
    },
    runFiles(modelKey, files, maxPixels) {
      checkOpen();
      return counted(book, modelKey, async (spec) => runOn(spec, await prepareFiles(spec, files, maxPixels)));
    },
    readFiles(modelKey, files, maxPixels) {
      checkOpen();
      return counted(book, modelKey, async (spec) => {
        const readings: FileReading[] = [];
        for (let start = 0; start < files.length; start += MAX_BATCH) {
          readings.push(...(await readFiles(sessionOf(spec), files.slice(start, start + MAX_BATCH), maxPixels)));
        }
        return readings;
      });
    },
    activeVersion: (modelKey) => book.spec(modelKey).version,
    async activate(spec) {
      checkOpen();
      book.spec(spec.key);
      if (!book.loaded(spec)) sessions.set(sessionKey(spec.key, spec.version), await OnnxModelSession.create(spec, intraOpNumThreads));
      book.switchTo(spec);
    },
    async close() {
      closed = true;
      await Promise.all([...sessions.values()].map((session) => session.release()));
    },
  };
}

/** Messages between the pool and onnx-worker.ts. */
export type WorkerRequest =
  | { type: 'run'; id: number; key: ModelKey; version: string; input: Float32Array; count: number }
  | { type: 'prepare-and-run'; id: number; key: ModelKey; version: string; files: Uint8Array[]; maxPixels: number }
  | { type: 'read-files'; id: number; key: ModelKey; version: string; files: Uint8Array[]; maxPixels: number }
  | { type: 'load'; loadId: number; spec: ModelSpec }
  | { type: 'unload'; key: ModelKey; version: string }
  | { type: 'close' };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'load-failed'; file: string; message: string }
  | { type: 'loaded'; loadId: number }
  | { type: 'load-refused'; loadId: number; file: string; message: string }
  | { type: 'result'; id: number; output: Float32Array }
  | { type: 'readings'; id: number; readings: FileReading[] }
  | { type: 'image-refused'; id: number; reason: ImageRejection; message: string }
  | { type: 'failed'; id: number; message: string };
export interface WorkerSetup {
  specs: ModelSpec[];
  intraOpNumThreads: number;
}

type TaskRequest = Extract<WorkerRequest, { type: 'run' | 'prepare-and-run' | 'read-files' }>;
type TaskReply = Extract<WorkerReply, { type: 'result' | 'readings' }>;
interface Task {
  request: TaskRequest;
  transfer: ArrayBuffer[];
  resolve: (reply: TaskReply) => void;
  reject: (error: Error) => void;
}

/**
 * Requests for readFiles that wait in the queue one after another are sent to a worker as one batch (up to
 * MAX_BATCH files): under load, many single-file requests then share one inference (a batch of 16 digits costs
 * ~0.35 ms per image against ~0.5 ms alone) and one message each way. Each request still gets its own answers.
 */
function mergeReadFiles(first: Task, queue: Task[]): Task {
  if (first.request.type !== 'read-files') return first;
  const group = [first];
  let files = first.request.files.length;
  while (queue.length > 0) {
    const next = queue[0]!.request;
    if (next.type !== 'read-files' || next.key !== first.request.key || next.version !== first.request.version || next.maxPixels !== first.request.maxPixels || files + next.files.length > MAX_BATCH) break;
    files += next.files.length;
    group.push(queue.shift()!);
  }
  if (group.length === 1) return first;
  const requests = group.map((task) => task.request as Extract<TaskRequest, { type: 'read-files' }>);
  return {
    request: { ...first.request, files: requests.flatMap((request) => request.files) },
    transfer: [],
    resolve(reply) {
      if (reply.type !== 'readings') return;
      let start = 0;
      group.forEach((task, i) => {
        const count = requests[i]!.files.length;
        task.resolve({ ...reply, readings: reply.readings.slice(start, start + count) });
        start += count;
      });
    },
    reject: (error) => group.forEach((task) => task.reject(error)),
  };
}

interface PoolWorker {
  worker: Worker;
  task: Task | null;
}

function startWorker(setup: WorkerSetup): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = spawnModuleWorker(import.meta.url, './onnx-worker', setup);
    const onMessage = (reply: WorkerReply) => {
      worker.off('error', onError).off('exit', onExit).off('message', onMessage);
      if (reply.type === 'ready') return resolve(worker);
      const error = reply.type === 'load-failed' ? new ModelLoadError(reply.file, reply.message) : new Error(`Inference worker sent ${reply.type} before it was ready.`);
      // A worker that is not ready is stopped, not trusted to end by itself: a failed load leaves no thread behind.
      void worker.terminate().then(() => reject(error));
    };
    const onError = (error: Error) => {
      worker.off('exit', onExit).off('message', onMessage);
      reject(error);
    };
    const onExit = (code: number) => {
      worker.off('error', onError).off('message', onMessage);
      reject(new Error(`Inference worker exited with code ${code} while loading models.`));
    };
    worker.on('message', onMessage).once('error', onError).once('exit', onExit);
  });
}

/** Rebuilds, on the caller's thread, the ImageInputError a worker reported. */
export function imageRefused(reason: ImageRejection, message: string): ImageInputError {
  const error = new ImageInputError(reason);
  error.message = message;
  return error;
}

/**
 * A fixed pool of worker threads, each holding its own session of every model (created and warmed up once, at
 * start-up). Requests wait in one FIFO queue; an idle worker takes the next batch. Prepared inputs are
 * transferred, not copied; uploaded files are copied, since their buffers may belong to a shared pool.
 * activate() loads another version into every worker beside the one answering, then switches (see
 * InferenceRunner.activate); each task names its version, so a worker answers it with the session it started on.
 */
export async function createWorkerPoolRunner(specs: ModelSpec[], options: RunnerOptions = {}): Promise<InferenceRunner> {
  const cores = availableParallelism();
  const size = Math.max(1, options.workers ?? cores);
  const intraOpNumThreads = Math.max(1, options.intraOpNumThreads ?? Math.floor(cores / size));
  const setup: WorkerSetup = { specs, intraOpNumThreads };

  const started = await Promise.allSettled(Array.from({ length: size }, () => startWorker(setup)));
  const failure = started.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.terminate() : undefined)));
    throw failure.reason;
  }
  const pool: PoolWorker[] = started.map((result) => ({ worker: (result as PromiseFulfilledResult<Worker>).value, task: null }));
  const unload = (spec: ModelSpec) => {
    for (const member of pool) member.worker.postMessage({ type: 'unload', key: spec.key, version: spec.version } satisfies WorkerRequest);
  };
  // Tasks are sent to a worker only after every earlier task of theirs was answered, so an unload sent once a
  // version has no pending call cannot overtake a task of that version.
  const book = createVersionBook(specs, unload);
  const queue: Task[] = [];
  let nextId = 1;
  let closing: Promise<void> | null = null;
  let idleWaiters: (() => void)[] = [];
  const loads = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let activating: Promise<void> = Promise.resolve();

  const dispatch = () => {
    for (const member of pool) {
      if (member.task || queue.length === 0) continue;
      const task = mergeReadFiles(queue.shift()!, queue);
      member.task = task;
      member.worker.postMessage(task.request, task.transfer);
    }
    if (queue.length === 0 && pool.every((member) => !member.task)) {
      for (const wake of idleWaiters) wake();
      idleWaiters = [];
    }
  };

  for (const member of pool) {
    member.worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'loaded' || reply.type === 'load-refused') {
        const load = loads.get(reply.loadId);
        loads.delete(reply.loadId);
        if (reply.type === 'loaded') load?.resolve();
        else load?.reject(new ModelLoadError(reply.file, reply.message));
        return;
      }
      const task = member.task;
      if (!task || !('id' in reply) || reply.id !== task.request.id) return;
      member.task = null;
      if (reply.type === 'result' || reply.type === 'readings') task.resolve(reply);
      else if (reply.type === 'image-refused') task.reject(imageRefused(reply.reason, reply.message));
      else task.reject(new Error(`Inference failed for model "${task.request.key}": ${reply.message}`));
      dispatch();
    });
    member.worker.on('error', (error) => {
      member.task?.reject(error);
      member.task = null;
    });
    member.worker.on('exit', (code) => {
      const lost = member.task;
      member.task = null;
      pool.splice(pool.indexOf(member), 1);
      lost?.reject(new Error(`Inference worker exited with code ${code} during a batch of model "${lost.request.key}".`));
      if (pool.length === 0) {
        for (const task of queue.splice(0)) task.reject(new Error('No inference worker is left running.'));
      }
      dispatch();
    });
  }

  const enqueue = (request: TaskRequest, transfer: ArrayBuffer[]) =>
    new Promise<TaskReply>((resolve, reject) => {
      queue.push({ request, transfer, resolve, reject });
      dispatch();
    });
  const output = (reply: TaskReply) => (reply.type === 'result' ? reply.output : new Float32Array(0));
  const checkOpen = (modelKey: ModelKey) => {
    if (closing) throw new Error('The inference runner is closed.');
    if (pool.length === 0) throw new Error('No inference worker is left running.');
    book.spec(modelKey);
  };

  /** Loads the version in one worker; resolves once it is warmed up there. */
  const loadIn = (member: PoolWorker, spec: ModelSpec) =>
    new Promise<void>((resolve, reject) => {
      const loadId = nextId++;
      const onExit = () => {
        loads.delete(loadId);
        reject(new Error('An inference worker exited while loading a model version.'));
      };
      member.worker.once('exit', onExit);
      loads.set(loadId, {
        resolve: () => (member.worker.off('exit', onExit), resolve()),
        reject: (error) => (member.worker.off('exit', onExit), reject(error)),
      });
      member.worker.postMessage({ type: 'load', loadId, spec } satisfies WorkerRequest);
    });

  return {
    run(modelKey, images) {
      checkOpen(modelKey);
      return counted(book, modelKey, async (spec) => {
        const batches = packBatches(spec, images);
        const outputs = await Promise.all(
          batches.map(({ input, count }) =>
            enqueue({ type: 'run', id: nextId++, key: modelKey, version: spec.version, input, count }, [input.buffer as ArrayBuffer]),
          ),
        );
        return outputs.flatMap((reply, i) => splitRows(output(reply), batches[i]!.count));
      });
    },
    runFiles(modelKey, files, maxPixels) {
      checkOpen(modelKey);
      return counted(book, modelKey, async (spec) => {
        const batches = fileBatches(files);
        const outputs = await Promise.all(
          batches.map((batch) => enqueue({ type: 'prepare-and-run', id: nextId++, key: modelKey, version: spec.version, files: batch, maxPixels }, [])),
        );
        return outputs.flatMap((reply, i) => splitRows(output(reply), batches[i]!.length));
      });
    },
    readFiles(modelKey, files, maxPixels) {
      checkOpen(modelKey);
      return counted(book, modelKey, async (spec) => {
        const replies = await Promise.all(
          fileBatches(files).map((batch) => enqueue({ type: 'read-files', id: nextId++, key: modelKey, version: spec.version, files: batch, maxPixels }, [])),
        );
        return replies.flatMap((reply) => (reply.type === 'readings' ? reply.readings : []));
      });
    },
    activeVersion: (modelKey) => book.spec(modelKey).version,
    activate(spec) {
      checkOpen(spec.key);
      // One activation at a time: two loads of the same model would race for the switch.
      const next = activating.then(async () => {
        if (book.loaded(spec)) return book.switchTo(spec);
        const members = [...pool];
        // One worker at a time: creating a session keeps a worker (and a core) busy, so the others keep answering
        // and the web process keeps a core. Single runs on the shared 2-core box (load ~4.5), activating the 8 MB
        // signature model while 4 clients read digits: one worker at a time took 0.45-0.85 s and answered 57-147
        // digit requests meanwhile (longest event-loop stall 58-110 ms); both at once took 0.5 s and answered 43
        // (155 ms). The same load without an activation stalled 10-30 ms.
        try {
          for (const member of members) await loadIn(member, spec);
        } catch (error) {
          // Workers that did load it let it go again; the active version never stopped answering.
          for (const member of members) member.worker.postMessage({ type: 'unload', key: spec.key, version: spec.version } satisfies WorkerRequest);
          throw error;
        }
        book.switchTo(spec);
      });
      activating = next.catch(() => undefined);
      return next;
    },
    close() {
      // Requests already accepted are answered; then each worker releases its sessions and exits.
      closing ??= (async () => {
        await activating;
        if (queue.length > 0 || pool.some((member) => member.task)) await new Promise<void>((wake) => idleWaiters.push(wake));
        await Promise.all(
          [...pool].map(
            (member) =>
              new Promise<void>((resolve) => {
                // One that has not ended a while after releasing its sessions is stopped, so shutdown always finishes.
                const stop = setTimeout(() => void member.worker.terminate(), CLOSE_GRACE_MS);
                member.worker.once('exit', () => {
                  clearTimeout(stop);
                  resolve();
                });
                member.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
              }),
          ),
        );
      })();
      return closing;
    },
  };
}
