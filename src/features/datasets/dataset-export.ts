import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { ZipArchive } from 'archiver';
import sharp from 'sharp';
import { dataCsvLine } from '../../lib/csv.js';
import '../../lib/native-crc32.js';
import { safeFileName, safeStem, uniqueName } from '../../lib/file-names.js';
import type { ImageType } from '../../ml/image-input.js';
import type { ImageStore } from '../../storage/index.js';
import type { ExportRow } from './dataset-images.repo.js';
import { assignSplits, SPLITS, type Split } from './dataset-split.js';
import type { DatasetSummary, Label } from './datasets.repo.js';
import { exportReadme } from './dataset-readme.js';
import type { ExportQuery } from './datasets.schemas.js';

const EXTENSIONS: Record<ImageType, string> = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' };
/** JPEG and WebP re-encoded for a resize or a conversion keep this quality (visually lossless for training). */
const REENCODE_QUALITY = 92;
/**
 * Memory bounds of one export, whatever the dataset's size: at most READAHEAD images (and READAHEAD_BYTES) are read
 * or converted ahead of the archive, and the producer waits while more than WINDOW bytes are appended but not yet
 * taken by the client. A slow client therefore holds a few MB, not the dataset.
 */
const READAHEAD = 16;
const READAHEAD_BYTES = 16 * 1024 * 1024;
const WINDOW = 4 * 1024 * 1024;
/** Chunks below this are gathered into one write (zip headers); images pass through as they are. */
const SMALL_CHUNK = 16 * 1024;

export interface PlannedEntry {
  row: ExportRow;
  label: string;
  split: Split | null;
  /** Inside the zip, below `<name>/`. */
  path: string;
}

export interface ExportPlan {
  root: string;
  entries: PlannedEntry[];
  /** Per label, the number of images per split (or in all, as `all`, without a split). */
  counts: Map<string, Record<Split | 'all', number>>;
}

/** Where every image goes: `[split/]label/file`, with safe names unique within each folder (ignoring case). */
export function planExport(dataset: DatasetSummary, labels: Label[], rows: ExportRow[], options: ExportQuery): ExportPlan {
  const root = safeStem(dataset.name, 'dataset');
  const usedFolders = new Set<string>();
  const folderOf = new Map(labels.map((label) => [label.id, uniqueName(safeStem(label.name, `label-${label.id}`), usedFolders)]));
  const counts = new Map(labels.map((label) => [label.name, { train: 0, val: 0, test: 0, all: 0 }]));

  const rowsOf = new Map<number, ExportRow[]>(labels.map((label) => [label.id, []]));
  for (const row of rows) rowsOf.get(row.labelId)?.push(row);
  const entries: PlannedEntry[] = [];
  for (const label of labels) {
    const ofLabel = rowsOf.get(label.id)!;
    const splits = options.split ? assignSplits(ofLabel, options.split, options.seed) : null;
    ofLabel.forEach((row, i) => {
      const split = splits?.[i] ?? null;
      entries.push({ row, label: label.name, split, path: '' });
      const count = counts.get(label.name)!;
      count.all++;
      if (split) count[split]++;
    });
  }
  // By split, then label, so that each folder is one run of the archive; names are made unique per folder.
  const splitOrder = (split: Split | null) => (split ? SPLITS.indexOf(split) : 0);
  entries.sort((a, b) => splitOrder(a.split) - splitOrder(b.split));
  const usedNames = new Map<string, Set<string>>();
  for (const entry of entries) {
    const folder = `${entry.split ? `${entry.split}/` : ''}${folderOf.get(entry.row.labelId)!}`;
    if (!usedNames.has(folder)) usedNames.set(folder, new Set());
    entry.path = `${folder}/${uniqueName(safeFileName(entry.row.name, extensionFor(entry.row.type, options)), usedNames.get(folder)!)}`;
  }
  return { root, entries, counts };
}

function extensionFor(type: ImageType, { format }: ExportQuery): string {
  if (format === 'png') return 'png';
  if (format === 'jpeg') return 'jpg';
  return EXTENSIONS[type];
}

interface Prepared {
  bytes: Buffer;
  sha256: string;
  width: number;
  height: number;
}

