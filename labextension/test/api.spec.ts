import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import {
  ImagineApi,
  ImagineApiError,
  apiUrl,
  errorFromResponse
} from '../src/api';

const BASE = 'http://hub.example/user/alice/';

/** A fake fetch that records requests and answers from a handler. */
function fakeApi(
  handler: (request: Request) => Response | Promise<Response>,
  token = ''
): { api: ImagineApi; requests: Request[] } {
  const requests: Request[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl: BASE,
    wsUrl: 'ws://hub.example/user/alice/',
    token,
    fetch: async (input: RequestInfo) => {
      const request = input as Request;
      requests.push(request);
      return handler(request);
    }
  });
  return { api: new ImagineApi(settings), requests };
}

function json(body: unknown, status = 200, statusText = 'OK'): Response {
  return new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { 'Content-Type': 'application/json' }
  });
}

const STATUS = {
  version: '0.1.0',
  profile: 'cpu',
  hub_prefix: '/hub/',
  server_name: '',
  user: 'alice',
  features: ['gpu', 'presence']
};

describe('apiUrl', () => {
  it('joins the base URL, namespace and route', () => {
    expect(apiUrl(BASE, 'status')).toBe(
      'http://hub.example/user/alice/jupyterhub-imagine/api/status'
    );
    expect(apiUrl('/user/bob/', '/gpu')).toBe(
      '/user/bob/jupyterhub-imagine/api/gpu'
    );
  });
});

describe('ImagineApi', () => {
  it('GETs /status under the server base URL and decodes it', async () => {
    const { api, requests } = fakeApi(() => json(STATUS));
    await expect(api.status()).resolves.toEqual(STATUS);
    expect(requests).toHaveLength(1);
    const url = new URL(requests[0].url);
    expect(url.pathname).toBe('/user/alice/jupyterhub-imagine/api/status');
    expect(requests[0].method).toBe('GET');
  });

  it('polls /gpu with GET only', async () => {
    const { api, requests } = fakeApi(() =>
      json({ available: false, message: 'No GPU', sampled_at: 1, gpus: [], warning: null })
    );
    const gpu = await api.gpu();
    expect(gpu.available).toBe(false);
    expect(requests[0].method).toBe('GET');
    expect(new URL(requests[0].url).pathname).toBe(
      '/user/alice/jupyterhub-imagine/api/gpu'
    );
  });

  it('POSTs presence as JSON {kind}', async () => {
    const { api, requests } = fakeApi(() => json({ last_presence: 1732200000 }));
    await expect(api.presence('key')).resolves.toEqual({ last_presence: 1732200000 });
    const request = requests[0];
    expect(request.method).toBe('POST');
    expect(request.headers.get('Content-Type')).toBe('application/json');
    expect(await request.json()).toEqual({ kind: 'key' });
  });

  it('sends the server token when the settings carry one', async () => {
    const { api, requests } = fakeApi(() => json(STATUS), 'secret');
    await api.status();
    expect(requests[0].headers.get('Authorization')).toBe('token secret');
  });

  it("throws ImagineApiError carrying the server's message and reason", async () => {
    const { api } = fakeApi(() =>
      json(
        { message: 'Body must be {"kind": "key" | "click" | "focus"}.', reason: 'bad_kind' },
        400,
        'Bad Request'
      )
    );
    const error = await api.presence('key').catch(e => e);
    expect(error).toBeInstanceOf(ImagineApiError);
    expect(error.message).toBe('Body must be {"kind": "key" | "click" | "focus"}.');
    expect(error.status).toBe(400);
    expect(error.reason).toBe('bad_kind');
    expect(error.serverGone).toBe(false);
  });

  it('falls back to the status line when the error body is not JSON', async () => {
    const { api } = fakeApi(
      () => new Response('<html>proxy error</html>', { status: 502, statusText: 'Bad Gateway' })
    );
    const error = await api.gpu().catch(e => e);
    expect(error).toBeInstanceOf(ImagineApiError);
    expect(error.message).toBe('Request failed: 502 Bad Gateway');
    expect(error.status).toBe(502);
  });

  it('maps a network failure to status 0, which counts as "server gone"', async () => {
    const { api } = fakeApi(() => {
      throw new TypeError('Failed to fetch');
    });
    const error = await api.gpu().catch(e => e);
    expect(error).toBeInstanceOf(ImagineApiError);
    expect(error.status).toBe(0);
    expect(error.reason).toBe('network');
    expect(error.serverGone).toBe(true);
  });

  it('rejects a 2xx answer that is not JSON', async () => {
    const { api } = fakeApi(() => new Response('not json', { status: 200 }));
    const error = await api.status().catch(e => e);
    expect(error).toBeInstanceOf(ImagineApiError);
    expect(error.reason).toBe('bad_json');
  });
});

describe('ImagineApiError.serverGone', () => {
  it.each([
    [0, true],
    [404, true],
    [410, true],
    [424, true],
    [403, false],
    [500, false],
    [503, false]
  ])('status %i -> %s', (status, gone) => {
    expect(new ImagineApiError('x', status).serverGone).toBe(gone);
  });

  it('ignores a JSON body without a message', async () => {
    const error = await errorFromResponse(json({ detail: 'x' }, 404, 'Not Found'));
    expect(error.message).toBe('Request failed: 404 Not Found');
    expect(error.serverGone).toBe(true);
  });
});
