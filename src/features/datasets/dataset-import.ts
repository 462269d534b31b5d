import { PayloadTooLargeError, ValidationError } from '../../http/errors.js';
import { baseName } from '../../lib/file-names.js';
import { EntryRefusal, listZip, MAX_COMPRESSION_RATIO, readZip, ZipArchiveError, type ZipLimits } from '../../lib/zip-reader.js';
import { fileFromBytes, type CheckResult } from '../../storage/index.js';
import { labelNameFromFolder, planLayout } from './dataset-import-layout.js';
import type { DatasetImagesService, Skipped } from './dataset-images.service.js';
import { LABELS_MAX, nameKey } from './datasets.schemas.js';
import type { DatasetDetails, DatasetsCore } from './datasets.service.js';

export type ImportLimits = Omit<ZipLimits, 'maxRatio'>;

export interface ImportRequest {
  /** The received archive (in the store's incoming folder; deleted when the request ends). */
  archivePath: string;
  archiveName: string;
  /** Merge into this dataset; otherwise a new one is made. */
  datasetId?: number | null;
  /** The new dataset's name; by default the archive's top folder or file name. */
  name?: string | null;
}

export interface ImportReport {
  imported: { file: string; label: string; id: number }[];
  skipped: Skipped[];
}

export interface ImportResult {
  dataset: DatasetDetails;
  report: ImportReport;
  importId: number;
  created: boolean;
}

/**
 * Images are checked and stored a batch at a time, so that memory holds one batch whatever the archive's size:
 * at most this many files or bytes (inflated).
 */
const BATCH_FILES = 16;
const BATCH_BYTES = 16 * 1024 * 1024;

function toAppError(err: unknown): unknown {
  if (!(err instanceof ZipArchiveError)) return err;
  if (err.reason === 'not_a_zip') return new ValidationError(err.message, { archive: err.message }, 'invalid_archive');
  return new PayloadTooLargeError(`${err.message} Nothing was imported.`);
}

/** How many skipped entries the message of an import that kept nothing names (the rest are counted). */
const SKIPS_NAMED = 5;

/** An archive none of whose entries could be imported: 422, and the dataset or labels it would have made are undone. */
export class NothingImportedError extends ValidationError {
  constructor(skipped: Skipped[]) {
    const named = skipped.slice(0, SKIPS_NAMED).map((skip) => `${skip.file}: ${skip.message}`);
    const more = skipped.length > SKIPS_NAMED ? ` …and ${skipped.length - SKIPS_NAMED} more.` : '';
    const message =
      skipped.length === 0
        ? 'Nothing was imported: the archive has no files in it.'
        : `Nothing was imported: ${skipped.length === 1 ? 'its one entry was' : `all ${skipped.length} entries were`} skipped. ${named.join(' ')}${more}`;
    super(message, { archive: message }, 'nothing_imported');
  }
}

/** "pets_dataset.zip" -> "pets" (our own export's name), "My photos.zip" -> "My photos". */
const archiveStem = (fileName: string) => baseName(fileName).replace(/\.zip$/i, '').replace(/_dataset$/i, '');

