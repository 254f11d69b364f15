/**
 * Share links: a hub URL that starts the recipient's own server with the same
 * profile and then opens the same path in JupyterLab.
 *
 * Pure string work only, so it can be tested and reused without a DOM.
 */
import type { IStatusResponse } from './api';
/** Inputs of a share link; all plain data so the builder stays pure. */
export interface IShareLinkOptions {
  /** Page origin, e.g. `https://notebooks.egi.eu` (no trailing slash needed). */
  origin: string;
  /** Hub URL prefix, e.g. `/hub/`. */
  hubPrefix: string;
  /** Profile slug; empty when unknown, which leaves the choice to the recipient. */
  profile: string;
  /** Server-relative path of a directory or file, `/`-separated, unencoded. */
  path: string;
}

/** What a share link needs to know about this server. */
export interface IShareContext {
  hubPrefix: string;
  profile: string;
}

/**
 * Hub prefix and profile for a share link, or null outside JupyterHub.
 *
 * jupyterhub-singleuser puts `hubPrefix` into the page config and the server
 * extension reports the hub user; with neither, this is a plain JupyterLab and
 * a hub link would lead nowhere. `/status` wins because it reflects the
 * server's configuration; the page config is the fallback when it failed.
 */
export function shareContext(
  status: Pick<IStatusResponse, 'hub_prefix' | 'profile' | 'user'> | null,
  pageHubPrefix: string
): IShareContext | null {
  if (!pageHubPrefix && !status?.user) {
    return null;
  }
  return {
    hubPrefix: status?.hub_prefix || pageHubPrefix,
    profile: status?.profile ?? ''
  };
}

/** Ensure a URL prefix has exactly one leading and one trailing slash. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `/${trimmed}/` : '/';
}

/** Encode each path segment but keep the `/` separators readable. */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter(segment => segment !== '' && segment !== '.')
    .map(encodeURIComponent)
    .join('/');
}

/**
 * Build `<origin><hub>spawn?opt-profile=<profile>&next=<hub>user-redirect/lab/tree/<path>`.
 *
 * `next` is encoded as a whole after its path segments were encoded, so the
 * hub decodes it once and redirects to a URL that is still correctly escaped.
 */
export function buildShareLink(options: IShareLinkOptions): string {
  const origin = options.origin.replace(/\/+$/, '');
  const hub = normalizePrefix(options.hubPrefix);
  const next = `${hub}user-redirect/lab/tree/${encodePath(options.path)}`;
  const query: string[] = [];
  if (options.profile) {
    query.push(`opt-profile=${encodeURIComponent(options.profile)}`);
  }
  query.push(`next=${encodeURIComponent(next)}`);
  return `${origin}${hub}spawn?${query.join('&')}`;
}

/** Human explanation of what the recipient gets; honest about files not being copied. */
export function describeShareLink(profile: string, path: string): string {
  const where = path ? `opens “${path}”` : 'opens the file browser';
  const what = profile
    ? `starts their own server with the profile “${profile}” and ${where}`
    : `starts their own server (they choose the profile) and ${where}`;
  return (
    `Anyone who can log in to this hub can use this link: it ${what}. ` +
    'Files are not copied, so the path must exist for them too (for example on a shared mount).'
  );
}
