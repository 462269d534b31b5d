/**
 * Signature verification: signers, their reference signatures, and verifications of questioned signatures with a
 * three-way decision (genuine, forged, inconclusive) and an append-only history. Built on the image store, the
 * image library (picking images) and the signature model of src/ml.
 */
export { createSignaturesService, type SignaturesService } from './signatures.service.js';
export { createSignaturesWebRouter } from './signatures.web.js';
export { declareSignaturesApi } from './signatures.api.js';
export { createLabelledVerificationsReader, type LabelledVerification } from './labelled-verifications.js';
