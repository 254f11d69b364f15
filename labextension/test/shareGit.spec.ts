import { describe, expect, it } from 'vitest';

import {
  IShareInfo,
  buildLaunchLink,
  describeLaunchLink,
  launchBadge,
  launchUrlpath,
  launchWarnings,
  planShare
} from '../src/shareGit';

const SHA = 'a'.repeat(40);
const OLD = 'b'.repeat(40);

function info(over: Partial<IShareInfo> = {}): IShareInfo {
  return {
    path: 'work/proj/nb/My Analysis.ipynb',
    repository: true,
    shareable: true,
    reason: '',
    message: '',
    remote: 'https://github.com/org/proj.git',
    remote_name: 'origin',
    commit: SHA,
    branch: 'main',
    pushed: true,
    pushed_commit: SHA,
    unpushed_commits: 0,
    uncommitted_changes: 0,
    untracked_files: 0,
    file_changed: false,
    file_in_commit: true,
    path_in_repository: 'nb/My Analysis.ipynb',
    repository_path: 'work/proj',
    folder: 'proj',
    ...over
  };
}

const SOURCE = {
  origin: 'https://hub.example',
  hubPrefix: '/hub/',
  profile: 'gpu-a100',
  path: 'work/proj/nb/My Analysis.ipynb'
};

describe('buildLaunchLink', () => {
  it('carries exactly the parameters the hub parses, in the repository folder', () => {
    const link = buildLaunchLink('https://hub.example/', 'hub', 'gpu-a100', info());
    const url = new URL(link);
    expect(url.origin + url.pathname).toBe('https://hub.example/hub/imagine/launch');
    expect([...url.searchParams.keys()]).toEqual(['profile', 'repo', 'ref', 'urlpath']);
    expect(url.searchParams.get('profile')).toBe('gpu-a100');
    expect(url.searchParams.get('repo')).toBe('https://github.com/org/proj.git');
    expect(url.searchParams.get('ref')).toBe(SHA);
    // where nbgitpuller puts the repository (targetpath = folder), not where the sharer has it
    expect(url.searchParams.get('urlpath')).toBe('lab/tree/proj/nb/My%20Analysis.ipynb');
  });

  it('leaves the profile to the recipient when it is unknown', () => {
    const url = new URL(buildLaunchLink('https://h', '/hub/', '', info()));
    expect(url.searchParams.has('profile')).toBe(false);
  });

  it('links the pushed commit, not the local one', () => {
    const url = new URL(
      buildLaunchLink('https://h', '/hub/', '', info({ pushed: false, pushed_commit: OLD }))
    );
    expect(url.searchParams.get('ref')).toBe(OLD);
  });

  it('opens the folder when the file is not in the linked commit', () => {
    expect(launchUrlpath(info({ file_in_commit: false }))).toBe('lab/tree/proj');
    expect(launchUrlpath(info({ path_in_repository: '' }))).toBe('lab/tree/proj');
  });
});

describe('launch link texts', () => {
  it('makes a Markdown badge around the link', () => {
    expect(launchBadge('https://h/', '/hub/', 'L')).toBe(
      '[![Open on the hub](https://h/hub/static/images/jupyterhub-80.png)](L)'
    );
  });

  it('says what the link carries and what it does not', () => {
    const text = describeLaunchLink('gpu-a100', info());
    expect(text).toContain('profile “gpu-a100”');
    expect(text).toContain(`pulls https://github.com/org/proj.git at commit ${SHA.slice(0, 12)}`);
    expect(text).toContain('into the folder “proj/” and opens “proj/nb/My Analysis.ipynb”');
    expect(text).toContain('not uncommitted or unpushed work');
    expect(describeLaunchLink('', info())).toContain('their default profile');
  });

  it('has no warnings for a clean, pushed file', () => {
    expect(launchWarnings(info(), SOURCE.path)).toEqual([]);
  });

  it('warns plainly about unpushed commits and uncommitted changes', () => {
    const warnings = launchWarnings(
      info({
        pushed: false,
        pushed_commit: OLD,
        unpushed_commits: 2,
        file_changed: true,
        uncommitted_changes: 3
      }),
      'a.ipynb'
    );
    expect(warnings).toEqual([
      `2 commits are not pushed to “origin”: the link carries commit ${OLD.slice(0, 12)}, ` +
        'the last one pushed. Push to share your newer work.',
      `“a.ipynb” has changes that are not committed: the link opens it as it is in commit ${OLD.slice(0, 12)}.`
    ]);
    expect(launchWarnings(info({ uncommitted_changes: 1 }), 'a')).toEqual([
      'The repository has 1 uncommitted change in other files; they are not in the link.'
    ]);
    expect(launchWarnings(info({ file_in_commit: false }), 'n.py')[0]).toContain(
      'opens the repository folder'
    );
  });
});

describe('planShare', () => {
  it('offers a launch link with a badge when the server says shareable', () => {
    const plan = planShare(SOURCE, info());
    expect(plan.kind).toBe('launch');
    expect(plan.link).toContain('/hub/imagine/launch?profile=gpu-a100&repo=');
    expect(plan.badge).toContain(`](${plan.link})`);
  });

  it('falls back to the path link and says why', () => {
    const plan = planShare(
      SOURCE,
      info({ shareable: false, reason: 'no-remote', message: 'The repository has no remote.' })
    );
    expect(plan.kind).toBe('path');
    expect(plan.link).toContain('/hub/spawn?opt-profile=gpu-a100&next=');
    expect(plan.badge).toBe('');
    expect(plan.description).toContain('Files are not copied');
    expect(plan.description).toContain(
      'no launch link that brings the content along: The repository has no remote.'
    );
  });

  it('falls back quietly when the server could not be asked', () => {
    const plan = planShare(SOURCE, null);
    expect(plan.kind).toBe('path');
    expect(plan.description).not.toContain('launch link');
  });
});
