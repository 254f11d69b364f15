/**
 * Left sidebar panels: Data (remote storage mounts) and Software (CVMFS).
 * Both are added only when the server extension offers the feature.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { ImagineApi } from './api';
import { DATA_PANEL_ID, DataPanel } from './dataPanel';
import { MountsModel } from './mounts';
import { SoftwareModel } from './software';
import { SOFTWARE_PANEL_ID, SoftwarePanel } from './softwarePanel';

// Theme-aware: jp-icon3 fills follow the light, dark and high-contrast themes.
const cloudIcon = new LabIcon({
  name: 'jupyterhub-imagine:cloud',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M19.35 10.04A7.49 7.49 0 0 0 12 4C9.11 4 6.6 5.64 5.35 8.04A5.994 5.994 0 0 0 0 14c0 3.31 2.69 6 6 6h13c2.76 0 5-2.24 5-5 0-2.64-2.05-4.78-4.65-4.96z"/></svg>'
});
const stackIcon = new LabIcon({
  name: 'jupyterhub-imagine:software',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M12 2 2 7l10 5 10-5-10-5zm-10 10 10 5 10-5-2.5-1.25L12 14.5 4.5 10.75 2 12zm0 5 10 5 10-5-2.5-1.25L12 19.5l-7.5-3.75L2 17z"/></svg>'
});

/** Whether `/status` lists the feature; a failed request hides the panel. */
async function offers(api: ImagineApi, feature: string): Promise<boolean> {
  try {
    return (await api.status()).features.includes(feature);
  } catch {
    return false;
  }
}

export const dataPanelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-imagine:data-panel',
  description: 'Left sidebar panel to mount remote storage (Nextcloud, B2DROP, WebDAV, S3, EGI DataHub).',
  autoStart: true,
  optional: [ILayoutRestorer, ILabShell, ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    palette: ICommandPalette | null
  ): Promise<void> => {
    const api = new ImagineApi(app.serviceManager.serverSettings);
    if (!(await offers(api, 'mounts'))) {
      return;
    }
    const panel = new DataPanel({
      model: new MountsModel({ api }),
      open: path => void app.commands.execute('filebrowser:go-to-path', { path: `/${path}` })
    });
    panel.title.icon = cloudIcon;
    app.shell.add(panel, 'left', { rank: 150 });
    restorer?.add(panel, DATA_PANEL_ID);
    app.commands.addCommand('imagine:open-data-panel', {
      label: 'Show the Data Panel (remote storage)',
      execute: () => (labShell ?? app.shell).activateById(DATA_PANEL_ID)
    });
    palette?.addItem({ command: 'imagine:open-data-panel', category: 'JupyterHub' });
  }
};

export const softwarePanelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-imagine:software-panel',
  description: 'Left sidebar panel to use CVMFS stacks, modules and Apptainer images as kernels.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): Promise<void> => {
    const api = new ImagineApi(app.serviceManager.serverSettings);
    if (!(await offers(api, 'software'))) {
      return;
    }
    const kernelspecs = app.serviceManager.kernelspecs;
    const model = new SoftwareModel(api, () => kernelspecs.refreshSpecs());
    const panel = new SoftwarePanel(model);
    panel.title.icon = stackIcon;
    app.shell.add(panel, 'left', { rank: 160 });
    restorer?.add(panel, SOFTWARE_PANEL_ID);
    app.commands.addCommand('imagine:open-software-panel', {
      label: 'Show the Software Panel (CVMFS)',
      execute: () => app.shell.activateById(SOFTWARE_PANEL_ID)
    });
    palette?.addItem({ command: 'imagine:open-software-panel', category: 'JupyterHub' });
  }
};
