import type { Runner } from '../../model/runner.js';

export interface MacVersion {
  productName: string;
  productVersion: string;
  buildVersion: string;
}

/** Parses `sw_vers` ("ProductName:\t\tmacOS\nProductVersion:\t\t14.5\nBuildVersion:\t\t23F79"). Pure. */
export function parseSwVers(text: string): MacVersion | null {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+?)\\s*$`, 'm').exec(text)?.[1] ?? null;
  const productVersion = field('ProductVersion');
  if (!productVersion) return null;
  return { productName: field('ProductName') ?? 'macOS', productVersion, buildVersion: field('BuildVersion') ?? '' };
}

/** The macOS version, or null when `sw_vers` doesn't answer (a preview on another OS). Read-only. */
export async function observeMacVersion(runner: Runner): Promise<MacVersion | null> {
  const res = await runner.run(['sw_vers']);
  return res.code === 0 ? parseSwVers(res.stdout) : null;
}
