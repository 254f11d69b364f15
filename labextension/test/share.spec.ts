import { describe, expect, it } from 'vitest';

import {
  buildShareLink,
  describeShareLink,
  encodePath,
  normalizePrefix,
  shareContext
} from '../src/share';

const BASE = { origin: 'https://notebooks.egi.eu', hubPrefix: '/hub/', profile: 'cpu' };

describe('buildShareLink', () => {
  it('matches the documented shape', () => {
    expect(buildShareLink({ ...BASE, path: 'work/analysis.ipynb' })).toBe(
      'https://notebooks.egi.eu/hub/spawn?opt-profile=cpu' +
        '&next=%2Fhub%2Fuser-redirect%2Flab%2Ftree%2Fwork%2Fanalysis.ipynb'
    );
  });

  it('leaves out opt-profile when the profile is unknown', () => {
    expect(buildShareLink({ ...BASE, profile: '', path: 'a.ipynb' })).toBe(
      'https://notebooks.egi.eu/hub/spawn?next=%2Fhub%2Fuser-redirect%2Flab%2Ftree%2Fa.ipynb'
    );
  });

  it('points at the tree root for an empty path', () => {
    const url = new URL(buildShareLink({ ...BASE, path: '' }));
    expect(url.searchParams.get('next')).toBe('/hub/user-redirect/lab/tree/');
  });

  it('encodes each path segment, so the hub redirects to an escaped URL', () => {
    const path = 'My Data/résumé #1/50% done?.ipynb';
    const url = new URL(buildShareLink({ ...BASE, path }));
    const next = url.searchParams.get('next') ?? '';
    expect(next).toBe(
      '/hub/user-redirect/lab/tree/My%20Data/r%C3%A9sum%C3%A9%20%231/50%25%20done%3F.ipynb'
    );
    const tail = next.replace('/hub/user-redirect/lab/tree/', '');
    expect(tail.split('/').map(decodeURIComponent).join('/')).toBe(path);
  });

  it('encodes the profile slug', () => {
    const url = new URL(buildShareLink({ ...BASE, profile: 'gpu a100&x=1', path: '' }));
    expect(url.searchParams.get('opt-profile')).toBe('gpu a100&x=1');
    expect([...url.searchParams.keys()]).toEqual(['opt-profile', 'next']);
  });

  it('tolerates missing or doubled slashes in its inputs', () => {
    expect(
      buildShareLink({
        origin: 'https://hub.example/',
        hubPrefix: 'jupyter/hub',
        profile: '',
        path: '/data//x.csv/'
      })
    ).toBe(
      'https://hub.example/jupyter/hub/spawn?next=' +
        encodeURIComponent('/jupyter/hub/user-redirect/lab/tree/data/x.csv')
    );
  });
});

describe('share helpers', () => {
  it('normalizes prefixes', () => {
    expect(normalizePrefix('')).toBe('/');
    expect(normalizePrefix('/')).toBe('/');
    expect(normalizePrefix('hub')).toBe('/hub/');
    expect(normalizePrefix('//a/hub//')).toBe('/a/hub/');
  });

  it('encodes paths per segment and drops "." segments', () => {
    expect(encodePath('./a b/c')).toBe('a%20b/c');
  });

  it('explains what the recipient gets', () => {
    expect(describeShareLink('cpu', 'a.ipynb')).toContain('profile “cpu” and opens “a.ipynb”');
    expect(describeShareLink('', '')).toContain('they choose the profile');
    expect(describeShareLink('', '')).toContain('Files are not copied');
  });
});

describe('shareContext', () => {
  const status = { hub_prefix: '/jupyter/hub/', profile: 'gpu-a100', user: 'alice' };

  it('takes hub prefix and profile from /status', () => {
    expect(shareContext(status, '/hub/')).toEqual({
      hubPrefix: '/jupyter/hub/',
      profile: 'gpu-a100'
    });
  });

  it('falls back to the page config hub prefix when /status failed', () => {
    expect(shareContext(null, '/hub/')).toEqual({ hubPrefix: '/hub/', profile: '' });
  });

  it('falls back to the page config when /status has no hub prefix', () => {
    expect(shareContext({ ...status, hub_prefix: '' }, '/hub/')?.hubPrefix).toBe('/hub/');
  });

  it('is null outside JupyterHub', () => {
    expect(shareContext({ ...status, user: '' }, '')).toBeNull();
    expect(shareContext(null, '')).toBeNull();
  });
});
