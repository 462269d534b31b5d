import { z } from '../../http/openapi.js';
import { digitInputPng } from '../../ml/index.js';
import type { DigitOutcome } from './digits.service.js';
import { PREDICTION_SOURCES, type Prediction } from './predictions.repo.js';

/** A prediction as the API, the JSON export and the pages' scripts show it (snake_case, as the whole API). */
export function toPredictionJson(prediction: Prediction) {
  return {
    id: prediction.id,
    digit: prediction.digit,
    confidence: prediction.confidence,
    probabilities: prediction.probabilities,
    model_version: prediction.modelVersion,
    created_at: prediction.createdAt,
    source: prediction.source,
    file_name: prediction.fileName,
    has_image: prediction.storedImageId !== null,
    correction: prediction.correction && { label: prediction.correction.label, corrected_at: prediction.correction.correctedAt },
  };
}

export type PredictionJson = ReturnType<typeof toPredictionJson>;

export const probabilities = z.array(z.number()).length(10).openapi({ description: 'Ten probabilities summing to 1; index = digit.' });

export const CreatedSchema = z
  .object({
    id: z.number().int().openapi({ example: 1207 }),
    digit: z.number().int().min(0).max(9).openapi({ example: 7 }),
    confidence: z.number().openapi({ description: 'The probability of `digit`.', example: 0.993 }),
    probabilities,
    model_version: z.string().openapi({ example: '1.0.0' }),
    created_at: z.string().openapi({ example: '2026-12-02T10:31:05.123Z' }),
    input: z.string().optional().openapi({ description: 'With ?include=input: the 28x28 image the model saw (ink bright on black), as a PNG data URL.' }),
  })
  .openapi('DigitPredictionCreated');

export const PredictionSchema = z
  .object({
    id: z.number().int(),
    digit: z.number().int().min(0).max(9),
    confidence: z.number(),
    probabilities,
    model_version: z.string(),
    created_at: z.string(),
    source: z.enum(PREDICTION_SOURCES),
    file_name: z.string().nullable().openapi({ description: 'The uploaded file\'s name; null for drawings and data URLs.' }),
    has_image: z.boolean().openapi({ description: 'Whether the image was kept (GET .../image).' }),
    correction: z
      .object({ label: z.number().int().min(0).max(9).nullable().openapi({ description: 'The true digit; null = not a digit.' }), corrected_at: z.string() })
      .nullable()
      .openapi({ description: 'null until reviewed. A label equal to `digit` confirms the prediction.' }),
  })
  .openapi('DigitPrediction');

/** The 201 answer of a single prediction; with the model's input as a PNG data URL when asked. */
export function createdJson(outcome: Extract<DigitOutcome, { prediction: object }>, withInput: boolean): z.infer<typeof CreatedSchema> {
  const { id, digit, confidence, probabilities: p, model_version, created_at } = toPredictionJson(outcome.prediction);
  const input = withInput ? { input: `data:image/png;base64,${digitInputPng(outcome.input).toString('base64')}` } : {};
  return { id, digit, confidence, probabilities: p, model_version, created_at, ...input };
}
