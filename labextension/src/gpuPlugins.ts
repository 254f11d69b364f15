/**
 * GPU plugins: the status bar item (which owns the `/gpu` poller) and the
 * idle-GPU culler's warnings (notification, countdown, keep, save and stop).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Token } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { ImagineApi } from './api';
import { CullCountdownWidget } from './cullCountdown';
import { CullNotifier, KEEP_LABEL, SAVE_AND_STOP_LABEL } from './cullNotifier';
import { CullWarningModel, clockTime, keepExplanation } from './cullWarning';
import { GpuStatusModel } from './gpu';
import { GpuHistory } from './gpuHistory';
import { GpuPanel, createGpuPanel } from './gpuPanel';
import { GpuStatusWidget } from './gpuStatus';
import {
  ISavable,
  SaveAndStopOutcome,
  hubHomeUrl,
  hubServer,
  saveAndStop,
  stopServer
} from './hubStop';

export const GPU_STATUS_PLUGIN = 'jupyterhub-imagine:gpu-status';

/** The `/gpu` poller, shared by the status item and the culler warnings. */
export const IGpuStatusModel = new Token<GpuStatusModel>(
  'jupyterhub-imagine:IGpuStatusModel',
  'Polls GET /gpu (utilization, memory and the culler warning).'
);

export const CommandIDs = {
  keep: 'imagine:keep-gpu',
  saveAndStop: 'imagine:save-and-stop',
  showWarning: 'imagine:show-gpu-warning'
};

/** Command that opens the GPU panel (the status item runs it when clicked). */
export const OPEN_GPU_PANEL = 'imagine:open-gpu-panel';

/** Keep the last samples of the poller for the GPU panel (no polling of its own). */
function recordHistory(model: GpuStatusModel): GpuHistory {
  const history = new GpuHistory();
  model.changed.connect(() => {
    if (model.data) {
      history.add(model.data); // ignores repeats of the same sample
    }
  });
  return history;
}

/** Command opening the GPU panel, or bringing the open one to the front. */
function addPanelCommand(
  app: JupyterFrontEnd,
  model: GpuStatusModel,
  palette: ICommandPalette | null
): void {
  const history = recordHistory(model);
  let panel: MainAreaWidget<GpuPanel> | null = null;
  app.commands.addCommand(OPEN_GPU_PANEL, {
    label: 'Show GPU Utilization and Memory',
    caption: 'Open the GPU panel: a live chart per GPU',
    execute: () => {
      if (!panel || panel.isDisposed) {
        panel = createGpuPanel(history, model);
        app.shell.add(panel, 'main');
      }
      app.shell.activateById(panel.id);
    }
  });
  palette?.addItem({ command: OPEN_GPU_PANEL, category: 'JupyterHub' });
}

/** Apply `pollInterval` (seconds) from the plugin settings. */
function applySettings(model: GpuStatusModel, settings: ISettingRegistry.ISettings): void {
  const seconds = settings.composite.pollInterval;
  if (typeof seconds === 'number') {
    model.interval = seconds * 1000;
  }
}

export const gpuStatusPlugin: JupyterFrontEndPlugin<GpuStatusModel> = {
  id: GPU_STATUS_PLUGIN,
  description: 'Shows utilization and memory of the GPUs assigned to this server.',
  autoStart: true,
  provides: IGpuStatusModel,
  optional: [IStatusBar, ISettingRegistry, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null
  ): GpuStatusModel => {
    const api = new ImagineApi(app.serviceManager.serverSettings);
    const model = new GpuStatusModel({ fetch: () => api.gpu() });
    addPanelCommand(app, model, palette ?? null);
    if (!statusBar) {
      // Nowhere to show it: poll only when another plugin (warnings) starts it.
      return model;
    }
    const item = new GpuStatusWidget(model, {
      onActivate: () => void app.commands.execute(OPEN_GPU_PANEL)
    });
    statusBar.registerStatusItem(GPU_STATUS_PLUGIN, {
      item,
      align: 'left',
      rank: 100,
      isActive: () => model.available,
      activeStateChanged: model.changed
    });
    const start = (): void => model.start();
    if (registry) {
      registry
        .load(GPU_STATUS_PLUGIN)
        .then(settings => {
          applySettings(model, settings);
          settings.changed.connect(() => applySettings(model, settings));
        })
        .catch(error => console.warn('jupyterhub-imagine: settings', error))
        .finally(start);
    } else {
      start();
    }
    return model;
  }
};

/** The open documents, as things that can be saved. */
function openDocuments(app: JupyterFrontEnd): ISavable[] {
  const documents: ISavable[] = [];
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof DocumentWidget) {
      const context = widget.context;
      documents.push({
        path: context.path,
        dirty: context.model.dirty && !context.model.readOnly,
        save: () => context.save()
      });
    }
  }
  return documents;
}

