/** Why a `picture` claim gave no usable bytes; the message names the reason for the log. */
export class PictureUnusable extends Error {}

export interface PictureFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Redirects followed (each to http or https only). */
  maxRedirects?: number;
  fetch?: typeof fetch;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * The bytes of an OIDC `picture` claim, which providers send in three forms: a URL to fetch (http or
 * https only, with a timeout and a size cap), a `data:` URL, or the image itself as base64.
 * Whether the bytes are an image is Mail's question, not this one's.
 */
export async function readPictureClaim(value: unknown, options: PictureFetchOptions): Promise<Buffer> {
  if (typeof value !== 'string' || value.trim() === '') throw new PictureUnusable('the picture claim is not a string');
  const claim = value.trim();
  if (/^data:/i.test(claim)) return decodeDataUrl(claim, options.maxBytes);
  if (/^https?:\/\//i.test(claim)) return fetchPicture(new URL(claim), options);
  if (/^[a-z][a-z0-9+.-]*:/i.test(claim) && !BASE64.test(claim.replace(/\s+/g, ''))) {
    throw new PictureUnusable(`the picture URL's scheme is not http or https (${claim.slice(0, claim.indexOf(':') + 1)})`);
  }
  return decodeBase64(claim, options.maxBytes);
}

function decodeBase64(text: string, maxBytes: number): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw new PictureUnusable('the picture claim is neither a URL, a data: URL nor base64');
  if ((compact.length * 3) / 4 > maxBytes + 3) throw new PictureUnusable(`the picture is larger than ${maxBytes} bytes`);
  const bytes = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
  if (bytes.length === 0) throw new PictureUnusable('the picture claim is empty');
  return bytes;
}

function decodeDataUrl(claim: string, maxBytes: number): Buffer {
  const comma = claim.indexOf(',');
  if (comma < 0) throw new PictureUnusable('the data: URL has no data');
  const meta = claim.slice(5, comma).toLowerCase();
  const mediaType = meta.split(';')[0]!.trim();
  if (mediaType && !mediaType.startsWith('image/')) throw new PictureUnusable(`the data: URL holds ${mediaType}, not an image`);
  const data = claim.slice(comma + 1);
  if (meta.split(';').includes('base64')) return decodeBase64(data, maxBytes);
  const bytes = percentDecoded(data);
  if (bytes.length > maxBytes) throw new PictureUnusable(`the picture is larger than ${maxBytes} bytes`);
  return bytes;
}

/** A data: URL's percent-encoded bytes (each %XX one byte, whatever it means in UTF-8). */
function percentDecoded(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && /^[0-9a-f]{2}$/i.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

async function fetchPicture(start: URL, options: PictureFetchOptions): Promise<Buffer> {
  const fetchFn = options.fetch ?? fetch;
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = start;
  for (let redirects = 0; ; redirects++) {
    let response: Response;
    try {
      // Redirects are followed here, one by one, so none leads to a scheme other than http(s).
      response = await fetchFn(url, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
    } catch (error) {
      if (signal.aborted) throw new PictureUnusable(`fetching ${url.origin} took longer than ${options.timeoutMs} ms`);
      throw new PictureUnusable(
        `fetching ${url.origin} failed: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
      );
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location) throw new PictureUnusable(`${url.origin} answered ${response.status} without a Location`);
      if (redirects >= (options.maxRedirects ?? 3)) throw new PictureUnusable('the picture URL redirects too often');
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new PictureUnusable(`the picture URL redirects to a ${next.protocol} URL`);
      url = next;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new PictureUnusable(
        `${url.origin} answered ${response.status} for the picture (a provider that needs a token for it, like Entra ID, cannot be read this way)`,
      );
    }
    const length = Number(response.headers.get('content-length'));
    if (length > options.maxBytes) {
      await response.body?.cancel();
      throw new PictureUnusable(`the picture is ${length} bytes; at most ${options.maxBytes} are read`);
    }
    return readCapped(response, options.maxBytes, signal, options.timeoutMs);
  }
}

async function readCapped(response: Response, maxBytes: number, signal: AbortSignal, timeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      if (total > maxBytes) throw new PictureUnusable(`the picture is larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    // Only frees the half-read body; the error below is what the caller logs.
    await response.body?.cancel().catch(() => {});
    if (error instanceof PictureUnusable) throw error;
    if (signal.aborted) throw new PictureUnusable(`reading the picture took longer than ${timeoutMs} ms`);
    throw new PictureUnusable(`reading the picture failed: ${(error as Error).message}`);
  }
  if (total === 0) throw new PictureUnusable('the picture URL answered with no bytes');
  return Buffer.concat(chunks);
}
