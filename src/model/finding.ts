import type { Finding } from './context.js';

export function ok(id: string, message: string): Finding {
  return { id, status: 'ok', message };
}

export function warn(id: string, message: string, fix: string): Finding {
  return { id, status: 'warn', message, fix };
}

export function fail(id: string, message: string, fix: string): Finding {
  return { id, status: 'fail', message, fix };
}
