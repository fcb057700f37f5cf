import { Document, isAlias, isMap, isNode, isScalar, isSeq, LineCounter, Pair, parseDocument, Scalar, visit, YAMLMap, YAMLSeq } from 'yaml';
import { usageError } from '../model/errors.js';
import { managedHeader } from '../model/managed.js';
import { entryName, type HostTarget } from './add-hosts.js';

/** A compose file as read: the path shown to the user and its text. */
export interface ComposeSource {
  path: string;
  text: string;
}

export type ServiceOutcome =
  | { service: string; action: 'add'; added: string[]; kept: string[]; form: 'list' | 'map' }
  | { service: string; action: 'present'; kept: string[] }
  | { service: string; action: 'skip'; reason: string };

export interface ComposePlan {
  /** The new file (override or edited file); null when no service needs a change. */
  content: string | null;
  services: ServiceOutcome[];
  notes: string[];
}

/** The override's first line: deleting the file undoes it; `hostalias compose` rewrites it. Pure. */
export function overrideHeader(output: string): string {
  return managedHeader('#', `rm ${output}`, 'hostalias compose');
}
// yaml's own duplicate-key check compares every key with every earlier one (10k services took
// seconds); `rejectDuplicateKeys` does the same check with a set.
const YAML_OPTS = { merge: true, prettyErrors: true, uniqueKeys: false } as const;
/** Aliases a file may expand to; past it, a "billion laughs" file is refused rather than expanded. */
const MAX_ALIAS_COUNT = 1000;

type ServiceJs = Record<string, unknown> | null;

/** A compose file parsed once: the document (for in-place edits) and its services as data. */
export interface ParsedCompose {
  /** Null when read by the fast path (no in-place edit needs it). */
  doc: Document.Parsed | null;
  version: unknown;
  /** Service name → its definition (null for `web:` with nothing under it), in file order. */
  services: Map<string, ServiceJs>;
  /** Service name → its node in `doc` (for in-place edits), without a linear search each. */
  nodes: Map<string, unknown>;
}

function structureError(src: ComposeSource, lines: LineCounter, node: unknown, what: string): Error {
  const offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
  const pos = offset === undefined ? null : lines.linePos(offset);
  const where = pos ? `${src.path}:${pos.line}:${pos.col}` : src.path;
  return usageError(
    `${where}: ${what}; nothing was written`,
    `fix ${pos ? `line ${pos.line} of ` : ''}${src.path} (docker compose -f ${src.path} config checks it too)`,
  );
}

/** Plain data of one node, with aliases bounded (an alias bomb or a merge of itself is refused). */
function toData(src: ComposeSource, lines: LineCounter, doc: Document.Parsed, node: unknown, what: string): unknown {
  if (node === null || node === undefined) return null;
  try {
    return isNode(node) ? node.toJS(doc, { maxAliasCount: MAX_ALIAS_COUNT }) : node;
  } catch (err) {
    const why =
      err instanceof ReferenceError
        ? `expands to too many aliases (over ${MAX_ALIAS_COUNT}: an alias bomb, or a merge key that includes itself)`
        : `can't be read (${(err as Error).message})`;
    throw structureError(src, lines, node, `${what} ${why}`);
  }
}

/**
 * Parses one compose file and checks the shape hostalias reads: a mapping, `services:` a mapping
 * of names to mappings, `extra_hosts` a list or mapping, `network_mode` a string. Anything else
 * is a usage error naming file:line:col (a list of services once crashed it). Pure; linear.
 */
export function parseCompose(src: ComposeSource): ParsedCompose {
  const lines = new LineCounter();
  const doc = parseDocument(src.text, { ...YAML_OPTS, lineCounter: lines });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const where = pos ? `${src.path}:${pos.line}:${pos.col}` : src.path;
    throw usageError(
      `${where}: invalid YAML: ${(err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}; nothing was written`,
      `fix line ${pos?.line ?? '?'} of ${src.path} (docker compose -f ${src.path} config shows the same error)`,
    );
  }
  rejectDuplicateKeys(src, lines, doc);
  const top = doc.contents;
  const services = new Map<string, ServiceJs>();
  const nodes = new Map<string, unknown>();
  if (top === null || (isScalar(top) && (top.value === null || top.value === ''))) return { doc, version: undefined, services, nodes };
  if (!isMap(top)) throw structureError(src, lines, top, 'a compose file is a mapping with a "services:" key');
  const versionNode = top.get('version', true);
  const version = versionNode === undefined ? undefined : toData(src, lines, doc, versionNode, '"version"');
  const servicesNode = top.get('services', true);
  if (servicesNode === undefined || servicesNode === null || (isScalar(servicesNode) && servicesNode.value === null)) return { doc, version, services, nodes };
  const servicesMap = isAlias(servicesNode) ? toData(src, lines, doc, servicesNode, '"services"') : servicesNode;
  if (isAlias(servicesNode)) {
    if (!servicesMap || typeof servicesMap !== 'object' || Array.isArray(servicesMap))
      throw structureError(src, lines, servicesNode, '"services" must be a mapping of service names to definitions');
    for (const [name, def] of Object.entries(servicesMap as Record<string, unknown>)) services.set(name, checkService(src, lines, servicesNode, name, def));
    return { doc, version, services, nodes };
  }
  if (!isMap(servicesNode))
    throw structureError(
      src,
      lines,
      servicesNode,
      `"services" must be a mapping of service names to definitions, not ${isSeq(servicesNode) ? 'a list' : 'a scalar'}`,
    );
  for (const pair of servicesNode.items) {
    if (isScalar(pair.key) && pair.key.value === '<<') {
      const merged = toData(src, lines, doc, pair.value, 'the merge key in "services"');
      const list = Array.isArray(merged) ? merged : [merged];
      for (const m of list) {
        if (!m || typeof m !== 'object' || Array.isArray(m)) throw structureError(src, lines, pair.value, 'a merge key in "services" must merge a mapping');
        for (const [name, def] of Object.entries(m as Record<string, unknown>))
          if (!services.has(name)) services.set(name, checkService(src, lines, pair.value, name, def));
      }
      continue;
    }
    if (!isScalar(pair.key) || (typeof pair.key.value !== 'string' && typeof pair.key.value !== 'number'))
      throw structureError(src, lines, pair.key, 'a service name must be a plain string');
    const name = String(pair.key.value);
    services.set(name, checkService(src, lines, pair.value, name, toData(src, lines, doc, pair.value, `service "${name}"`)));
    nodes.set(name, pair.value);
  }
  return { doc, version, services, nodes };
}

