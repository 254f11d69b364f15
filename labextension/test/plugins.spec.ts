// @vitest-environment jsdom
/**
 * The plugins activated against a hand-made app: real CommandRegistry,
 * Dialog and ServerConnection, fake fetch, shell, status bar and palette.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { FileBrowser } from '@jupyterlab/filebrowser';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';
import { afterEach, describe, expect, it, vi } from 'vitest';

import plugins, { SHARE_COMMAND } from '../src/index';
import { a100Sample, flush, idleWarning } from './helpers';

const STATUS = {
  version: '0.1.0',
  profile: 'gpu-a100',
  hub_prefix: '/hub/',
  server_name: '',
  user: 'alice',
  features: ['gpu', 'presence', 'share']
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function plugin(name: string): JupyterFrontEndPlugin<any> {
  const found = plugins.find(p => p.id === `jupyterhub-imagine:${name}`);
  if (!found) {
    throw new Error(name);
  }
  return found;
}

function fakeApp(routes: Record<string, unknown>) {
  const requests: string[] = [];
  const bodies: string[] = [];
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: 'http://hub.example/user/alice/',
    fetch: async (input: RequestInfo) => {
      const request = input as Request;
      const route = new URL(request.url).pathname.split('/api/')[1];
      requests.push(`${request.method} ${route}`);
      bodies.push(await request.text());
      return route in routes
        ? new Response(JSON.stringify(routes[route]), { status: 200 })
        : new Response(JSON.stringify({ message: 'nope' }), { status: 404 });
    }
  });
  const added: Array<{ widget: Widget; area?: string; rank?: number }> = [];
  const app = {
    commands: new CommandRegistry(),
    shell: {
      currentWidget: null,
      widgets: () => [],
      add: (widget: Widget, area?: string, options?: { rank?: number }) => {
        added.push({ widget, area, rank: options?.rank });
        Widget.attach(widget, document.body);
      }
    },
    serviceManager: {
      serverSettings,
      contents: { localPath: (path: string) => path.replace(/^[^/:]+:/, '') }
    }
  } as unknown as JupyterFrontEnd;
  return { app, requests, added, bodies };
}

/** Press the dialog's only button ("Close"), as a user would, so its promise settles. */
async function closeDialog(): Promise<void> {
  const selector = '.jp-Dialog .jp-Dialog-button';
  await vi.waitFor(() => expect(document.querySelector(selector)).not.toBeNull());
  document.querySelector<HTMLButtonElement>(selector)?.click();
  await vi.waitFor(() => expect(document.querySelector('.jp-Dialog')).toBeNull());
}

afterEach(() => {
  document.body.innerHTML = '';
  PageConfig.setOption('hubPrefix', '');
});

describe('plugins', () => {
  it('are named under jupyterhub-imagine:', () => {
    expect(plugins.map(p => p.id)).toEqual([
      'jupyterhub-imagine:gpu-status',
      'jupyterhub-imagine:cull-warnings',
      'jupyterhub-imagine:data-panel',
      'jupyterhub-imagine:software-panel',
      'jupyterhub-imagine:share-link',
      'jupyterhub-imagine:presence'
    ]);
  });
});

