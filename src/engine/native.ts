import { dockerEngineApi } from '../docker/engine-api.js';
import type { NativeProbes } from '../model/context.js';
import { interfaceAddresses } from './interfaces.js';

/** The live system's in-process probes, for the real runner (engine/context.ts). */
export function nativeProbes(env: Readonly<Record<string, string | undefined>>): NativeProbes {
  return {
    addresses: interfaceAddresses,
    engine: () => dockerEngineApi(env),
    loadedLibraries: () => (process.report.getReport() as { sharedObjects?: string[] }).sharedObjects?.filter((p) => p.startsWith('/')) ?? [],
  };
}
