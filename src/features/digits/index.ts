/**
 * Digit recognition: draw or upload digits, see what the model read and why, correct it; history, analytics and
 * exports (pages and API). Predictions are written in batches (prediction-writer.ts); images go to the image store.
 */
export { createDigitsService, type DigitsService } from './digits.service.js';
export { createDigitsWebRouter } from './digits.web.js';
export { declareDigitsApi } from './digits.api.js';
export { createTrainingCorrectionsReader, type TrainingCorrectionsReader, type CorrectedDigit, type CorrectionFilter } from './training-corrections.js';
