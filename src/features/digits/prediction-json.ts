import type { Prediction } from './predictions.repo.js';

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
