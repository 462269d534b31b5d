import assert from 'node:assert/strict';

/**
 * A model card's `evaluation.targets`: an issue's targets, each judged on a figure the card measured (a dotted path
 * into the card) or, for a speed, on a benchmark named instead of a path ("bench/README.md, ...").
 */
export interface CardTargets {
  source: string;
  model_sha256: string;
  checks: TargetCheck[];
  verdict: string;
}

export interface TargetCheck {
  name: string;
  figure: string;
  measured: number;
  at_least?: number;
  at_most?: number;
  below?: number;
  met: boolean;
  short_by?: number;
}

/** The value at a dotted path into the card ("evaluation.validation.accuracy"); undefined if there is none. */
const figureAt = (root: unknown, dotted: string): unknown =>
  dotted.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), root);

const decimalsOf = (value: number) => (String(value).split('.')[1] ?? '').length;

/**
 * Every verdict follows from the card's own figures: the figure is the one at its path, met is what the bound says,
 * a miss states its gap (to the precision of the figures) and is named in the one-line verdict.
 */
export function assertTargetsFollowFromCard(card: { file: { sha256: string } }, targets: CardTargets): void {
  assert.equal(targets.model_sha256, card.file.sha256, 'the targets were judged for another file');
  for (const check of targets.checks) {
    if (!check.figure.startsWith('bench/')) assert.equal(check.measured, figureAt(card, check.figure), `${check.name}: not the figure at ${check.figure}`);
    const met = check.at_least !== undefined ? check.measured >= check.at_least : check.at_most !== undefined ? check.measured <= check.at_most : check.measured < check.below!;
    assert.equal(check.met, met, check.name);
    if (!met) {
      const bound = check.at_least ?? check.at_most ?? check.below!;
      const gap = Math.abs(bound - check.measured).toFixed(Math.max(decimalsOf(bound), decimalsOf(check.measured)));
      assert.equal(check.short_by, Number(gap), check.name);
      assert.ok(targets.verdict.includes(check.name), `the verdict leaves out the missed ${check.name}`);
    }
  }
  const metCount = targets.checks.filter((check) => check.met).length;
  assert.ok(targets.verdict.startsWith(`${metCount} of ${targets.checks.length} targets met`), `the verdict does not start with "${metCount} of ${targets.checks.length} targets met"`);
}
