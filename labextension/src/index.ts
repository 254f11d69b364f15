/**
 * JupyterLab plugins of jupyterhub-imagine: GPU status and culler warnings,
 * share link, presence.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  ICommandPalette,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { FileBrowser, IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { linkIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { IStatusResponse, ImagineApi } from './api';
import { cullWarningsPlugin, gpuStatusPlugin } from './gpuPlugins';
import { dataPanelPlugin, softwarePanelPlugin } from './panelPlugins';
import { PresenceReporter } from './presence';
import { shareContext } from './share';
import {
  SHARE_BUTTON_ID,
  SHARE_INPUT_ID,
  ShareLinkBody
} from './shareDialog';
import { IShareInfo, fetchShareInfo, planShare } from './shareGit';

/** Command that opens the share dialog. */
export const SHARE_COMMAND = 'imagine:share-link';

const SHARE_LABEL = 'Share a link to this session';

/** The path a recipient should land on: the open document, else the browsed folder. */
function currentPath(
  app: JupyterFrontEnd,
  browser: FileBrowser | null
): string {
  const widget = app.shell.currentWidget;
  const path =
    widget instanceof DocumentWidget
      ? widget.context.path
      : (browser?.model.path ?? '');
  // Drop drive prefixes such as "RTC:" that only mean something in this tab.
  return app.serviceManager.contents.localPath(path);
}

/** A plain <button> so the id and aria-label sit on the focusable element itself. */
function createShareButton(onClick: () => void): Widget {
  const node = document.createElement('button');
  node.type = 'button';
  node.className = 'jp-Button jp-mod-minimal imagine-ShareButton';
  node.setAttribute('aria-label', SHARE_LABEL);
  node.title = SHARE_LABEL;
  node.append(linkIcon.element({ tag: 'span', className: 'imagine-ShareButton-icon' }));
  const label = document.createElement('span');
  label.className = 'imagine-ShareButton-label';
  label.textContent = 'Share';
  node.append(label);
  node.addEventListener('click', onClick);
  const widget = new Widget({ node });
  widget.id = SHARE_BUTTON_ID;
  return widget;
}

const shareLinkPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-imagine:share-link',
  description: 'Top bar button and command that show a link to start a server like this one.',
  autoStart: true,
  optional: [ICommandPalette, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    browser: FileBrowser | null
  ): void => {
    const api = new ImagineApi(app.serviceManager.serverSettings);

    const openDialog = async (): Promise<void> => {
      let status: IStatusResponse | null = null;
      try {
        status = await api.status();
      } catch (error) {
        // Still useful without /status: PageConfig knows the hub, only the profile is lost.
        console.warn('jupyterhub-imagine: /status failed', error);
      }
      const context = shareContext(status, PageConfig.getOption('hubPrefix'));
      if (!context) {
        await showErrorMessage(
          'No link to share',
          'This server is not running under JupyterHub, so there is no hub link that ' +
            'would start a server for someone else.'
        );
        return;
      }
      const { hubPrefix, profile } = context;
      const path = currentPath(app, browser);
      let info: IShareInfo | null = null;
      try {
        info = await fetchShareInfo(api, path);
      } catch (error) {
        // An older server or a path the server cannot see: the path link still works.
        console.warn('jupyterhub-imagine: share info failed', error);
      }
      const plan = planShare(
        { origin: window.location.origin, hubPrefix, profile, path },
        info
      );
      await showDialog({
        title: plan.kind === 'launch' ? 'Share a launch link' : SHARE_LABEL,
        body: new ShareLinkBody(plan.link, plan.description, Clipboard.copyToSystem, {
          badge: plan.badge,
          warnings: plan.warnings
        }),
        buttons: [Dialog.okButton({ label: 'Close' })],
        focusNodeSelector: `#${SHARE_INPUT_ID}`
      });
    };

    app.commands.addCommand(SHARE_COMMAND, {
      label: 'Share a Link to This Session',
      caption: SHARE_LABEL,
      icon: linkIcon,
      execute: openDialog
    });
    palette?.addItem({ command: SHARE_COMMAND, category: 'JupyterHub' });

    const button = createShareButton(() => {
      void app.commands.execute(SHARE_COMMAND);
    });
    app.shell.add(button, 'top', { rank: 900 });
  }
};

const presencePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-imagine:presence',
  description: 'Tells the server, at most once a minute, that a person interacted with the page.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    const api = new ImagineApi(app.serviceManager.serverSettings);
    const reporter = new PresenceReporter({ send: kind => api.presence(kind) });
    reporter.connect({ document, window });
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const plugins: JupyterFrontEndPlugin<any>[] = [
  gpuStatusPlugin,
  cullWarningsPlugin,
  dataPanelPlugin,
  softwarePanelPlugin,
  shareLinkPlugin,
  presencePlugin
];

export default plugins;
