import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import { ImagineApi, ImagineApiError } from '../src/api';
import {
  IMount,
  MountsModel,
  PRESETS,
  browserPath,
  hiddenFields,
  mountRequest,
  panelWording
} from '../src/mounts';
import { SoftwareModel, matches } from '../src/software';

function preset(id: string) {
  const found = PRESETS.find(p => p.id === id);
  if (!found) {
    throw new Error(id);
  }
  return found;
}

/** An ImagineApi over a scripted fetch: each route answers from a queue. */
function scriptedApi(routes: Record<string, Array<[number, unknown]>>) {
  const calls: string[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://lab.example/',
    fetch: async (input: RequestInfo) => {
      const request = input as Request;
      const url = new URL(request.url);
      // drop ServerConnection's cache-busting `?<timestamp>`
      const search = url.search.replace(/^\?\d+&?/, '?').replace(/&\d+$/, '').replace(/^\?$/, '');
      const route = url.pathname.split('/api/')[1] + search;
      calls.push(`${request.method} ${route} ${await request.text()}`.trim());
      const [status, body] = routes[`${request.method} ${route}`]?.shift() ?? [404, { message: 'none' }];
      return new Response(status === 204 ? null : JSON.stringify(body), { status });
    }
  });
  return { api: new ImagineApi(settings), calls };
}

function mount(state: IMount['state'], message = ''): IMount {
  return {
    name: 'project',
    backend: 'webdav',
    read_only: false,
    predefined: false,
    needs_secret: true,
    has_secret: true,
    mountpoint: '~/data/project',
    state,
    message,
    changed_at: 1
  };
}

describe('add-mount presets', () => {
  it('offers the five storage kinds', () => {
    expect(PRESETS.map(p => p.label)).toEqual(['Nextcloud', 'B2DROP', 'WebDAV', 'S3', 'EGI DataHub']);
  });

  it('builds a Nextcloud request with the fixed fields and trimmed values', () => {
    const body = mountRequest(preset('nextcloud'), {
      name: ' project ',
      url: 'https://cloud.example.org ',
      user: 'alice',
      password: ' secret with spaces ',
      path: '',
      read_only: true
    });
    expect(body).toEqual({
      backend: 'webdav',
      preset: 'nextcloud',
      auth: 'password',
      name: 'project',
      url: 'https://cloud.example.org',
      user: 'alice',
      // passwords are sent as typed
      password: ' secret with spaces ',
      read_only: true
    });
  });

  it('leaves out the password when signing in with the login token', () => {
    const values = { name: 'b2', auth: 'oidc', user: 'alice', password: 'stale', read_only: false };
    expect(hiddenFields(values)).toEqual(new Set(['user', 'password', 'token']));
    expect(mountRequest(preset('b2drop'), values)).toEqual({
      backend: 'webdav',
      preset: 'b2drop',
      name: 'b2',
      auth: 'oidc',
      read_only: false
    });
  });

  it('maps S3 and EGI DataHub to their backends', () => {
    expect(mountRequest(preset('s3'), { name: 'b', bucket: 'data' })).toMatchObject({ backend: 's3', bucket: 'data' });
    expect(mountRequest(preset('onedata'), { name: 'd', host: 'p.example', auth: 'password', token: 't' })).toEqual({
      backend: 'onedata',
      name: 'd',
      host: 'p.example',
      auth: 'password',
      token: 't',
      read_only: false
    });
  });

  it('turns the home-relative mount point into a file browser path', () => {
    expect(browserPath('~/data/project')).toBe('data/project');
    expect(browserPath('data/x')).toBe('data/x');
  });
});

describe('MountsModel', () => {
  it('follows a new mount until it is up, reporting each state', async () => {
    const { api, calls } = scriptedApi({
      'POST mounts': [[202, mount('mounting', 'starting rclone')]],
      'GET mounts/project': [
        [200, mount('mounting', 'waiting for the mount point')],
        [200, mount('mounted')]
      ]
    });
    const model = new MountsModel({ api, sleep: async () => undefined });
    const seen: string[] = [];
    const result = await model.add({ name: 'project' }, m => seen.push(`${m.state}:${m.message}`));
    expect(result.state).toBe('mounted');
    expect(seen).toEqual([
      'mounting:starting rclone',
      'mounting:waiting for the mount point',
      'mounted:'
    ]);
    expect(model.mounts.map(m => m.state)).toEqual(['mounted']);
    expect(calls[0]).toBe('POST mounts {"name":"project"}');
  });

  it("throws the server's message when the request is refused", async () => {
    const { api } = scriptedApi({
      'POST mounts': [[400, { message: "'url' must use https://", reason: 'insecure-url' }]]
    });
    const model = new MountsModel({ api, sleep: async () => undefined });
    const error = await model.add({}).catch(e => e);
    expect(error).toBeInstanceOf(ImagineApiError);
    expect(error.message).toBe("'url' must use https://");
  });

  it('unmounts and removes, then refreshes the list', async () => {
    const { api, calls } = scriptedApi({
      'POST mounts/project/unmount': [[200, mount('unmounted')]],
      'DELETE mounts/project': [[204, null]],
      'GET mounts': [
        [200, { root: '~/data', backends: [], webdav_presets: [], auth: [], mounts: [mount('unmounted')] }],
        [200, { root: '~/data', backends: [], webdav_presets: [], auth: [], mounts: [] }]
      ]
    });
    const model = new MountsModel({ api });
    await model.unmount('project');
    expect(model.mounts.map(m => m.state)).toEqual(['unmounted']);
    await model.remove('project');
    expect(model.mounts).toEqual([]);
    expect(calls.map(c => c.split(' ').slice(0, 2).join(' '))).toEqual([
      'POST mounts/project/unmount',
      'GET mounts',
      'DELETE mounts/project',
      'GET mounts'
    ]);
  });
});

