/**
 * Left sidebar "Software" panel: CVMFS repositories with health, stacks,
 * their modules and Apptainer images, one search box over all of them, and
 * "Use", which creates a kernel the launcher lists at once.
 */
import { Widget } from '@lumino/widgets';

import { button, el } from './dom';
import { messageOf } from './mounts';
import { IKernelRequest, SoftwareModel, matches, stackLabel } from './software';

export const SOFTWARE_PANEL_ID = 'imagine-software-panel';
/** Most modules rendered at once; the search narrows the rest. */
const MAX_MODULES = 300;

function section(title: string, id: string): [HTMLElement, HTMLUListElement] {
  const heading = el('h3', { className: 'imagine-Panel-subtitle', id: `${id}-title` }, title);
  const list = el('ul', { className: 'imagine-List', id });
  list.setAttribute('aria-labelledby', heading.id);
  return [el('section', {}, heading, list), list];
}

/** The CVMFS root as shown above the image list: "/cvmfs", or the end of a long path. */
function shortRoot(root: string): string {
  return root.length > 24 ? `…/${root.split('/').filter(Boolean).pop() ?? ''}` : root;
}

export class SoftwarePanel extends Widget {
  constructor(readonly model: SoftwareModel) {
    super();
    this.id = SOFTWARE_PANEL_ID;
    this.addClass('imagine-Panel');
    this.title.caption = 'Software';
    this._search.type = 'search';
    this._search.id = 'imagine-software-search';
    this._search.className = 'jp-mod-styled imagine-Search';
    this._search.placeholder = 'Search software';
    this._search.setAttribute('aria-label', 'Search software');
    this._search.addEventListener('input', () => this._render());
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    this._alert.setAttribute('role', 'alert');
    const [repos, repoList] = section('Repositories', 'imagine-software-repos');
    const [stacks, stackList] = section('Stacks', 'imagine-software-stacks');
    const [modules, moduleList] = section('Modules', 'imagine-software-modules');
    const [images, imageList] = section('Apptainer images', 'imagine-software-images');
    this._repos = repoList;
    this._stacks = stackList;
    this._modules = moduleList;
    this._modulesSection = modules;
    this._images = imageList;
    images.insertBefore(this._imagePath, imageList);
    this.node.append(
      el('h2', { className: 'imagine-Panel-title' }, 'Software'),
      this._search,
      this._status,
      this._alert,
      this._notice,
      stacks,
      modules,
      images,
      repos
    );
    model.changed.connect(this._render, this);
    this._render();
  }

