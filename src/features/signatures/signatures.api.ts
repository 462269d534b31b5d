import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../../http/errors.js';
import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import type { UploadedFile } from '../images/images.service.js';
import { parseCrop } from './page-helpers.js';
import type { ReferenceWarning } from './references.service.js';
import type { SignatureReference } from './references.repo.js';
import type { Signer } from './signers.repo.js';
import { idSchema, listQuerySchema, newSignerSchema, pageSchema, PER_PAGE, signerChangesSchema, truthSchema } from './signatures.schemas.js';
import type { SignaturesService } from './signatures.service.js';
import type { Verification } from './verifications.repo.js';

const SignerSchema = z
  .object({
    id: z.number().int().openapi({ example: 7 }),
    name: z.string().openapi({ example: 'Ada Lovelace' }),
    external_ref: z.string().nullable().openapi({ description: 'Such as a customer number; unique within your account.', example: 'C-1042' }),
    notes: z.string(),
    reference_count: z.number().int(),
    created_at: z.string().openapi({ example: '2026-12-03T09:12:44.120Z' }),
  })
  .openapi('Signer');

const WarningSchema = z
  .object({
    reference_id: z.number().int(),
    code: z.enum(['near_duplicate', 'outlier']),
    message: z.string(),
  })
  .openapi('ReferenceWarning', { description: 'The reference is kept; near_duplicate: almost identical to an earlier one; outlier: far from the signer\'s other references.' });

const ReferenceSchema = z
  .object({
    id: z.number().int(),
    image_id: z.number().int().openapi({ description: 'The stored image.' }),
    created_at: z.string(),
  })
  .openapi('Reference');

const VerificationSchema = z
  .object({
    id: z.number().int(),
    decision: z.enum(['genuine', 'forged', 'inconclusive']),
    score: z.number().openapi({ description: 'Higher = more likely genuine; compare with threshold and inconclusive_band of the same model version only.' }),
    threshold: z.number(),
    inconclusive_band: z.tuple([z.number(), z.number()]).openapi({ description: '[low, high]: genuine when score >= high, forged when score < low, inconclusive in between.' }),
    similarities: z.array(z.object({ reference_id: z.number().int(), similarity: z.number() })).openapi({ description: 'Cosine similarity to each reference used.' }),
    model_version: z.string(),
    duration_ms: z.number(),
    created_at: z.string(),
  })
  .openapi('Verification');

const VerificationRecordSchema = VerificationSchema.extend({
  image_id: z.number().int().openapi({ description: 'The questioned image as received.' }),
  crop: z.string().nullable().openapi({ description: 'x,y,width,height of the region verified; null for the whole image.' }),
  source: z.enum(['upload', 'drawing', 'camera', 'library', 'api']),
  run_by: z.string().openapi({ description: 'The username that ran it.' }),
  left_out: z.array(z.number().int()).openapi({ description: 'References of the signer left out as outliers (far from the others).' }),
  truth: z.enum(['genuine', 'forged']).nullable().openapi({ description: 'The true outcome, once marked.' }),
}).openapi('VerificationRecord');

const toSignerJson = (signer: Signer): z.infer<typeof SignerSchema> => ({
  id: signer.id,
  name: signer.name,
  external_ref: signer.externalRef,
  notes: signer.notes,
  reference_count: signer.referenceCount,
  created_at: signer.createdAt,
});

const toReferenceJson = (reference: SignatureReference): z.infer<typeof ReferenceSchema> => ({ id: reference.id, image_id: reference.storedImageId, created_at: reference.createdAt });

export const toVerificationJson = (v: Verification): z.infer<typeof VerificationSchema> => ({
  id: v.id,
  decision: v.decision,
  score: v.score,
  threshold: v.threshold,
  inconclusive_band: [v.bandLow, v.bandHigh],
  similarities: v.similarities,
  model_version: v.modelVersion,
  duration_ms: Math.round(v.durationMs * 10) / 10,
  created_at: v.createdAt,
});

const toRecordJson = (v: Verification): z.infer<typeof VerificationRecordSchema> => ({
  ...toVerificationJson(v),
  image_id: v.storedImageId,
  crop: v.crop,
  source: v.source,
  run_by: v.username,
  left_out: v.leftOut,
  truth: v.truth,
});

