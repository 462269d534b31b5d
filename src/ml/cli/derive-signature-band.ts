/**
 * Derives the signature model's inconclusive band from its held-out evaluation and, with --write, stores it in the
 * card (models/signatures.json, `decision`); the .onnx file and its sha256 are not touched.
 *
 *   npm run band:signatures -- [--data ../shared/datasets] [--models models] [--max-rate 0.05] [--write]
 *
 * For each set of the card's `split`, its held-out test writers go through the production path
 * (evaluateSignatureFolder, K = the card's references_k). Per set, the band is the score range in which FAR on
 * skilled forgeries and FRR both exceed --max-rate (deriveInconclusiveBand); the card gets the union of the sets'
 * bands, so that decided answers stay within the rate on each set. The same band is then applied to the
 * validation writers, which did not choose it, as a check. The last line is one JSON object.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSignatureModel, type SignatureModel } from '../index.js';
import { deriveInconclusiveBand, threeWayFigures, type InconclusiveBand, type ThreeWayFigures } from '../signature-decision.js';
import { evaluateSignatureFolder } from '../signature-evaluation.js';

const MAX_PIXELS = 40_000_000;

interface BandCard {
  version: string;
  references_k: number;
  threshold: number;
  split: Record<string, { test: string[]; validation: string[] }>;
}

// Band edges are rounded outwards, so the rounded band still contains the threshold; figures to 4 digits.
const down = (value: number) => Math.floor(value * 1e6) / 1e6;
const up = (value: number) => Math.ceil(value * 1e6) / 1e6;
function rounded({ inconclusive_band: _sameForAll, ...figures }: ThreeWayFigures): Omit<ThreeWayFigures, 'inconclusive_band'> {
  return JSON.parse(JSON.stringify(figures, (_key, value: unknown) => (typeof value === 'number' ? Math.round(value * 1e4) / 1e4 : value))) as typeof figures;
}
const percent = (rate: number) => `${(100 * rate).toFixed(1)}%`;

async function scoresOf(model: SignatureModel, data: string, set: string, writers: string[], k: number) {
  const evaluation = await evaluateSignatureFolder(path.join(data, 'signatures', set), model, {
    references: k,
    writers,
    maxPixels: MAX_PIXELS,
    onSkip: (file, reason) => console.warn(`skipped ${file}: ${reason}`),
  });
  const of = (kind: 'genuine' | 'skilled') => evaluation.questioned.filter((q) => q.kind === kind).map((q) => q.score);
  return { genuine: of('genuine'), skilled: of('skilled') };
}

function describe(label: string, figures: ThreeWayFigures): string {
  return (
    `${label}: inconclusive ${percent(figures.inconclusive_share)}, accuracy ${percent(figures.accuracy)}, on the decided ${percent(figures.accuracy_decided)}; ` +
    `skilled forgeries decided genuine ${percent(figures.far_skilled)}, genuine decided forged ${percent(figures.frr)}`
  );
}

/** Puts `decision` into the card's text as a top-level key, leaving every other line as it was (JSON.stringify would rewrite 18.0 as 18). */
function withDecision(cardText: string, decision: object): string {
  const block = `  "decision": ${JSON.stringify(decision, null, 2).replaceAll('\n', '\n  ')}`;
  const topLevelKey = /\n {2}"([^"]+)": /g;
  const keys = [...cardText.matchAll(topLevelKey)];
  const existing = keys.findIndex((match) => match[1] === 'decision');
  if (existing >= 0) {
    const start = keys[existing]!.index! + 1;
    const next = keys[existing + 1];
    const end = next ? next.index! - 1 : cardText.lastIndexOf('\n}');
    return cardText.slice(0, start) + block + cardText.slice(end);
  }
  const before = keys.find((match) => match[1] === 'training_data') ?? null;
  if (!before) throw new Error('The card has no "training_data" key to put "decision" before.');
  return `${cardText.slice(0, before.index! + 1)}${block},${cardText.slice(before.index!)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: '../shared/datasets' },
      models: { type: 'string', default: path.resolve(import.meta.dirname, '../../../models') },
      'max-rate': { type: 'string', default: '0.05' },
      write: { type: 'boolean', default: false },
    },
  });
  const maxRate = Number(values['max-rate']);
  if (!(maxRate > 0 && maxRate < 0.5)) throw new Error('--max-rate must be between 0 and 0.5');
  const cardPath = path.join(values.models, 'signatures.json');
  const cardText = await readFile(cardPath, 'utf8');
  const card = JSON.parse(cardText) as BandCard;
  const k = card.references_k;
  const model = await loadSignatureModel(values.models, { workers: 1, intraOpNumThreads: 1 });
  try {
    const sets = Object.keys(card.split).filter((key) => key !== 'method');
    const perSet: Record<string, { band: [number, number]; n: { genuine: number; skilled: number } }> = {};
    const held: Record<string, { genuine: number[]; skilled: number[] }> = {};
    for (const set of sets) {
      held[set] = await scoresOf(model, values.data, set, card.split[set]!.test, k);
      const band = deriveInconclusiveBand(held[set].genuine, held[set].skilled, card.threshold, maxRate);
      perSet[set] = { band: [down(band.low), up(band.high)], n: { genuine: held[set].genuine.length, skilled: held[set].skilled.length } };
      console.log(`${set} held-out: band [${band.low.toFixed(4)}, ${band.high.toFixed(4)}] (${held[set].genuine.length} genuine, ${held[set].skilled.length} skilled forgeries)`);
    }
    const band: InconclusiveBand = {
      low: Math.min(...Object.values(perSet).map((s) => s.band[0])),
      high: Math.max(...Object.values(perSet).map((s) => s.band[1])),
    };
    console.log(`card band (union): [${band.low}, ${band.high}] around the threshold ${card.threshold}`);

    const heldOut: Record<string, object> = {};
    const validation: Record<string, object> = {};
    for (const set of sets) {
      const figures = threeWayFigures(held[set]!.genuine, held[set]!.skilled, band);
      console.log(describe(`${set} held-out (chose the band)`, figures));
      heldOut[set] = rounded(figures);
      const check = await scoresOf(model, values.data, set, card.split[set]!.validation, k);
      const checkFigures = threeWayFigures(check.genuine, check.skilled, band);
      console.log(describe(`${set} validation (did not choose it)`, checkFigures));
      validation[set] = rounded(checkFigures);
    }

    const decision = {
      inconclusive_band: [band.low, band.high],
      rule: 'genuine when score >= high; forged when score < low; inconclusive (refer to a person) in between',
      derivation:
        `per set, on the held-out test writers (K = ${k}, production path): high = the lowest score at which at most ${percent(maxRate)} of the skilled ` +
        `forgeries score at or above it; low = the highest score below which at most ${percent(maxRate)} of the genuine signatures fall; between them ` +
        'FAR on skilled forgeries and FRR both exceed the rate. The card holds the union of the sets\' bands, widened to contain the threshold. ' +
        'The held-out figures below are therefore in-sample for the band; the validation writers did not choose it.',
      max_error_rate: maxRate,
      per_set: perSet,
      figures_held_out: heldOut,
      figures_validation: validation,
      model_version: card.version,
      command: `npm run band:signatures -- --max-rate ${maxRate} --write`,
    };
    if (values.write) {
      await writeFile(cardPath, withDecision(cardText, decision));
      console.log(`wrote decision into ${cardPath}`);
    }
    console.log(JSON.stringify(decision));
  } finally {
    await model.close();
  }
}

await main();
