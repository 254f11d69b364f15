import { describe, expect, it } from 'vitest';

import {
  ISavable,
  hubHomeUrl,
  hubServer,
  saveAndStop,
  stopServer,
  stopUrl
} from '../src/hubStop';

function options(values: Record<string, string>): (name: string) => string {
  return name => values[name] ?? '';
}

const HUB = {
  hubHost: '',
  hubPrefix: '/hub/',
  user: 'alice',
  serverName: '',
  token: 'oauth-token'
};

function recordingFetch(status: number, body: unknown = null) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetchFn = (async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return new Response(body === null ? null : JSON.stringify(body), { status });
  }) as typeof fetch;
  return { calls, fetchFn };
}

describe('hubServer', () => {
  it('reads the hub coordinates jupyterhub-singleuser puts in the page config', () => {
    const server = hubServer(
      options({
        hubPrefix: '/jhub/hub',
        hubHost: 'https://hub.example/',
        hubUser: 'admin',
        hubServerUser: 'alice',
        hubServerName: 'gpu 1',
        token: 't'
      })
    );
    // the server's owner, not the admin looking at it
    expect(server).toEqual({
      hubHost: 'https://hub.example',
      hubPrefix: '/jhub/hub/',
      user: 'alice',
      serverName: 'gpu 1',
      token: 't'
    });
    expect(stopUrl(server!)).toBe('https://hub.example/jhub/hub/api/users/alice/servers/gpu%201');
    expect(hubHomeUrl(server!)).toBe('https://hub.example/jhub/hub/home');
  });

  it('falls back to hubUser and the default server', () => {
    const server = hubServer(options({ hubPrefix: '/hub/', hubUser: 'bob@example.org' }));
    expect(stopUrl(server!)).toBe('/hub/api/users/bob%40example.org/server');
  });

  it('is null outside JupyterHub', () => {
    expect(hubServer(options({}))).toBeNull();
    expect(hubServer(options({ hubPrefix: '/hub/' }))).toBeNull();
  });
});

describe('stopServer', () => {
  it('sends DELETE with the token and no cookies', async () => {
    const { calls, fetchFn } = recordingFetch(202);
    expect(await stopServer(HUB, fetchFn)).toEqual({ kind: 'stopping' });
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('/hub/api/users/alice/server');
    expect(calls[0].init.method).toBe('DELETE');
    expect(calls[0].init.headers).toEqual({ Authorization: 'token oauth-token' });
    expect(calls[0].init.credentials).toBe('omit');
  });

  it('counts 204 (already stopped) as success', async () => {
    expect(await stopServer(HUB, recordingFetch(204).fetchFn)).toEqual({ kind: 'stopping' });
  });

  it("reports the hub's message on 403", async () => {
    const { fetchFn } = recordingFetch(403, { status: 403, message: 'Action is not authorized' });
    expect(await stopServer(HUB, fetchFn)).toEqual({
      kind: 'forbidden',
      message: 'Action is not authorized'
    });
  });

  it('is forbidden without a token, and does not call the hub', async () => {
    const { calls, fetchFn } = recordingFetch(202);
    const outcome = await stopServer({ ...HUB, token: '' }, fetchFn);
    expect(outcome.kind).toBe('forbidden');
    expect(calls).toHaveLength(0);
  });

  it('fails with the status when the hub sends no JSON, and on network errors', async () => {
    const html = (async () => new Response('<html>', { status: 502 })) as typeof fetch;
    expect(await stopServer(HUB, html)).toEqual({
      kind: 'failed',
      message: 'The hub answered 502.'
    });
    const down = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    expect(await stopServer(HUB, down)).toEqual({
      kind: 'failed',
      message: 'Could not reach the hub (Failed to fetch).'
    });
  });

  it('says no-hub outside JupyterHub', async () => {
    expect(await stopServer(null, recordingFetch(202).fetchFn)).toEqual({ kind: 'no-hub' });
  });
});

describe('saveAndStop', () => {
  function doc(path: string, dirty: boolean, fail = false) {
    const state = { saved: 0 };
    const savable: ISavable = {
      path,
      dirty,
      save: async () => {
        if (fail) {
          throw new Error('disk full');
        }
        state.saved++;
      }
    };
    return { savable, state };
  }

  it('saves only unsaved documents, then stops', async () => {
    const a = doc('a.ipynb', true);
    const b = doc('b.py', false);
    let stops = 0;
    const outcome = await saveAndStop([a.savable, b.savable], async () => {
      stops++;
      return { kind: 'stopping' };
    });
    expect(outcome).toEqual({ kind: 'saved', saved: ['a.ipynb'], stop: { kind: 'stopping' } });
    expect([a.state.saved, b.state.saved, stops]).toEqual([1, 0, 1]);
  });

  it('does not stop when a save fails, and says which', async () => {
    const a = doc('a.ipynb', true);
    const c = doc('c.ipynb', true, true);
    let stops = 0;
    const outcome = await saveAndStop([a.savable, c.savable], async () => {
      stops++;
      return { kind: 'stopping' };
    });
    expect(outcome).toEqual({
      kind: 'not-saved',
      failed: [{ path: 'c.ipynb', message: 'disk full' }]
    });
    expect(stops).toBe(0);
  });
});
