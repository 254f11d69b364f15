/**
 * Remote data mounts: API types, the add-mount presets, and a model that
 * follows a mount until it is up or has failed (docs/server-api.md, "Mounts").
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ImagineApi, ImagineApiError } from './api';

export type MountState =
  | 'mounting'
  | 'mounted'
  | 'unhealthy'
  | 'error'
  | 'unmounted'
  | 'credentials-required';

export interface IMount {
  name: string;
  backend: string;
  preset?: string;
  url?: string;
  user?: string;
  auth?: string;
  read_only: boolean;
  predefined: boolean;
  needs_secret: boolean;
  has_secret: boolean;
  /** `~/data/<name>`: home-relative. */
  mountpoint: string;
  state: MountState;
  message: string;
  changed_at: number;
}

export interface IMountsResponse {
  root: string;
  backends: string[];
  webdav_presets: string[];
  auth: string[];
  mounts: IMount[];
}

/** A field of the add-mount form. */
export interface IFieldSpec {
  key: string;
  label: string;
  type: 'text' | 'url' | 'password' | 'select' | 'checkbox';
  required?: boolean;
  placeholder?: string;
  options?: Array<[string, string]>;
  help?: string;
}

/** One preset of the add-mount form. */
export interface IPreset {
  id: string;
  label: string;
  description: string;
  /** Fixed request fields. */
  fixed: Record<string, string>;
  fields: IFieldSpec[];
}

const NAME: IFieldSpec = {
  key: 'name',
  label: 'Folder name',
  type: 'text',
  required: true,
  placeholder: 'e.g. my-data',
  help: 'Letters, digits, ".", "_" and "-"; the mount appears as data/<name>.'
};
const READ_ONLY: IFieldSpec = { key: 'read_only', label: 'Read only', type: 'checkbox' };
const SUBFOLDER: IFieldSpec = {
  key: 'path',
  label: 'Sub-folder (optional)',
  type: 'text'
};
const PASSWORD_AUTH: IFieldSpec = {
  key: 'auth',
  label: 'Sign in with',
  type: 'select',
  options: [
    ['password', 'User name and (app) password'],
    ['oidc', 'My login (access token)']
  ]
};

export const PRESETS: IPreset[] = [
  {
    id: 'nextcloud',
    label: 'Nextcloud',
    description: 'Any Nextcloud or ownCloud server. Use an app password from its security settings.',
    fixed: { backend: 'webdav', preset: 'nextcloud', auth: 'password' },
    fields: [
      NAME,
      { key: 'url', label: 'Server address', type: 'url', required: true, placeholder: 'https://cloud.example.org' },
      { key: 'user', label: 'User name', type: 'text', required: true },
      { key: 'password', label: 'App password', type: 'password', required: true },
      SUBFOLDER,
      READ_ONLY
    ]
  },
  {
    id: 'b2drop',
    label: 'B2DROP',
    description: 'EUDAT B2DROP. Use the app password from B2DROP settings, or your login.',
    fixed: { backend: 'webdav', preset: 'b2drop' },
    fields: [
      NAME,
      PASSWORD_AUTH,
      { key: 'user', label: 'User name', type: 'text' },
      { key: 'password', label: 'App password', type: 'password' },
      SUBFOLDER,
      READ_ONLY
    ]
  },
  {
    id: 'webdav',
    label: 'WebDAV',
    description: 'Any WebDAV server.',
    fixed: { backend: 'webdav', preset: 'webdav' },
    fields: [
      NAME,
      { key: 'url', label: 'WebDAV address', type: 'url', required: true, placeholder: 'https://dav.example.org/files/' },
      {
        key: 'auth',
        label: 'Sign in with',
        type: 'select',
        options: [
          ['password', 'User name and password'],
          ['oidc', 'My login (access token)'],
          ['none', 'Nothing (public)']
        ]
      },
      { key: 'user', label: 'User name', type: 'text' },
      { key: 'password', label: 'Password', type: 'password' },
      SUBFOLDER,
      READ_ONLY
    ]
  },
  {
    id: 's3',
    label: 'S3',
    description: 'An S3-compatible object store bucket.',
    fixed: { backend: 's3' },
    fields: [
      NAME,
      { key: 'endpoint', label: 'Endpoint', type: 'url', required: true, placeholder: 'https://s3.example.org' },
      { key: 'bucket', label: 'Bucket', type: 'text', required: true },
      { key: 'region', label: 'Region (optional)', type: 'text' },
      { key: 'access_key_id', label: 'Access key', type: 'text', required: true },
      { key: 'secret_access_key', label: 'Secret key', type: 'password', required: true },
      SUBFOLDER,
      READ_ONLY
    ]
  },
  {
    id: 'onedata',
    label: 'EGI DataHub',
    description: 'EGI DataHub (OneData): the provider host and an access token, or your login.',
    fixed: { backend: 'onedata' },
    fields: [
      NAME,
      { key: 'host', label: 'Provider host', type: 'text', required: true, placeholder: 'plg-cyfronet-01.datahub.egi.eu' },
      {
        key: 'auth',
        label: 'Sign in with',
        type: 'select',
        options: [
          ['password', 'Access token'],
          ['oidc', 'My login (access token)']
        ]
      },
      { key: 'token', label: 'Access token', type: 'password' },
      READ_ONLY
    ]
  }
];

