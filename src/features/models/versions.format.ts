/**
 * What the admin page shows of a model card. Cards are free-form beyond the fields the runtime needs
 * (src/ml/model-file.ts), so these read the fields the shipped and trained cards use, and say "not stated" otherwise.
 */

type Card = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Leaf names that are figures worth comparing between versions (accuracy, error rates, inconclusive share). */
const METRIC = /(accuracy|eer|far|frr|inconclusive_share|loss)/i;
/** Sub-trees that hold detail rather than headline figures. */
const DETAIL = /^(per_|most_frequent|history|confusion|n$|curve|figures_|per_set)/;

const headlineRank = (key: string) => (/test|held_out/i.test(key) ? 0 : /validation/i.test(key) ? 2 : 1);

/**
 * Headline figures of a card, as [label, value] pairs: numeric leaves named like a metric under `evaluation` and
 * `metrics` (three levels at most), then training's validation accuracy. At most `limit` of them.
 */
export function cardMetrics(card: Card, limit = 8): [string, number][] {
  const found: [string, number][] = [];
  const walk = (value: unknown, trail: string[]) => {
    if (found.length >= limit || trail.length > 4) return;
    if (typeof value === 'number' && Number.isFinite(value) && METRIC.test(trail.at(-1) ?? '')) {
      found.push([trail.slice(1).join(' · '), value]);
      return;
    }
    if (!isObject(value)) return;
    // Held-out test figures are the ones to judge a version by, so they come before validation figures.
    const entries = Object.entries(value).sort(([a], [b]) => headlineRank(a) - headlineRank(b));
    // A section that names its data set says so, so that "validation (pendigits-canvas)" is not taken for training's.
    const label = (key: string, inner: unknown) => (isObject(inner) && typeof inner.set === 'string' ? `${key} (${inner.set})` : key);
    for (const [key, inner] of entries) if (!DETAIL.test(key)) walk(inner, [...trail, label(key, inner)]);
  };
  walk(card.evaluation, ['evaluation']);
  walk(card.metrics, ['metrics']);
  const training = card.training;
  if (isObject(training) && typeof training.validation_accuracy === 'number' && found.length < limit) found.push(['training · validation accuracy', training.validation_accuracy]);
  return found;
}

/** A figure as the cards write them: accuracies in % above 1 stay as they are, rates below 1 get 4 decimals at most. */
export const metricText = (value: number) => (Number.isInteger(value) ? String(value) : String(Math.round(value * 10_000) / 10_000));

const text = (value: unknown): string | null => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
};

/** Where the training data came from, in one line. */
export function cardTrainingData(card: Card): string {
  const data = card.training_data;
  if (isObject(data)) {
    const sets = isObject(data.sets) ? Object.entries(data.sets).map(([name, about]) => `${name}: ${text(about) ?? ''}`).join('; ') : null;
    const parts = [text(data.dataset), text(data.description), sets, text(data.split)].filter((part): part is string => Boolean(part));
    if (parts.length) return parts.join(' — ');
    return Object.entries(data)
      .filter(([key, value]) => key !== 'licence' && key !== 'license' && typeof value === 'string')
      .map(([key, value]) => `${key}: ${String(value)}`)
      .join('; ') || 'not stated';
  }
  return text(data) ?? 'not stated';
}

/** The licence note of the training data (or of the model). */
export function cardLicence(card: Card): string {
  const data = card.training_data;
  if (isObject(data)) {
    const licence = text(data.licence) ?? text(data.license);
    if (licence) return licence;
  }
  return text(card.licence) ?? text(card.license) ?? 'not stated';
}

/** The card's other facts for the page: task, framework, parameters, created. */
export function cardFacts(card: Card): [string, string][] {
  const facts: [string, string][] = [];
  const add = (label: string, value: unknown) => {
    const shown = typeof value === 'number' ? value.toLocaleString('en-US') : text(value);
    if (shown) facts.push([label, shown]);
  };
  add('Task', card.task);
  add('Framework', card.framework);
  add('Parameters', card.parameters);
  add('Created', card.created);
  const training = card.training;
  if (isObject(training)) {
    add('Epochs', training.epochs);
    add('Architecture', training.architecture);
  }
  if (typeof card.threshold === 'number') add('Threshold', card.threshold);
  return facts;
}

/** A stored evaluation's result in one line: accuracy on a dataset (digits), FAR / FRR on labelled verifications (signatures). */
export function evaluationSummary(result: Record<string, unknown> | null, settings: Record<string, unknown>): string {
  if (!result) return 'no result';
  if (typeof result.accuracy === 'number') {
    const dataset = isObject(settings.dataset) ? text(settings.dataset.name) : null;
    return `${result.accuracy}% of ${String(result.n)} images${dataset ? ` in ${dataset}` : ''}`;
  }
  const n = isObject(result.n) ? Number(result.n.genuine) + Number(result.n.forged) : 0;
  if (!n) return 'no verification with a recorded outcome yet';
  const rate = (value: unknown) => (typeof value === 'number' ? `${value}%` : 'n/a');
  return `FAR ${rate(result.far)}, FRR ${rate(result.frr)} on ${n} labelled verifications`;
}

/** The card as indented JSON, for the page's "full card" block. */
export const cardJson = (card: Card) => JSON.stringify(card, null, 2);