describe('share-link plugin', () => {
  it('adds a labelled top bar button, a palette command and a dialog with the link', async () => {
    const { app, added } = fakeApp({ status: STATUS });
    vi.spyOn(console, 'warn').mockImplementation(() => undefined); // no share route: path link
    const palette = { addItem: vi.fn() } as unknown as ICommandPalette;
    const browser = { model: { path: 'RTC:project/My Data' } } as unknown as FileBrowser;
    await plugin('share-link').activate(app, palette, browser);

    expect(added.map(a => [a.area, a.rank])).toEqual([['top', 900]]);
    const button = document.getElementById('imagine-share-button') as HTMLButtonElement;
    expect(button.tagName).toBe('BUTTON');
    expect(button.getAttribute('aria-label')).toBe('Share a link to this session');
    expect(palette.addItem).toHaveBeenCalledWith(
      expect.objectContaining({ command: SHARE_COMMAND })
    );
    expect(app.commands.label(SHARE_COMMAND)).toBe('Share a Link to This Session');

    button.click();
    await vi.waitFor(() => expect(document.getElementById('imagine-share-link')).not.toBeNull());
    const input = document.getElementById('imagine-share-link') as HTMLInputElement;
    expect(input.value).toBe(
      `${window.location.origin}/hub/spawn?opt-profile=gpu-a100&next=` +
        encodeURIComponent('/hub/user-redirect/lab/tree/project/My%20Data')
    );
    await closeDialog();
  });

  it('offers a launch link, a badge and warnings for a file in a pushed repository', async () => {
    const sha = 'c'.repeat(40);
    const share = {
      path: 'project/proj/a.ipynb', repository: true, shareable: true, reason: '',
      message: '', remote: 'https://github.com/org/proj', remote_name: 'origin',
      commit: 'd'.repeat(40), branch: 'main', pushed: false, pushed_commit: sha,
      unpushed_commits: 1, uncommitted_changes: 0, untracked_files: 0,
      file_changed: false, file_in_commit: true, path_in_repository: 'a.ipynb',
      repository_path: 'project/proj', folder: 'proj'
    };
    const { app, requests } = fakeApp({ status: STATUS, share });
    const browser = { model: { path: 'project/proj' } } as unknown as FileBrowser;
    await plugin('share-link').activate(app, null, browser);
    const done = app.commands.execute(SHARE_COMMAND);
    await vi.waitFor(() => expect(document.getElementById('imagine-share-link')).not.toBeNull());
    expect(requests).toContain('GET share');
    const input = document.getElementById('imagine-share-link') as HTMLInputElement;
    expect(input.value).toBe(
      `${window.location.origin}/hub/imagine/launch?profile=gpu-a100` +
        `&repo=${encodeURIComponent('https://github.com/org/proj')}&ref=${sha}` +
        `&urlpath=${encodeURIComponent('lab/tree/proj/a.ipynb')}`
    );
    const badge = document.getElementById('imagine-share-badge') as HTMLInputElement;
    expect(badge.value).toContain(`](${input.value})`);
    expect(document.querySelector('[role="alert"]')?.textContent).toContain(
      '1 commit is not pushed'
    );
    expect(document.querySelector('.jp-Dialog-header')?.textContent).toContain(
      'Share a launch link'
    );
    await closeDialog();
    await done;
  });

  it('explains instead of sharing outside JupyterHub', async () => {
    const { app } = fakeApp({ status: { ...STATUS, user: '' } });
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    await plugin('share-link').activate(app, null, null);
    const done = app.commands.execute(SHARE_COMMAND);
    await vi.waitFor(() =>
      expect(document.body.textContent).toContain('not running under JupyterHub')
    );
    expect(document.getElementById('imagine-share-link')).toBeNull();
    await closeDialog();
    await done;
  });

  it('falls back to the page config when /status fails', async () => {
    PageConfig.setOption('hubPrefix', '/hub/');
    const { app } = fakeApp({});
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    await plugin('share-link').activate(app, null, null);
    const done = app.commands.execute(SHARE_COMMAND);
    await vi.waitFor(() => expect(document.getElementById('imagine-share-link')).not.toBeNull());
    const input = document.getElementById('imagine-share-link') as HTMLInputElement;
    expect(input.value).toBe(
      `${window.location.origin}/hub/spawn?next=%2Fhub%2Fuser-redirect%2Flab%2Ftree%2F`
    );
    await closeDialog();
    await done;
  });
});