/** The bytes as stored, or converted (format, longest side) by libvips off the event loop. */
async function prepare(store: ImageStore, userId: number, row: ExportRow, { format, max_side: maxSide }: ExportQuery): Promise<Prepared> {
  const stored = store.get(userId, row.storedImageId);
  if (!stored) throw new Error(`stored image ${row.storedImageId} of dataset image ${row.id} is missing`);
  const bytes = await store.readBytes(stored);
  const target = format === 'original' ? row.type : format;
  const resize = maxSide !== null && Math.max(row.width, row.height) > maxSide;
  if (!resize && target === row.type) return { bytes, sha256: row.sha256, width: row.width, height: row.height };

  // An animation stays one when its own format is kept; converted to PNG or JPEG, its first frame is taken.
  let image = sharp(bytes, { animated: format === 'original' });
  if (resize) image = image.resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
  if (target === 'jpeg') image = image.flatten({ background: '#ffffff' }).jpeg({ quality: REENCODE_QUALITY });
  else if (target === 'png') image = image.png();
  else if (target === 'webp') image = image.webp({ quality: REENCODE_QUALITY });
  else image = image.gif();
  const { data, info } = await image.toBuffer({ resolveWithObject: true });
  return { bytes: data, sha256: createHash('sha256').update(data).digest('hex'), width: info.width, height: info.pageHeight ?? info.height };
}

export interface ExportSource {
  store: ImageStore;
  userId: number;
  dataset: DatasetSummary;
  labels: Label[];
  rows: ExportRow[];
  options: ExportQuery;
}

/**
 * The dataset as a zip stream: `<name>/README.md` first (so the first bytes leave at once), the images, then
 * `<name>/labels.csv` (its sizes and hashes are those of the files as exported). Images are stored, not deflated
 * again. Destroying the returned stream (a client that went away) stops reading and converting at once.
 */
export function exportDataset({ store, userId, dataset, labels, rows, options }: ExportSource): Readable {
  const plan = planExport(dataset, labels, rows, options);
  const archive = new ZipArchive({ store: true });
  let sent = 0;
  let appended = 0;
  let closed = false;
  let finished = false;
  let wake: (() => void) | null = null;
  const progress = () => {
    wake?.();
    wake = null;
  };

  // The zip engine writes each header field as its own tiny chunk; sent one by one, every one would cost the HTTP
  // response a chunk header and a write. They are gathered here and leave together with the next image.
  let small: Buffer[] = [];
  let smallBytes = 0;
  const output = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      progress();
      if (chunk.length < SMALL_CHUNK) {
        small.push(chunk);
        smallBytes += chunk.length;
        if (smallBytes < SMALL_CHUNK) return done();
        chunk = Buffer.alloc(0);
      }
      if (small.length) {
        this.push(Buffer.concat(small, smallBytes));
        small = [];
        smallBytes = 0;
      }
      done(null, chunk.length ? chunk : undefined);
    },
    flush(done) {
      done(null, smallBytes ? Buffer.concat(small, smallBytes) : undefined);
    },
  });
  output.on('close', () => {
    if (finished) return;
    closed = true;
    archive.abort();
    progress();
  });
  archive.on('error', (err) => output.destroy(err));
  archive.pipe(output);

  const append = (bytes: Buffer, name: string, date: Date, store: boolean) => {
    archive.append(bytes, { name: `${plan.root}/${name}`, date, store });
    appended += bytes.length;
  };
  const roomInWindow = async () => {
    while (!closed && appended - sent > WINDOW) await new Promise<void>((resolve) => (wake = resolve));
  };

  async function produce() {
    const exportedAt = new Date();
    append(Buffer.from(exportReadme(dataset, plan, options, exportedAt)), 'README.md', exportedAt, false);
    const lines = [dataCsvLine(['path', 'label', 'split', 'sha256', 'width', 'height', 'bytes'])];
    const ahead: Promise<Prepared>[] = [];
    let next = 0;
    let aheadBytes = 0;
    for (let i = 0; i < plan.entries.length && !closed; i++) {
      while (next < plan.entries.length && (next === i || (next - i < READAHEAD && aheadBytes < READAHEAD_BYTES))) {
        const promise = prepare(store, userId, plan.entries[next]!.row, options);
        promise.catch(() => undefined); // awaited in turn below; this only keeps an early failure from being "unhandled"
        ahead[next] = promise;
        aheadBytes += plan.entries[next]!.row.bytes;
        next++;
      }
      const entry = plan.entries[i]!;
      const prepared = await ahead[i]!;
      delete ahead[i];
      aheadBytes -= entry.row.bytes;
      await roomInWindow();
      if (closed) return;
      append(prepared.bytes, entry.path, new Date(entry.row.createdAt), true);
      lines.push(dataCsvLine([entry.path, entry.label, entry.split ?? '', prepared.sha256, prepared.width, prepared.height, prepared.bytes.length]));
    }
    if (closed) return;
    append(Buffer.from(lines.join('')), 'labels.csv', exportedAt, false);
    finished = true;
    await archive.finalize();
  }

  produce().catch((err: unknown) => {
    finished = true;
    output.destroy(err as Error);
  });
  return output;
}