/** Fields that do not apply with the chosen sign-in method. */
export function hiddenFields(values: Record<string, string | boolean>): Set<string> {
  const auth = values.auth;
  if (auth === 'oidc' || auth === 'none') {
    return new Set(['user', 'password', 'token']);
  }
  return new Set();
}

/**
 * The `POST /mounts` body for a preset and the form's values: blank optional
 * fields and fields hidden by the sign-in method are left out, so the
 * server's "unknown field" and "missing field" checks see what the user meant.
 */
export function mountRequest(
  preset: IPreset,
  values: Record<string, string | boolean>
): Record<string, unknown> {
  const hidden = hiddenFields({ ...preset.fixed, ...values });
  const body: Record<string, unknown> = { ...preset.fixed };
  for (const field of preset.fields) {
    const value = values[field.key];
    if (hidden.has(field.key)) {
      continue;
    }
    if (field.type === 'checkbox') {
      body[field.key] = value === true;
    } else if (typeof value === 'string' && value.trim() !== '') {
      body[field.key] = field.type === 'password' ? value : value.trim();
    }
  }
  return body;
}

/** Health words for a state, as shown next to each mount. */
export const STATE_LABELS: Record<MountState, string> = {
  mounting: 'Mounting…',
  mounted: 'Mounted',
  unhealthy: 'Not responding',
  error: 'Failed',
  unmounted: 'Not mounted',
  'credentials-required': 'Password needed'
};

/** The mount point relative to the server's root (the home), for the file browser. */
export function browserPath(mountpoint: string): string {
  return mountpoint.replace(/^~\/?/, '').replace(/^\/+/, '');
}

export interface IMountsModelOptions {
  api: ImagineApi;
  /** Wait between progress polls, ms. */
  progressInterval?: number;
  /** Give up following a mount after this long, ms. */
  progressTimeout?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The mounts of this server and the actions on them. */
export class MountsModel {
  constructor(options: IMountsModelOptions) {
    this._api = options.api;
    this._interval = options.progressInterval ?? 1000;
    this._timeout = options.progressTimeout ?? 120_000;
    this._sleep =
      options.sleep ?? (ms => new Promise(resolve => setTimeout(resolve, ms)));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get mounts(): IMount[] {
    return this._mounts;
  }

  get error(): string {
    return this._error;
  }

  async refresh(): Promise<void> {
    try {
      const answer = await this._api.request<IMountsResponse>('mounts', { method: 'GET' });
      this._mounts = answer.mounts;
      this._error = '';
    } catch (error) {
      this._error = messageOf(error);
    }
    this._changed.emit();
  }

  /**
   * Define and mount; resolves with the mount once it is no longer
   * `mounting`. A refused request throws ImagineApiError with the server's
   * message. `progress` sees every intermediate state.
   */
  async add(
    body: Record<string, unknown>,
    progress: (mount: IMount) => void = () => undefined
  ): Promise<IMount> {
    const created = await this._api.request<IMount>('mounts', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' }
    });
    return this._follow(created, progress);
  }

  async remount(
    name: string,
    secret: Record<string, string> = {},
    progress: (mount: IMount) => void = () => undefined
  ): Promise<IMount> {
    const started = await this._api.request<IMount>(`mounts/${encodeURIComponent(name)}/remount`, {
      method: 'POST',
      body: JSON.stringify(secret),
      headers: { 'Content-Type': 'application/json' }
    });
    return this._follow(started, progress);
  }

  async unmount(name: string): Promise<void> {
    await this._api.request(`mounts/${encodeURIComponent(name)}/unmount`, { method: 'POST' });
    await this.refresh();
  }

  async remove(name: string): Promise<void> {
    await this._api.request(`mounts/${encodeURIComponent(name)}`, { method: 'DELETE' });
    await this.refresh();
  }

  private async _follow(first: IMount, progress: (mount: IMount) => void): Promise<IMount> {
    let mount = first;
    const deadline = Date.now() + this._timeout;
    this._put(mount);
    progress(mount);
    while (mount.state === 'mounting' && Date.now() < deadline) {
      await this._sleep(this._interval);
      mount = await this._api.request<IMount>(`mounts/${encodeURIComponent(first.name)}`, {
        method: 'GET'
      });
      this._put(mount);
      progress(mount);
    }
    return mount;
  }

  private _put(mount: IMount): void {
    const others = this._mounts.filter(m => m.name !== mount.name);
    this._mounts = [...others, mount].sort((a, b) => a.name.localeCompare(b.name));
    this._changed.emit();
  }

  private readonly _api: ImagineApi;
  private readonly _interval: number;
  private readonly _timeout: number;
  private readonly _sleep: (ms: number) => Promise<void>;
  private readonly _changed = new Signal<this, void>(this);
  private _mounts: IMount[] = [];
  private _error = '';
}

export function messageOf(error: unknown): string {
  if (error instanceof ImagineApiError || error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/** A server message in the panel's words: its button says "Mount again", not "remount". */
export function panelWording(message: string): string {
  return message
    .replace(/\bUse remount\b/g, 'Use “Mount again”')
    .replace(/\bremount\b/g, '“Mount again”');
}