describe('gpu-status plugin', () => {
  it('registers an item that becomes active once /gpu reports a GPU', async () => {
    const { app, requests } = fakeApp({ gpu: a100Sample() });
    let item: IStatusBar.IItem | undefined;
    const statusBar = {
      registerStatusItem: (_id: string, options: IStatusBar.IItem) => {
        item = options;
        return { dispose: () => undefined, isDisposed: false };
      }
    } as unknown as IStatusBar;
    await plugin('gpu-status').activate(app, statusBar);
    expect(item?.isActive?.()).toBe(false);
    await vi.waitFor(() => expect(item?.isActive?.()).toBe(true));
    expect(item?.item.node.id).toBe('imagine-gpu-status');
    expect(item?.item.node.textContent).toBe('GPU0 37% 1.0/40.0 GiB');
    expect(requests).toEqual(['GET gpu']);
  });

  it('does not poll at all without a status bar', async () => {
    const { app, requests } = fakeApp({ gpu: a100Sample() });
    await plugin('gpu-status').activate(app, null);
    await flush();
    expect(requests).toEqual([]);
  });
});

function recordingStatusBar() {
  const items = new Map<string, IStatusBar.IItem>();
  const statusBar = {
    registerStatusItem: (id: string, options: IStatusBar.IItem) => {
      items.set(id, options);
      return { dispose: () => undefined, isDisposed: false };
    }
  } as unknown as IStatusBar;
  return { items, statusBar };
}

describe('cull-warnings plugin', () => {
  afterEach(() => Notification.dismiss());

  it('turns the warning of a /gpu sample into a toast, a countdown and commands', async () => {
    const warning = { ...idleWarning('GPU idle'), stop_at: Date.now() / 1000 + 600 };
    const kept = { ...warning, keep_requested_at: Date.now() / 1000, postponements_left: 1 };
    const { app, requests } = fakeApp({
      gpu: a100Sample({ warning }),
      'warning/keep': { warning: kept, keep_requested_at: kept.keep_requested_at }
    });
    const gpu = await plugin('gpu-status').activate(app, null, null);
    const { items, statusBar } = recordingStatusBar();
    const palette = { addItem: vi.fn() } as unknown as ICommandPalette;
    await plugin('cull-warnings').activate(app, gpu, statusBar, palette);

    // it starts the poller even without the GPU status item
    await vi.waitFor(() => expect(requests).toEqual(['GET gpu']));
    const item = items.get('jupyterhub-imagine:cull-countdown');
    await vi.waitFor(() => expect(item?.isActive?.()).toBe(true));
    expect(item?.item.node.textContent).toMatch(/^GPU idle: stops in (10:00|9:5\d)$/);
    const toasts = Notification.manager.notifications;
    expect(toasts.map(n => [n.type, n.message])).toEqual([
      ['warning', expect.stringContaining('The GPU has been idle: this server will stop at')]
    ]);
    expect(toasts[0].options.actions?.map(a => a.label)).toEqual(['Keep my GPU', 'Save and stop']);
    expect(palette.addItem).toHaveBeenCalledTimes(3);

    expect(app.commands.isEnabled('imagine:keep-gpu')).toBe(true);
    await app.commands.execute('imagine:keep-gpu');
    expect(requests).toContain('POST warning/keep');
    expect(app.commands.isEnabled('imagine:keep-gpu')).toBe(false);
    expect(Notification.manager.notifications[0].message).toContain('GPU kept');
    gpu.stop();
  });

  it('shows nothing while no warning is pending', async () => {
    const { app, requests } = fakeApp({ gpu: a100Sample() });
    const gpu = await plugin('gpu-status').activate(app, null, null);
    const { items, statusBar } = recordingStatusBar();
    await plugin('cull-warnings').activate(app, gpu, statusBar, null);
    await vi.waitFor(() => expect(requests).toEqual(['GET gpu']));
    await flush();
    expect(items.get('jupyterhub-imagine:cull-countdown')?.isActive?.()).toBe(false);
    expect(Notification.manager.count).toBe(0);
    expect(app.commands.isEnabled('imagine:show-gpu-warning')).toBe(false);
    gpu.stop();
  });
});
