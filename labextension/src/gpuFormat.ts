/**
 * Pure formatting of `GET /gpu` samples for the status bar and its tooltip.
 */
import { IGpuDevice, IGpuResponse, IGpuWarning } from './api';

/** One line of the status display: a whole GPU, or one MIG instance of it. */
export interface IGpuEntry {
  label: string;
  name: string;
  utilization: number | null;
  memoryUsed: number;
  memoryTotal: number;
}

/**
 * The MIG profile ("1g.5gb") from an instance name. NVML names instances like
 * "NVIDIA A100-SXM4-40GB MIG 1g.5gb"; the short form fits the status bar.
 */
export function migProfile(name: string): string {
  const match = /\bMIG\s+(\S+)\s*$/.exec(name);
  return match ? match[1] : name;
}

/** A MIG-partitioned GPU is shown as its instances, since those are what the server uses. */
export function gpuEntries(gpus: IGpuDevice[]): IGpuEntry[] {
  return gpus.flatMap(gpu =>
    gpu.mig.length > 0
      ? gpu.mig.map(mig => ({
          label: `GPU${gpu.index} ${migProfile(mig.name)}`,
          name: mig.name.includes(gpu.name) ? mig.name : `${gpu.name} MIG ${mig.name}`,
          utilization: mig.utilization,
          memoryUsed: mig.memory_used,
          memoryTotal: mig.memory_total
        }))
      : [
          {
            label: `GPU${gpu.index}`,
            name: gpu.name,
            utilization: gpu.utilization,
            memoryUsed: gpu.memory_used,
            memoryTotal: gpu.memory_total
          }
        ]
  );
}

/** `null` means NVML cannot tell (MIG), which must not read as idle. */
export function formatUtilization(utilization: number | null): string {
  return utilization === null ? 'n/a' : `${Math.round(utilization)}%`;
}

/** Bytes as GiB with one decimal, the unit GPU memory is sold in. */
export function formatGiB(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

/** Compact text for the status bar, e.g. `GPU0 37% 1.0/40.0 GiB`. */
export function formatEntry(entry: IGpuEntry): string {
  const memory = `${formatGiB(entry.memoryUsed)}/${formatGiB(entry.memoryTotal)} GiB`;
  return `${entry.label} ${formatUtilization(entry.utilization)} ${memory}`;
}

/** Status bar text for a sample; empty when there is nothing to show. */
export function formatStatus(data: IGpuResponse | null): string {
  if (!data || !data.available) {
    return '';
  }
  const text = gpuEntries(data.gpus).map(formatEntry).join(' | ');
  return data.simulated ? `${text} (simulated)` : text;
}

/** Said wherever simulated GPUs show, so nobody mistakes the demo's numbers for hardware. */
export const SIMULATED_NOTE =
  'Simulated GPUs: this demo machine has no GPU. The numbers follow the demo’s ' +
  'training notebook (train-on-the-gpu.ipynb).';

/** One sentence about the culler's warning, with the stop time in local time. */
export function formatWarning(
  warning: IGpuWarning,
  timeFormat: (date: Date) => string = date =>
    date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
): string {
  const reason = warning.reason.trim();
  const lead = !reason || reason.endsWith('.') ? reason : `${reason}.`;
  const when = timeFormat(new Date(warning.stop_at * 1000));
  return `${lead} The server will be stopped at ${when}.`.trim();
}

/** Longer tooltip text: device names, utilization, memory and the culler's warning. */
export function formatTooltip(data: IGpuResponse | null, error: Error | null): string {
  const lines: string[] = [];
  if (data?.available) {
    for (const entry of gpuEntries(data.gpus)) {
      lines.push(
        `${entry.label} (${entry.name}): utilization ${formatUtilization(entry.utilization)}, ` +
          `memory ${formatGiB(entry.memoryUsed)} of ${formatGiB(entry.memoryTotal)} GiB`
      );
    }
    if (data.warning) {
      lines.push(`Warning: ${formatWarning(data.warning)}`);
    }
    if (data.simulated) {
      lines.push(SIMULATED_NOTE);
    }
  }
  if (error) {
    lines.push(`Last update failed: ${error.message}`);
  }
  return lines.join('\n');
}
