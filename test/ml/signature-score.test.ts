import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalErrorRate, errorRatesAt, scoreSignature, scoringRuleOf } from '../../src/ml/signature-score.js';

/** A unit vector in the plane at `degrees` from the x axis. */
const at = (degrees: number) => Float32Array.of(Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180));
const cos = (degrees: number) => Math.cos((degrees * Math.PI) / 180);

describe('scoreSignature', () => {
  const references = [at(0), at(20), at(40)];
  const referenceAgreement = (cos(20) + cos(40) + cos(20)) / 3;

  it('when the rule is mean, then the score is the mean cosine similarity to the references', () => {
    const result = scoreSignature(at(20), references, 0.9, 'mean');
    assert.ok(Math.abs(result.score - (cos(20) + 1 + cos(20)) / 3) < 1e-6);
    assert.equal(result.genuine, true);
    assert.deepEqual(result.similarities.map((s) => Math.round(s * 1e4) / 1e4), [cos(20), 1, cos(20)].map((s) => Math.round(s * 1e4) / 1e4));
  });

  it('when the rule is max, then the score is the closest reference', () => {
    assert.ok(Math.abs(scoreSignature(at(50), references, 0, 'max').score - cos(10)) < 1e-6);
  });

  it('when the rule is normalised-mean, then the score is relative to how alike the references are', () => {
    const result = scoreSignature(at(60), references, 0);
    assert.equal(result.rule, 'normalised-mean');
    assert.ok(Math.abs(result.referenceAgreement - referenceAgreement) < 1e-6);
    assert.ok(Math.abs(result.score - ((cos(60) + cos(40) + cos(20)) / 3 - referenceAgreement)) < 1e-6);
    assert.equal(result.genuine, false, 'further from the references than they are from each other');
  });

  it('when the score equals the threshold, then it counts as genuine', () => {
    const { score } = scoreSignature(at(10), references, 0, 'mean');
    assert.equal(scoreSignature(at(10), references, score, 'mean').genuine, true);
  });

  it('when there are fewer than two references or sizes differ, then it refuses', () => {
    assert.throws(() => scoreSignature(at(0), [at(0)], 0), RangeError);
    assert.throws(() => scoreSignature(at(0), [at(0), Float32Array.of(1, 0, 0)], 0), RangeError);
  });
});

describe('scoringRuleOf', () => {
  it('when the card names a known rule, then it is returned, else it throws', () => {
    assert.equal(scoringRuleOf({ scoring: { rule: 'max' } }), 'max');
    assert.throws(() => scoringRuleOf({ scoring: { rule: 'median' } }));
    assert.throws(() => scoringRuleOf({}));
  });
});

describe('equalErrorRate', () => {
  it('when the classes are separable, then the EER is 0 at a threshold between them', () => {
    const { eer, threshold } = equalErrorRate([0.8, 0.9, 0.95], [0.1, 0.2, 0.3]);
    assert.equal(eer, 0);
    assert.ok(threshold > 0.3 && threshold <= 0.8);
  });

  it('when the classes overlap, then FAR and FRR meet where they are closest', () => {
    // At 0.5: FRR = 1/4 (0.4 rejected), FAR = 1/4 (0.6 accepted).
    const genuine = [0.4, 0.7, 0.8, 0.9];
    const impostor = [0.1, 0.2, 0.3, 0.6];
    const { eer } = equalErrorRate(genuine, impostor);
    assert.equal(eer, 0.25);
    assert.deepEqual(errorRatesAt(0.5, genuine, impostor), { far: 0.25, frr: 0.25 });
  });
});