/** A key given twice in one mapping is an error in YAML (and for compose); linear. */
function rejectDuplicateKeys(src: ComposeSource, lines: LineCounter, doc: Document.Parsed): void {
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = pair.key.value;
        if (key === '<<') continue;
        if (seen.has(key)) throw structureError(src, lines, pair.key, `the key ${JSON.stringify(key)} appears twice in one mapping`);
        seen.add(key);
      }
    },
  });
}

function checkService(src: ComposeSource, lines: LineCounter, node: unknown, name: string, def: unknown): ServiceJs {
  if (def === null || def === undefined) return null;
  if (typeof def !== 'object' || Array.isArray(def))
    throw structureError(src, lines, node, `service "${name}" must be a mapping (image:, ports:, …), not ${Array.isArray(def) ? 'a list' : 'a scalar'}`);
  const svc = def as Record<string, unknown>;
  const hosts = svc['extra_hosts'];
  if (hosts !== undefined && hosts !== null && typeof hosts !== 'object')
    throw structureError(src, lines, node, `extra_hosts of service "${name}" must be a list or a mapping`);
  const mode = svc['network_mode'];
  if (mode !== undefined && mode !== null && typeof mode !== 'string')
    throw structureError(src, lines, node, `network_mode of service "${name}" must be a string`);
  return svc;
}

/** One extra_hosts entry: the address, and the list item as written (kept verbatim in list form). */
type Entry = { addr: unknown; raw?: string };
type Hosts = { form: 'list' | 'map'; entries: Map<string, Entry> };

/** Reads a service's extra_hosts (list or map form) into name → entry. */
function readHosts(value: unknown): Hosts | null {
  if (Array.isArray(value)) {
    return { form: 'list', entries: new Map(value.map((e) => [entryName(String(e)), { raw: String(e), addr: String(e).replace(/^[^:=]*[:=]\s*/, '') }])) };
  }
  if (value && typeof value === 'object')
    return { form: 'map', entries: new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, { addr: v }])) };
  return null;
}

/** Why a service can't take extra_hosts, or null. */
function skipReason(networkMode: unknown): string | null {
  if (typeof networkMode !== 'string') return null;
  if (networkMode === 'host') return "network_mode: host shares the host's network and /etc/hosts";
  if (/^(service|container):/.test(networkMode))
    return `network_mode: ${networkMode} uses that container's network and /etc/hosts (give it the extra_hosts instead)`;
  return null;
}

interface MergedService {
  hosts: Hosts | null;
  networkMode: unknown;
}

/** Services as compose merges several files: later files override keys, extra_hosts entries add up. */
function mergeServices(docs: readonly ParsedCompose[]): Map<string, MergedService> {
  const services = new Map<string, MergedService>();
  for (const doc of docs) {
    for (const [name, svc] of doc.services) {
      const prev = services.get(name) ?? { hosts: null, networkMode: undefined };
      const hosts = readHosts(svc?.extra_hosts);
      const merged: MergedService = {
        networkMode: svc && 'network_mode' in svc ? svc.network_mode : prev.networkMode,
        hosts: hosts ? { form: hosts.form, entries: new Map([...(prev.hosts?.entries ?? []), ...hosts.entries]) } : prev.hosts,
      };
      services.set(name, merged);
    }
  }
  return services;
}

