/**
 * Typed client for the jupyter-server extension's REST API
 * (`<base_url>jupyterhub-imagine/api/`, see docs/server-api.md).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Path segment under the server's base URL where the API lives. */
export const API_NAMESPACE = 'jupyterhub-imagine/api';

/** `GET /status` */
export interface IStatusResponse {
  version: string;
  /** Slug of the profile the server was started with; empty when unknown. */
  profile: string;
  hub_prefix: string;
  server_name: string;
  user: string;
  features: string[];
}

/** One process using a GPU. */
export interface IGpuProcess {
  pid: number;
  memory_used: number;
}

/** A MIG instance carved out of a physical GPU. */
export interface IMigDevice {
  uuid: string;
  name: string;
  /** Percentage 0-100, or null where NVML cannot report it. */
  utilization: number | null;
  memory_used: number;
  memory_total: number;
}

/** One physical GPU assigned to this server. */
export interface IGpuDevice {
  index: number;
  name: string;
  uuid: string;
  /** Percentage 0-100, or null where NVML cannot report it (never 0 for unknown). */
  utilization: number | null;
  memory_used: number;
  memory_total: number;
  processes: IGpuProcess[];
  mig: IMigDevice[];
}

/**
 * The idle-GPU culler's pending warning. docs/server-api.md only says
 * "pending warning, or null"; this shape is the server's `warning_payload()`.
 */
export interface IGpuWarning {
  /** Epoch seconds. */
  issued_at: number;
  /** Epoch seconds at which the server will be stopped. */
  stop_at: number;
  /** Why, in words meant for the user. */
  reason: string;
  postponements_left: number;
  /** Seconds one "keep" answer adds. */
  postpone_by: number;
  /** Epoch seconds of the user's "keep" answer, or null. */
  keep_requested_at: number | null;
}

/** `GET /gpu` */
export interface IGpuResponse {
  available: boolean;
  message: string;
  sampled_at: number;
  gpus: IGpuDevice[];
  /** The culler's pending warning for this server, or null. */
  warning: IGpuWarning | null;
  /** True when the GPUs are the demo's simulated ones, not hardware. */
  simulated?: boolean;
  /** Why no figures are available (the driver's error, "timeout"), when it says. */
  reason?: string;
}

/** `GET /warning` */
export interface IWarningResponse {
  warning: IGpuWarning | null;
}

/** `POST /warning/keep` */
export interface IKeepResponse {
  warning: IGpuWarning | null;
  keep_requested_at: number | null;
}

/** What kind of interaction a presence report stands for. */
export type PresenceKind = 'key' | 'click' | 'focus';

/** `POST /presence` */
export interface IPresenceResponse {
  last_presence: number;
}

/**
 * An API call that did not succeed.
 *
 * `status` is the HTTP status, or 0 when the server could not be reached at
 * all; `message` is the server's own explanation when it sent one, because
 * those messages are written to tell the user what to do.
 */
export class ImagineApiError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(message: string, status: number, reason = '') {
    super(message);
    this.name = 'ImagineApiError';
    this.status = status;
    this.reason = reason;
  }

  /**
   * Whether the server behind the page is gone rather than briefly unwell.
   *
   * 404/410 mean the route (or the server) no longer exists; 424 is what
   * JupyterHub answers for API requests to a user server that is not
   * running; status 0 is a network failure.
   */
  get serverGone(): boolean {
    return [0, 404, 410, 424].includes(this.status);
  }
}

/** Build the absolute URL of an API route. */
export function apiUrl(baseUrl: string, path: string): string {
  return URLExt.join(baseUrl, API_NAMESPACE, path.replace(/^\/+/, ''));
}

/** Turn a non-2xx response into an ImagineApiError carrying the server's message. */
export async function errorFromResponse(
  response: Response
): Promise<ImagineApiError> {
  let message = '';
  let reason = '';
  try {
    const body: unknown = JSON.parse(await response.text());
    if (body && typeof body === 'object') {
      const { message: m, reason: r } = body as Record<string, unknown>;
      message = typeof m === 'string' ? m : '';
      reason = typeof r === 'string' ? r : '';
    }
  } catch {
    // Not JSON (e.g. a proxy's HTML error page): fall back to the status line.
  }
  if (!message) {
    const statusText = response.statusText ? ` ${response.statusText}` : '';
    message = `Request failed: ${response.status}${statusText}`;
  }
  return new ImagineApiError(message, response.status, reason);
}

/** Thin typed wrapper over ServerConnection; settings are injectable for tests. */
export class ImagineApi {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /** Send a request and decode its JSON answer, throwing ImagineApiError otherwise. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = apiUrl(this.settings.baseUrl, path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new ImagineApiError(
        `Could not reach the Jupyter server (${detail}).`,
        0,
        'network'
      );
    }
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    const text = await response.text();
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new ImagineApiError(
        `The server answered ${path} with something that is not JSON.`,
        response.status,
        'bad_json'
      );
    }
  }

  status(): Promise<IStatusResponse> {
    return this.request<IStatusResponse>('status', { method: 'GET' });
  }

  gpu(): Promise<IGpuResponse> {
    return this.request<IGpuResponse>('gpu', { method: 'GET' });
  }

  warning(): Promise<IWarningResponse> {
    return this.request<IWarningResponse>('warning', { method: 'GET' });
  }

  /** Answer "keep my GPU" to the pending warning (409 with a message when not possible). */
  keep(): Promise<IKeepResponse> {
    return this.request<IKeepResponse>('warning/keep', { method: 'POST' });
  }

  presence(kind: PresenceKind): Promise<IPresenceResponse> {
    return this.request<IPresenceResponse>('presence', {
      method: 'POST',
      body: JSON.stringify({ kind }),
      headers: { 'Content-Type': 'application/json' }
    });
  }
}
