import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import { ValidationError } from '../../http/errors.js';
import { MIME_TYPES } from '../../storage/index.js';
import { sendImage } from './image-response.js';
import type { LibraryImage } from './images.repo.js';
import { backgroundRemovalSchema, idSchema, imageNameSchema, pageQuerySchema } from './images.schemas.js';
import type { ImagesService } from './images.service.js';

const ImageSchema = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    name: z.string().openapi({ example: 'receipt.jpg' }),
    width: z.number().int().openapi({ example: 3024 }),
    height: z.number().int().openapi({ example: 4032 }),
    bytes: z.number().int().openapi({ description: 'Size of the stored file (metadata removed).', example: 2483112 }),
    type: z.enum(Object.values(MIME_TYPES) as [string, ...string[]]).openapi({ description: 'Sniffed from the content, never taken from the upload.' }),
    sha256: z.string().openapi({ description: 'Of the stored bytes.' }),
    created_at: z.string().openapi({ example: '2026-12-02T10:31:05.123Z' }),
    source: z.enum(['upload', 'camera', 'api', 'background_removal']),
    derived_from: z.number().int().nullable().openapi({ description: 'The image this one was made from, while it exists.' }),
    derivation: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'How a derived image was made (options, method, provider, and a notice when a provider fell back).' }),
  })
  .openapi('Image');

export const toImageJson = (image: LibraryImage): z.infer<typeof ImageSchema> => ({
  id: image.id,
  name: image.name,
  width: image.width,
  height: image.height,
  bytes: image.bytes,
  type: MIME_TYPES[image.type],
  sha256: image.sha256,
  created_at: image.createdAt,
  source: image.source,
  derived_from: image.derivedFromId,
  derivation: image.derivation,
});

const idParams = z.object({ id: idSchema.openapi({ example: 42 }) });
const notFound = { description: 'No such image among yours (another user\'s id looks the same).', schema: ApiErrorSchema };

/** The image library's JSON API: upload, list, read, rename, delete, background removal. */
export function declareImagesApi(api: ApiRoutes, { images }: { images: ImagesService }): void {
  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/images',
      auth: true,
      tags: ['Images'],
      summary: 'Upload images (all or nothing)',
      description:
        'Checks every file (type by content, pixel limit, integrity), removes EXIF/GPS/XMP/IPTC metadata and stores them. If any file is refused, ' +
        'nothing is stored and the answer is 422 with error.fields mapping each refused file name to its reason code ' +
        '(empty, unsupported_type, polyglot, undecodable, too_many_pixels, too_many_frames, bad_dimensions).',
      multipart: { files: { images: 'One or more image files (PNG, JPEG, WebP, GIF), up to UPLOAD_MAX_FILES.' } },
      responses: {
        201: { description: 'The stored images, in the order sent', schema: z.object({ items: z.array(ImageSchema) }) },
        413: { description: 'A file is over UPLOAD_MAX_FILE_MB, too many files, or the upload would exceed your storage quota.', schema: ApiErrorSchema },
      },
    },
    async ({ req, user }) => {
      const files = ((req.files ?? []) as Express.Multer.File[]);
      const wrongField = files.find((file) => file.fieldname !== 'images');
      if (wrongField) throw new ValidationError('Send the files in the multipart field "images".', { [wrongField.fieldname]: 'Unknown field: use "images".' });
      const stored = await images.upload(user.id, files, 'api');
      return { items: stored.map(toImageJson) };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/images',
      auth: true,
      tags: ['Images'],
      summary: 'Your images, newest first',
      query: pageQuerySchema,
      responses: { 200: { description: 'One page of images and the total count', schema: z.object({ items: z.array(ImageSchema), total: z.number().int() }) } },
    },
    ({ query, user }) => {
      const { items, total } = images.list(user.id, query.page, query.per_page);
      return { items: items.map(toImageJson), total };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/images/:id',
      auth: true,
      tags: ['Images'],
      summary: 'One image\'s metadata',
      params: idParams,
      responses: { 200: { description: 'The image', schema: ImageSchema }, 404: notFound },
    },
    ({ params, user }) => toImageJson(images.get(user.id, params.id)),
  );

  for (const [suffix, variant, summary] of [
    ['file', 'original', 'The image file (metadata removed), with its sniffed Content-Type'],
    ['thumbnail', 'thumbnail', 'The thumbnail: WebP, longer side 320 px'],
  ] as const) {
    apiRoute(
      api,
      {
        method: 'get',
        path: `/v1/images/:id/${suffix}`,
        auth: true,
        tags: ['Images'],
        summary,
        description: 'Binary body. Sends an ETag; a request with a matching If-None-Match gets 304.',
        params: idParams,
        responses: { 200: { description: 'The image bytes' }, 304: { description: 'Not modified' }, 404: notFound },
      },
      ({ params, user, req, res }) => sendImage(req, res, images.open(user.id, params.id, variant), { download: variant === 'original' && req.query.download === '1' }),
    );
  }

  apiRoute(
    api,
    {
      method: 'patch',
      path: '/v1/images/:id',
      auth: true,
      tags: ['Images'],
      summary: 'Rename an image',
      params: idParams,
      body: z.object({ name: imageNameSchema.openapi({ example: 'Receipt March' }) }).openapi('ImageRename'),
      responses: { 200: { description: 'The renamed image', schema: ImageSchema }, 404: notFound },
    },
    ({ params, body, user }) => toImageJson(images.rename(user.id, params.id, body.name)),
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/images/:id',
      auth: true,
      tags: ['Images'],
      summary: 'Delete an image',
      description: 'The file is deleted once nothing else of yours refers to the same bytes.',
      params: idParams,
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    },
    async ({ params, user }) => {
      await images.remove(user.id, [params.id]);
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/images/:id/background-removal',
      auth: true,
      tags: ['Images'],
      summary: 'Remove the background into a new image',
      description:
        'document: ink on paper (signatures, handwriting, stamps) becomes a transparent PNG; photo: an object or person, with the built-in ' +
        'U²-Net model or, if configured, an external provider (the image then leaves the server; a failing provider falls back to the built-in ' +
        'method and derivation.notice says why); plain: a classical cut-out for plain or gradient backgrounds. The original is not changed.',
      params: idParams,
      body: backgroundRemovalSchema.openapi('BackgroundRemoval', { example: { mode: 'document', output: 'transparent' } }),
      responses: {
        201: { description: 'The new image (PNG for transparent and mask, JPEG for color)', schema: ImageSchema },
        404: notFound,
        413: { description: 'The result would exceed your storage quota.', schema: ApiErrorSchema },
        503: { description: 'Background removal is not available (its model is not loaded).', schema: ApiErrorSchema },
      },
    },
    async ({ params, body, user }) => toImageJson((await images.removeBackground(user.id, params.id, body)).image),
  );
}
