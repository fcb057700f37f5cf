/** One chain as `iptables-save` or `iptables -S` prints it. */
export interface SavedChain {
  /** The table (`*nat` in iptables-save); `iptables -S` prints one table, filter unless -t was given. */
  table: string;
  name: string;
  /** ACCEPT / DROP for a built-in chain; null for a user chain (`:NAME -` or `-N NAME`). */
  policy: string | null;
  /** Each rule as printed, without the leading `-A NAME `. */
  rules: string[];
}

/**
 * The one reader of iptables' own dump formats: `iptables-save` (`*table`, `:CHAIN POLICY [n:n]`,
 * `-A …`, `COMMIT`, several tables concatenated) and `iptables -S` (`-P`, `-N`, `-A`). Chains come
 * back in the order they appear. Pure.
 */
export function parseIptablesSave(text: string, defaultTable = 'filter'): SavedChain[] {
  const chains = new Map<string, SavedChain>();
  let table = defaultTable;
  const chain = (name: string, policy: string | null = null): SavedChain => {
    const key = `${table}\0${name}`;
    let c = chains.get(key);
    if (!c) chains.set(key, (c = { table, name, policy, rules: [] }));
    return c;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const tableLine = /^\*(\S+)$/.exec(line);
    if (tableLine?.[1]) table = tableLine[1];
    const decl = /^:(\S+) (\S+)/.exec(line) ?? /^-P (\S+) (\S+)/.exec(line);
    if (decl?.[1]) chain(decl[1]).policy = decl[2] === '-' ? null : (decl[2] ?? null);
    const created = /^-N (\S+)$/.exec(line);
    if (created?.[1]) chain(created[1]);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule?.[1] && rule[2] !== undefined) chain(rule[1]).rules.push(rule[2]);
  }
  return [...chains.values()];
}