export function createDatasetImport(core: DatasetsCore, images: DatasetImagesService, limits: ImportLimits) {
  const { db, store, repo, summary, get, create, remove, addLabelTo } = core;
  const zipLimits: ZipLimits = { ...limits, maxRatio: MAX_COMPRESSION_RATIO };

  /** A free name for a new dataset made from an archive: the suggestion, or "suggestion 2", "suggestion 3"... */
  function freeName(userId: number, suggestion: string): string {
    const base = labelNameFromFolder(suggestion) ?? 'Imported dataset';
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? base : `${[...base].slice(0, 60).join('').trim()} ${n}`;
      if (!repo.findByKey(userId, nameKey(candidate))) return candidate;
    }
  }

  /**
   * Imports a zip as a new dataset or into an existing one. Entries are judged, inflated (within the limits) and
   * stored one batch at a time; each skipped entry is reported with its reason. Over the total or entry-count limit
   * or the quota, nothing stays: the import is undone and the error (413) says why.
   */
  return async function importArchive(userId: number, request: ImportRequest): Promise<ImportResult> {
    if (request.datasetId) summary(userId, request.datasetId);
    const entries = await listZip(request.archivePath, zipLimits).catch((err: unknown) => {
      throw toAppError(err);
    });
    const layout = planLayout(entries);
    const newLabels = [...layout.labels.keys()].filter((key) => !request.datasetId || !repo.findLabelByKey(request.datasetId, key)).length;
    const existingLabels = request.datasetId ? repo.countLabels(request.datasetId) : 0;
    if (existingLabels + newLabels > LABELS_MAX) {
      const message = `The archive has ${newLabels} new label folders${existingLabels ? ` and the dataset ${existingLabels} labels` : ''}; a dataset has at most ${LABELS_MAX} labels. Nothing was imported.`;
      throw new ValidationError(message, { archive: message }, 'too_many_labels');
    }
    const created = !request.datasetId;
    const datasetId = request.datasetId ?? create(userId, { name: request.name || freeName(userId, layout.topFolder ?? archiveStem(request.archiveName)) }).id;

    const report: ImportReport = { imported: [], skipped: [] };
    const newLabelIds: number[] = [];
    const importedIds: number[] = [];
    let storing: Promise<void> = Promise.resolve();
    // All or nothing when the import fails or keeps nothing: what it made or stored goes again.
    const undo = async () => {
      if (created) await remove(userId, datasetId);
      else {
        if (importedIds.length) await images.removeImages(userId, datasetId, importedIds);
        for (const id of newLabelIds) repo.removeLabel(datasetId, id);
      }
    };
    try {
      const labels = db.transaction(() =>
        new Map(
          [...layout.labels].map(([key, name]) => {
            let label = repo.findLabelByKey(datasetId, key);
            if (!label) {
              label = addLabelTo(datasetId, name);
              newLabelIds.push(label.id);
            }
            return [key, label] as const;
          }),
        ),
      )();

      const labelNames = new Map([...labels.values()].map((label) => [label.id, label.name]));
      let batch: { file: string; labelId: number; bytes: Buffer }[] = [];
      let batchBytes = 0;
      const storeChecked = async (current: typeof batch, checks: CheckResult[]) => {
        const candidates = current.map((item, i) => ({ file: item.file, name: baseName(item.file), labelId: item.labelId, check: checks[i]! }));
        const outcomes = await images.storeBatch(userId, datasetId, 'import', candidates);
        outcomes.forEach((outcome, i) => {
          if ('skipped' in outcome) return report.skipped.push(outcome.skipped);
          importedIds.push(outcome.image.id);
          report.imported.push({ file: current[i]!.file, label: labelNames.get(outcome.image.labelId)!, id: outcome.image.id });
        });
      };
      // One batch is written (disk-bound) while the next is read and checked (CPU-bound): at most two in memory. A
      // batch is stored only after the one before it, so duplicates across batches are seen.
      const flush = async () => {
        if (batch.length === 0) return;
        const current = batch;
        batch = [];
        batchBytes = 0;
        const checks = await store.checkEach(current.map((item) => fileFromBytes(baseName(item.file), item.bytes)));
        await storing;
        storing = storeChecked(current, checks);
        storing.catch(() => undefined); // awaited by the next flush or at the end; this only keeps it from being "unhandled"
      };

      await readZip(request.archivePath, zipLimits, async (entry, read) => {
        if (entry.directory && !entry.problem) return;
        const plan = layout.classify(entry);
        const file = entry.path || entry.name;
        if ('skip' in plan) {
          report.skipped.push({ file, ...plan.skip });
          return;
        }
        let bytes: Buffer;
        try {
          bytes = await read();
        } catch (err) {
          if (!(err instanceof EntryRefusal)) throw err;
          report.skipped.push({ file, code: err.reason, message: err.message });
          return;
        }
        batch.push({ file, labelId: labels.get(plan.labelKey)!.id, bytes });
        batchBytes += bytes.length;
        if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) await flush();
      });
      await flush();
      await storing;
    } catch (err) {
      await storing.catch(() => undefined);
      await undo();
      throw toAppError(err);
    }
    if (report.imported.length === 0) {
      await undo();
      throw new NothingImportedError(report.skipped);
    }

    const importId = repo.insertImport(datasetId, baseName(request.archiveName).slice(0, 200), report.imported.length, report.skipped.length, JSON.stringify(report));
    return { dataset: get(userId, datasetId), report, importId, created };
  };
}
