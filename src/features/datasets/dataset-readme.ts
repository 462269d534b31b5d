import type { ExportPlan } from './dataset-export.js';
import type { DatasetSummary } from './datasets.repo.js';
import type { ExportQuery } from './datasets.schemas.js';

/** Markdown table cells: a '|' or line break in a name or description would break the table. */
const cell = (text: string | number) => String(text).replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** `<name>/README.md` of an export: what the dataset is, what is in it, and how the zip was made. */
export function exportReadme(dataset: DatasetSummary, plan: ExportPlan, options: ExportQuery, exportedAt: Date): string {
  const split = options.split;
  const total = plan.entries.length;
  const columns = split ? ['train', 'val', 'test', 'total'] : ['images'];
  const rows = [...plan.counts].map(([label, count]) => `| ${cell(label)} | ${(split ? [count.train, count.val, count.test, count.all] : [count.all]).join(' | ')} |`);
  const sums = split
    ? (['train', 'val', 'test'] as const).map((name) => plan.entries.filter((entry) => entry.split === name).length).concat(total)
    : [total];
  const format = options.format === 'original' ? 'as stored (PNG, JPEG, WebP or GIF)' : options.format.toUpperCase();
  // ImageFolder numbers the classes it finds in each folder: a label missing from one split shifts the others' numbers.
  const missing = split
    ? [...plan.counts].filter(([, count]) => count.all > 0 && (['train', 'val', 'test'] as const).some((name, i) => split[i]! > 0 && count[name] === 0)).map(([label]) => label)
    : [];

  return [
    `# ${dataset.name}`,
    '',
    dataset.description || '(no description)',
    '',
    `Exported from Inkwell on ${exportedAt.toISOString()}: ${total} image${total === 1 ? '' : 's'} in ${plan.counts.size} label${plan.counts.size === 1 ? '' : 's'}.`,
    '',
    '## Images per label',
    '',
    `| label | ${columns.join(' | ')} |`,
    `| --- | ${columns.map(() => '---:').join(' | ')} |`,
    ...rows,
    `| **all** | ${sums.join(' | ')} |`,
    '',
    '## How this export was made',
    '',
    split
      ? `- Split: train ${split[0]}%, val ${split[1]}%, test ${split[2]}%, seed ${options.seed}; stratified per label. Within each label the ` +
        `images are ordered by sha256("<seed>:<image sha256>") and cut by largest-remainder rounding; every split gets at least one ` +
        `image of a label that has at least one image per split. The same seed and the same images give the same split.`
      : '- No split: every image is in its label\'s folder.',
    ...(missing.length
      ? [
          `- **Warning:** too few images to appear in every split: ${missing.map(cell).join(', ')}. ImageFolder numbers the classes it finds in ` +
            'each folder, so map class names to numbers with the full list of labels (labels.csv), not per split folder.',
        ]
      : []),
    `- Format: ${format}${options.max_side ? `; longer side at most ${options.max_side} px` : ''}.`,
    '- Image metadata (EXIF, GPS) was removed when the images were stored.',
    '',
    '## Layout',
    '',
    '```',
    split ? `${plan.root}/{train,val,test}/<label>/<file>` : `${plan.root}/<label>/<file>`,
    `${plan.root}/labels.csv    path,label,split,sha256,width,height,bytes (path relative to this folder)`,
    `${plan.root}/README.md     this file`,
    '```',
    '',
    'This is the ImageFolder layout: torchvision.datasets.ImageFolder and keras.utils.image_dataset_from_directory read',
    `it directly (point them at ${split ? `${plan.root}/train, ${plan.root}/val and ${plan.root}/test` : plan.root}).`,
    '',
  ].join('\n');
}