/** Tell the user how "save and stop" ended. */
async function reportStop(outcome: SaveAndStopOutcome, home: string | null): Promise<void> {
  if (outcome.kind === 'not-saved') {
    const list = outcome.failed.map(f => `${f.path}: ${f.message}`).join('\n');
    await showErrorMessage(
      'The server was not stopped',
      `These documents could not be saved, so the server keeps running:\n${list}`
    );
    return;
  }
  const count = outcome.saved.length;
  const saved =
    count === 0 ? 'Nothing needed saving.' : `${count} ${count === 1 ? 'document' : 'documents'} saved.`;
  const stop = outcome.stop;
  if (stop.kind === 'stopping') {
    Notification.info(`${saved} The server is stopping.`, { autoClose: false });
    // Leave the page: the hub's home shows the stop and a start button.
    if (home) {
      window.location.assign(home);
    }
  } else if (stop.kind === 'forbidden' && home) {
    const result = await showDialog({
      title: 'Stop the server from the hub',
      body:
        `${saved} This hub does not let JupyterLab stop servers (${stop.message}). ` +
        'Press "Stop My Server" on the hub home page.',
      buttons: [
        Dialog.cancelButton({ label: 'Stay here' }),
        Dialog.okButton({ label: 'Open the hub home page' })
      ]
    });
    if (result.button.accept) {
      window.location.assign(home);
    }
  } else if (stop.kind === 'failed') {
    await showErrorMessage('The server was not stopped', `${saved} ${stop.message}`);
  } else {
    await showDialog({
      title: 'Documents saved',
      body: `${saved} This JupyterLab was not started by JupyterHub: stop it where it was started.`,
      buttons: [Dialog.okButton({ label: 'Close' })]
    });
  }
}

/** The details dialog behind the countdown: why, when, and the two answers. */
async function showWarningDetails(
  app: JupyterFrontEnd,
  model: CullWarningModel
): Promise<void> {
  const warning = model.warning;
  if (!warning) {
    return;
  }
  const body = document.createElement('div');
  body.className = 'imagine-CullDetails';
  for (const text of [
    `The GPU of this server has been idle, so the server will stop at ${clockTime(warning.stop_at)} ` +
      'and its GPU will be given to someone else. Unsaved work is lost.',
    keepExplanation(warning),
    `Culler's reason: ${warning.reason}`
  ]) {
    const p = document.createElement('p');
    p.textContent = text;
    body.append(p);
  }
  const buttons = [
    Dialog.cancelButton({ label: 'Close' }),
    Dialog.warnButton({ label: SAVE_AND_STOP_LABEL })
  ];
  if (model.canKeep) {
    buttons.push(Dialog.okButton({ label: KEEP_LABEL }));
  }
  const result = await showDialog({
    title: 'This server will stop soon',
    body: new Widget({ node: body }),
    buttons
  });
  const command =
    result.button.label === KEEP_LABEL
      ? CommandIDs.keep
      : result.button.label === SAVE_AND_STOP_LABEL
        ? CommandIDs.saveAndStop
        : null;
  if (command) {
    await app.commands.execute(command);
  }
}

export const cullWarningsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-imagine:cull-warnings',
  description:
    'Shows when the idle-GPU culler will stop this server, with "keep my GPU" and "save and stop".',
  autoStart: true,
  requires: [IGpuStatusModel],
  optional: [IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    gpu: GpuStatusModel,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ): void => {
    const api = new ImagineApi(app.serviceManager.serverSettings);
    const model = new CullWarningModel({ keep: () => api.keep() });
    const notifier = new CullNotifier(model, {
      notifier: Notification,
      saveAndStop: () => void app.commands.execute(CommandIDs.saveAndStop)
    });
    gpu.changed.connect(() => {
      if (gpu.state === 'stopped') {
        notifier.serverGone();
      } else if (gpu.data) {
        model.update(gpu.data.warning ?? null);
      }
    });

    app.commands.addCommand(CommandIDs.keep, {
      label: 'Keep My GPU',
      caption: 'Postpone the idle-GPU stop of this server',
      isEnabled: () => model.canKeep,
      execute: () => notifier.keep()
    });
    app.commands.addCommand(CommandIDs.saveAndStop, {
      label: 'Save All and Stop This Server',
      caption: 'Save all open documents, then stop this server through JupyterHub',
      execute: async () => {
        const confirm = await showDialog({
          title: 'Save and stop this server?',
          body: 'All open documents are saved, then the server stops: running kernels end.',
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: SAVE_AND_STOP_LABEL })
          ]
        });
        if (!confirm.button.accept) {
          return;
        }
        const server = hubServer(name => PageConfig.getOption(name));
        const outcome = await saveAndStop(openDocuments(app), () => stopServer(server));
        await reportStop(outcome, server ? hubHomeUrl(server) : null);
      }
    });
    app.commands.addCommand(CommandIDs.showWarning, {
      label: 'Show the GPU Stop Warning',
      isEnabled: () => model.warning !== null,
      execute: () => showWarningDetails(app, model)
    });
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: 'JupyterHub' });
    }

    if (statusBar) {
      const item = new CullCountdownWidget(model, {
        onActivate: () => void app.commands.execute(CommandIDs.showWarning)
      });
      statusBar.registerStatusItem('jupyterhub-imagine:cull-countdown', {
        item,
        align: 'left',
        rank: 99,
        isActive: () => model.warning !== null,
        activeStateChanged: model.statusChanged
      });
    }
    // Warnings need the poller even where the status item is not shown.
    gpu.start();
  }
};
