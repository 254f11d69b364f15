/**
 * CVMFS software: API types, search, and a model for the Software panel
 * (docs/server-api.md, "Software").
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ImagineApi } from './api';
import { messageOf } from './mounts';

export interface IRepository {
  name: string;
  state: 'mounted' | 'missing' | 'broken';
  error: string;
  message: string;
}

export interface IStack {
  id: string;
  kind: string;
  repository: string;
  name: string;
  version: string;
  init: string;
}

export interface IModulesResponse {
  stack: string;
  source: 'lmod' | 'catalog';
  total: number;
  offset: number;
  modules: string[];
}

export interface IBrowseEntry {
  name: string;
  kind: 'image' | 'dir' | string;
}

export interface IBrowseResponse {
  path: string;
  entries: IBrowseEntry[];
  next_cursor: string | null;
}

export interface IKernelRequest {
  kind: 'stack' | 'module' | 'image';
  id: string;
  modules?: string[];
  display_name?: string;
}

export interface ICreatedKernel {
  name: string;
  display_name: string;
  kind: string;
  id: string;
  modules: string[];
}

/** Case-insensitive match of every word of the query, in any order. */
export function matches(query: string, ...texts: string[]): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const haystack = texts.join(' ').toLowerCase();
  return words.every(word => haystack.includes(word));
}

export function stackLabel(stack: IStack): string {
  return `${stack.name} ${stack.version}`.trim();
}

function query(path: string, params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/** What the Software panel shows, loaded lazily section by section. */
export class SoftwareModel {
  constructor(
    private readonly _api: ImagineApi,
    private readonly _refreshKernels: () => Promise<void>
  ) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  repositories: IRepository[] = [];
  stacks: IStack[] = [];
  /** Modules of the selected stack. */
  modules: string[] = [];
  modulesTotal = 0;
  selectedStack: string = '';
  /** Folder shown in the image browser, relative to the CVMFS root. */
  imagePath = '';
  images: IBrowseEntry[] = [];
  /** Why the image browser shows nothing (its folder could not be read), or ''. */
  imagesError = '';
  /** Where the server looks for CVMFS repositories. */
  root = '';
  /** Whether the repositories have been listed at least once. */
  loaded = false;
  error = '';

  /** No repository is mounted: nothing else can be listed. */
  get empty(): boolean {
    return this.loaded && this.repositories.length === 0;
  }

  async load(): Promise<void> {
    try {
      const [repos, stacks] = await Promise.all([
        this._api.request<{ root: string; repositories: IRepository[] }>('software', { method: 'GET' }),
        this._api.request<{ stacks: IStack[] }>('software/stacks', { method: 'GET' })
      ]);
      this.root = repos.root ?? '';
      this.repositories = repos.repositories;
      this.stacks = stacks.stacks;
      this.loaded = true;
      this.error = '';
    } catch (error) {
      this.error = messageOf(error);
    }
    this._changed.emit();
    if (this.empty) {
      // nothing to browse: the panel explains instead of showing the root's error
      this.images = [];
      this.imagesError = '';
      return;
    }
    await this.browse(this.imagePath);
  }

  async selectStack(id: string): Promise<void> {
    this.selectedStack = id;
    this.modules = [];
    this.modulesTotal = 0;
    if (id) {
      try {
        const answer = await this._api.request<IModulesResponse>(
          query('software/modules', { stack: id, limit: 2000 }),
          { method: 'GET' }
        );
        this.modules = answer.modules;
        this.modulesTotal = answer.total;
      } catch (error) {
        this.error = messageOf(error);
      }
    }
    this._changed.emit();
  }

  async browse(path: string): Promise<void> {
    try {
      const answer = await this._api.request<IBrowseResponse>(
        query('software/browse', { path, kind: 'image', limit: 500 }),
        { method: 'GET' }
      );
      this.imagePath = answer.path === '.' ? '' : answer.path;
      this.images = answer.entries;
      this.imagesError = '';
    } catch (error) {
      this.images = [];
      this.imagesError = `This folder cannot be listed (${messageOf(error)}).`;
    }
    this._changed.emit();
  }

  /** The parent folder of the image browser's folder. */
  get imageParent(): string | null {
    if (!this.imagePath) {
      return null;
    }
    const cut = this.imagePath.replace(/\/+$/, '').lastIndexOf('/');
    return cut <= 0 ? '' : this.imagePath.slice(0, cut);
  }

  /** Create the kernel, then make the launcher list it (no reload). */
  async use(request: IKernelRequest): Promise<ICreatedKernel> {
    const kernel = await this._api.request<ICreatedKernel>('software/kernels', {
      method: 'POST',
      body: JSON.stringify(request),
      headers: { 'Content-Type': 'application/json' }
    });
    await this._refreshKernels();
    return kernel;
  }

  private readonly _changed = new Signal<this, void>(this);
}