const signerParams = z.object({ id: idSchema.openapi({ example: 7 }) });
const error = (description: string) => ({ description, schema: ApiErrorSchema });
const signerNotFound = error('No such signer in your account (another account\'s id looks the same).');
const unavailable = error('The signature model is not loaded.');
const tags = ['Signatures'];

/** The multipart files of a request, all in `field`; a file in another field is a mistake worth naming. */
function filesIn(req: { files?: unknown }, field: string): UploadedFile[] {
  const files = (req.files ?? []) as Express.Multer.File[];
  const wrong = files.find((file) => file.fieldname !== field);
  if (wrong) throw new ValidationError(`Send the files in the multipart field "${field}".`, { [wrong.fieldname]: `Unknown field: use "${field}".` });
  return files;
}

/** Signature verification's JSON API: signers, references, verifications, history. */
export function declareSignaturesApi(api: ApiRoutes, { signatures }: { signatures: SignaturesService }): void {
  const { signers, references, verifications } = signatures;
  const received = (file: UploadedFile, fallback: string) => ({ name: file.originalname || fallback, path: file.path });

  apiRoute(api, {
    method: 'post', path: '/v1/signers', auth: true, tags, summary: 'Create a signer',
    body: newSignerSchema.openapi('NewSigner', { example: { name: 'Ada Lovelace', external_ref: 'C-1042', notes: '' } }),
    responses: { 201: { description: 'The new signer', schema: SignerSchema }, 409: error('external_ref_taken: another signer of yours has this external reference.') },
  }, ({ body, user }) => toSignerJson(signers.create(user.id, body)));

  apiRoute(api, {
    method: 'get', path: '/v1/signers', auth: true, tags, summary: 'Your signers, by name',
    description: `q searches names and external references; ${PER_PAGE} per page.`,
    query: listQuerySchema,
    responses: { 200: { description: 'One page of signers and the total', schema: z.object({ items: z.array(SignerSchema), total: z.number().int() }) } },
  }, ({ query, user }) => {
    const { items, total } = signers.list(user.id, query.q, query.page);
    return { items: items.map(toSignerJson), total };
  });

  apiRoute(api, {
    method: 'get', path: '/v1/signers/:id', auth: true, tags, summary: 'One signer', params: signerParams,
    responses: { 200: { description: 'The signer', schema: SignerSchema }, 404: signerNotFound },
  }, ({ params, user }) => toSignerJson(signers.get(user.id, params.id)));

  apiRoute(api, {
    method: 'patch', path: '/v1/signers/:id', auth: true, tags, summary: 'Change a signer (only the fields sent)', params: signerParams,
    body: signerChangesSchema.openapi('SignerChanges', { example: { notes: 'Signs with initials on cheques.' } }),
    responses: { 200: { description: 'The signer', schema: SignerSchema }, 404: signerNotFound, 409: error('external_ref_taken') },
  }, ({ params, body, user }) => toSignerJson(signers.update(user.id, params.id, body)));

  apiRoute(api, {
    method: 'delete', path: '/v1/signers/:id', auth: true, tags, summary: 'Delete a signer with its references, verifications and their images', params: signerParams,
    responses: { 204: { description: 'Deleted' }, 404: signerNotFound },
  }, async ({ params, user }) => {
    await signers.remove(user.id, params.id);
  });

  apiRoute(api, {
    method: 'post', path: '/v1/signers/:id/references', auth: true, tags, summary: 'Add reference signatures (all or nothing)', params: signerParams,
    description:
      'Each file is checked by the image store and read by the signature model. If any is refused, nothing is stored: 422 with error.fields ' +
      'mapping each refused file to its reason (no_ink, unsupported_type, undecodable, too_many_pixels, duplicate = a byte-identical copy of a ' +
      'reference, or the store\'s other reasons); too_many_references beyond the limit. Near-duplicates and outliers are kept, with warnings.',
    multipart: { files: { images: 'One or more signature images (PNG, JPEG, WebP, GIF).' } },
    responses: {
      201: { description: 'The new references and the warnings about them', schema: z.object({ items: z.array(ReferenceSchema), warnings: z.array(WarningSchema) }) },
      404: signerNotFound, 413: error('A file is too large, too many files, or the storage quota would be exceeded.'), 503: unavailable,
    },
  }, async ({ params, user, req }) => {
    const files = filesIn(req, 'images').map((file, i) => signatures.received(received(file, `image-${i + 1}`)));
    const { items, warnings } = await references.add(user.id, params.id, files, 'api');
    return { items: items.map(toReferenceJson), warnings };
  });

  apiRoute(api, {
    method: 'get', path: '/v1/signers/:id/references', auth: true, tags, summary: 'A signer\'s references, oldest first, with current warnings', params: signerParams,
    responses: { 200: { description: 'The references', schema: z.object({ items: z.array(ReferenceSchema), warnings: z.array(WarningSchema) }) }, 404: signerNotFound },
  }, async ({ params, user }) => {
    const { items, warnings } = await references.list(user.id, params.id);
    return { items: items.map(toReferenceJson), warnings: warnings satisfies ReferenceWarning[] };
  });

  apiRoute(api, {
    method: 'delete', path: '/v1/signers/:id/references/:reference_id', auth: true, tags, summary: 'Delete a reference',
    params: signerParams.extend({ reference_id: idSchema }),
    responses: { 204: { description: 'Deleted' }, 404: error('No such signer or reference in your account.') },
  }, async ({ params, user }) => {
    await references.remove(user.id, params.id, params.reference_id);
  });

  apiRoute(api, {
    method: 'post', path: '/v1/signers/:id/verifications', auth: true, tags, summary: 'Verify a questioned signature', params: signerParams,
    description:
      'Compares the image (or its crop) with the signer\'s references (outliers left out). decision: genuine when score >= inconclusive_band[1], forged when ' +
      'score < inconclusive_band[0], inconclusive in between (refer it to a person). The verification is kept in the signer\'s history with the image.',
    multipart: { files: { image: 'The questioned signature (PNG, JPEG, WebP, GIF).' } },
    // Parsed in the handler, so that a bad crop answers bad_crop like a crop outside the image.
    body: z.object({ crop: z.string().optional().openapi({ description: 'x,y,width,height in the image\'s pixels: only that region is verified.', example: '120,340,800,260' }) }),
    responses: {
      201: { description: 'The result', schema: VerificationSchema },
      404: signerNotFound, 409: error('too_few_references: the signer has fewer references than verification needs.'),
      413: error('The file is too large, or the storage quota would be exceeded.'), 503: unavailable,
    },
  }, async ({ params, body, user, req }) => {
    const files = filesIn(req, 'image');
    if (files.length !== 1) throw new ValidationError('Send exactly one image in the multipart field "image".', { image: 'Send exactly one image.' });
    const crop = parseCrop(body.crop);
    const file = signatures.received(received(files[0]!, 'image'));
    return toVerificationJson(await verifications.verify(user.id, params.id, { image: { file }, crop, source: 'api' }));
  });

  apiRoute(api, {
    method: 'get', path: '/v1/signers/:id/verifications', auth: true, tags, summary: 'A signer\'s verifications, newest first', params: signerParams, query: pageSchema,
    responses: { 200: { description: 'One page of the history and the total', schema: z.object({ items: z.array(VerificationRecordSchema), total: z.number().int() }) }, 404: signerNotFound },
  }, ({ params, query, user }) => {
    const { items, total } = verifications.history(user.id, params.id, query.page);
    return { items: items.map(toRecordJson), total };
  });

  apiRoute(api, {
    method: 'get', path: '/v1/signers/:id/verifications.csv', auth: true, tags, summary: 'A signer\'s whole history as CSV, oldest first', params: signerParams,
    responses: { 200: { description: 'text/csv' }, 404: signerNotFound },
  }, async ({ params, user, res }) => {
    const lines = verifications.csv(user.id, params.id);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="signer-${params.id}-verifications.csv"`, 'Cache-Control': 'no-store' });
    await pipeline(Readable.from(lines), res);
  });

  apiRoute(api, {
    method: 'patch', path: '/v1/verifications/:id', auth: true, tags, summary: 'Mark the true outcome of a verification', params: z.object({ id: idSchema }),
    description: 'For calibration later: genuine or forged once known, null to clear it. The decision and everything else stay as they were.',
    body: z.object({ truth: truthSchema }).openapi('VerificationTruth', { example: { truth: 'forged' } }),
    responses: { 200: { description: 'The verification', schema: VerificationRecordSchema }, 404: error('No such verification in your account.') },
  }, ({ params, body, user }) => toRecordJson(verifications.markTruth(user.id, params.id, body.truth)));
}
