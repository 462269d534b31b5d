import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../paths.js';
import { JobFailedError, type JobContext } from './jobs.runner.js';

const SCRIPT = path.join(projectRoot, 'models', 'training', 'train_digits.py');
const LOG_TAIL_BYTES = 6000;

/** Runs train_digits.py under nice with a fixed thread count; progress from its JSON lines; killed (its whole group) on cancel. */
export function runTrainingScript(
  config: { python: string; threads: number },
  context: JobContext,
  { args, logFile, history, epochs }: { args: string[]; logFile: string; history: Record<string, unknown>[]; epochs: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile, { flags: 'a' });
    const threads = String(config.threads);
    const child = spawn('nice', ['-n', '10', config.python, SCRIPT, ...args], {
      cwd: projectRoot,
      // Its own process group, so that cancelling kills nice, python and anything they started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A minimal environment: the server's secrets stay out of the script's reach, and the OPENBLAS_* tuning set on
      // some machines (which slowed PyTorch ~4x on the dev box, see ../shared/bench-peer) does not apply.
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: os.homedir(), LANG: 'C.UTF-8', OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads, PYTHONUNBUFFERED: '1' },
    });
    let killTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
        killTimer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 5000);
        killTimer.unref();
      } catch {
        // already gone
      }
    };
    context.signal.addEventListener('abort', kill, { once: true });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      if (!line.startsWith('{')) return;
      try {
        const epoch = JSON.parse(line) as { epoch: number; loss: number; val_accuracy: number; elapsed_s: number };
        history.push(epoch);
        context.progress({ phase: 'training', epoch: epoch.epoch, epochs, loss: epoch.loss, val_accuracy: epoch.val_accuracy, history }, true);
      } catch {
        // a line that only looks like JSON
      }
    });
    child.stderr.pipe(log, { end: false });
    child.on('error', (error) => {
      context.signal.removeEventListener('abort', kill);
      log.end();
      reject(new JobFailedError(`Could not start the training script: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      context.signal.removeEventListener('abort', kill);
      log.end(() => {
        if (code === 0) resolve();
        else reject(new JobFailedError(context.signal.aborted ? 'Cancelled.' : `The training script stopped with ${signal ? `signal ${signal}` : `exit code ${String(code)}`}; see the log.`));
      });
    });
  });
}

/** The end of a log (whole lines), for the job's page. */
export async function logTail(file: string, bytes = LOG_TAIL_BYTES): Promise<string> {
  try {
    const { size } = await stat(file);
    const handle = await open(file, 'r');
    try {
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      const text = buffer.toString('utf8');
      return size > bytes ? text.slice(text.indexOf('\n') + 1) : text;
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
