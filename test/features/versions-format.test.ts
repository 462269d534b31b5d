import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cardMetrics } from '../../src/features/models/versions.format.js';

test("when a card's validation figures name their data set, then the admin page's label names it too, apart from training's validation split", () => {
  const card = {
    evaluation: {
      validation: { set: 'pendigits-canvas', accuracy: 98.25, per_digit_accuracy: { 1: 94.87 } },
      mnist_test: { accuracy: 99.53 },
    },
    training: { validation_accuracy: 99.34 },
  };
  assert.deepEqual(cardMetrics(card), [
    ['mnist_test · accuracy', 99.53],
    ['validation (pendigits-canvas) · accuracy', 98.25],
    ['training · validation accuracy', 99.34],
  ]);
});
