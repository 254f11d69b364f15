/**
 * Launch links from the Share button: when the open file sits in a git
 * repository with a pushed commit, the link makes the hub pull that commit
 * with nbgitpuller and open the file (see docs/links.md).
 *
 * Pure string work only; `GET share?path=` supplies the git facts.
 */
import type { ImagineApi } from './api';
import {
  buildShareLink,
  describeShareLink,
  encodePath,
  normalizePrefix
} from './share';

/** `GET share?path=`: git facts about a file (jupyterhub_imagine/serverext/gitshare/probe.py). */
export interface IShareInfo {
  path: string;
  repository: boolean;
  /** Whether a launch link can be made; otherwise `reason` and `message` say why not. */
  shareable: boolean;
  reason: string;
  message: string;
  /** https URL of the remote, without credentials. */
  remote: string;
  remote_name: string;
  /** The work tree's HEAD. */
  commit: string;
  /** Empty when HEAD is detached. */
  branch: string;
  /** HEAD is on one of the remote's branches (as this clone last saw them). */
  pushed: boolean;
  /** What a link carries: HEAD, or its newest pushed ancestor. */
  pushed_commit: string;
  unpushed_commits: number;
  uncommitted_changes: number;
  untracked_files: number;
  file_changed: boolean;
  /** The path exists in `pushed_commit`. */
  file_in_commit: boolean;
  path_in_repository: string;
  repository_path: string;
  /** Where nbgitpuller puts the repository in the recipient's home. */
  folder: string;
}

/** Ask the server extension about `path` (server-relative, unencoded). */
export function fetchShareInfo(api: ImagineApi, path: string): Promise<IShareInfo> {
  return api.request<IShareInfo>(`share?path=${encodeURIComponent(path)}`, {
    method: 'GET'
  });
}

/** What the dialog shows: a link, maybe a badge, an explanation and warnings. */
export interface ISharePlan {
  kind: 'launch' | 'path';
  link: string;
  /** Markdown badge for a README; empty for path links. */
  badge: string;
  description: string;
  warnings: string[];
}

/** Where the hub should open: the file inside the folder nbgitpuller pulls into. */
export function launchUrlpath(info: IShareInfo): string {
  const inRepo = info.file_in_commit ? encodePath(info.path_in_repository) : '';
  const folder = encodePath(info.folder);
  return inRepo ? `lab/tree/${folder}/${inRepo}` : `lab/tree/${folder}`;
}

/**
 * `<origin><hub>imagine/launch?profile=&repo=&ref=&urlpath=`: the parameters
 * the hub's `parse_launch` reads (jupyterhub_imagine/links/spec.py).
 */
export function buildLaunchLink(
  origin: string,
  hubPrefix: string,
  profile: string,
  info: IShareInfo
): string {
  const params: Array<[string, string]> = [];
  if (profile) {
    params.push(['profile', profile]);
  }
  params.push(['repo', info.remote], ['ref', info.pushed_commit]);
  params.push(['urlpath', launchUrlpath(info)]);
  const query = params
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
  return `${origin.replace(/\/+$/, '')}${normalizePrefix(hubPrefix)}imagine/launch?${query}`;
}

/** A Markdown badge with the hub's logo, as the hub's link composer makes it. */
export function launchBadge(origin: string, hubPrefix: string, link: string): string {
  const image = `${origin.replace(/\/+$/, '')}${normalizePrefix(hubPrefix)}static/images/jupyterhub-80.png`;
  return `[![Open on the hub](${image})](${link})`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Plain warnings about what the link will not carry. */
export function launchWarnings(info: IShareInfo, path: string): string[] {
  const short = info.pushed_commit.slice(0, 12);
  const warnings: string[] = [];
  if (!info.pushed) {
    const count = info.unpushed_commits
      ? plural(info.unpushed_commits, 'commit is', 'commits are')
      : 'Your latest commit is';
    warnings.push(
      `${count} not pushed to “${info.remote_name}”: the link carries commit ${short}, ` +
        'the last one pushed. Push to share your newer work.'
    );
  }
  if (info.file_changed) {
    warnings.push(
      `“${path}” has changes that are not committed: the link opens it as it is in commit ${short}.`
    );
  } else if (info.uncommitted_changes) {
    warnings.push(
      `The repository has ${plural(info.uncommitted_changes, 'uncommitted change', 'uncommitted changes')} ` +
        'in other files; they are not in the link.'
    );
  }
  if (!info.file_in_commit && info.path_in_repository) {
    warnings.push(
      `“${path}” is not in commit ${short}, so the link opens the repository folder. ` +
        'Commit and push the file to link to it.'
    );
  }
  return warnings;
}

/** What the recipient gets from a launch link, and what stays behind. */
export function describeLaunchLink(profile: string, info: IShareInfo): string {
  const who = profile
    ? `starts their own server with the profile “${profile}”`
    : 'starts their own server with their default profile';
  const opens =
    info.file_in_commit && info.path_in_repository
      ? ` and opens “${info.folder}/${info.path_in_repository}”`
      : '';
  return (
    `Anyone who can log in to this hub can use this link: after they confirm, it ${who}, ` +
    `pulls ${info.remote} at commit ${info.pushed_commit.slice(0, 12)} into the folder ` +
    `“${info.folder}/”${opens}. It carries only what is pushed to that repository: not ` +
    'uncommitted or unpushed work, not other files in your home, not data on mounts.'
  );
}

/** Inputs of the share dialog that do not come from git. */
export interface IShareSource {
  origin: string;
  hubPrefix: string;
  profile: string;
  /** Server-relative path of the open file or folder. */
  path: string;
}

/**
 * A launch link when the server says the file is in a pushed repository;
 * otherwise the path link, saying why no launch link could be made.
 */
export function planShare(source: IShareSource, info: IShareInfo | null): ISharePlan {
  const { origin, hubPrefix, profile, path } = source;
  if (info?.shareable) {
    const link = buildLaunchLink(origin, hubPrefix, profile, info);
    return {
      kind: 'launch',
      link,
      badge: launchBadge(origin, hubPrefix, link),
      description: describeLaunchLink(profile, info),
      warnings: launchWarnings(info, path)
    };
  }
  const why = info?.message
    ? ` There is no launch link that brings the content along: ${info.message}`
    : '';
  return {
    kind: 'path',
    link: buildShareLink({ origin, hubPrefix, profile, path }),
    badge: '',
    description: describeShareLink(profile, path) + why,
    warnings: []
  };
}
