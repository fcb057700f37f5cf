import type { Backend, PlatformName } from '../model/context.js';
import { darwinBackend } from './darwin/backend.js';
import { linuxBackend } from './linux/backend.js';

/** The backend of a platform. An explicit switch: no platform module is loaded by name. */
export function backendFor(platform: PlatformName): Backend {
  switch (platform) {
    case 'linux':
      return linuxBackend;
    case 'darwin':
      return darwinBackend;
  }
}

/** The platform this process runs on (anything not macOS is treated as Linux). */
export function hostPlatform(): PlatformName {
  return process.platform === 'darwin' ? 'darwin' : 'linux';
}
