/**
 * "Save and stop": save every open document, then ask JupyterHub to stop
 * this server.
 *
 * jupyterhub-singleuser puts the hub's coordinates and the user's OAuth token
 * for this server into the page config (`hubHost`, `hubPrefix`,
 * `hubServerUser`, `hubServerName`, `token`). That token may stop the server
 * when the hub grants it `delete:servers!server` through
 * `Spawner.oauth_client_allowed_scopes`; otherwise the hub answers 403 and the
 * user is sent to the hub's home page, whose "Stop My Server" always works.
 * Token authentication needs no XSRF cookie, which the page could not read
 * anyway: the hub's cookie lives under the hub's path.
 */
import { normalizePrefix } from './share';

/** Where this server lives on the hub, from the page config. */
export interface IHubServer {
  /** Origin of the hub, empty for the page's own origin. */
  hubHost: string;
  hubPrefix: string;
  user: string;
  serverName: string;
  /** The user's OAuth token for this server; may be empty. */
  token: string;
}

/** The result of asking the hub to stop the server. */
export type StopOutcome =
  | { kind: 'stopping' }
  | { kind: 'forbidden'; message: string }
  | { kind: 'no-hub' }
  | { kind: 'failed'; message: string };

/** A document that can be saved, as far as saving is concerned. */
export interface ISavable {
  path: string;
  dirty: boolean;
  save(): Promise<void>;
}

/** The result of "save and stop". */
export type SaveAndStopOutcome =
  | { kind: 'not-saved'; failed: Array<{ path: string; message: string }> }
  | { kind: 'saved'; saved: string[]; stop: StopOutcome };

/** Read the hub coordinates, or null for a JupyterLab not started by a hub. */
export function hubServer(getOption: (name: string) => string): IHubServer | null {
  const hubPrefix = getOption('hubPrefix');
  const user = getOption('hubServerUser') || getOption('hubUser');
  if (!hubPrefix || !user) {
    return null;
  }
  return {
    hubHost: getOption('hubHost').replace(/\/+$/, ''),
    hubPrefix: normalizePrefix(hubPrefix),
    user,
    serverName: getOption('hubServerName'),
    token: getOption('token')
  };
}

/** The hub's home page, where "Stop My Server" lives. */
export function hubHomeUrl(server: IHubServer): string {
  return `${server.hubHost}${server.hubPrefix}home`;
}

/** `DELETE` target: the default server or the named one. */
export function stopUrl(server: IHubServer): string {
  const user = encodeURIComponent(server.user);
  const path = server.serverName
    ? `servers/${encodeURIComponent(server.serverName)}`
    : 'server';
  return `${server.hubHost}${server.hubPrefix}api/users/${user}/${path}`;
}

async function hubMessage(response: Response): Promise<string> {
  try {
    const body: unknown = await response.json();
    const message = (body as { message?: unknown } | null)?.message;
    if (typeof message === 'string' && message) {
      return message;
    }
  } catch {
    // not JSON
  }
  return `The hub answered ${response.status}.`;
}

/** Ask the hub to stop the server; 202 (stopping) and 204 (stopped) both count. */
export async function stopServer(
  server: IHubServer | null,
  fetchFn: typeof fetch = (input, init) => fetch(input, init)
): Promise<StopOutcome> {
  if (!server) {
    return { kind: 'no-hub' };
  }
  if (!server.token) {
    return {
      kind: 'forbidden',
      message: 'This page has no hub token that could stop the server.'
    };
  }
  let response: Response;
  try {
    response = await fetchFn(stopUrl(server), {
      method: 'DELETE',
      headers: { Authorization: `token ${server.token}` },
      credentials: 'omit'
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { kind: 'failed', message: `Could not reach the hub (${detail}).` };
  }
  if (response.ok) {
    return { kind: 'stopping' };
  }
  const message = await hubMessage(response);
  if (response.status === 401 || response.status === 403) {
    return { kind: 'forbidden', message };
  }
  return { kind: 'failed', message };
}

/** Save each unsaved document; stop only when every save succeeded. */
export async function saveAndStop(
  documents: ISavable[],
  stop: () => Promise<StopOutcome>
): Promise<SaveAndStopOutcome> {
  const dirty = documents.filter(doc => doc.dirty);
  const results = await Promise.allSettled(dirty.map(doc => doc.save()));
  const failed = results.flatMap((result, i) =>
    result.status === 'rejected'
      ? [
          {
            path: dirty[i].path,
            message:
              result.reason instanceof Error
                ? result.reason.message
                : String(result.reason)
          }
        ]
      : []
  );
  if (failed.length > 0) {
    return { kind: 'not-saved', failed };
  }
  return { kind: 'saved', saved: dirty.map(doc => doc.path), stop: await stop() };
}
