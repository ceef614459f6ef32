import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/** A cookie jar for one site: name → value, as a browser keeps them (paths ignored). */
class CookieJar {
  readonly cookies = new Map<string, string>();

  take(setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (!value || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * Follows an OIDC sign-in over HTTP as a browser would: the app through `inject`, the provider over
 * the network, each with its own cookies.
 */
export class OidcBrowser {
  readonly app = new CookieJar();
  private readonly provider = new CookieJar();

  constructor(
    private readonly fastify: FastifyInstance,
    private readonly appOrigin: string,
  ) {}

  async get(url: string): Promise<LightMyRequestResponse> {
    const response = await this.fastify.inject({ method: 'GET', url, headers: { cookie: this.app.header() } });
    this.app.take(setCookiesOf(response));
    return response;
  }

  async post(url: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    const response = await this.fastify.inject({
      method: 'POST',
      url,
      headers: { cookie: this.app.header(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });
    this.app.take(setCookiesOf(response));
    return response;
  }

  /** Starts the sign-in at the app; returns the provider URL the app sent the browser to. */
  async start(next?: string): Promise<string> {
    const response = await this.get(`/signin/oidc${next ? `?next=${encodeURIComponent(next)}` : ''}`);
    if (response.statusCode !== 303) throw new Error(`the sign-in did not start: ${response.statusCode} ${response.body.slice(0, 500)}`);
    return response.headers.location as string;
  }

  /**
   * At the provider: its redirects, its sign-in page (User name = `login`, or Cancel), until it
   * sends the browser back to the app. Returns the app's callback path with its query.
   */
  async atProvider(authorizationUrl: string, action: { login: string } | 'cancel'): Promise<string> {
    let url = authorizationUrl;
    for (let hops = 0; hops < 20; hops++) {
      if (url.startsWith(this.appOrigin)) return url.slice(this.appOrigin.length);
      let response = await fetch(url, { redirect: 'manual', headers: { cookie: this.provider.header() } });
      this.provider.take(response.headers.getSetCookie());
      if (response.status === 200 && new URL(url).pathname.startsWith('/interaction/')) {
        await response.text();
        const form = new URLSearchParams(action === 'cancel' ? { action: 'cancel' } : { action: 'signin', login: action.login });
        response = await fetch(url, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie: this.provider.header(), 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        });
        this.provider.take(response.headers.getSetCookie());
      }
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) {
        throw new Error(`the provider answered ${response.status} at ${url}: ${(await response.text()).slice(0, 500)}`);
      }
      await response.body?.cancel();
      url = new URL(location, url).href;
    }
    throw new Error('the provider redirected too often');
  }

  /** The whole sign-in: start, the provider, and the callback's answer. */
  async signIn(login: string, next?: string): Promise<LightMyRequestResponse> {
    const callback = await this.atProvider(await this.start(next), { login });
    return this.get(callback);
  }
}

export function setCookiesOf(response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie'];
  return Array.isArray(header) ? header : header ? [header] : [];
}