describe('software search and model', () => {
  it('matches every word, in any order, ignoring case', () => {
    expect(matches('scipy 2023', 'SciPy-bundle/2023.07')).toBe(true);
    expect(matches('2023 scipy', 'SciPy-bundle/2023.07')).toBe(true);
    expect(matches('scipy 2024', 'SciPy-bundle/2023.07')).toBe(false);
    expect(matches('', 'anything')).toBe(true);
  });

  it('creates a kernel, then refreshes the kernelspecs so the launcher lists it', async () => {
    const kernel = { name: 'imagine-stack-x', display_name: 'EESSI 2023.06', kind: 'stack', id: 's', modules: ['GCC/13.2.0'] };
    const { api, calls } = scriptedApi({ 'POST software/kernels': [[201, kernel]] });
    let refreshed = 0;
    const model = new SoftwareModel(api, async () => {
      refreshed++;
    });
    expect(await model.use({ kind: 'stack', id: 's', modules: ['GCC/13.2.0'] })).toEqual(kernel);
    expect(refreshed).toBe(1);
    expect(calls).toEqual(['POST software/kernels {"kind":"stack","id":"s","modules":["GCC/13.2.0"]}']);
  });

  it('does not refresh when the server refuses, and passes the message on', async () => {
    const { api } = scriptedApi({
      'POST software/kernels': [[501, { message: 'container kernels need Apptainer', reason: 'apptainer-missing' }]]
    });
    let refreshed = 0;
    const model = new SoftwareModel(api, async () => {
      refreshed++;
    });
    await expect(model.use({ kind: 'image', id: 'x.sif' })).rejects.toThrow('container kernels need Apptainer');
    expect(refreshed).toBe(0);
  });

  it('loads modules of a stack and browses images with encoded queries', async () => {
    const { api, calls } = scriptedApi({
      'GET software/modules?stack=r%2Fversions%2F1&limit=2000': [
        [200, { stack: 'r/versions/1', source: 'catalog', total: 1, offset: 0, modules: ['GCC/1'] }]
      ],
      'GET software/browse?path=images%2Fsub&kind=image&limit=500': [
        [200, { path: 'images/sub', entries: [{ name: 'a.sif', kind: 'image' }], next_cursor: null }]
      ]
    });
    const model = new SoftwareModel(api, async () => undefined);
    await model.selectStack('r/versions/1');
    expect(model.modules).toEqual(['GCC/1']);
    await model.browse('images/sub');
    expect(model.images.map(i => i.name)).toEqual(['a.sif']);
    expect(model.imageParent).toBe('images');
    expect(calls).toHaveLength(2);
  });

  it('explains a server without repositories instead of browsing its missing root', async () => {
    const { api, calls } = scriptedApi({
      'GET software': [[200, { root: '/cvmfs', repositories: [] }]],
      'GET software/stacks': [[200, { stacks: [] }]]
    });
    const model = new SoftwareModel(api, async () => undefined);
    await model.load();
    expect(model.empty).toBe(true);
    expect(model.root).toBe('/cvmfs');
    expect(model.error).toBe('');
    // no browse request: its "'path' does not exist" would only confuse
    expect(calls.map(c => c.split(' ')[1])).toEqual(['software', 'software/stacks']);
  });

  it('keeps a failed image listing to the image section', async () => {
    const { api } = scriptedApi({
      'GET software': [[200, { root: '/cvmfs', repositories: [{ name: 'r', state: 'mounted', error: '', message: '' }] }]],
      'GET software/stacks': [[200, { stacks: [] }]],
      'GET software/browse?kind=image&limit=500': [[404, { message: "'path' does not exist" }]]
    });
    const model = new SoftwareModel(api, async () => undefined);
    await model.load();
    expect(model.empty).toBe(false);
    expect(model.error).toBe('');
    expect(model.images).toEqual([]);
    expect(model.imagesError).toMatch(/^This folder cannot be listed/);
  });
});

describe('Data panel wording', () => {
  it('says "Mount again", as its button does, where the server says remount', () => {
    expect(panelWording('The mount point is no longer mounted. Use remount.')).toBe(
      'The mount point is no longer mounted. Use “Mount again”.'
    );
    expect(panelWording('send it in the remount body')).toBe('send it in the “Mount again” body');
    expect(panelWording('Mounted.')).toBe('Mounted.');
  });
});