  protected onAfterShow(): void {
    void this.model.load();
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      void this.model.load();
    }
  }

  private _render(): void {
    const m = this.model;
    const q = this._search.value;
    this._alert.textContent = m.error;
    this._notice.textContent = m.empty
      ? `No CVMFS repository is mounted on this server${m.root ? ` (looked in ${m.root})` : ''}, ` +
        'so there are no stacks, modules or images to offer. Ask your administrators which ' +
        'software repositories this service provides.'
      : '';
    this._notice.hidden = !m.empty;
    for (const section of [this._stacks, this._images, this._repos]) {
      (section.parentElement as HTMLElement).hidden = m.empty;
    }
    this._repos.replaceChildren(
      ...m.repositories.map(repo =>
        el(
          'li',
          { className: 'imagine-Item' },
          el('strong', {}, repo.name),
          el('span', { className: `imagine-State imagine-State-${repo.state}` }, repo.state),
          ...(repo.message ? [el('div', { className: 'imagine-Mount-message' }, repo.message)] : [])
        )
      )
    );
    this._renderStacks(q);
    this._renderModules(q);
    this._renderImages(q);
  }

  private _renderStacks(q: string): void {
    const m = this.model;
    const stacks = m.stacks.filter(s => matches(q, s.name, s.version, s.kind, s.id));
    const items = stacks.map(stack => {
      const label = stackLabel(stack);
      const selected = stack.id === m.selectedStack;
      const modulesButton = button(
        selected ? 'Hide modules' : 'Modules',
        () => void m.selectStack(selected ? '' : stack.id),
        `${selected ? 'Hide' : 'Show'} the modules of ${label}`
      );
      modulesButton.setAttribute('aria-expanded', String(selected));
      const item = el(
        'li',
        { className: 'imagine-Item' },
        el('strong', {}, label),
        el('span', { className: 'imagine-Item-kind' }, stack.kind),
        el(
          'div',
          { className: 'imagine-Mount-actions' },
          modulesButton,
          button('Use', () => void this._use({ kind: 'stack', id: stack.id, modules: this._checked(stack.id) }), `Use ${label} in a new kernel`)
        )
      );
      item.dataset.stack = stack.id;
      return item;
    });
    const none = q
      ? 'No stack matches the search.'
      : 'No software stack (EESSI version or LCG view) in the mounted repositories.';
    this._stacks.replaceChildren(...(items.length ? items : [el('li', { className: 'imagine-Empty' }, none)]));
  }

  private _checked(stackId: string): string[] {
    return stackId === this.model.selectedStack ? [...this._selectedModules] : [];
  }

  private _renderModules(q: string): void {
    const m = this.model;
    this._modulesSection.hidden = !m.selectedStack;
    if (m.selectedStack !== this._modulesFor) {
      this._selectedModules.clear();
      this._modulesFor = m.selectedStack;
    }
    if (!m.selectedStack) {
      return;
    }
    const shown = m.modules.filter(name => matches(q, name)).slice(0, MAX_MODULES);
    this._modules.replaceChildren(
      ...shown.map((name, i) => {
        const id = `imagine-module-${i}`;
        const box = el('input', { type: 'checkbox', id, checked: this._selectedModules.has(name) });
        box.addEventListener('change', () => {
          if (box.checked) {
            this._selectedModules.add(name);
          } else {
            this._selectedModules.delete(name);
          }
        });
        return el('li', { className: 'imagine-Item' }, box, el('label', { htmlFor: id }, name));
      })
    );
    if (shown.length === 0) {
      this._modules.append(el('li', { className: 'imagine-Empty' }, 'No modules match.'));
    }
  }

  private _renderImages(q: string): void {
    const m = this.model;
    const parent = m.imageParent;
    this._imagePath.replaceChildren(
      el('span', { title: `${m.root}/${m.imagePath}` }, `${shortRoot(m.root)}/${m.imagePath}`.replace(/\/+$/, '') || '/'),
      ...(parent === null ? [] : [button('Up', () => void m.browse(parent), 'Go to the parent folder')])
    );
    this._imagePath.className = 'imagine-Path';
    const entries = m.images.filter(e => e.kind === 'dir' || matches(q, e.name));
    if (entries.length === 0) {
      const text = m.imagesError || (q ? 'No image matches the search.' : 'No Apptainer image (.sif) in this folder.');
      this._images.replaceChildren(el('li', { className: 'imagine-Empty' }, text));
      return;
    }
    this._images.replaceChildren(
      ...entries.map(entry => {
        const path = m.imagePath ? `${m.imagePath}/${entry.name}` : entry.name;
        const action =
          entry.kind === 'dir'
            ? button('Open', () => void m.browse(path), `Open folder ${entry.name}`)
            : button('Use', () => void this._use({ kind: 'image', id: path }), `Use image ${entry.name} in a new kernel`);
        return el('li', { className: 'imagine-Item' }, el('span', {}, entry.kind === 'dir' ? `${entry.name}/` : entry.name), action);
      })
    );
  }

  private async _use(request: IKernelRequest): Promise<void> {
    this._alert.textContent = '';
    this._status.textContent = 'Creating the kernel…';
    try {
      const kernel = await this.model.use(request);
      this._status.textContent = `“${kernel.display_name}” is now in the launcher.`;
    } catch (error) {
      this._status.textContent = '';
      this._alert.textContent = messageOf(error);
    }
  }

  private readonly _search = el('input');
  private readonly _status = el('div', { className: 'imagine-Status' });
  private readonly _alert = el('div', { className: 'imagine-Error', id: 'imagine-software-error' });
  private readonly _imagePath = el('div');
  private readonly _notice = el('p', { className: 'imagine-Empty', id: 'imagine-software-empty' });
  private readonly _selectedModules = new Set<string>();
  private _modulesFor = '';
  private readonly _repos: HTMLUListElement;
  private readonly _stacks: HTMLUListElement;
  private readonly _modules: HTMLUListElement;
  private readonly _modulesSection: HTMLElement;
  private readonly _images: HTMLUListElement;
}
