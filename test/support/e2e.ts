import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import type { ChildProcess } from 'node:child_process';
import { stopChild, waitOutput } from '../lab/exec.js';
import { cliPath, type Netns } from '../lab/netns.js';
import { readTree } from './rooted.js';

/**
 * A fix line that runs `hostalias ARGS` as the tests run the CLI (root, no SUDO_USER, no
 * `hostalias` on PATH): this node and this build's main.js, by absolute path.
 */
export function cliFix(args: string): string {
  return `${process.execPath} ${realpathSync(cliPath())} ${args}`;
}

/** `text` as a regular expression that matches it literally. */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A fresh temp folder for `--root`, so no test ever touches the real /etc; removed after the test. */
export async function tempRoot(t: Pick<TestContext, 'after'>, tag: string): Promise<string> {
  const root = await mkdtemp(`${LAB_TMP_PREFIX}${tag}-`);
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** A unit's ExecStart as argv (the units hostalias writes quote only words with spaces). */
export function execStart(unitText: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unitText)?.[1];
  if (line === undefined) throw new Error(`the unit has no ExecStart:\n${unitText}`);
  return (line.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"(.*)"$/, '$1'));
}

/**
 * A unit's ExecStart argv as it runs for a system whose files are under `root` (--files-root):
 * absolute paths that exist there (the installed copy of hostalias) are taken from there.
 */
export function rooted(argv: readonly string[], root: string): string[] {
  return argv.map((a) => (a.startsWith('/') && existsSync(join(root, a)) ? join(root, a) : a));
}

/** Starts `argv` in `ns` and resolves once its output shows `needle`; stopped after the test. */
export async function spawnUntil(t: { after(fn: () => Promise<void>): void }, ns: Netns, argv: string[], needle: string): Promise<ChildProcess> {
  const child = ns.spawn(argv);
  t.after(async () => void (await stopChild(child)));
  await waitOutput(child, needle, 20_000);
  return child;
}

/** `ip -j addr show dev lo` inside the namespace, raw (for before/after equality). */
export async function loJson(ns: Netns): Promise<string> {
  return (await ns.exec(['ip', '-j', 'addr', 'show', 'dev', 'lo'])).stdout;
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  label?: string;
}

/** The IPv4 addresses on lo as `ip/prefix label`, parsed from `ip -j addr show dev lo`. */
export async function loAddrs(ns: Netns): Promise<string[]> {
  const links = JSON.parse(await loJson(ns)) as Array<{ addr_info?: AddrInfo[] }>;
  return (links[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen} ${a.label ?? ''}`.trim());
}

/** Every file and link under `root` with its content, mtime and mode: equal snapshots mean nothing was written. */
export function snapshot(root: string): Promise<Record<string, string>> {
  return readTree(root, { withStat: true });
}
