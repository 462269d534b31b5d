import type { ZipEntry } from '../../lib/zip-reader.js';
import { labelNameSchema, nameKey, NAME_MAX_LENGTH } from './datasets.schemas.js';

/** What becomes of one entry: an image for a label, or skipped with a reason. */
export type EntryPlan = { labelKey: string } | { skip: { code: string; message: string } };

export interface ImportLayout {
  /** The one folder everything sits in (an Inkwell export's `<name>/`), or null. */
  topFolder: string | null;
  /** Whether labels sit below train/val/test folders. */
  split: boolean;
  /** The labels found, by key, with the name each gets, in the order first met. */
  labels: Map<string, string>;
  classify(entry: ZipEntry): EntryPlan;
}

const SPLIT_FOLDERS = new Set(['train', 'val', 'valid', 'validation', 'test']);
const SYSTEM_FILES = new Set(['thumbs.db', 'desktop.ini', '__macosx']);
/** Files beside the label folders that describe the dataset (our labels.csv and README.md among them). */
const METADATA = /^(readme|license|licence|labels|classes|notice)(\.[a-z]{1,5})?$|\.(csv|md|txt|json|ya?ml|tsv)$/i;

const isSystem = (segments: string[]) => segments.some((segment) => segment.startsWith('.') || SYSTEM_FILES.has(segment.toLowerCase()));

/** A folder name as a label name: characters a name cannot have become '_'; null when nothing valid is left. */
export function labelNameFromFolder(folder: string): string | null {
  const cleaned = [...folder.normalize('NFC').replace(/[^\p{L}\p{M}\p{Nd} ._-]+/gu, '_').replace(/^[\s.]+/, '').trim()].slice(0, NAME_MAX_LENGTH).join('').trim();
  const parsed = labelNameSchema.safeParse(cleaned);
  return parsed.success ? parsed.data : null;
}

/**
 * Reads the layout from the entries' paths (the central directory; nothing inflated): an Inkwell export (with or
 * without split folders) or any class-folder zip (ImageNet/ImageFolder style), with one top folder or none. The
 * class is the first folder below the top folder (and below the split folder), as torchvision's ImageFolder takes it;
 * deeper folders stay part of the class.
 */
export function planLayout(entries: ZipEntry[]): ImportLayout {
  const files = entries.filter((entry) => !entry.directory && !entry.problem).map((entry) => entry.path.split('/'));
  const candidates = files.filter((segments) => !isSystem(segments));

  // A top folder is taken off when everything sits in it and what lies directly in it describes the dataset.
  const firsts = new Set(candidates.map((segments) => segments[0]));
  const topFolder =
    firsts.size === 1 &&
    candidates.every((segments) => segments.length >= 2) &&
    candidates.some((segments) => segments.length >= 3) &&
    candidates.every((segments) => segments.length >= 3 || METADATA.test(segments[1]!))
      ? candidates[0]![0]!
      : null;
  const inner = (segments: string[]) => (topFolder === null ? segments : segments.slice(1));

  const nested = candidates.map(inner).filter((segments) => segments.length >= 2);
  const split = nested.length > 0 && nested.every((segments) => segments.length >= 3 && SPLIT_FOLDERS.has(segments[0]!.toLowerCase()));

  const labels = new Map<string, string>();
  const folderOf = (segments: string[]) => (split ? (segments.length >= 3 ? segments[1] : undefined) : segments.length >= 2 ? segments[0] : undefined);
  for (const segments of candidates.map(inner)) {
    const folder = folderOf(segments);
    const name = folder === undefined ? null : labelNameFromFolder(folder);
    if (name !== null && !labels.has(nameKey(name))) labels.set(nameKey(name), name);
  }

  return {
    topFolder,
    split,
    labels,
    classify(entry: ZipEntry): EntryPlan {
      if (entry.problem) return { skip: { code: entry.problem.reason, message: entry.problem.message } };
      const segments = entry.path.split('/');
      if (isSystem(segments)) return { skip: { code: 'system_file', message: 'A hidden or system file (such as macOS __MACOSX or .DS_Store), not an image.' } };
      const folder = folderOf(inner(segments));
      if (folder === undefined) {
        const described = inner(segments).length === 1 && METADATA.test(segments.at(-1)!);
        return described
          ? { skip: { code: 'metadata_file', message: 'A file describing the dataset; labels are taken from the folders.' } }
          : { skip: { code: 'no_label', message: 'Not in a label folder: each image must sit in a folder named after its label.' } };
      }
      const name = labelNameFromFolder(folder);
      if (name === null) return { skip: { code: 'invalid_label', message: `The folder name "${folder}" cannot be made into a label name (letters, digits, space, "-", "_" and ".").` } };
      return { labelKey: nameKey(name) };
    },
  };
}
