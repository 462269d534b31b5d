import { sniffImageType } from '../../ml/image-input.js';
import type { BackgroundProvider } from './images.schemas.js';

/**
 * Optional external background-removal services, off unless configured. With one chosen, the image leaves this
 * server (the page says so). Every failure becomes a ProviderError whose message is fit to show a user and
 * never contains the API key; the caller then falls back to the built-in method.
 */
export interface ProviderSettings {
  /** A self-hosted rembg server's base URL, e.g. http://rembg:7000. */
  rembgUrl: string | null;
  removeBgApiKey: string | null;
  /** remove.bg's endpoint; configurable so that tests can point it at a local stub. */
  removeBgUrl: string;
  timeoutMs: number;
}

export type ExternalProvider = Exclude<BackgroundProvider, 'builtin'>;

export class ProviderError extends Error {
  constructor(
    readonly provider: ExternalProvider,
    readonly kind: 'timeout' | 'network' | 'authentication' | 'quota' | 'rate_limit' | 'refused' | 'bad_answer',
    message: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** A cut-out bigger than this is no answer to a photo of at most IMAGE_MAX_MEGAPIXELS. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

const label: Record<ExternalProvider, string> = { 'remove.bg': 'remove.bg', rembg: 'The rembg server' };

/** Reads remove.bg's `{"errors":[{"title":...}]}`, if that is what came back. */
async function errorTitle(response: Response): Promise<string | null> {
  try {
    const body = (await response.json()) as { errors?: { title?: unknown }[] };
    const title = body.errors?.[0]?.title;
    return typeof title === 'string' ? title.slice(0, 200) : null;
  } catch {
    return null;
  }
}

async function failureOf(provider: ExternalProvider, response: Response): Promise<ProviderError> {
  const who = label[provider];
  const detail = provider === 'remove.bg' ? await errorTitle(response) : null;
  const because = detail ? ` (${detail})` : '';
  switch (response.status) {
    case 401:
    case 403:
      return new ProviderError(provider, 'authentication', `${who} refused our credentials${because}. An administrator should check ${provider === 'remove.bg' ? 'REMOVE_BG_API_KEY' : 'the rembg server'}.`);
    case 402:
      return new ProviderError(provider, 'quota', `${who} says the account has no credits left${because}.`);
    case 429: {
      const retry = response.headers.get('retry-after');
      return new ProviderError(provider, 'rate_limit', `${who} is limiting requests${retry ? `; it asks to wait ${retry} seconds` : ''}.`);
    }
    default:
      return new ProviderError(provider, 'refused', `${who} answered with an error (HTTP ${response.status})${because}.`);
  }
}

export function createBackgroundProviders(settings: ProviderSettings) {
  const requests: Record<ExternalProvider, (image: Uint8Array, type: string) => { url: string; init: RequestInit } | null> = {
    rembg(image, type) {
      if (!settings.rembgUrl) return null;
      const form = new FormData();
      form.set('file', new Blob([image as Uint8Array<ArrayBuffer>], { type }), 'image');
      // POST with the file, never rembg's GET ?url= form, which would make it fetch from wherever we point it.
      return { url: new URL('api/remove', settings.rembgUrl.endsWith('/') ? settings.rembgUrl : `${settings.rembgUrl}/`).href, init: { method: 'POST', body: form } };
    },
    'remove.bg'(image, type) {
      if (!settings.removeBgApiKey) return null;
      const form = new FormData();
      form.set('image_file', new Blob([image as Uint8Array<ArrayBuffer>], { type }), 'image');
      form.set('size', 'auto');
      form.set('format', 'png');
      return { url: settings.removeBgUrl, init: { method: 'POST', body: form, headers: { 'X-Api-Key': settings.removeBgApiKey } } };
    },
  };

  return {
    /** The external providers an administrator has configured, for the page to offer. */
    configured(): ExternalProvider[] {
      return (['rembg', 'remove.bg'] as const).filter((provider) => (provider === 'rembg' ? settings.rembgUrl : settings.removeBgApiKey));
    },

    /** The provider's cut-out: a PNG with transparency. Throws ProviderError. */
    async cutOut(provider: ExternalProvider, image: Uint8Array, type: string): Promise<Uint8Array> {
      const request = requests[provider](image, type);
      if (!request) throw new ProviderError(provider, 'refused', `${label[provider]} is not configured on this server.`);
      let response: Response;
      try {
        response = await fetch(request.url, { ...request.init, signal: AbortSignal.timeout(settings.timeoutMs), redirect: 'error' });
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError';
        return Promise.reject(
          timedOut
            ? new ProviderError(provider, 'timeout', `${label[provider]} did not answer within ${Math.round(settings.timeoutMs / 1000)} seconds.`)
            : new ProviderError(provider, 'network', `${label[provider]} could not be reached (network error).`),
        );
      }
      if (!response.ok) throw await failureOf(provider, response);
      const declared = Number(response.headers.get('content-length') ?? 0);
      if (declared > MAX_ANSWER_BYTES) throw new ProviderError(provider, 'bad_answer', `${label[provider]} sent back more than ${MAX_ANSWER_BYTES / 1024 / 1024} MB.`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (sniffImageType(bytes) !== 'png') throw new ProviderError(provider, 'bad_answer', `${label[provider]} did not send back a PNG image.`);
      return bytes;
    },
  };
}

export type BackgroundProviders = ReturnType<typeof createBackgroundProviders>;