/** Our entries missing from `hosts`; the user's own mapping of a name wins. */
function decide(service: string, m: MergedService, t: HostTarget): { outcome: ServiceOutcome; entries: Map<string, Entry>; form: 'list' | 'map' } {
  const reason = skipReason(m.networkMode);
  const form = m.hosts?.form ?? 'list';
  const entries = new Map(m.hosts?.entries ?? []);
  if (reason) return { outcome: { service, action: 'skip', reason }, entries, form };
  const kept = t.names.filter((n) => entries.has(n));
  const added = t.names.filter((n) => !entries.has(n));
  if (added.length === 0) return { outcome: { service, action: 'present', kept }, entries, form };
  for (const n of added) entries.set(n, { addr: t.ip });
  return { outcome: { service, action: 'add', added, kept, form }, entries, form };
}

function hostsNode(doc: Document, form: 'list' | 'map', entries: Map<string, Entry>): YAMLSeq | YAMLMap {
  const quoted = (v: unknown) => Object.assign(new Scalar(String(v)), { type: Scalar.QUOTE_DOUBLE });
  if (form === 'list') {
    const seq = new YAMLSeq();
    for (const [name, e] of entries) seq.add(quoted(e.raw ?? `${name}:${String(e.addr)}`));
    return seq;
  }
  const map = new YAMLMap();
  for (const [k, e] of entries) map.set(doc.createNode(k), typeof e.addr === 'string' ? quoted(e.addr) : doc.createNode(e.addr));
  return map;
}

function notesFor(outcomes: ServiceOutcome[]): string[] {
  return outcomes.flatMap((o) => {
    if (o.action === 'skip') return [`skipped service "${o.service}": ${o.reason}`];
    if ('kept' in o && o.kept.length > 0) return [`service "${o.service}" maps ${o.kept.join(', ')} itself; its entries are kept`];
    return [];
  });
}

/**
 * The override file that adds the alias names to every service of `sources` (compose's merge
 * order). Each service's own entries are repeated in the same form (list or map), so the result
 * is the union whether a compose version merges extra_hosts or replaces them. The override
 * carries the first file's `version:`, which docker-compose v1 requires to match. Pure.
 */
export function planOverride(sources: readonly ComposeSource[], t: HostTarget, usage: string[] = [], output = 'compose.hostalias.yaml'): ComposePlan {
  const docs = sources.map((src) => parseCompose(src));
  const merged = mergeServices(docs);
  if (merged.size === 0) throw usageError(`no services in ${sources.map((s) => s.path).join(', ')}; nothing was written`, 'pass the compose file with -f FILE');
  const doc = new Document({});
  const version = docs[0]?.version;
  const services = new YAMLMap();
  const outcomes: ServiceOutcome[] = [];
  for (const [name, m] of merged) {
    const d = decide(name, m, t);
    outcomes.push(d.outcome);
    if (d.outcome.action !== 'add') continue;
    const svc = new YAMLMap();
    svc.set(doc.createNode('extra_hosts'), hostsNode(doc, d.form, d.entries));
    services.items.push(new Pair(doc.createNode(name), svc)); // set() would search the map each time
  }
  if (services.items.length === 0) return { content: null, services: outcomes, notes: notesFor(outcomes) };
  if (version !== undefined) doc.set('version', Object.assign(new Scalar(String(version)), { type: Scalar.QUOTE_DOUBLE }));
  doc.set('services', services);
  // yaml renders each comment line as `#` + line.
  doc.commentBefore = [overrideHeader(output).slice(1), ...usage.map((u) => `   ${u}`)].join('\n');
  return { content: doc.toString({ lineWidth: 0 }), services: outcomes, notes: notesFor(outcomes) };
}

/**
 * `source` edited in place: extra_hosts entries appended to each service, comments and layout
 * kept (the yaml Document API re-renders only what changed). Pure.
 */
export function planInPlace(source: ComposeSource, t: HostTarget): ComposePlan {
  const parsed = parseCompose(source);
  const doc = parsed.doc as Document.Parsed;
  const merged = mergeServices([parsed]);
  if (merged.size === 0) throw usageError(`no services in ${source.path}; nothing was written`, 'pass the compose file with -f FILE');
  const outcomes: ServiceOutcome[] = [];
  let changed = false;
  for (const [name, m] of merged) {
    const d = decide(name, m, t);
    outcomes.push(d.outcome);
    if (d.outcome.action !== 'add') continue;
    const svc = parsed.nodes.get(name);
    if (!isMap(svc)) {
      outcomes[outcomes.length - 1] = {
        service: name,
        action: 'skip',
        reason: 'its definition is not a mapping that can be edited in place (an alias?); use the override file instead',
      };
      continue;
    }
    const own = svc.get('extra_hosts', true);
    const added = d.outcome.added;
    if (isSeq(own)) {
      for (const n of added) own.add(Object.assign(new Scalar(`${n}:${t.ip}`), { type: Scalar.QUOTE_DOUBLE }));
    } else if (isMap(own)) {
      for (const n of added) own.set(doc.createNode(n), Object.assign(new Scalar(t.ip), { type: Scalar.QUOTE_DOUBLE }));
    } else {
      // Absent, an alias or inherited through a merge key: write the effective entries here.
      svc.set(doc.createNode('extra_hosts'), hostsNode(doc, d.form, d.entries));
    }
    changed = true;
  }
  return { content: changed ? doc.toString({ lineWidth: 0 }) : null, services: outcomes, notes: notesFor(outcomes) };
}
